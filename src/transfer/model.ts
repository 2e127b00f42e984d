// What the format parsers produce: kpm entry payloads plus, per record, where it came from, so
// errors can name the record and line. Parsers never print and never touch the vault.
import { checkName, checkValue, completeFields, TYPE_FIELDS, type CustomFieldKind, type EntryPayload, type EntryType } from '../vault/entry.js';
import { KpmError } from '../core/errors.js';
import { parseOtpauthUri } from '../vault/totp.js';

export const IMPORT_FORMATS = ['bitwarden-json', '1password-1pux', 'keepass-xml', 'kdbx', 'csv', 'kpm-json'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];
export const EXPORT_FORMATS = ['kpm-json', 'bitwarden-json', 'kdbx', 'keepass-xml', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A file kept with an imported record (1PUX documents), stored as a blob by the CLI. */
export interface ImportedFile {
  name: string;
  bytes: Uint8Array;
}

export interface ImportedEntry {
  /** 1-based number of the record in the file (item, entry, row) */
  record: number;
  /** 1-based line where the record starts, when the format has lines worth naming */
  line?: number;
  payload: EntryPayload;
  files?: ImportedFile[];
  /** kpm-json: the vault the entry was exported from (kept unless --vault is given) */
  vault?: string;
  /** earlier versions (old passwords), oldest first: they become the entry's kpm history */
  history?: EntryPayload[];
}

/** Earlier versions of `p` that differ only in the password, from (password, date) pairs. */
export function passwordVersions(p: EntryPayload, old: { password: string; date?: string }[]): EntryPayload[] {
  return old
    .filter((o) => o.password !== '')
    .sort((a, b) => (a.date ?? '').localeCompare(b.date ?? ''))
    .map((o) => {
      const v: EntryPayload = structuredClone(p);
      v.fields.password = o.password;
      if (o.date) v.updated = v.passwordChanged = o.date;
      delete v.files;
      return v;
    });
}

export interface ImportIssue {
  record: number;
  line?: number;
  message: string;
}

export interface ParseResult {
  entries: ImportedEntry[];
  /** malformed records: nothing is imported unless --continue-on-error */
  errors: ImportIssue[];
  /** records deliberately left out (trash, recycle bin), and parts that have no home (passkeys) */
  skipped: ImportIssue[];
  /** parts kept, but not where the other program had them (an expiry date as a custom field, …) */
  changed: ImportIssue[];
}

/** The whole file is unusable (not JSON, not a zip, broken XML): exit 2, nothing imported. */
export class FileFormatError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** One record is malformed; the parser turns this into an ImportIssue. */
export class RecordError extends Error {}

export const emptyResult = (): ParseResult => ({ entries: [], errors: [], skipped: [], changed: [] });

export function newPayload(type: EntryType, name: string, now = new Date().toISOString()): EntryPayload {
  return { type, name, fields: {}, custom: [], tags: [], created: now, updated: now };
}

/** A custom field name not yet used in the payload: "url", then "url 2", "url 3", … */
function freeCustomName(p: EntryPayload, name: string): string {
  const taken = (n: string) => p.custom.some((c) => c.name.toLowerCase() === n.toLowerCase()) || (TYPE_FIELDS[p.type] as readonly string[]).includes(n.toLowerCase());
  if (!taken(name)) return name;
  for (let i = 2; ; i++) if (!taken(`${name} ${i}`)) return `${name} ${i}`;
}

/**
 * Puts a value where kpm keeps it: a documented field of the type if that is still empty, else a
 * custom field (so a second URL or an unknown field is kept, never dropped). Empty values are skipped.
 * A TOTP that kpm cannot parse (e.g. steam://) is kept as the custom field "otp".
 */
export function put(p: EntryPayload, key: string, value: unknown, kind?: CustomFieldKind): void {
  if (value === undefined || value === null) return;
  const v = typeof value === 'string' ? value : String(value);
  if (v === '') return;
  const k = key.trim() || 'field';
  const lower = k.toLowerCase();
  if (lower === 'totp') {
    try {
      parseOtpauthUri(v);
    } catch {
      addCustom(p, 'otp', v);
      return;
    }
  }
  const documented = (TYPE_FIELDS[p.type] as readonly string[]).includes(lower) || (lower === 'password' && p.type === 'login');
  if (documented && p.fields[lower] === undefined && kind !== 'boolean') {
    p.fields[lower] = v;
    return;
  }
  addCustom(p, k, v, kind);
}

export function addCustom(p: EntryPayload, name: string, value: string, kind?: CustomFieldKind): string | undefined {
  if (value === '') return undefined;
  const n = freeCustomName(p, name.trim() || 'field');
  p.custom.push(kind ? { name: n, value, kind } : { name: n, value });
  return n;
}

export function addTag(p: EntryPayload, tag: string | undefined | null): void {
  const t = (tag ?? '').trim();
  if (t && !p.tags.some((x) => x.toLowerCase() === t.toLowerCase())) p.tags.push(t);
}

/** Appends a paragraph to the notes (for things that only fit there). */
export function appendNotes(p: EntryPayload, text: string): void {
  if (!text) return;
  p.fields.notes = p.fields.notes ? `${p.fields.notes}\n\n${text}` : text;
}

/** Seconds or milliseconds since 1970, or an ISO string → ISO string; undefined if unusable. */
export function isoDate(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return new Date(v < 1e11 ? v * 1000 : v).toISOString();
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\d/.test(v)) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return d.toISOString();
  }
  return undefined;
}

