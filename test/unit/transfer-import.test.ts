// The import parsers (src/transfer/), on the fixtures in test/fixtures/import/: every field
// mapping, and malformed files reported by record and line.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { parseImport, uniqueNames } from '../../src/transfer/index.js';
import { parseCsv, parseFieldsCell } from '../../src/transfer/csv.js';
import { parseBitwardenJson } from '../../src/transfer/bitwarden.js';
import { parseKeepassXml } from '../../src/transfer/keepass.js';
import { parseOnePux } from '../../src/transfer/onepux.js';
import { buildOnePux } from '../helpers/onepux.js';
import { entryNamed as byName, fileError } from '../helpers/imported.js';

const FIX = join(__dirname, '..', 'fixtures', 'import');
const read = (f: string) => fs.readFileSync(join(FIX, f), 'utf8');

describe('Bitwarden JSON', () => {
  const r = parseBitwardenJson(read('bitwarden.json'));

  it('maps logins: username, password, first URI, TOTP, notes, custom fields, extra URIs, folder and favorite as tags, dates', () => {
    expect(r.errors).toEqual([]);
    const gh = byName(r, 'GitHub').payload;
    expect(gh.type).toBe('login');
    expect(gh.fields).toEqual({
      username: 'octocat', password: 'hunter2-GH!', url: 'https://github.com/login',
      totp: 'otpauth://totp/GitHub:octocat?secret=JBSWY3DPEHPK3PXP&issuer=GitHub',
      notes: 'Recovery codes are in the safe.\nSecond line, with "quotes".',
    });
    expect(gh.custom).toEqual([
      { name: 'url 2', value: 'https://gist.github.com' },
      { name: 'recovery email', value: 'octo@example.org' },
      { name: 'API token', value: 'ghp_s3cr3t', kind: 'hidden' },
      { name: 'enterprise', value: 'false', kind: 'boolean' },
    ]);
    expect(gh.tags).toEqual(['Work', 'favorite']);
    expect(gh.created).toBe('2023-01-05T08:00:00.000Z');
    expect(gh.updated).toBe('2024-03-02T11:12:13.000Z');
    expect(gh.passwordChanged).toBe('2024-03-01T10:00:00.000Z');
  });

  it('maps notes (unicode, multi-line), cards (expiry MM/YY, PIN field), identities and SSH keys', () => {
    expect(byName(r, 'Wi-Fi Zürich 🏔').payload).toMatchObject({ type: 'note', fields: { notes: 'SSID: Bergblick\nKey: grüezi-mitenand\n\nRouter in the hallway.' } });
    expect(byName(r, 'Visa Gold').payload).toMatchObject({
      type: 'card', tags: ['Personal/Banking'],
      fields: { cardholder: 'Ada Lovelace', number: '4111111111111111', expiry: '07/29', code: '123', brand: 'Visa', pin: '4321' },
    });
    const me = byName(r, 'Me').payload;
    expect(me.type).toBe('identity');
    expect(me.fields).toEqual({
      fullname: 'Dr Ada King Lovelace', address: "12 St James's Square\nFlat 3", city: 'London', postcode: 'SW1Y 4JH', country: 'GB',
      phone: '+44 20 7946 0000', email: 'ada@example.org', notes: 'Main identity',
    });
    // the name parts are kept (kpm's split of "Dr Ada King Lovelace" would not give them back)
    expect(me.custom.map((c) => c.name)).toEqual(['title', 'first name', 'middle name', 'last name', 'state', 'company', 'username', 'ssn', 'passport number']);
    const key = byName(r, 'deploy key').payload;
    expect(key.type).toBe('note');
    expect(key.custom.map((c) => c.name)).toEqual(['private key', 'public key', 'fingerprint']);
    expect(key.custom[0].kind).toBe('hidden');
    expect(key.tags).toContain('ssh key');
    expect(key.custom[0].value).toContain('\nb3BlbnNzaC1rZXktdjEAAAAA\n');
  });

  it('keeps an unparseable TOTP as the custom field "otp", skips trashed items, and reports them', () => {
    const steam = byName(r, 'Steam').payload;
    expect(steam.fields.totp).toBeUndefined();
    expect(steam.custom).toEqual([{ name: 'otp', value: 'steam://ABCDEFGHIJ' }]);
    expect(r.entries.map((e) => e.record)).toEqual([1, 2, 3, 4, 5, 7, 8]);
    expect(r.skipped).toEqual([
      { record: 1, message: 'the match detection (0) of URI "https://gist.github.com" is not kept' },
      { record: 1, message: 'linked field "user link" (it shows another field of the item, linkedId 100) not imported' },
      { record: 1, message: '1 passkey not imported' },
      { record: 6, message: 'in the trash' },
    ]);
    // the old passwords are the entry's history, oldest first, each dated when it was replaced
    expect(r.entries[0].history!.map((h) => [h.fields.password, h.updated])).toEqual([['hunter0-GH', '2023-06-01T10:00:00.000Z'], ['hunter1-GH', '2024-03-01T10:00:00.000Z']]);
  });

  it('reports malformed items by record number and still parses the good ones', () => {
    const bad = parseBitwardenJson(read('bitwarden-malformed.json'));
    expect(bad.entries.map((e) => e.payload.name)).toEqual(['fine one', 'fine note', 'fine two']);
    expect(bad.errors).toEqual([
      { record: 3, line: undefined, message: 'item has no numeric "type"' },
      { record: 5, line: undefined, message: '"login.uris" must be an array' },
    ]);
  });

  it('refuses encrypted exports and broken JSON (with the line)', () => {
    expect(fileError(() => parseBitwardenJson('{"encrypted": true, "passwordProtected": true, "data": "2.x|y|z"}')).message).toMatch(/password-protected: its password is needed/);
    const e = fileError(() => parseBitwardenJson('{\n  "items": [\n    {"type": 1,}\n  ]\n}'));
    expect(e.line).toBe(3);
    expect(fileError(() => parseBitwardenJson('[1, 2]')).message).toMatch(/expected an object/);
  });
});

