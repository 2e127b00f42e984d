// 1Password's 1PUX export: a zip archive with export.data (JSON: accounts[].vaults[].items[]) and
// the documents' files under files/. Categories: 001 login, 002 credit card, 003 secure note,
// 004 identity, 005 password, 006 document; every other category becomes a note whose section
// fields are custom fields. Mapping: docs/IMPORT-EXPORT.md "1Password (1PUX)".
import type { EntryPayload, EntryType } from '../vault/entry.js';
import {
  addTag, collect, decodeText, emptyResult, FileFormatError, finish, newPayload, parseJsonText, passwordVersions, put, RecordError, setDates, str,
  type ImportedFile, type ParseResult,
} from './model.js';
import { ZipReader } from './zip.js';

/** S12: export.data and the referenced files may unpack to at most this much (zip bombs are refused). */
export const ONEPUX_LIMITS = { member: 128 << 20, total: 192 << 20 };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown, what: string): unknown[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new RecordError(`"${what}" must be an array`);
  return v;
};

const CATEGORY: Record<string, EntryType> = { '001': 'login', '002': 'card', '003': 'note', '004': 'identity', '005': 'login', '006': 'document' };

/** monthYear 202712 → "12/27" */
const monthYear = (n: number): string => `${String(n % 100).padStart(2, '0')}/${String(Math.floor(n / 100) % 100).padStart(2, '0')}`;
/** date (seconds since 1970) → YYYY-MM-DD */
const day = (s: number): string => new Date(s * 1000).toISOString().slice(0, 10);

/** A section field's value as text, and what kind it is. */
function fieldValue(v: unknown): { kind: string; text: string; address?: Obj; file?: Obj } | undefined {
  if (!isObj(v)) return undefined;
  const kind = Object.keys(v)[0];
  if (!kind) return undefined;
  const raw = v[kind];
  if (raw === null || raw === undefined) return undefined;
  if (kind === 'monthYear' && typeof raw === 'number') return { kind, text: monthYear(raw) };
  if (kind === 'date' && typeof raw === 'number') return { kind, text: day(raw) };
  if (kind === 'email' && isObj(raw)) return { kind, text: str(raw.email_address) ?? '' };
  if (kind === 'address' && isObj(raw)) {
    return { kind, text: ['street', 'city', 'state', 'zip', 'country'].map((k) => str(raw[k])).filter(Boolean).join(', '), address: raw };
  }
  if (kind === 'sshKey' && isObj(raw)) return { kind, text: str(raw.privateKey) ?? '' };
  if (kind === 'file' && isObj(raw)) return { kind, text: str(raw.fileName) ?? 'file', file: raw };
  if (isObj(raw) || Array.isArray(raw)) return { kind, text: JSON.stringify(raw) };
  return { kind, text: String(raw) };
}

/** Where a section field goes, by its id and kind, for each kpm type. */
function target(type: EntryType, id: string, kind: string): string | undefined {
  if (kind === 'totp') return 'totp';
  if (type === 'card') {
    return ({ cardholder: 'cardholder', ccnum: 'number', cvv: 'code', expiry: 'expiry', pin: 'pin', type: 'brand' } as Record<string, string>)[id]
      ?? (kind === 'creditCardNumber' ? 'number' : kind === 'creditCardType' ? 'brand' : undefined);
  }
  if (type === 'identity') {
    if (kind === 'email') return 'email';
    if (kind === 'phone') return 'phone';
    if (id === 'birthdate') return 'birthday';
  }
  return undefined;
}

type Files = (documentId: string | undefined, fileName: string) => Uint8Array | undefined;

