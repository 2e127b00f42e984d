// A small JSON-Schema validator for the subset the protocol schemas use (type, properties, required,
// additionalProperties, items, enum, const, min/maxLength, pattern, minimum/maximum, min/maxItems).
// The server validates with fastify's Ajv; the client checks responses with this, so it needs no
// schema compiler at all. No I/O.

export interface JsonSchema {
  type?: string | readonly string[];
  properties?: Readonly<Record<string, JsonSchema>>;
  required?: readonly string[];
  additionalProperties?: boolean;
  items?: JsonSchema;
  enum?: readonly unknown[];
  const?: unknown;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  description?: string;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const patterns = new Map<string, RegExp>();
const regex = (p: string): RegExp => {
  let r = patterns.get(p);
  if (!r) patterns.set(p, (r = new RegExp(p, 'u')));
  return r;
};

/** base64 characters (RFC 4648 §4, without '=') by char code */
const B64 = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[c.charCodeAt(0)] = 1;

/** the patterns themselves: faster than the loop below for a string of a pull record's length, in a process that just started (compiled code, where the loop is still interpreted) */
const B64_PLUS = /^[A-Za-z0-9+/]+={0,2}$/u;
const B64_STAR = /^[A-Za-z0-9+/]*={0,2}$/u;
const B64_REGEX_CHARS = { min: 64, max: 4096 };

/**
 * `^[A-Za-z0-9+/]+={0,2}$` (`nonEmpty`) or `^[A-Za-z0-9+/]*={0,2}$`: the same answer as the
 * regular expression; as a loop for short strings and for the megabytes of one large body, where it
 * is several times faster, with the expression itself for the strings of a pull's records (tens of
 * thousands of a few hundred characters).
 */
export function isBase64(s: string, nonEmpty: boolean): boolean {
  if (s.length > B64_REGEX_CHARS.min && s.length <= B64_REGEX_CHARS.max) return (nonEmpty ? B64_PLUS : B64_STAR).test(s);
  let n = s.length;
  if (n > 0 && s.charCodeAt(n - 1) === 61) n--;
  if (n > 0 && s.charCodeAt(n - 1) === 61) n--;
  if (nonEmpty && n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || B64[c] === 0) return false;
  }
  return true;
}

/** the patterns matched without a regular expression */
const FAST_PATTERNS: Record<string, (s: string) => boolean> = {
  '^[A-Za-z0-9+/]+={0,2}$': (s) => isBase64(s, true),
  '^[A-Za-z0-9+/]*={0,2}$': (s) => isBase64(s, false),
};
const matches = (pattern: string, s: string): boolean => (Object.hasOwn(FAST_PATTERNS, pattern) ? FAST_PATTERNS[pattern](s) : regex(pattern).test(s));
/** code points of a string (a function of its own: no closure per string, a pull page has tens of thousands) */
const codePoints = (s: string): number => [...s].length;
/** The string checks of validate. */
function stringProblem(schema: JsonSchema, value: string, path: string): string | null {
  // Code points, counted only when the UTF-16 length leaves doubt (sync bodies carry megabytes).
  if (schema.minLength !== undefined && value.length < 2 * schema.minLength && codePoints(value) < schema.minLength) return `${path}: shorter than ${schema.minLength}`;
  if (schema.maxLength !== undefined && value.length > schema.maxLength && codePoints(value) > schema.maxLength) return `${path}: longer than ${schema.maxLength}`;
  if (schema.pattern !== undefined && !matches(schema.pattern, value)) return `${path}: does not match ${schema.pattern}`;
  return null;
}
/** the path of an array item, filled in only when it has a problem (a pull has tens of thousands) */
const ITEM = '\u0000';

/**
 * The first problem of `value` against `schema` as "path: what", or null when it conforms.
 * With `allowExtra`, unknown object properties are ignored (a newer server may add fields).
 */
export function validate(schema: JsonSchema, value: unknown, opts: { allowExtra?: boolean } = {}, path = '$'): string | null {
  // a string against a plain string schema (every record of a pull): only the string checks below apply
  if (typeof value === 'string' && schema.type === 'string' && schema.const === undefined && schema.enum === undefined) return stringProblem(schema, value, path);
  if (schema.type !== undefined) {
    const t = typeOf(value);
    if (t !== schema.type) {
      const types = typeof schema.type === 'string' ? [schema.type] : schema.type;
      if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return `${path}: expected ${types.join(' or ')}, got ${t}`;
    }
  }
  if (schema.const !== undefined && value !== schema.const) return `${path}: expected ${JSON.stringify(schema.const)}`;
  if (schema.enum && !schema.enum.includes(value)) return `${path}: not one of ${schema.enum.join(', ')}`;
  if (typeof value === 'string') {
    const p = stringProblem(schema, value, path);
    if (p) return p;
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return `${path}: below ${schema.minimum}`;
    if (schema.maximum !== undefined && value > schema.maximum) return `${path}: above ${schema.maximum}`;
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) return `${path}: fewer than ${schema.minItems} items`;
    if (schema.maxItems !== undefined && value.length > schema.maxItems) return `${path}: more than ${schema.maxItems} items`;
    if (schema.items) {
      for (let i = 0; i < value.length; i++) {
        const p = validate(schema.items, value[i], opts, ITEM);
        if (p) return `${path}[${i}]${p.slice(ITEM.length)}`;
      }
    }
  }
  if (typeOf(value) === 'object') {
    const o = value as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!Object.hasOwn(o, k)) return `${path}: missing ${k}`;
    for (const [k, v] of Object.entries(o)) {
      const sub = schema.properties?.[k];
      if (sub) {
        const p = validate(sub, v, opts, `${path}.${k}`);
        if (p) return p;
      } else if (schema.additionalProperties === false && !opts.allowExtra) {
        return `${path}: unknown field ${k}`;
      }
    }
  }
  return null;
}