describe('1Password 1PUX', () => {
  const r = parseOnePux(buildOnePux());

  it('maps a login: designated user name and password, URLs, TOTP and other section fields, tags, archived and favourite', () => {
    expect(r.errors).toEqual([]);
    const p = byName(r, 'Example Account').payload;
    expect(p.type).toBe('login');
    expect(p.fields).toEqual({
      username: 'ada@example.org', password: 'L0vel@ce-Pass', url: 'https://example.com/login',
      totp: 'otpauth://totp/Example:ada?secret=JBSWY3DPEHPK3PXP&issuer=Example', notes: 'Primary account.\nUse the hardware key.',
    });
    expect(p.custom).toEqual([
      { name: 'region', value: 'eu' },
      { name: 'url (admin)', value: 'https://admin.example.com' },
      { name: 'recovery code', value: '1111-2222-3333' },
    ]);
    expect(p.tags).toEqual(['work', 'sso', 'favorite']);
    expect(p.created).toBe(new Date(1700000000 * 1000).toISOString());
    expect(p.updated).toBe(new Date(1710000000 * 1000).toISOString());
    expect(byName(r, 'Gym locker').payload).toMatchObject({ type: 'note', tags: ['sport', 'archived'], fields: { notes: 'Locker 12\nCombination: 1-2-3' } });
  });

  it('maps cards, identities, passwords, documents (with their file) and other categories', () => {
    const card = byName(r, 'Mastercard ✓').payload;
    expect(card.fields).toEqual({ cardholder: 'Ada Lovelace', brand: 'mc', number: '5555555555554444', code: '737', expiry: '12/28', pin: '9090' });
    expect(card.custom).toEqual([{ name: 'valid from', value: '12/23' }]);
    const id = byName(r, 'Identity').payload;
    expect(id.fields).toEqual({
      fullname: 'Ada K Lovelace', birthday: '2001-09-09', address: "12 St James's Square", city: 'London', postcode: 'SW1Y 4JH', country: 'gb',
      phone: '+44 20 7946 0000', email: 'ada@example.org',
    });
    expect(id.custom).toEqual([{ name: 'occupation', value: 'Mathematician' }, { name: 'state', value: 'Greater London' }]);
    expect(byName(r, 'Garage door').payload).toMatchObject({ type: 'login', fields: { password: 'just-a-password' } });
    const doc = byName(r, 'Passport');
    expect(doc.payload).toMatchObject({ type: 'document', fields: { notes: 'Renew in 2031' } });
    expect(doc.files?.map((f) => [f.name, Buffer.from(f.bytes).toString()])).toEqual([['passport.txt', 'Passport scan placeholder: this text stands in for a PDF.\n']]);
    const server = byName(r, 'Build server').payload;
    expect(server.type).toBe('note');
    expect(server.tags).toEqual(['1password category 110']);
    expect(server.custom).toEqual([{ name: 'URL', value: 'ssh://build.example.com' }, { name: 'username', value: 'deploy' }, { name: 'password', value: 'srv-pass' }]);
    expect(r.skipped).toEqual([
      { record: 8, message: 'in the trash' },
    ]);
  });

  it('reports a missing document file as skipped, a malformed item by record, and a bad archive as a whole', () => {
    const noFile = parseOnePux(buildOnePux(undefined, { 'files/kdocid0000000000000000001__passport.txt': '' }).slice(0));
    expect(noFile.errors).toEqual([]);
    const data = JSON.parse(read('1password/export.data'));
    data.accounts[0].vaults[0].items[2].details.sections = 'nope';
    data.accounts[0].vaults[0].items[5].details.documentAttributes.documentId = 'missing';
    const bad = parseOnePux(buildOnePux(undefined, { 'export.data': JSON.stringify(data) }));
    expect(bad.errors).toEqual([{ record: 3, line: undefined, message: '"details.sections" must be an array' }]);
    expect(bad.skipped).toContainEqual({ record: 6, message: 'file "passport.txt" is not in the archive' });
    expect(fileError(() => parseOnePux(Buffer.from('not a zip'))).message).toMatch(/not a 1PUX file/);
    expect(fileError(() => parseOnePux(buildOnePux(undefined, { 'export.data': '{"accounts": [' }))).message).toMatch(/not a valid 1PUX export.data/);
  });
});

