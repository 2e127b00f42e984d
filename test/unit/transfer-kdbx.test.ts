// .kdbx through kdbxweb with kpm's native Argon2: kpm's writer read back by kpm's reader (Argon2id),
// an Argon2d database, wrong credentials, and a hostile Argon2 header. With the real KeePassXC:
// test/e2e/transfer.test.ts "KeePassXC".
import { describe, expect, it } from 'vitest';
import * as kdbxweb from 'kdbxweb';
import type { EntryPayload } from '../../src/vault/entry.js';
import { FileFormatError } from '../../src/transfer/model.js';
import { KdbxCredentialsError, parseKdbx, toKdbx } from '../../src/transfer/kdbx.js';

const T1 = '2021-02-03T04:05:06.000Z', T2 = '2023-07-08T09:10:11.000Z';
const ENTRIES: EntryPayload[] = [
  {
    type: 'login', name: 'GitHub ✓', tags: ['Work/Dev', 'favorite'], created: T1, updated: T2, passwordChanged: T2,
    fields: { username: 'octocat', password: 'p4ss', url: 'https://github.com', totp: 'otpauth://totp/GH?secret=JBSWY3DPEHPK3PXP', notes: 'two\nlines' },
    custom: [{ name: 'api key', value: 's3cret', kind: 'hidden' }, { name: 'region', value: 'eu' }],
  },
  { type: 'card', name: 'Visa', tags: [], created: T1, updated: T1, fields: { cardholder: 'Ada', number: '4111111111111111', code: '123', brand: 'Visa' }, custom: [] },
];

describe('KDBX', () => {
  it('kpm writes KDBX 4 with Argon2id; reading it back gives the same entries, groups, tags, dates, hidden fields and files', async () => {
    const files = [{ name: 'scan.txt', bytes: new TextEncoder().encode('attached ✓') }];
    const { bytes } = await toKdbx([{ payload: structuredClone(ENTRIES[0]), files }, { payload: structuredClone(ENTRIES[1]), files: [] }], 'db password 1');
    expect(Buffer.from(bytes).readUInt16LE(10)).toBe(4);
    const r = await parseKdbx(bytes, 'db password 1');
    expect(r.errors).toEqual([]);
    const gh = r.entries.find((e) => e.payload.name === 'GitHub ✓')!;
    const card = r.entries.find((e) => e.payload.name === 'Visa')!;
    expect(gh.payload).toEqual(ENTRIES[0]);
    expect(gh.files!.map((f) => [f.name, new TextDecoder().decode(f.bytes)])).toEqual([['scan.txt', 'attached ✓']]);
    expect(card.payload).toEqual({ ...ENTRIES[1] });
    await expect(parseKdbx(bytes, 'wrong')).rejects.toBeInstanceOf(KdbxCredentialsError);
  });

  it('reads Argon2d databases with a key file, and refuses a header asking for more Argon2 memory than the limit before deriving', async () => {
    const key = await kdbxweb.KdbxCredentials.createRandomKeyFile(2);
    const make = async (memory: number) => {
      const db = kdbxweb.Kdbx.create(new kdbxweb.KdbxCredentials(kdbxweb.ProtectedValue.fromString('pw'), key), 'd');
      db.setKdf(kdbxweb.Consts.KdfId.Argon2d);
      db.header.kdfParameters!.set('M', kdbxweb.VarDictionary.ValueType.UInt64, new kdbxweb.Int64(memory));
      const e = db.createEntry(db.getDefaultGroup());
      e.fields.set('Title', 'argon2d entry');
      return new Uint8Array(await db.save());
    };
    await parseKdbx(new Uint8Array(0), 'x').catch(() => undefined); // installs kpm's Argon2 for kdbxweb
    const ok = await parseKdbx(await make(1 << 20), 'pw', key);
    expect(ok.entries.map((e) => e.payload.name)).toEqual(['argon2d entry']);
    await expect(parseKdbx(await make(1 << 20), 'pw')).rejects.toBeInstanceOf(KdbxCredentialsError);
    // a hostile header: written with a stand-in Argon2 (kpm's would refuse to write it), then read by kpm
    kdbxweb.CryptoEngine.setArgon2Impl(async () => new ArrayBuffer(32));
    const hostile = await make(2 ** 31);
    const err = await parseKdbx(hostile, 'pw', key).catch((e) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/^refused: the database asks for Argon2 with 2097152 KiB/);
  });
});
