// Bitwarden's unencrypted JSON export (https://bitwarden.com/help/export-your-data/,
// "Bitwarden .json"): { encrypted: false, folders: [{id, name}], items: [...] }. Item types:
// 1 login, 2 secure note, 3 card, 4 identity, 5 SSH key, 6 bank account, 7 driver's licence, 8 passport.
// Organization exports have "collections" (items: collectionIds). Mapping: docs/IMPORT-EXPORT.md
// (followed: bitwarden/clients libs/importer bitwarden-json-importer, libs/common vault views and enums).
import { keyPayload } from '../ssh/entry.js';
import { parseStoredKey } from '../ssh/keys.js';
import { randomUUID } from 'node:crypto';
import { SECRET_FIELDS, type EntryPayload } from '../vault/entry.js';
import { typeSpec } from '../vault/types/index.js';
import {
  addCustom, addTag, collect, isoDate, passwordVersions, emptyResult, FileFormatError, finish, newPayload, parseJsonText, put, RecordError, setDates, str, type ParseResult,
} from './model.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Bitwarden FieldType (libs/common/src/vault/enums/field-type.enum.ts) */
const FIELD_TEXT = 0, FIELD_HIDDEN = 1, FIELD_BOOLEAN = 2, FIELD_LINKED = 3;
/** Bitwarden CipherType 6–8 (libs/common/src/vault/enums/cipher-type.ts): no kpm type of their own yet */
const OTHER_TYPES: Record<number, { key: string; label: string }> = {
  6: { key: 'bankAccount', label: 'bank account' },
  7: { key: 'driversLicense', label: "driver's licence" },
  8: { key: 'passport', label: 'passport' },
};
/** The card brands Bitwarden offers (its card details form): value → kpm's name where they differ. */
export const BITWARDEN_BRANDS: Record<string, string> = {
  Visa: 'Visa', Mastercard: 'Mastercard', Amex: 'American Express', Discover: 'Discover', 'Diners Club': 'Diners Club',
  JCB: 'JCB', Maestro: 'Maestro', UnionPay: 'UnionPay', RuPay: 'RuPay', Other: 'Other',
};
/** Identity fields kpm has no place for: Bitwarden's key → the custom field name kpm uses (and reads back). */
const IDENTITY_EXTRA: [string, string][] = [
  ['state', 'state'], ['company', 'company'], ['username', 'username'], ['ssn', 'ssn'], ['passportNumber', 'passport number'], ['licenseNumber', 'license number'],
];
const NAME_PARTS: [string, string][] = [['title', 'title'], ['firstName', 'first name'], ['middleName', 'middle name'], ['lastName', 'last name']];
/** Tags after the folder (and `favorite`) are kept in this custom field of the Bitwarden item. */
export const EXTRA_TAGS_FIELD = 'kpm tags';

function sub(item: Obj, key: string): Obj {
  const v = item[key];
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new RecordError(`"${key}" must be an object`);
  return v;
}

function expiry(month: unknown, year: unknown): string | undefined {
  const m = str(month)?.trim();
  let y = str(year)?.trim();
  if (!m && !y) return undefined;
  if (y && y.length === 4) y = y.slice(2);
  return `${m ? m.padStart(2, '0') : ''}/${y ?? ''}`;
}

/** The name parts as kpm's export would split `fullname` (all words but the last / the last). */
function splitName(full: string): { firstName: string | null; lastName: string | null } {
  const parts = full.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return { firstName: null, lastName: null };
  if (parts.length === 1) return { firstName: parts[0], lastName: null };
  return { firstName: parts.slice(0, -1).join(' '), lastName: parts[parts.length - 1] };
}

interface Notes {
  skipped: string[];
  changed: string[];
}

