// Compaction across devices (issue 17; docs/PROTOCOL.md "Compaction"): a purge made on one device
// reaches the server and every other device, and afterwards no byte of the purged ciphertext is
// left in any device file or in the server database (the SQLite file and its WAL, and a dump of
// every row; PostgreSQL too when KPM_TEST_PG is set). A malicious server that drops a live entry
// while compacting, or serves an older or incomplete compacted generation, is refused with exit 8
// and nothing on the device changes.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { testServer, PG_URL, type TestServer } from '../helpers/server.js';
import { account, device, newProfile, secondDevice, transport, type TestTransport } from '../helpers/sync.js';
import { syncProfile } from '../../src/sync/engine.js';
import { fromHex, toBase64 } from '../../src/crypto/bytes.js';
import { accountSigner } from '../../src/crypto/sign.js';
import { initialSyncChain, nextSyncChain, sealManifest } from '../../src/sync/envelope.js';
import { decodeRecord } from '../../src/vault/format.js';
import { fromBase64 } from '../../src/crypto/bytes.js';
import type { PullResultT } from '../../src/protocol/schemas.js';
import type { Session } from '../../src/vault/session.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { filesUnder, snapshot } from '../helpers/files.js';

const login = (name: string, password: string): EntryPayload =>
  ({ type: 'login', name, fields: { username: 'ann', password }, custom: [], tags: [], created: new Date().toISOString(), updated: new Date().toISOString() }) as unknown as EntryPayload;

const holding = (files: string[], needles: Buffer[]) => files.filter((f) => fs.existsSync(f) && needles.some((n) => fs.readFileSync(f).includes(n)));

/** Every row of every table, as text. */
async function dump(ts: TestServer): Promise<string> {
  const tables =
    ts.ctx.engine === 'sqlite'
      ? (await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`.execute(ts.ctx.db)).rows.map((r) => r.name)
      : (await sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`.execute(ts.ctx.db)).rows.map((r) => r.name);
  let out = '';
  for (const t of tables) out += JSON.stringify((await sql`SELECT * FROM ${sql.table(t)}`.execute(ts.ctx.db)).rows);
  return out;
}

/** The sealed bytes and the records (raw, and base64 as the server stores them) of every version of an entry. */
function secretsOf(s: Session, name: string): { bytes: Buffer[]; b64: string[] } {
  const v = s.vault();
  const id = s.history(name)[0].id;
  const recs = v.historyOf(Buffer.from(id, 'hex'));
  return { bytes: recs.flatMap((r) => [Buffer.from(r.sealed), Buffer.from(r.raw)]), b64: recs.map((r) => toBase64(r.raw)) };
}

interface Two {
  ts: TestServer;
  acc: { email: string; accountId: string; token: string };
  a: Session;
  ta: TestTransport;
  b: Session;
  tb: TestTransport;
}

async function twoDevices(ts: TestServer): Promise<Two> {
  const acc = await account(ts);
  const a = await newProfile();
  for (const n of ['github', 'bank', 'doomed']) await a.add(undefined, login(n, `pw-${n}`));
  const ta = transport(ts, acc.token);
  await syncProfile(a, ta, acc.accountId);
  const tb = transport(ts, await device(ts, acc.email));
  const b = await secondDevice(tb, acc.accountId);
  await syncProfile(b, tb, acc.accountId);
  await syncProfile(a, ta, acc.accountId);
  return { ts, acc, a, ta, b, tb };
}

/** A trashes "doomed" (after an edit), both devices sync, then A purges it and syncs. */
async function purgeOnA(w: Two): Promise<{ bytes: Buffer[]; b64: string[] }> {
  const e = w.a.get('doomed');
  await w.a.update('Personal', e.id, e.version, login('doomed', 'pw-doomed-2'));
  await w.a.remove('doomed');
  await syncProfile(w.a, w.ta, w.acc.accountId);
  await syncProfile(w.b, w.tb, w.acc.accountId);
  expect(w.b.trash().map((x) => x.name)).toEqual(['doomed']);
  const secrets = secretsOf(w.a, 'doomed');
  expect(secrets.b64).toHaveLength(3);
  await w.a.purgeTrash('doomed');
  await syncProfile(w.a, w.ta, w.acc.accountId);
  return secrets;
}

const engines: ('sqlite' | 'postgres')[] = PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];

