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

/** any character that is neither base64 (RFC 4648 §4) nor '=' */
const NOT_B64 = /[^A-Za-z0-9+/=]/;

/**
 * `^[A-Za-z0-9+/]+={0,2}$` (`nonEmpty`) or `^[A-Za-z0-9+/]*={0,2}$`: the same answer as the
 * regular expression, several times faster at every length. V8 scans for a negated character class
 * far faster than it runs the anchored pattern (a pull of 10k records of a few hundred characters:
 * ≈ 12 ms against ≈ 70–150 ms in a process that just started); the '=' are checked apart: at most
 * two, only at the end.
 */
export function isBase64(s: string, nonEmpty: boolean): boolean {
  if (NOT_B64.test(s)) return false;
  const n = s.length;
  const eq = s.indexOf('=');
  if (eq === -1) return !nonEmpty || n > 0;
  if (nonEmpty && eq === 0) return false;
  return eq === n - 1 || (eq === n - 2 && s.charCodeAt(n - 1) === 61);
}

/** the patterns answered by isBase64 (not by a regular expression of their own) */
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
