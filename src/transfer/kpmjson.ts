// kpm's own export: every entry as in `kpm get --json` (without id and version), optionally sealed
// with a password: Argon2id → XChaCha20-Poly1305 in a small JSON envelope. docs/IMPORT-EXPORT.md.
import { argon2id, checkKdfParams, DEFAULT_KDF, KdfParamsError, SALT_BYTES, type KdfParams } from '../crypto/kdf.js';
import { AuthError, open, seal } from '../crypto/aead.js';
import { decodeUtf8, fromBase64, toBase64, utf8, wipe } from '../crypto/bytes.js';
import { randomBytes } from '../crypto/random.js';
import { CUSTOM_FIELD_KINDS, isEntryType, type EntryPayload } from '../vault/entry.js';
import { corrupt, usageError, wrongPassword } from '../core/errors.js';
import { collect, emptyResult, FileFormatError, finish, isoDate, parseJsonText, RecordError, type ParseResult } from './model.js';

export const KPM_EXPORT = 'kpm-export';
export const KPM_EXPORT_ENCRYPTED = 'kpm-export-encrypted';
export const KPM_EXPORT_VERSION = 1;

export interface ExportedEntry {
  vault: string;
  payload: EntryPayload;
}

export function toKpmJson(entries: ExportedEntry[], exported = new Date().toISOString()): string {
  const doc = {
    format: KPM_EXPORT,
    version: KPM_EXPORT_VERSION,
    exported,
    entries: entries.map(({ vault, payload: p }) => ({
      vault, type: p.type, name: p.name, fields: p.fields, custom: p.custom, tags: p.tags, created: p.created, updated: p.updated, passwordChanged: p.passwordChanged ?? null,
    })),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

interface Envelope {
  format: typeof KPM_EXPORT_ENCRYPTED;
  version: number;
  kdf: { name: 'argon2id'; m: number; t: number; p: number; salt: string };
  cipher: 'xchacha20-poly1305';
  data: string;
}

/** The associated data: the envelope's header fields, in a fixed order, so none can be changed. */
function envelopeAad(e: Omit<Envelope, 'data'>): Uint8Array {
  const { name, m, t, p, salt } = e.kdf;
  return utf8.encode(JSON.stringify([e.format, e.version, name, m, t, p, salt, e.cipher]));
}

export async function encryptExport(plain: string, password: string, params: KdfParams = DEFAULT_KDF): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const head = { format: KPM_EXPORT_ENCRYPTED, version: KPM_EXPORT_VERSION, kdf: { name: 'argon2id', ...params, salt: toBase64(salt) }, cipher: 'xchacha20-poly1305' } as const;
  const pw = utf8.encode(password);
  const key = await argon2id(pw, salt, params);
  const body = utf8.encode(plain);
  try {
    const env: Envelope = { ...head, data: toBase64(seal(key, body, envelopeAad(head))) };
    return JSON.stringify(env, null, 2) + '\n';
  } finally {
    wipe(key, pw, body);
  }
}

export function isEncryptedExport(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && (doc as { format?: unknown }).format === KPM_EXPORT_ENCRYPTED;
}

/** Opens an encrypted export; a wrong password is exit 5, a changed byte is indistinguishable from it. */
export async function decryptExport(doc: unknown, password: string): Promise<string> {
  const e = doc as Partial<Envelope>;
  const k = e.kdf;
  if (e.version !== KPM_EXPORT_VERSION) throw usageError(`unsupported kpm export version ${String(e.version)}`);
  if (!k || k.name !== 'argon2id' || e.cipher !== 'xchacha20-poly1305' || typeof k.salt !== 'string' || typeof e.data !== 'string') {
    throw corrupt('the encrypted kpm export is damaged (its header is incomplete)');
  }
  const params = { m: k.m, t: k.t, p: k.p };
  const salt = fromBase64(k.salt);
  try {
    checkKdfParams(params, salt.length);
  } catch (err) {
    if (err instanceof KdfParamsError) throw corrupt(`the encrypted kpm export has unusable key-derivation parameters: ${err.message}`);
    throw err;
  }
  const pw = utf8.encode(password);
  const key = await argon2id(pw, salt, params);
  try {
    const aad = envelopeAad({ format: KPM_EXPORT_ENCRYPTED, version: e.version, kdf: { name: 'argon2id', m: k.m, t: k.t, p: k.p, salt: k.salt }, cipher: e.cipher });
    return decodeUtf8(open(key, fromBase64(e.data), aad));
  } catch (err) {
    if (err instanceof AuthError) throw wrongPassword('wrong export password (or the file was changed)');
    throw err;
  } finally {
    wipe(key, pw);
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function entryOf(o: unknown): EntryPayload {
  if (!isObj(o)) throw new RecordError('entry is not an object');
  if (typeof o.type !== 'string' || !isEntryType(o.type)) throw new RecordError(`unknown type ${JSON.stringify(o.type)}`);
  if (typeof o.name !== 'string') throw new RecordError('"name" must be a string');
  const fields: Record<string, string> = {};
  if (!isObj(o.fields ?? {})) throw new RecordError('"fields" must be an object');
  for (const [k, v] of Object.entries((o.fields ?? {}) as Obj)) {
    if (typeof v !== 'string') throw new RecordError(`field "${k}" must be a string`);
    fields[k] = v;
  }
  const custom = (o.custom ?? []) as unknown;
  if (!Array.isArray(custom) || !custom.every((c) => isObj(c) && typeof c.name === 'string' && typeof c.value === 'string')) {
    throw new RecordError('"custom" must be an array of {"name", "value"} strings (and an optional "kind": "hidden" or "boolean")');
  }
  for (const c of custom as Obj[]) {
    if (c.kind !== undefined && !(CUSTOM_FIELD_KINDS as readonly unknown[]).includes(c.kind)) throw new RecordError(`custom field "${String(c.name)}": unknown kind ${JSON.stringify(c.kind)}`);
  }
  const tags = (o.tags ?? []) as unknown;
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new RecordError('"tags" must be an array of strings');
  const now = new Date().toISOString();
  const p: EntryPayload = {
    type: o.type, name: o.name, fields, custom: custom.map((c) => (c.kind ? { name: c.name, value: c.value, kind: c.kind } : { name: c.name, value: c.value })), tags: [...tags], created: isoDate(o.created) ?? now, updated: isoDate(o.updated) ?? now,
  };
  const pc = isoDate(o.passwordChanged);
  if (pc) p.passwordChanged = pc;
  if (!p.name.trim()) throw new RecordError('"name" is empty');
  return finish(p, p.name);
}

export function parseKpmJsonDoc(doc: unknown): ParseResult {
  if (isEncryptedExport(doc)) throw new FileFormatError('the kpm export is encrypted: its password is needed');
  if (!isObj(doc) || doc.format !== KPM_EXPORT || !Array.isArray(doc.entries)) throw new FileFormatError('not a kpm export (expected {"format": "kpm-export", "entries": [...]})');
  if (doc.version !== KPM_EXPORT_VERSION) throw new FileFormatError(`unsupported kpm export version ${String(doc.version)}`);
  const res = emptyResult();
  doc.entries.forEach((o, i) =>
    collect(res, i + 1, undefined, () => {
      const vault = isObj(o) ? o.vault : undefined;
      if (vault !== undefined && vault !== null && (typeof vault !== 'string' || !vault.trim())) throw new RecordError('"vault" must be a vault name');
      return { record: i + 1, payload: entryOf(o), ...(typeof vault === 'string' ? { vault } : {}) };
    }),
  );
  return res;
}

export const parseKpmJson = (text: string): ParseResult => parseKpmJsonDoc(parseJsonText(text, 'kpm JSON'));
