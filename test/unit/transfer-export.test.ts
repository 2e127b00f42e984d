// The export writers (src/transfer/): kpm-json (plain and encrypted), Bitwarden JSON and CSV, each
// read back by kpm's own importer.
import { describe, expect, it } from 'vitest';
import { TEST_KDF } from '../helpers/kdf.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { EXIT } from '../../src/core/errors.js';
import { decryptExport, encryptExport, isEncryptedExport, parseKpmJson, toKpmJson } from '../../src/transfer/kpmjson.js';
import { parseBitwardenJson, toBitwardenJson } from '../../src/transfer/bitwarden.js';
import { parseCsv, toCsv } from '../../src/transfer/csv.js';
import { asyncExitCodeOf } from '../helpers/exitcode.js';

const FLOOR = { ...TEST_KDF };
const T1 = '2024-01-02T03:04:05.000Z', T2 = '2024-05-06T07:08:09.000Z';

const ENTRIES: EntryPayload[] = [
  {
    type: 'login', name: 'GitHub, "work"', tags: ['Work', 'dev'], created: T1, updated: T2, passwordChanged: T1,
    fields: { username: 'octocat', password: 'p,a"ss\nword', url: 'https://github.com', totp: 'otpauth://totp/GH?secret=JBSWY3DPEHPK3PXP', notes: 'two\nlines' },
    custom: [{ name: 'recovery', value: 'r-1' }, { name: 'ünïcødé', value: '✓ yes' }],
  },
  { type: 'note', name: 'Zürich note 🏔', tags: [], created: T1, updated: T1, fields: { notes: 'a\n"b", c\n' }, custom: [] },
  {
    type: 'card', name: 'Visa', tags: ['Banking'], created: T1, updated: T2,
    fields: { cardholder: 'Ada Lovelace', number: '4111111111111111', expiry: '07/29', code: '123', pin: '4321', brand: 'Visa', notes: 'main card' }, custom: [],
  },
  {
    type: 'identity', name: 'Me', tags: [], created: T1, updated: T2,
    fields: { fullname: 'Ada King Lovelace', address: '12 Square', city: 'London', postcode: 'SW1', country: 'GB', phone: '+44 1', email: 'ada@example.org', birthday: '1815-12-10' },
    custom: [{ name: 'state', value: 'Greater London' }],
  },
  { type: 'document', name: 'Passport', tags: [], created: T1, updated: T1, fields: { notes: 'scan at home' }, custom: [] },
];
const clone = () => JSON.parse(JSON.stringify(ENTRIES)) as EntryPayload[];

