// Secret references: kpm://VAULT/ITEM/FIELD (or kpm://ITEM/FIELD), as `kpm read`, `kpm run` and
// `kpm inject` use them. Parsing is pure; resolution goes through one function that only needs a
// `get(query, vault)` (the unlock agent, an in-process session, or a read-only service-token API).
//
// Escaping (README "Secret references"): each segment is percent-decoded as UTF-8, so `/` inside a
// name is written `%2F`, `%` itself `%25`, and any other character may be written %XX too (in a
// template, `}` as `%7D`). Spaces may be written as they are (quote them for the shell) or as %20.
import { KpmError, notFound, usageError } from '../core/errors.js';
import { fieldValue } from '../vault/entry.js';
import type { EntryView } from '../vault/session.js';

export const REF_SCHEME = 'kpm://';

export interface SecretRef {
  /** the reference as written */
  text: string;
  /** undefined in the short form kpm://ITEM/FIELD: every unlocked vault, as `kpm get` without --vault */
  vault?: string;
  item: string;
  field: string;
}

export const isRef = (s: string): boolean => s.slice(0, REF_SCHEME.length).toLowerCase() === REF_SCHEME;

function refError(text: string, pos: number, reason: string): KpmError {
  // positions are 1-based characters of the reference as written
  return usageError(`invalid secret reference "${text}" at character ${pos + 1}: ${reason}`, 'the form is kpm://VAULT/ITEM/FIELD or kpm://ITEM/FIELD; write "/" in a name as %2F and "%" as %25');
}

function decodeSegment(text: string, start: number, end: number): string {
  const bytes: number[] = [];
  for (let i = start; i < end; ) {
    const ch = text.charCodeAt(i);
    if (ch === 0x25 /* % */) {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw refError(text, i, '"%" must start an escape such as %2F (slash) or %25 (percent)');
      bytes.push(Number.parseInt(hex, 16));
      i += 3;
      continue;
    }
    if (ch < 0x20 || ch === 0x7f) throw refError(text, i, 'control characters are not allowed');
    const cp = text.codePointAt(i)!;
    const s = String.fromCodePoint(cp);
    bytes.push(...Buffer.from(s, 'utf8'));
    i += s.length;
  }
  const buf = Buffer.from(bytes);
  const decoded = buf.toString('utf8');
  if (!Buffer.from(decoded, 'utf8').equals(buf)) throw refError(text, start, 'the escapes do not decode to valid UTF-8');
  return decoded;
}

/** Parses a reference; a bad one throws a usage error (exit 2) naming the position and the reason. */
export function parseRef(text: string): SecretRef {
  if (!isRef(text)) throw refError(text, 0, `a reference starts with ${REF_SCHEME}`);
  const bounds: Array<[number, number]> = [];
  let start = REF_SCHEME.length;
  for (let i = start; i <= text.length; i++) {
    if (i === text.length || text[i] === '/') {
      bounds.push([start, i]);
      start = i + 1;
    }
  }
  if (bounds.length < 2) throw refError(text, text.length, 'expected ITEM/FIELD or VAULT/ITEM/FIELD after kpm://');
  if (bounds.length > 3) throw refError(text, bounds[3][0] - 1, 'too many "/": write a slash inside a name as %2F');
  const parts = bounds.map(([s, e]) => {
    const v = decodeSegment(text, s, e);
    if (!v.trim()) throw refError(text, s, 'empty vault, item or field name');
    return v;
  });
  const [vault, item, field] = parts.length === 3 ? parts : [undefined, ...parts];
  return { text, vault, item: item!, field: field! };
}

/** Writes a reference for the given names, escaping what needs it (the inverse of parseRef). */
export function formatRef(vault: string | undefined, item: string, field: string): string {
  const enc = (s: string) => s.replace(/[%/\u0000-\u001f\u007f{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return REF_SCHEME + [vault, item, field].filter((s) => s !== undefined).map((s) => enc(s!)).join('/');
}

/** What resolution needs: the `get` of a VaultApi (agent, session, or a service-token backend). */
export interface SecretSource {
  get(query: string, vault?: string): Promise<EntryView>;
}

/** The value a reference names: a field of the entry's type or a custom field; `totp` is the current code. */
export async function refValue(v: EntryView, ref: SecretRef): Promise<string> {
  const f = ref.field.toLowerCase();
  if (f === 'totp' && v.payload.fields.totp) {
    const { parseOtpauthUri, totpNow } = await import('../vault/totp.js'); // kept out of the hot path's bundle
    return totpNow(parseOtpauthUri(v.payload.fields.totp)).code;
  }
  const value = fieldValue(v.payload, f);
  if (value === undefined) throw notFound(`${ref.text}: entry "${v.payload.name}" has no field "${ref.field}"`);
  return value;
}

/**
 * Resolves references (each entry fetched once) through one source; a failure names the reference,
 * never a value. The only place references are turned into secrets.
 */
export async function resolveRefs(refs: SecretRef[], source: SecretSource): Promise<string[]> {
  const entries = new Map<string, Promise<EntryView>>();
  const values: string[] = [];
  for (const ref of refs) {
    const key = `${ref.vault ?? ''}\u0000${ref.item}`;
    let p = entries.get(key);
    if (!p) entries.set(key, (p = source.get(ref.item, ref.vault)));
    let v: EntryView;
    try {
      v = await p;
    } catch (e) {
      if (e instanceof KpmError) throw new KpmError(`${ref.text}: ${e.message}`, e.exitCode, e.hint);
      throw e;
    }
    values.push(await refValue(v, ref));
  }
  return values;
}
