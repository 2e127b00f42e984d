// Bitwarden's unencrypted JSON export (https://bitwarden.com/help/export-your-data/,
// "Bitwarden .json"): { encrypted: false, folders: [{id, name}], items: [...] }. Item types:
// 1 login, 2 secure note, 3 card, 4 identity, 5 SSH key. Mapping: docs/IMPORT-EXPORT.md.
import { randomUUID } from 'node:crypto';
import type { EntryPayload } from '../vault/entry.js';
import {
  addTag, collect, isoDate, emptyResult, FileFormatError, finish, newPayload, parseJsonText, put, RecordError, setDates, str, type ParseResult,
} from './model.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const FIELD_TYPES: Record<number, string> = { 0: 'text', 1: 'hidden', 2: 'boolean', 3: 'linked' };

function sub(item: Obj, key: string): Obj {
  const v = item[key];
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new RecordError(`"${key}" must be an object`);
  return v;
}

function identityName(id: Obj): string {
  return ['title', 'firstName', 'middleName', 'lastName'].map((k) => str(id[k])?.trim()).filter(Boolean).join(' ');
}

function expiry(month: unknown, year: unknown): string | undefined {
  const m = str(month)?.trim();
  let y = str(year)?.trim();
  if (!m && !y) return undefined;
  if (y && y.length === 4) y = y.slice(2);
  return `${(m ?? '').padStart(2, '0')}/${y ?? ''}`;
}

function mapItem(item: Obj, folders: Map<string, string>): EntryPayload {
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
    for (const u of uris) put(p, 'url', isObj(u) ? str(u.uri) : undefined);
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
    put(p, 'brand', str(c.brand));
  } else if (type === 4) {
    p = newPayload('identity', '');
    const id = sub(item, 'identity');
    put(p, 'fullname', identityName(id));
    put(p, 'address', ['address1', 'address2', 'address3'].map((k) => str(id[k])?.trim()).filter(Boolean).join('\n'));
    put(p, 'city', str(id.city));
    put(p, 'postcode', str(id.postalCode));
    put(p, 'country', str(id.country));
    put(p, 'phone', str(id.phone));
    put(p, 'email', str(id.email));
    for (const k of ['state', 'company', 'username', 'ssn', 'passportNumber', 'licenseNumber']) put(p, k, str(id[k]));
  } else if (type === 5) {
    p = newPayload('note', '');
    const k = sub(item, 'sshKey');
    put(p, 'private key', str(k.privateKey));
    put(p, 'public key', str(k.publicKey));
    put(p, 'fingerprint', str(k.keyFingerprint));
  } else throw new RecordError(`unknown item type ${type}`);
  put(p, 'notes', str(item.notes));
  const fields = item.fields ?? [];
  if (!Array.isArray(fields)) throw new RecordError('"fields" must be an array');
  for (const f of fields) {
    if (!isObj(f)) throw new RecordError('each of "fields" must be an object');
    if (f.type === 3) continue; // linked: points at another field of the item, holds no value
    const before = p.custom.length;
    put(p, str(f.name) ?? FIELD_TYPES[Number(f.type)] ?? 'field', str(f.value) ?? '');
    if (f.type === 1 && p.custom.length > before) p.custom[p.custom.length - 1].hidden = true; // a hidden field stays secret
  }
  const folder = typeof item.folderId === 'string' ? folders.get(item.folderId) : undefined;
  addTag(p, folder);
  if (item.favorite === true) addTag(p, 'favorite');
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
    throw new FileFormatError('this Bitwarden export is encrypted; kpm reads only unencrypted Bitwarden JSON (export as ".json", not ".json (Encrypted)")');
  }
  if (!Array.isArray(doc.items)) throw new FileFormatError('not a Bitwarden JSON export: "items" is missing');
  const folders = new Map<string, string>();
  for (const f of Array.isArray(doc.folders) ? doc.folders : []) if (isObj(f) && typeof f.id === 'string' && typeof f.name === 'string') folders.set(f.id, f.name);
  const res = emptyResult();
  doc.items.forEach((item, i) => {
    const record = i + 1;
    if (isObj(item) && typeof item.deletedDate === 'string') {
      res.skipped.push({ record, message: 'in the trash' });
      return;
    }
    collect(res, record, undefined, () => {
      if (!isObj(item)) throw new RecordError('item is not an object');
      const payload = mapItem(item, folders);
      const history = Array.isArray(item.passwordHistory) ? item.passwordHistory.length : 0;
      if (history) res.skipped.push({ record, message: `password history (${history} old password${history === 1 ? '' : 's'}) not imported` });
      const passkeys = isObj(item.login) && Array.isArray(item.login.fido2Credentials) ? item.login.fido2Credentials.length : 0;
      if (passkeys) res.skipped.push({ record, message: `${passkeys} passkey${passkeys === 1 ? '' : 's'} not imported` });
      return { record, payload };
    });
  });
  return res;
}

