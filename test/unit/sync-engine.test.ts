// The sync engine against the in-process server: two and three devices of one account.
import { describe, expect, it } from 'vitest';
import { testServer } from '../helpers/server.js';
import { account, device, newProfile, openProfile, secondDevice, transport, PW } from '../helpers/sync.js';
import { syncProfile } from '../../src/sync/engine.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { TEST_KDF } from '../helpers/kdf.js';

const login = (name: string, password: string, updated = new Date().toISOString()): EntryPayload => ({ type: 'login', name, fields: { username: 'ann', password }, custom: [], tags: [], created: updated, updated } as unknown as EntryPayload);

/** Device A with `entries`, synced; device B of the same account, synced; `sync(x)` syncs one of them. */
async function pair(entries: EntryPayload[] = []) {
  const ts = await testServer();
  const acc = await account(ts);
  const a = await newProfile();
  for (const e of entries) await a.add(undefined, e);
  const ta = transport(ts, acc.token);
  await syncProfile(a, ta, acc.accountId);
  const tb = transport(ts, await device(ts, acc.email));
  const b = await secondDevice(tb, acc.accountId);
  await syncProfile(b, tb, acc.accountId);
  return { ts, acc, a, b, ta, tb };
}

describe('sync engine', () => {
  it('moves entries between two devices, both ways, incrementally', async () => {
    const ts = await testServer();
    const acc = await account(ts);
    const a = await newProfile();
    await a.add(undefined, login('github', 'pw-a'));
    const ta = transport(ts, acc.token);
    const r1 = await syncProfile(a, ta, acc.accountId);
    expect(r1.keyring).toBe('uploaded');
    expect(r1.vaults[0].pushed).toBe(1);

    const tb = transport(ts, await device(ts, acc.email));
    const b = await secondDevice(tb, acc.accountId);
    const r2 = await syncProfile(b, tb, acc.accountId);
    expect(r2.vaults[0]).toMatchObject({ created: true, pulled: 1, pushed: 0 });
    expect(b.get('github').payload.fields.password).toBe('pw-a');

    await b.add(undefined, login('gitlab', 'pw-b'));
    await syncProfile(b, tb, acc.accountId);
    const r3 = await syncProfile(a, ta, acc.accountId);
    expect(r3.vaults[0]).toMatchObject({ pulled: 1, pushed: 0 });
    expect(a.get('gitlab').payload.fields.password).toBe('pw-b');
    // nothing new: nothing moves
    const r4 = await syncProfile(a, ta, acc.accountId);
    expect(r4.vaults[0]).toMatchObject({ pulled: 0, pushed: 0 });
  });

  it('keeps both sides of a conflict: the later edit wins, the other stays in history', async () => {
    const { a, b, ta, tb, acc } = await pair([login('github', 'v1')]);

    const ea = a.get('github');
    await a.update('Personal', ea.id, ea.version, { ...ea.payload, fields: { ...ea.payload.fields, password: 'from-a' }, updated: '2026-11-25T10:00:00.000Z' });
    const eb = b.get('github');
    await b.update('Personal', eb.id, eb.version, { ...eb.payload, fields: { ...eb.payload.fields, password: 'from-b' }, updated: '2026-11-25T10:05:00.000Z' });
    await syncProfile(a, ta, acc.accountId);
    const rb = await syncProfile(b, tb, acc.accountId);
    expect(rb.vaults[0].conflicts).toEqual([{ name: 'github', kept: 'local' }]);
    await syncProfile(a, ta, acc.accountId);
    expect(a.get('github').payload.fields.password).toBe('from-b');
    expect(b.get('github').payload.fields.password).toBe('from-b');
    const hist = a.history('github').map((h) => h.payload.fields.password);
    expect(hist).toContain('from-a');
    expect(hist).toEqual(b.history('github').map((h) => h.payload.fields.password));
  });

  it('an earlier local edit loses to a later remote one, and stays in history', async () => {
    const { a, b, ta, tb, acc } = await pair([login('github', 'v1')]);
    const eb = b.get('github');
    await b.update('Personal', eb.id, eb.version, { ...eb.payload, fields: { ...eb.payload.fields, password: 'early-b' }, updated: '2026-11-25T09:00:00.000Z' });
    const ea = a.get('github');
    await a.update('Personal', ea.id, ea.version, { ...ea.payload, fields: { ...ea.payload.fields, password: 'late-a' }, updated: '2026-11-25T11:00:00.000Z' });
    await syncProfile(a, ta, acc.accountId);
    const rb = await syncProfile(b, tb, acc.accountId);
    expect(rb.vaults[0].conflicts).toEqual([{ name: 'github', kept: 'remote' }]);
    expect(b.get('github').payload.fields.password).toBe('late-a');
    expect(b.history('github').map((h) => h.payload.fields.password)).toContain('early-b');
  });

  it('renames a new local entry whose name another device took meanwhile; deletions travel as trash', async () => {
    const { a, b, ta, tb, acc } = await pair();
    await a.add(undefined, login('mail', 'a'));
    await b.add(undefined, login('mail', 'b'));
    await syncProfile(a, ta, acc.accountId);
    const rb = await syncProfile(b, tb, acc.accountId);
    expect(rb.vaults[0].renamed).toEqual(['mail → mail (2)']);
    await syncProfile(a, ta, acc.accountId);
    expect(a.list({}).map((e) => e.name)).toEqual(['mail', 'mail (2)']);
    await a.remove('mail (2)');
    await syncProfile(a, ta, acc.accountId);
    await syncProfile(b, tb, acc.accountId);
    expect(b.list({}).map((e) => e.name)).toEqual(['mail']);
    expect(b.trash().map((e) => e.name)).toEqual(['mail (2)']);
    await b.restore('mail (2)');
    await syncProfile(b, tb, acc.accountId);
    await syncProfile(a, ta, acc.accountId);
    expect(a.list({}).map((e) => e.name)).toEqual(['mail', 'mail (2)']);
  });

  it('a master password change on one device reaches the other; vault renames too', async () => {
    const { a, b, ta, tb, acc } = await pair();
    // B's first unlock raised the test's low KDF parameters to the default (R8) and sent that keyring
    expect((await syncProfile(a, ta, acc.accountId)).keyring).toBe('updated');
    const { changeMasterPassword } = await import('../../src/vault/keyring.js');
    const { utf8 } = await import('../../src/crypto/bytes.js');
    await changeMasterPassword(a.paths, a.profile, utf8.encode('new master password 42')); // default parameters: never below what B uses (R11)
    await a.renameVault('Personal', 'Home');
    expect((await syncProfile(a, ta, acc.accountId)).keyring).toBe('uploaded');
    expect((await syncProfile(b, tb, acc.accountId)).keyring).toBe('updated');
    expect(b.listVaults().map((v) => v.name)).toEqual(['Home']);
    await expect(openProfile(b.paths, PW)).rejects.toMatchObject({ exitCode: 5 });
    await openProfile(b.paths, 'new master password 42');
  });
});