describe('kpm-json', () => {
  it('round-trips every entry exactly (fields, custom fields, tags, dates)', () => {
    const text = toKpmJson(clone().map((payload) => ({ vault: 'Personal', payload })));
    const doc = JSON.parse(text);
    expect(doc).toMatchObject({ format: 'kpm-export', version: 1 });
    expect(doc.entries[0].vault).toBe('Personal');
    const r = parseKpmJson(text);
    expect(r.errors).toEqual([]);
    expect(r.entries.map((e) => e.payload)).toEqual(ENTRIES);
  });

  it('reports malformed entries by record number', () => {
    const text = JSON.stringify({ format: 'kpm-export', version: 1, entries: [{ type: 'login', name: 'ok' }, { type: 'rocket', name: 'x' }, { type: 'note', name: 'y', fields: { notes: 5 } }] });
    const r = parseKpmJson(text);
    expect(r.entries.map((e) => e.payload.name)).toEqual(['ok']);
    expect(r.errors).toEqual([
      { record: 2, line: undefined, message: 'unknown type "rocket"' },
      { record: 3, line: undefined, message: 'field "notes" must be a string' },
    ]);
  });

  it('encrypted: Argon2id + XChaCha20-Poly1305 envelope; the right password opens it, a wrong one is exit 5', async () => {
    const plain = toKpmJson(clone().map((payload) => ({ vault: 'Personal', payload })));
    const sealed = await encryptExport(plain, 'export password 1', FLOOR);
    const env = JSON.parse(sealed);
    expect(isEncryptedExport(env)).toBe(true);
    expect(Object.keys(env)).toEqual(['format', 'version', 'kdf', 'cipher', 'data']);
    expect(env.kdf).toMatchObject({ name: 'argon2id', ...FLOOR });
    expect(Buffer.from(env.kdf.salt, 'base64')).toHaveLength(16);
    expect(sealed).not.toContain('octocat');
    expect(await decryptExport(env, 'export password 1')).toBe(plain);
    expect(await asyncExitCodeOf(() => decryptExport(env, 'export password 2'))).toBe(EXIT.wrongPassword);
    // the header is bound to the ciphertext: changing the parameters or the salt fails too
    expect(await asyncExitCodeOf(() => decryptExport({ ...env, kdf: { ...env.kdf, t: 3 } }, 'export password 1'))).toBe(EXIT.wrongPassword);
    const salt = Buffer.from(env.kdf.salt, 'base64');
    salt[0] ^= 1;
    expect(await asyncExitCodeOf(() => decryptExport({ ...env, kdf: { ...env.kdf, salt: salt.toString('base64') } }, 'export password 1'))).toBe(EXIT.wrongPassword);
    expect(await asyncExitCodeOf(() => decryptExport({ ...env, kdf: { ...env.kdf, m: 8 } }, 'export password 1'))).toBe(EXIT.corrupt);
    expect(() => parseKpmJson(sealed)).toThrow(/encrypted/);
  });
});

describe('Bitwarden JSON export', () => {
  it("is read back by kpm's Bitwarden importer with every type and field in its place", () => {
    const text = toBitwardenJson(clone());
    const doc = JSON.parse(text);
    expect(doc.encrypted).toBe(false);
    expect(doc.folders.map((f: { name: string }) => f.name)).toEqual(['Work', 'Banking']);
    expect(doc.items.map((i: { type: number }) => i.type)).toEqual([1, 2, 3, 4, 2]);
    expect(doc.items[2].card).toMatchObject({ cardholderName: 'Ada Lovelace', number: '4111111111111111', expMonth: '7', expYear: '2029', code: '123', brand: 'Visa' });
    expect(doc.items[3].identity).toMatchObject({ firstName: 'Ada King', lastName: 'Lovelace', address1: '12 Square', postalCode: 'SW1' });
    const back = parseBitwardenJson(text);
    expect(back.errors).toEqual([]);
    const [login, note, card, identity, document] = back.entries.map((e) => e.payload);
    expect(login).toMatchObject({ name: ENTRIES[0].name, fields: ENTRIES[0].fields, custom: ENTRIES[0].custom, tags: ENTRIES[0].tags, created: T1, updated: T2, passwordChanged: T1 });
    expect(note).toMatchObject({ type: 'note', fields: ENTRIES[1].fields });
    expect(card).toMatchObject({ type: 'card', fields: ENTRIES[2].fields, tags: ['Banking'] });
    expect(identity).toMatchObject({ type: 'identity', fields: ENTRIES[3].fields, custom: ENTRIES[3].custom });
    expect(document).toMatchObject({ type: 'note', fields: { notes: 'scan at home' } });
  });
});

describe('CSV export', () => {
  it('has a header row, quotes what needs quoting, and is read back by the CSV importer', () => {
    const text = toCsv(clone());
    expect(text.split('\n')[0]).toBe('name,type,url,username,password,totp,notes,tags,fields,created,updated');
    expect(text).toContain('"GitHub, ""work"""');
    const back = parseCsv(text);
    expect(back.errors).toEqual([]);
    expect(back.entries.map((e) => e.payload)).toEqual(ENTRIES.map((p) => ({ ...p, passwordChanged: p.fields.password ? T2 : undefined })).map((p) => {
      if (p.passwordChanged === undefined) delete p.passwordChanged;
      return p;
    }));
  });
});