function mapItem(item: Obj, folders: Map<string, string>, collections: Map<string, string>, notes: Notes): EntryPayload {
  const type = item.type;
  if (typeof type !== 'number') throw new RecordError('item has no numeric "type"');
  const name = str(item.name);
  if (item.name !== undefined && item.name !== null && name === undefined) throw new RecordError('"name" must be a string');
  let p: EntryPayload;
  if (type === 1) {
    p = newPayload('login', '');
    const login = sub(item, 'login');
    put(p, 'username', str(login.username));
    put(p, 'password', str(login.password));
    const uris = login.uris ?? [];
    if (!Array.isArray(uris)) throw new RecordError('"login.uris" must be an array');
    for (const u of uris) {
      const uri = isObj(u) ? str(u.uri) : undefined;
      put(p, 'url', uri);
      if (uri && isObj(u) && u.match !== null && u.match !== undefined) notes.skipped.push(`the match detection (${String(u.match)}) of URI "${uri}" is not kept`);
    }
    put(p, 'totp', str(login.totp));
  } else if (type === 2) {
    p = newPayload('note', '');
  } else if (type === 3) {
    p = newPayload('card', '');
    const c = sub(item, 'card');
    put(p, 'cardholder', str(c.cardholderName));
    put(p, 'number', str(c.number));
    put(p, 'expiry', expiry(c.expMonth, c.expYear));
    put(p, 'code', str(c.code));
    const brand = str(c.brand);
    put(p, 'brand', brand === undefined ? undefined : BITWARDEN_BRANDS[brand] ?? brand);
  } else if (type === 4) {
    p = newPayload('identity', '');
    const id = sub(item, 'identity');
    const parts = NAME_PARTS.map(([k]) => str(id[k])?.trim() ?? '');
    const full = parts.filter(Boolean).join(' ');
    put(p, 'fullname', full);
    // Keep the parts when kpm's own split of the full name would not give them back.
    const split = splitName(full);
    if (parts[0] || parts[2] || (split.firstName ?? '') !== parts[1] || (split.lastName ?? '') !== parts[3]) {
      NAME_PARTS.forEach(([, label], i) => parts[i] && addCustom(p, label, parts[i]));
    }
    put(p, 'address', ['address1', 'address2', 'address3'].map((k) => str(id[k])?.trim()).filter(Boolean).join('\n'));
    put(p, 'city', str(id.city));
    put(p, 'postcode', str(id.postalCode));
    put(p, 'country', str(id.country));
    put(p, 'phone', str(id.phone));
    put(p, 'email', str(id.email));
    for (const [k, label] of IDENTITY_EXTRA) {
      const v = str(id[k]);
      if (v) addCustom(p, label, v);
    }
  } else if (type === 5 && sshKeyPayload(sub(item, 'sshKey'))) {
    p = sshKeyPayload(sub(item, 'sshKey'))!; // an OpenSSH key: kpm's ssh-key type (kpm ssh-agent serves it)
  } else if (type === 5) {
    p = newPayload('note', '');
    const k = sub(item, 'sshKey');
    put(p, 'private key', str(k.privateKey), 'hidden');
    put(p, 'public key', str(k.publicKey));
    put(p, 'fingerprint', str(k.keyFingerprint));
    addTag(p, 'ssh key');
    notes.changed.push('SSH key not in OpenSSH format, imported as a note (custom fields "private key", "public key", "fingerprint"; tag "ssh key")');
  } else if (OTHER_TYPES[type]) {
    const t = OTHER_TYPES[type];
    p = newPayload('note', '');
    const o = sub(item, t.key);
    for (const [k, v] of Object.entries(o)) if (str(v)) put(p, k, str(v));
    addTag(p, t.label);
    notes.changed.push(`Bitwarden ${t.label} imported as a note with its fields as custom fields (tag "${t.label}")`);
  } else throw new RecordError(`unknown item type ${type}`);
  put(p, 'notes', str(item.notes));
  const fields = item.fields ?? [];
  if (!Array.isArray(fields)) throw new RecordError('"fields" must be an array');
  let extraTags: string | undefined;
  for (const f of fields) {
    if (!isObj(f)) throw new RecordError('each of "fields" must be an object');
    const fname = str(f.name) ?? '';
    if (f.type === FIELD_LINKED) {
      notes.skipped.push(`linked field "${fname}" (it shows another field of the item, linkedId ${String(f.linkedId)}) not imported`);
      continue;
    }
    if (fname === EXTRA_TAGS_FIELD && f.type === FIELD_TEXT) {
      extraTags = str(f.value);
      continue;
    }
    const kind = f.type === FIELD_HIDDEN ? 'hidden' : f.type === FIELD_BOOLEAN ? 'boolean' : undefined;
    const value = str(f.value) ?? '';
    if (value === '') {
      notes.skipped.push(`custom field "${fname}" is empty`);
      continue;
    }
    // A brand outside Bitwarden's list was exported as "Other" with the custom field "brand".
    if (p.type === 'card' && fname === 'brand' && p.fields.brand === 'Other' && !kind) {
      p.fields.brand = value;
      continue;
    }
    put(p, fname || (kind ?? 'field'), value, kind);
  }
  const folder = typeof item.folderId === 'string' ? folders.get(item.folderId) : undefined;
  addTag(p, folder);
  for (const id of Array.isArray(item.collectionIds) ? item.collectionIds : []) addTag(p, typeof id === 'string' ? collections.get(id) : undefined);
  if (item.favorite === true) addTag(p, 'favorite');
  if (typeof item.archivedDate === 'string') addTag(p, 'archived');
  for (const t of (extraTags ?? '').split(',')) addTag(p, t);
  if (item.reprompt === 1) notes.skipped.push('the master-password re-prompt is not kept (kpm has no per-entry re-prompt)');
  setDates(p, item.creationDate, item.revisionDate);
  if (type === 1 && p.fields.password !== undefined) {
    const changed = isoDate(sub(item, 'login').passwordRevisionDate);
    if (changed) p.passwordChanged = changed;
  }
  return finish(p, name);
}