describe('KeePass 2.x XML', () => {
  const r = parseKeepassXml(read('keepass.xml'));

  it('maps the standard strings, XML entities, multi-line notes and the group path below the root as a tag', () => {
    expect(r.errors).toEqual([]);
    expect(byName(r, 'Router').payload).toMatchObject({
      type: 'login', tags: [], created: '2023-05-01T09:00:00.000Z', updated: '2024-04-01T10:30:00.000Z',
      fields: { username: 'admin', password: 'r0uter & <stuff>', url: 'http://192.168.1.1', notes: 'Firmware 1.2\nReset: hold 10 s' },
    });
    expect(byName(r, 'Mail').payload.tags).toEqual(['Internet/Email']);
  });

  it('maps otp and TimeOtp-* to the TOTP, other strings to custom fields, <Tags> to tags; ignores history', () => {
    const m = byName(r, 'Mastodon ✉').payload;
    expect(m.fields.totp).toBe('otpauth://totp/Mastodon:ada?secret=JBSWY3DPEHPK3PXP&period=30&digits=6&issuer=Mastodon');
    expect(m.fields.password).toBe('tööt-tööt');
    expect(m.custom).toEqual([{ name: 'Security question', value: 'First pet: Babbage', kind: 'hidden' }]);
    expect(m.tags).toEqual(['Internet', 'social', 'personal']);
    expect(byName(r, 'Mail').payload.fields.totp).toBe('otpauth://totp/Mail?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA256&digits=8');
    expect(byName(r, 'Mail').payload.custom).toEqual([]);
    expect(r.entries.some((e) => e.payload.name.includes('old'))).toBe(false);
  });

  it('names an untitled entry after its URL host; skips the recycle bin and attachments with record and line', () => {
    expect(byName(r, 'bank.example.com').payload.tags).toEqual(['Banking']);
    expect(r.entries.map((e) => [e.record, e.line])).toEqual([[1, 13], [2, 44], [3, 92], [4, 128]]);
    expect(r.skipped).toEqual([
      { record: 2, line: 44, message: 'attachment "qr.png" is not in the XML file (KeePassXC\'s XML export of a KDBX 4 database leaves attachments out; import the .kdbx itself)' },
      { record: 5, line: 151, message: 'in the recycle bin' },
    ]);
  });

  it('reports a database-internal (Protected) value by record and line, and broken XML by line', () => {
    const bad = parseKeepassXml(read('keepass-malformed.xml'));
    expect(bad.entries.map((e) => e.payload.name)).toEqual(['ok']);
    expect(bad.errors).toHaveLength(1);
    expect(bad.errors[0]).toMatchObject({ record: 2, line: 9 });
    expect(bad.errors[0].message).toMatch(/"Password" is encrypted \(Protected="True"\)/);
    const e = fileError(() => parseKeepassXml(read('keepass-broken.xml')));
    expect(e.message).toMatch(/malformed XML/);
    expect(e.line).toBe(7);
    expect(fileError(() => parseKeepassXml('<?xml version="1.0"?><Other/>')).message).toMatch(/KeePassFile\/Root/);
  });
});