export function setDates(p: EntryPayload, created: unknown, updated: unknown): void {
  const c = isoDate(created);
  const u = isoDate(updated);
  if (c) p.created = c;
  if (u) p.updated = u;
  else if (c) p.updated = c;
  if (p.fields.password !== undefined) p.passwordChanged ??= p.updated;
}

/** The name a record gets when its own is empty: its URL's host, its user name, or "Untitled". */
export function fallbackName(p: EntryPayload): string {
  const url = p.fields.url;
  if (url) {
    try {
      return new URL(url.includes('://') ? url : `https://${url}`).hostname || url;
    } catch {
      return url;
    }
  }
  return p.fields.username || p.fields.fullname || 'Untitled';
}

/** Final checks every importer's record passes: a usable name and no value over 1 MiB. */
export function finish(p: EntryPayload, rawName: string | undefined): EntryPayload {
  let name = (rawName ?? '').replace(/[\r\n\t]+/g, ' ').trim();
  if (!name) name = fallbackName(p);
  try {
    p.name = checkName(name);
    for (const [k, v] of Object.entries(p.fields)) checkValue(k, v);
    for (const c of p.custom) checkValue(c.name, c.value);
  } catch (e) {
    if (e instanceof KpmError) throw new RecordError(e.message);
    throw e;
  }
  if (p.fields.password !== undefined) p.passwordChanged ??= p.updated;
  completeFields(p); // a card's brand from its number (the Luhn warning is for the CLI)
  return p;
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);

/** Runs `build` for one record and files its result or its error under the record's number. */
export function collect(res: ParseResult, record: number, line: number | undefined, build: () => ImportedEntry | ImportedEntry[] | null): void {
  try {
    const e = build();
    if (Array.isArray(e)) res.entries.push(...e);
    else if (e) res.entries.push(e);
  } catch (err) {
    if (err instanceof RecordError) res.errors.push({ record, line, message: err.message });
    else throw err;
  }
}

/** "record 17 (line 230)" */
export function where(i: { record: number; line?: number }): string {
  return `record ${i.record}${i.line !== undefined ? ` (line ${i.line})` : ''}`;
}

/** Line (1-based) of a character offset in a text. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** JSON.parse, with a malformed document reported by line. */
export function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const line = pos ? lineAt(text, Number(pos[1])) : undefined;
    throw new FileFormatError(`not a valid ${what} file: ${msg.replace(/\s*\(line \d+ column \d+\)/, '')}`, line);
  }
}

export function decodeText(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new FileFormatError('the file is not valid UTF-8 text');
  }
}