export function parseBitwardenJson(text: string): ParseResult {
  const doc = parseJsonText(text, 'Bitwarden JSON');
  if (!isObj(doc)) throw new FileFormatError('not a Bitwarden JSON export: expected an object with "items"');
  if (doc.encrypted === true) {
    throw new FileFormatError(doc.passwordProtected === true
      ? 'this Bitwarden export is password-protected: its password is needed'
      : 'this Bitwarden export is encrypted with its account key, which only that Bitwarden account can open; export again as ".json" or ".json (Encrypted)" with "Password protected"');
  }
  if (!Array.isArray(doc.items)) throw new FileFormatError('not a Bitwarden JSON export: "items" is missing');
  const named = (list: unknown) => {
    const m = new Map<string, string>();
    for (const f of Array.isArray(list) ? list : []) if (isObj(f) && typeof f.id === 'string' && typeof f.name === 'string') m.set(f.id, f.name);
    return m;
  };
  const folders = named(doc.folders);
  // An organization export has collections instead of folders; each collection name becomes a tag.
  const collections = named(doc.collections);
  const res = emptyResult();
  doc.items.forEach((item, i) => {
    const record = i + 1;
    if (isObj(item) && typeof item.deletedDate === 'string') {
      res.skipped.push({ record, message: 'in the trash' });
      return;
    }
    collect(res, record, undefined, () => {
      if (!isObj(item)) throw new RecordError('item is not an object');
      const notes: Notes = { skipped: [], changed: [] };
      const payload = mapItem(item, folders, collections, notes);
      const old = (Array.isArray(item.passwordHistory) ? item.passwordHistory : []).filter(isObj).map((h) => ({ password: str(h.password) ?? '', date: isoDate(h.lastUsedDate) }));
      const history = payload.type === 'login' ? passwordVersions(payload, old) : [];
      if (old.length && !history.length) notes.skipped.push(`password history (${old.length} old password${old.length === 1 ? '' : 's'}) not imported`);
      const passkeys = isObj(item.login) && Array.isArray(item.login.fido2Credentials) ? item.login.fido2Credentials.length : 0;
      if (passkeys) notes.skipped.push(`${passkeys} passkey${passkeys === 1 ? '' : 's'} not imported`);
      const attachments = Array.isArray(item.attachments) ? item.attachments.length : 0;
      if (attachments) notes.skipped.push(`${attachments} attachment${attachments === 1 ? '' : 's'} not imported (Bitwarden's JSON export does not contain them)`);
      for (const m of notes.skipped) res.skipped.push({ record, message: m });
      for (const m of notes.changed) res.changed.push({ record, message: m });
      return { record, payload, ...(history.length ? { history } : {}) };
    });
  });
  return res;
}

// ------------------------------------------------------------------------------------------------
// Export

/** Bitwarden's sshKey (an unencrypted OpenSSH private key) as kpm's ssh-key entry; undefined when it is not one. */
function sshKeyPayload(k: Obj): EntryPayload | undefined {
  const text = str(k.privateKey);
  if (!text) return undefined;
  try {
    return keyPayload('', parseStoredKey(text), {});
  } catch {
    return undefined;
  }
}