describe('sync of document files', () => {
  it('a document added on A opens on B; a blob altered by the server fails to open (exit 8)', async () => {
    const fs = await import('node:fs');
    const { join } = await import('node:path');
    const { encryptFileToBlob, decryptBlobToFile, blobsDir } = await import('../../src/vault/blobs.js');
    const ts = await testServer();
    const acc = await account(ts);
    const a = await newProfile();
    const src = join(a.paths.data, 'scan.pdf');
    const content = Buffer.alloc(5 * 1024 * 1024 + 123, 7); // two chunks on the wire
    content.write('%PDF-1.7 passport scan');
    fs.writeFileSync(src, content);
    fs.mkdirSync(blobsDir(a.paths), { recursive: true });
    const file = await encryptFileToBlob(blobsDir(a.paths), src);
    await a.add(undefined, { ...login('passport', ''), type: 'document', fields: { notes: 'scan' }, files: [file] } as unknown as EntryPayload);
    const ta = transport(ts, acc.token);
    const ra = await syncProfile(a, ta, acc.accountId);
    expect(ra.vaults[0].filesSent).toBe(1);
    const tb = transport(ts, await device(ts, acc.email));
    const b = await secondDevice(tb, acc.accountId);
    const rb = await syncProfile(b, tb, acc.accountId);
    expect(rb.vaults[0].filesReceived).toBe(1);
    const got = b.get('passport').payload;
    const out = join(b.paths.data, 'out.pdf');
    await decryptBlobToFile(blobsDir(b.paths), got.files![0], out);
    expect(fs.readFileSync(out).equals(content)).toBe(true);
    // the server flips a byte of the stored chunk: the device that fetches it cannot open it
    const row = await ts.store.db.selectFrom('sync_blob_chunks').selectAll().where('idx', '=', 0).executeTakeFirstOrThrow();
    const raw = Buffer.from(row.body, 'base64');
    raw[1000] ^= 1;
    await ts.store.db.updateTable('sync_blob_chunks').set({ body: raw.toString('base64') }).where('blob_id', '=', row.blob_id).where('idx', '=', 0).execute();
    const tc = transport(ts, await device(ts, acc.email));
    const c = await secondDevice(tc, acc.accountId);
    await syncProfile(c, tc, acc.accountId);
    await expect(decryptBlobToFile(blobsDir(c.paths), c.get('passport').payload.files![0], join(c.paths.data, 'bad.pdf'))).rejects.toMatchObject({ exitCode: 8 });
    expect(fs.existsSync(join(c.paths.data, 'bad.pdf'))).toBe(false);
  });
});