describe.each(engines)('compaction across devices (%s)', (engine) => {
  it('a purge reaches the server and the other device; no purged ciphertext is left in any file or row', async () => {
    const dbDir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-compact-db-'));
    const dbFile = join(dbDir, 'kpm.db');
    const ts = await testServer({ engine, sqliteFile: engine === 'sqlite' ? dbFile : undefined });
    const w = await twoDevices(ts);
    const e = w.a.get('doomed');
    await w.a.update('Personal', e.id, e.version, login('doomed', 'pw-doomed-2'));
    await w.a.remove('doomed');
    await syncProfile(w.a, w.ta, w.acc.accountId);
    await syncProfile(w.b, w.tb, w.acc.accountId);
    const secrets = secretsOf(w.a, 'doomed');
    // control: before the purge, the server's rows and B's files hold them
    expect(await dump(ts)).toContain(secrets.b64[0]);
    expect(holding(filesUnder(w.b.paths.data), secrets.bytes).length).toBeGreaterThan(0);

    await w.a.purgeTrash('doomed');
    await syncProfile(w.a, w.ta, w.acc.accountId);
    const d = await dump(ts);
    for (const x of secrets.b64) expect(d).not.toContain(x);
    if (engine === 'sqlite') expect(holding(filesUnder(dbDir), secrets.bytes.concat(secrets.b64.map((x) => Buffer.from(x))))).toEqual([]);
    expect(holding(filesUnder(w.a.paths.data), secrets.bytes)).toEqual([]);

    const r = await syncProfile(w.b, w.tb, w.acc.accountId);
    expect(r.vaults[0].skipped).toBeUndefined();
    expect(w.b.trash()).toEqual([]);
    expect(holding(filesUnder(w.b.paths.data), secrets.bytes)).toEqual([]);
    expect(w.b.list().map((x) => x.name).sort()).toEqual(['bank', 'github']);
    expect(w.b.get('github').payload.fields.password).toBe('pw-github');
    // both keep syncing in the new generation: a change on B reaches A
    const g = w.b.get('github');
    await w.b.update('Personal', g.id, g.version, login('github', 'pw-github-B'));
    await syncProfile(w.b, w.tb, w.acc.accountId);
    await syncProfile(w.a, w.ta, w.acc.accountId);
    expect(w.a.get('github').payload.fields.password).toBe('pw-github-B');
    fs.rmSync(dbDir, { recursive: true, force: true });
  });
});

describe('compaction against a malicious server', () => {
  it('a server that drops a live entry while compacting is refused (exit 8); B keeps every entry', async () => {
    const w = await twoDevices(await testServer());
    w.ta.tamper.compact = (_id, body) => {
      const i = body.records.findIndex((x) => decodeRecord(fromBase64(x)).entryId.length > 0 && !(decodeRecord(fromBase64(x)).flags & 1));
      body.records.splice(i, 1); // a live entry's record gone, the device's signed manifest kept
      return body;
    };
    await purgeOnA(w);
    const before = snapshot(w.b.paths.home);
    await expect(syncProfile(w.b, w.tb, w.acc.accountId)).rejects.toMatchObject({ exitCode: 8, message: expect.stringMatching(/tampered/) });
    expect(snapshot(w.b.paths.home)).toEqual(before);
    expect(w.b.list().map((x) => x.name).sort()).toEqual(['bank', 'github']);
  });

  it('a server serving an older compacted generation (rollback) is refused (exit 8)', async () => {
    const w = await twoDevices(await testServer());
    await purgeOnA(w);
    await syncProfile(w.b, w.tb, w.acc.accountId); // B is in generation 2
    const vid = w.a.listVaults()[0].id;
    const old: PullResultT[] = [];
    for (let after = 0; ; ) {
      const p = await w.tb.pull(vid, after);
      old.push(p);
      after += p.records.length;
      if (!p.more) break;
    }
    expect(old[0].generation).toBe(2);
    // generation 3: a history purge on A
    await w.a.add(undefined, login('later', 'pw-later'));
    await w.a.purgeHistory('github');
    await syncProfile(w.a, w.ta, w.acc.accountId);
    await syncProfile(w.b, w.tb, w.acc.accountId);
    expect(w.b.get('later').payload.fields.password).toBe('pw-later');
    // the server answers with the saved generation 2 (validly signed, older)
    w.tb.tamper.pull = (_id, after) => structuredClone(old.find((p) => p.from === after + 1) ?? old[0]);
    const before = snapshot(w.b.paths.home);
    await expect(syncProfile(w.b, w.tb, w.acc.accountId)).rejects.toMatchObject({ exitCode: 8, message: expect.stringMatching(/rolled back to log generation 2/) });
    expect(snapshot(w.b.paths.home)).toEqual(before);
    expect(w.b.get('later').payload.fields.password).toBe('pw-later');
  });

  it('a signed compacted generation that lacks an entry B has confirmed (compacted without B\'s push) is refused (exit 8)', async () => {
    const w = await twoDevices(await testServer());
    await w.b.add(undefined, login('from-b', 'pw-b'));
    await syncProfile(w.b, w.tb, w.acc.accountId);
    const vid = w.b.listVaults()[0].id;
    const all = await w.tb.pull(vid, 0);
    const idOfB = w.b.get('from-b').id;
    // what a device that never saw B's push would have compacted: everything but B's record, signed by the account
    const kept = all.records.filter((x) => Buffer.from(decodeRecord(fromBase64(x)).entryId).toString('hex') !== idOfB);
    let chain = initialSyncChain(fromHex(vid));
    for (const x of kept) chain = nextSyncChain(chain, fromBase64(x));
    const manifest = sealManifest(accountSigner(w.a.profile.accountKey), { vaultId: fromHex(vid), profileId: w.a.profile.profileId, generation: 2, revision: kept.length, chain, time: Date.now() });
    w.tb.tamper.pull = () => ({ head: kept.length, from: 1, records: kept, manifest: toBase64(manifest), more: false, generation: 2 });
    const before = snapshot(w.b.paths.home);
    await expect(syncProfile(w.b, w.tb, w.acc.accountId)).rejects.toMatchObject({ exitCode: 8, message: expect.stringMatching(/lacks entry/) });
    expect(snapshot(w.b.paths.home)).toEqual(before);
    expect(w.b.get('from-b').payload.fields.password).toBe('pw-b');
  });
});