function splitExpiry(e: string | undefined): { expMonth: string | null; expYear: string | null } | undefined {
  const m = e ? /^\s*(\d{1,2})?\s*[/-]\s*(\d{2}|\d{4})?\s*$/.exec(e) : null;
  if (!m || (!m[1] && !m[2])) return undefined;
  return { expMonth: m[1] ? String(Number(m[1])) : null, expYear: m[2] ? (m[2].length === 2 ? `20${m[2]}` : m[2]) : null };
}

/** kpm's brand → Bitwarden's value; undefined when Bitwarden has no such brand. */
function bitwardenBrand(brand: string): string | undefined {
  const b = brand.trim().toLowerCase();
  for (const [value, kpm] of Object.entries(BITWARDEN_BRANDS)) if (value.toLowerCase() === b || kpm.toLowerCase() === b) return value;
  return undefined;
}

type BwField = { name: string; value: string; type: number; linkedId: null };
const KIND_TYPE = { hidden: FIELD_HIDDEN, boolean: FIELD_BOOLEAN } as const;

export interface ExportNote {
  entry: string;
  message: string;
}

/** A kpm JSON → Bitwarden JSON conversion: the file, and what had to change on the way (by entry). */
export function toBitwardenExport(entries: EntryPayload[]): { text: string; notes: ExportNote[] } {
  const folders = new Map<string, string>();
  const notes: ExportNote[] = [];
  const items = entries.map((p) => {
    const f = p.fields;
    const note = (message: string) => notes.push({ entry: p.name, message });
    const tags = p.tags.filter((t) => t.toLowerCase() !== 'favorite');
    const folderName = tags[0];
    if (folderName && !folders.has(folderName)) folders.set(folderName, randomUUID());
    const custom = p.custom.map((c) => ({ ...c }));
    /** Takes (and removes) the custom field of that name. */
    const take = (...names: string[]): string | null => {
      const i = custom.findIndex((c) => names.some((n) => n.toLowerCase() === c.name.toLowerCase()));
      return i < 0 ? null : custom.splice(i, 1)[0].value;
    };
    const item: Obj = {
      id: randomUUID(),
      organizationId: null,
      folderId: folderName ? folders.get(folderName) : null,
      type: typeSpec(p.type).bitwardenType,
      reprompt: 0,
      name: p.name,
      notes: f.notes ?? null,
      favorite: p.tags.some((t) => t.toLowerCase() === 'favorite'),
      fields: [] as unknown[],
      collectionIds: null,
      creationDate: p.created,
      revisionDate: p.updated,
      deletedDate: null,
    };
    let used: string[] = [];
    const extra: BwField[] = [];
    if (p.type === 'login') {
      used = ['username', 'password', 'url', 'totp'];
      const uris: { match: null; uri: string }[] = f.url ? [{ match: null, uri: f.url }] : [];
      for (let c = custom.findIndex((x) => /^url( \d+)?$/i.test(x.name)); c >= 0; c = custom.findIndex((x) => /^url( \d+)?$/i.test(x.name))) uris.push({ match: null, uri: custom.splice(c, 1)[0].value });
      item.login = { uris, username: f.username ?? null, password: f.password ?? null, totp: f.totp ?? null, passwordRevisionDate: p.passwordChanged ?? null, fido2Credentials: [] };
    } else if (p.type === 'card') {
      used = ['cardholder', 'number', 'code', 'brand'];
      const exp = splitExpiry(f.expiry);
      if (exp) used.push('expiry');
      let brand: string | null = null;
      if (f.brand) {
        brand = bitwardenBrand(f.brand) ?? 'Other';
        if (brand === 'Other' && f.brand !== 'Other') {
          extra.push({ name: 'brand', value: f.brand, type: FIELD_TEXT, linkedId: null });
          note(`card brand "${f.brand}" is not one of Bitwarden's: brand "Other", and the custom field "brand"`);
        }
      }
      item.card = { cardholderName: f.cardholder ?? null, brand, number: f.number ?? null, expMonth: exp?.expMonth ?? null, expYear: exp?.expYear ?? null, code: f.code ?? null };
    } else if (p.type === 'identity') {
      used = ['fullname', 'address', 'city', 'postcode', 'country', 'phone', 'email'];
      const parts = NAME_PARTS.map(([, label]) => take(label));
      const split = parts.some((x) => x !== null) ? { firstName: parts[1], lastName: parts[3] } : splitName(f.fullname ?? '');
      const lines = (f.address ?? '').split('\n');
      const id: Obj = {
        title: parts[0], firstName: split.firstName, middleName: parts[2], lastName: split.lastName,
        address1: lines[0] || null, address2: lines[1] || null, address3: lines.slice(2).join('\n') || null, city: f.city ?? null,
        state: null, postalCode: f.postcode ?? null, country: f.country ?? null, company: null, email: f.email ?? null, phone: f.phone ?? null,
        ssn: null, username: null, passportNumber: null, licenseNumber: null,
      };
      for (const [k, label] of IDENTITY_EXTRA) id[k] = take(label, k);
      item.identity = id;
    } else if (p.type === 'ssh-key') {
      used = ['private-key', 'public-key', 'fingerprint', 'key-type', 'comment'];
      item.sshKey = { privateKey: f['private-key'] ?? null, publicKey: (f['public-key'] ?? '').split(' ').slice(0, 2).join(' ') || null, keyFingerprint: f.fingerprint ?? null };
    } else {
      item.secureNote = { type: 0 };
      if (p.type === 'document') note('a document becomes a secure note; its files are not in the export');
    }
    for (const [name, value] of Object.entries(f)) {
      if (used.includes(name) || name === 'notes') continue;
      extra.push({ name, value, type: SECRET_FIELDS.has(name) ? FIELD_HIDDEN : FIELD_TEXT, linkedId: null });
    }
    for (const c of custom) extra.push({ name: c.name, value: c.value, type: c.kind ? KIND_TYPE[c.kind] : FIELD_TEXT, linkedId: null });
    const rest = tags.slice(1);
    if (rest.length) {
      extra.push({ name: EXTRA_TAGS_FIELD, value: rest.join(', '), type: FIELD_TEXT, linkedId: null });
      note(`tag${rest.length === 1 ? '' : 's'} ${rest.map((t) => `"${t}"`).join(', ')} kept in the custom field "${EXTRA_TAGS_FIELD}" (a Bitwarden item has one folder: "${folderName}")`);
    }
    item.fields = extra;
    return item;
  });
  const doc = { encrypted: false, folders: [...folders].map(([name, id]) => ({ id, name })), items };
  return { text: JSON.stringify(doc, null, 2) + '\n', notes };
}