describe('data vaults with their own password', () => {
  it('reach a new device locked; its password brings them there, with their entries', async () => {
    const { sessionApi } = await import('../../src/agent/local.js');
    const { utf8 } = await import('../../src/crypto/bytes.js');
    const ts = await testServer();
    const acc = await account(ts);
    const a = await newProfile();
    await a.createVault('Taxes', utf8.encode('taxes vault password'), { ...TEST_KDF });
    await a.add('Taxes', login('tax-office', 'tax-pw'));
    const ta = transport(ts, acc.token);
    await syncProfile(a, ta, acc.accountId);
    const tb = transport(ts, await device(ts, acc.email));
    const b = await secondDevice(tb, acc.accountId);
    const rb = await syncProfile(b, tb, acc.accountId);
    expect(rb.vaults.find((v) => v.name === 'Taxes')?.skipped).toMatch(/vault unlock "Taxes"/);
    const api = sessionApi(b);
    expect((await api.listVaults()).map((v) => [v.name, v.locked])).toEqual([['Personal', false], ['Taxes', true]]);
    await expect(api.unlockVault('Taxes', 'wrong password')).rejects.toMatchObject({ exitCode: 5 });
    const v = await api.unlockVault('Taxes', 'taxes vault password');
    expect(v.locked).toBe(false);
    await syncProfile(b, tb, acc.accountId);
    expect(b.get('tax-office', 'Taxes').payload.fields.password).toBe('tax-pw');
  });

  it('a data vault locked on this device is named in the sync report by its name, not its id', async () => {
    const { utf8 } = await import('../../src/crypto/bytes.js');
    const { Session } = await import('../../src/vault/session.js');
    const { describeSyncReport } = await import('../../src/sync/report.js');
    const ts = await testServer();
    const acc = await account(ts);
    const a = await newProfile();
    await a.createVault('Taxes', utf8.encode('taxes vault password'), { ...TEST_KDF });
    await a.add('Taxes', login('tax-office', 'tax-pw'));
    const ta = transport(ts, acc.token);
    await syncProfile(a, ta, acc.accountId);
    // the same device later, its data vault not unlocked
    const locked = await Session.open(a.paths, { ...a.profile, accountKey: a.profile.accountKey.slice() });
    const r = await syncProfile(locked, ta, acc.accountId);
    const taxes = r.vaults.find((v) => v.skipped)!;
    expect(taxes.name).toBe('Taxes');
    const text = describeSyncReport(r).join('\n');
    expect(text).toContain('vault "Taxes": skipped, locked (own password)');
    expect(text).not.toContain(taxes.id);
  });
});