function mapItem(item: Obj, files: Files): { payload: EntryPayload; files: ImportedFile[]; missing: string[] } {
  const category = str(item.categoryUuid) ?? '';
  const type = CATEGORY[category] ?? 'note';
  const overview = isObj(item.overview) ? item.overview : {};
  const details = isObj(item.details) ? item.details : {};
  const p = newPayload(type, '');
  if (!CATEGORY[category] && category) addTag(p, `1password category ${category}`);
  for (const f of arr(details.loginFields, 'details.loginFields')) {
    if (!isObj(f)) continue;
    const value = typeof f.value === 'string' ? f.value : isObj(f.value) ? str(f.value.email_address) ?? str(f.value.string) : undefined;
    const d = str(f.designation);
    if (d === 'username' || d === 'password') put(p, d, value);
    else if (f.fieldType !== 'C' && f.fieldType !== 'B' && f.fieldType !== 'I') put(p, str(f.name) || str(f.id) || 'field', value);
  }
  if (category === '005') put(p, 'password', str(details.password));
  put(p, 'url', str(overview.url));
  for (const u of arr(overview.urls, 'overview.urls')) if (isObj(u) && str(u.url) !== str(overview.url)) put(p, str(u.label) ? `url (${u.label})` : 'url', str(u.url));
  const name: string[] = [];
  const out: ImportedFile[] = [];
  const missing: string[] = [];
  const attach = (documentId: string | undefined, fileName: string) => {
    const bytes = files(documentId, fileName);
    if (bytes) out.push({ name: fileName, bytes });
    else missing.push(fileName);
  };
  for (const s of arr(details.sections, 'details.sections')) {
    if (!isObj(s)) continue;
    for (const f of arr(s.fields, 'details.sections[].fields')) {
      if (!isObj(f)) throw new RecordError('a section field is not an object');
      const v = fieldValue(f.value);
      if (!v || v.text === '') continue;
      const id = str(f.id) ?? '';
      if (v.file) {
        attach(str(v.file.documentId), v.text); // a file attached in a section: the entry's file
        continue;
      }
      if (type === 'identity' && (id === 'firstname' || id === 'initial' || id === 'lastname')) {
        name[['firstname', 'initial', 'lastname'].indexOf(id)] = v.text;
        continue;
      }
      if (type === 'identity' && v.address) {
        put(p, 'address', str(v.address.street));
        put(p, 'city', str(v.address.city));
        put(p, 'postcode', str(v.address.zip));
        put(p, 'country', str(v.address.country));
        put(p, 'state', str(v.address.state));
        continue;
      }
      put(p, target(type, id, v.kind) ?? (str(f.title) || id || v.kind), v.text);
    }
  }
  if (type === 'identity') put(p, 'fullname', name.filter(Boolean).join(' '));
  put(p, 'notes', str(details.notesPlain));
  for (const t of arr(overview.tags, 'overview.tags')) addTag(p, str(t));
  if (item.state === 'archived') addTag(p, 'archived');
  if (typeof item.favIndex === 'number' && item.favIndex > 0) addTag(p, 'favorite');
  setDates(p, item.createdAt, item.updatedAt);
  const doc = isObj(details.documentAttributes) ? details.documentAttributes : undefined;
  if (doc) attach(str(doc.documentId), str(doc.fileName) ?? 'document');
  return { payload: finish(p, str(overview.title)), files: out, missing };
}

export function parseOnePux(bytes: Uint8Array): ParseResult {
  const zip = new ZipReader(bytes, ONEPUX_LIMITS, '1PUX file');
  const data = zip.read('export.data');
  if (!data) throw new FileFormatError('not a 1PUX file: export.data is missing from the archive');
  const doc = parseJsonText(decodeText(data), '1PUX export.data');
  if (!isObj(doc) || !Array.isArray(doc.accounts)) throw new FileFormatError('not a 1PUX export: export.data has no "accounts"');
  // Only the files that an item refers to are unpacked, each once.
  const files: Files = (documentId, fileName) => (documentId === undefined ? undefined : zip.read(`files/${documentId}__${fileName}`));
  const res = emptyResult();
  let record = 0;
  const vaults = doc.accounts.flatMap((a) => (isObj(a) && Array.isArray(a.vaults) ? a.vaults : []));
  for (const v of vaults) {
    const vaultName = isObj(v) && isObj(v.attrs) ? str(v.attrs.name) : undefined;
    for (const item of isObj(v) && Array.isArray(v.items) ? v.items : []) {
      const n = ++record;
      if (isObj(item) && item.state === 'trashed') {
        res.skipped.push({ record: n, message: 'in the trash' });
        continue;
      }
      collect(res, n, undefined, () => {
        if (!isObj(item)) throw new RecordError('item is not an object');
        const { payload, files: got, missing } = mapItem(item, files);
        if (vaults.length > 1) addTag(payload, vaultName);
        for (const m of missing) res.skipped.push({ record: n, message: `file "${m}" is not in the archive` });
        const old = (isObj(item.details) && Array.isArray(item.details.passwordHistory) ? item.details.passwordHistory : [])
          .filter(isObj).map((h) => ({ password: str(h.value) ?? '', date: typeof h.time === 'number' ? new Date(h.time * 1000).toISOString() : undefined }));
        const history = payload.type === 'login' ? passwordVersions(payload, old) : [];
        if (old.length && !history.length) res.skipped.push({ record: n, message: `password history (${old.length} old password${old.length === 1 ? '' : 's'}) not imported` });
        return { record: n, payload, files: got.length ? got : undefined, ...(history.length ? { history } : {}) };
      });
    }
  }
  return res;
}