export const toBitwardenJson = (entries: EntryPayload[]): string => toBitwardenExport(entries).text;

// ------------------------------------------------------------------------------------------------
// Password-protected export ("File format: .json (Encrypted)", "Password protected"), as written by
// bitwarden/clients (vault-export-core) and read by its BitwardenPasswordProtectedImporter:
//   { encrypted: true, passwordProtected: true, salt, kdfType (0 PBKDF2-SHA256, 1 Argon2id),
//     kdfIterations, kdfMemory (MiB), kdfParallelism, encKeyValidation_DO_NOT_EDIT, data }
// key = KDF(UTF-8 password, UTF-8 salt string (Argon2id: its SHA-256)) → 32 bytes, stretched with
// HKDF-Expand-SHA256 into encKey ("enc") and macKey ("mac"); each EncString is
// "2.<iv b64>|<ciphertext b64>|<mac b64>" = AES-256-CBC + HMAC-SHA256(macKey, iv ‖ ciphertext).

/** Bitwarden's own KDF bounds (its KDF settings): anything outside is refused before deriving. */
export const BITWARDEN_KDF_LIMITS = { pbkdf2: { min: 5000, max: 2_000_000 }, argon2: { memoryMiB: [16, 1024], iterations: [2, 10], parallelism: [1, 16] } } as const;

export function isPasswordProtectedBitwarden(doc: unknown): boolean {
  return isObj(doc) && doc.encrypted === true && doc.passwordProtected === true;
}

/** A wrong file password (the validation string does not authenticate): exit 5 for the caller. */
export class BitwardenPasswordError extends Error {}