describe('CSV', () => {
  it("reads kpm's columns: quotes, commas, multi-line cells, tags, a fields column, every type", () => {
    const r = parseCsv(read('kpm.csv'));
    expect(r.errors).toEqual([]);
    expect(r.entries.map((e) => [e.record, e.line, e.payload.name])).toEqual([
      [1, 2, 'Example'], [2, 5, 'Café ☕'], [3, 6, 'Shopping list'], [4, 9, 'Mastercard'], [5, 13, 'Home'],
    ]);
    expect(byName(r, 'Example').payload).toMatchObject({
      type: 'login', tags: ['work'],
      fields: { url: 'https://example.com', username: 'alice', password: 'pa,ss"word', totp: 'otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example', notes: 'Line one\nLine two, with comma' },
      custom: [{ name: 'recovery email', value: 'alice@example.org' }, { name: 'security answer', value: 'blue' }],
    });
    expect(byName(r, 'Café ☕').payload.tags).toEqual(['food', 'fav']);
    expect(byName(r, 'Shopping list').payload).toMatchObject({ type: 'note', fields: { notes: 'eggs\nmilk\n"organic" bread' } });
    expect(byName(r, 'Mastercard').payload).toMatchObject({ type: 'card', fields: { cardholder: 'Alice Example', number: '5555555555554444', expiry: '03/28', code: '737', brand: 'Mastercard' } });
    expect(byName(r, 'Home').payload).toMatchObject({ type: 'identity', fields: { fullname: 'Alice Example', city: 'Lyon', country: 'FR' } });
  });

  it("reads Bitwarden's CSV columns: folder, favorite, several URIs, a base32 TOTP, notes", () => {
    const r = parseCsv(read('bitwarden.csv'));
    expect(r.errors).toEqual([]);
    expect(byName(r, 'Twitter').payload).toMatchObject({
      type: 'login', tags: ['Social', 'favorite'],
      fields: { url: 'https://twitter.com', username: 'alice', password: 'tw1tter', totp: 'JBSWY3DPEHPK3PXP' },
      custom: [{ name: 'handle', value: '@alice' }, { name: 'url 2', value: 'https://x.com' }],
    });
    expect(byName(r, 'Door codes').payload).toMatchObject({ type: 'note', fields: { notes: 'front: 1234\nback: 9876' } });
  });

  it('keeps unknown columns as custom fields and reads Chrome/Firefox-style headers', () => {
    const r = parseCsv('url,username,password,httpRealm,timeCreated\nhttps://a.example/x,u,p,realm,1700000000000\n');
    expect(r.entries[0].payload).toMatchObject({ name: 'a.example', fields: { url: 'https://a.example/x', username: 'u', password: 'p' }, custom: [{ name: 'httpRealm', value: 'realm' }] });
    expect(r.entries[0].payload.created).toBe(new Date(1700000000000).toISOString());
  });

  it('reports rows with the wrong number of columns by record and starting line', () => {
    const r = parseCsv(read('malformed.csv'));
    expect(r.entries.map((e) => e.payload.name)).toEqual(['one', 'three', 'five']);
    expect(r.errors).toEqual([
      { record: 2, line: 3, message: 'expected 6 columns, found 4' },
      { record: 4, line: 6, message: 'expected 6 columns, found 7' },
    ]);
    expect(parseCsv('name,type\nx,spaceship\n').errors).toEqual([{ record: 1, line: 2, message: 'unknown type "spaceship" (use login, card, identity, note or document)' }]);
  });

  it('refuses a broken file (unclosed quote) and a file without a header, naming the line', () => {
    const e = fileError(() => parseCsv(read('broken.csv')));
    expect(e.message).toBe('malformed CSV: a quoted value that starts on line 3 is never closed');
    expect(e.line).toBe(3);
    expect(fileError(() => parseCsv('')).message).toMatch(/empty/);
    expect(fileError(() => parseCsv('a,b,c\n1,2,3\n')).line).toBe(1);
    expect(() => parseImport('csv', Buffer.from([0xff, 0xfe, 0x41]))).toThrow(/not valid UTF-8/);
  });

  it('parses the fields cell: one "name: value" per line, continuation lines join the value above', () => {
    expect(parseFieldsCell('a: 1\nb: two\nlines\nc:3')).toEqual([{ name: 'a', value: '1' }, { name: 'b', value: 'two\nlines' }, { name: 'c', value: '3' }]);
  });
});

describe('duplicate names', () => {
  it('get " (2)", " (3)", … against the vault and earlier records, case-insensitively', () => {
    const r = parseCsv('name,password\nMail,a\nmail,b\nMAIL,c\nOther,d\n');
    const renames = uniqueNames(r.entries, ['mail (2)', 'other']);
    expect(r.entries.map((e) => e.payload.name)).toEqual(['Mail', 'mail (3)', 'MAIL (4)', 'Other (2)']);
    expect(renames).toEqual([
      { record: 2, from: 'mail', to: 'mail (3)' },
      { record: 3, from: 'MAIL', to: 'MAIL (4)' },
      { record: 4, from: 'Other', to: 'Other (2)' },
    ]);
  });
});