// ------------------------------------------------------------------------------------------------
// Export

const TYPE_NUMBER = { login: 1, note: 2, document: 2, card: 3, identity: 4, 'ssh-key': 2 } as const; // ssh-key: a secure note with its fields (src/ssh)

function splitName(full: string): { firstName: string | null; lastName: string | null } {
  const parts = full.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return { firstName: null, lastName: null };
  if (parts.length === 1) return { firstName: parts[0], lastName: null };
  return { firstName: parts.slice(0, -1).join(' '), lastName: parts[parts.length - 1] };
}

function splitExpiry(e: string | undefined): { expMonth: string | null; expYear: string | null } {
  const m = e ? /^\s*(\d{1,2})\s*[/-]\s*(\d{2}|\d{4})\s*$/.exec(e) : null;
  if (!m) return { expMonth: null, expYear: null };
  return { expMonth: String(Number(m[1])), expYear: m[2].length === 2 ? `20${m[2]}` : m[2] };
}

/** Fields of the type that have no place in Bitwarden's item go to its custom fields. */
function extraFields(p: EntryPayload, used: string[]): { name: string; value: string; type: number; linkedId: null }[] {
  const out = Object.entries(p.fields)
    .filter(([k]) => !used.includes(k) && k !== 'notes')
    .map(([name, value]) => ({ name, value, type: ['pin', 'code', 'number', 'password', 'totp'].includes(name) ? 1 : 0, linkedId: null }));
  for (const c of p.custom) out.push({ name: c.name, value: c.value, type: c.hidden ? 1 : 0, linkedId: null });
  return out;
}

export function toBitwardenJson(entries: EntryPayload[]): string {
  const folders = new Map<string, string>();
  const items = entries.map((p) => {
    const f = p.fields;
    const folderName = p.tags[0];
    if (folderName && !folders.has(folderName)) folders.set(folderName, randomUUID());
    const item: Obj = {
      id: randomUUID(),
      organizationId: null,
      folderId: folderName ? folders.get(folderName) : null,
      type: TYPE_NUMBER[p.type],
      reprompt: 0,
      name: p.name,
      notes: f.notes ?? null,
      favorite: false,
      fields: [] as unknown[],
      collectionIds: null,
      creationDate: p.created,
      revisionDate: p.updated,
      deletedDate: null,
    };
    let used: string[] = [];
    if (p.type === 'login') {
      used = ['username', 'password', 'url', 'totp'];
      item.login = { uris: f.url ? [{ match: null, uri: f.url }] : [], username: f.username ?? null, password: f.password ?? null, totp: f.totp ?? null, passwordRevisionDate: p.passwordChanged ?? null, fido2Credentials: [] };
    } else if (p.type === 'card') {
      used = ['cardholder', 'number', 'expiry', 'code', 'brand'];
      item.card = { cardholderName: f.cardholder ?? null, brand: f.brand ?? null, number: f.number ?? null, ...splitExpiry(f.expiry), code: f.code ?? null };
      if (f.expiry && splitExpiry(f.expiry).expMonth === null) used = used.filter((u) => u !== 'expiry');
    } else if (p.type === 'identity') {
      used = ['fullname', 'address', 'city', 'postcode', 'country', 'phone', 'email'];
      item.identity = {
        title: null, ...splitName(f.fullname ?? ''), middleName: null, address1: f.address ?? null, address2: null, address3: null, city: f.city ?? null,
        state: null, postalCode: f.postcode ?? null, country: f.country ?? null, company: null, email: f.email ?? null, phone: f.phone ?? null,
        ssn: null, username: null, passportNumber: null, licenseNumber: null,
      };
    } else {
      item.secureNote = { type: 0 };
    }
    item.fields = extraFields(p, used);
    return item;
  });
  const doc = { encrypted: false, folders: [...folders].map(([name, id]) => ({ id, name })), items };
  return JSON.stringify(doc, null, 2) + '\n';
}