function encString(v: unknown, what: string): { iv: Buffer; ct: Buffer; mac: Buffer } {
  const m = typeof v === 'string' ? /^2\.([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(v) : null;
  if (!m) throw new FileFormatError(`the encrypted Bitwarden export is damaged: "${what}" is not an AES-CBC-256 + HMAC-SHA256 string ("2.iv|data|mac")`);
  const [iv, ct, mac] = [m[1], m[2], m[3]].map((x) => Buffer.from(x, 'base64'));
  if (iv.length !== 16 || mac.length !== 32 || ct.length === 0 || ct.length % 16) throw new FileFormatError(`the encrypted Bitwarden export is damaged: "${what}" has wrong lengths`);
  return { iv, ct, mac };
}

export async function bitwardenKey(doc: Obj, password: string): Promise<{ enc: Uint8Array; mac: Uint8Array }> {
  const { pbkdf2Sync, createHash } = await import('node:crypto');
  const salt = str(doc.salt);
  const iterations = doc.kdfIterations;
  if (!salt || typeof iterations !== 'number' || !Number.isInteger(iterations)) throw new FileFormatError('the encrypted Bitwarden export is damaged: "salt" or "kdfIterations" is missing');
  const pw = Buffer.from(password, 'utf8');
  let master: Uint8Array;
  if (doc.kdfType === 0) {
    const l = BITWARDEN_KDF_LIMITS.pbkdf2;
    if (iterations < l.min || iterations > l.max) throw new FileFormatError(`refused: PBKDF2 with ${iterations} iterations (Bitwarden allows ${l.min}–${l.max})`);
    master = pbkdf2Sync(pw, Buffer.from(salt, 'utf8'), iterations, 32, 'sha256');
  } else if (doc.kdfType === 1) {
    const l = BITWARDEN_KDF_LIMITS.argon2;
    const memory = doc.kdfMemory, parallelism = doc.kdfParallelism;
    if (typeof memory !== 'number' || typeof parallelism !== 'number' || memory < l.memoryMiB[0] || memory > l.memoryMiB[1] || iterations < l.iterations[0] || iterations > l.iterations[1] || parallelism < l.parallelism[0] || parallelism > l.parallelism[1]) {
      throw new FileFormatError(`refused: Argon2id with ${String(memory)} MiB, ${iterations} passes, ${String(parallelism)} lanes (Bitwarden allows ${l.memoryMiB.join('–')} MiB, ${l.iterations.join('–')} passes, ${l.parallelism.join('–')} lanes)`);
    }
    const native = (await import('node:module')).createRequire(import.meta.url)('argon2') as { hash(p: Buffer, o: Record<string, unknown>): Promise<Buffer> };
    master = await native.hash(pw, { raw: true, type: 2, version: 0x13, salt: createHash('sha256').update(salt, 'utf8').digest(), memoryCost: memory * 1024, timeCost: iterations, parallelism, hashLength: 32 });
  } else throw new FileFormatError(`the encrypted Bitwarden export uses an unknown kdfType ${JSON.stringify(doc.kdfType)}`);
  // HKDF-Expand only (RFC 5869 §2.3, one block: T(1) = HMAC(PRK, info ‖ 0x01)); no extract step.
  const { createHmac } = await import('node:crypto');
  const expand = (info: string) => createHmac('sha256', master).update(Buffer.concat([Buffer.from(info), Buffer.from([1])])).digest();
  const key = { enc: new Uint8Array(expand('enc')), mac: new Uint8Array(expand('mac')) };
  master.fill(0);
  return key;
}

async function openEncString(key: { enc: Uint8Array; mac: Uint8Array }, v: unknown, what: string): Promise<Buffer> {
  const { createHmac, createDecipheriv, timingSafeEqual } = await import('node:crypto');
  const e = encString(v, what);
  const mac = createHmac('sha256', key.mac).update(Buffer.concat([e.iv, e.ct])).digest();
  if (!timingSafeEqual(mac, e.mac)) throw new BitwardenPasswordError('wrong password for the encrypted Bitwarden export (or the file was changed)');
  const d = createDecipheriv('aes-256-cbc', key.enc, e.iv);
  try {
    return Buffer.concat([d.update(e.ct), d.final()]);
  } catch {
    throw new FileFormatError(`the encrypted Bitwarden export is damaged: "${what}" does not decrypt`);
  }
}

/** Opens a password-protected Bitwarden export; the result is the plain JSON export. */
export async function decryptBitwardenJson(doc: unknown, password: string): Promise<string> {
  if (!isPasswordProtectedBitwarden(doc)) throw new FileFormatError('not a password-protected Bitwarden export');
  const d = doc as Obj;
  const key = await bitwardenKey(d, password);
  try {
    await openEncString(key, d.encKeyValidation_DO_NOT_EDIT, 'encKeyValidation_DO_NOT_EDIT');
    return (await openEncString(key, d.data, 'data')).toString('utf8');
  } finally {
    key.enc.fill(0);
    key.mac.fill(0);
  }
}
