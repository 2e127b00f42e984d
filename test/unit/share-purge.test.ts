// Purging and compacting a shared vault (docs/SHARING.md "Purging and compacting a shared vault"):
// the owner signs a compaction statement, the server drops what it does not keep, every member
// checks the statement against what it verified; a malicious server cannot forge, replay or abuse
// one (exit 8, nothing written on the device, nothing sent). The share client against the
// in-process server (SQLite in a file, so its bytes can be searched; PostgreSQL when KPM_TEST_PG is set).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { entry, makeShareToken, person, refused, run, secondDeviceOf, type Person } from '../helpers/share.js';
import { ENGINES, PG_SKIP_REASON, PG_URL, testServer, type Engine, type TestServer } from '../helpers/server.js';
import { ShareClient, type OpenedVault } from '../../src/share/client.js';
import { checkSharingMessage, membershipHash, parseRecord } from '../../src/share/format.js';
import { parseCompaction, planCompaction, recordHash, sealCompaction, type Compaction } from '../../src/share/compact.js';
import { accountIdentity } from '../../src/share/identity.js';
import { loadShareState } from '../../src/share/state.js';
import { accountShareSecrets } from '../../src/crypto/keys.js';
import { fromBase64, fromHex, toBase64, toHex } from '../../src/crypto/bytes.js';
import { EXIT, KpmError } from '../../src/core/errors.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import type { SharedFile } from '../../src/share/blobs.js';
import { TokenCache } from '../../src/sync/tokencache.js';
import { ShareTokenVault } from '../../src/share/tokenvault.js';
import { tokenAuthHeader, tokenKeys, type ServiceToken } from '../../src/sync/tokenvault.js';
import type { SharePullT, TokenShareT } from '../../src/protocol/share.js';


function loadToken(ts: TestServer, t: ServiceToken, cache?: TokenCache, tamper: { vault?: (b: TokenShareT) => TokenShareT; pull?: (b: SharePullT) => SharePullT } = {}) {
  const headers = { authorization: tokenAuthHeader(t.id, tokenKeys(t).authKey) };
  return ShareTokenVault.load({
    vault: async () => {
      const r = await ts.call('GET', '/v1/token/share', undefined, { headers });
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      return tamper.vault ? tamper.vault(structuredClone(r.body)) : r.body;
    },
    pull: async (after) => {
      const r = await ts.call('POST', '/v1/token/share/pull', { after }, { headers });
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      return tamper.pull ? tamper.pull(structuredClone(r.body)) : r.body;
    },
  }, t.id, tokenKeys(t).wrapKey, cache);
}

const RET = { keep: 20, trashDays: 30 };
const tmp = () => fs.mkdtempSync(join(os.tmpdir(), 'kpm-sharepurge-'));

/** Owner A shares "Team" with B (writer) and C (reader); "deploy" gets three versions, "db" one; every member synced. */
async function team(engine: Engine) {
  const dir = tmp();
  const dbFile = join(dir, 'kpm-server.sqlite');
  const ts = await testServer({ engine, sqliteFile: engine === 'sqlite' ? dbFile : undefined });
  const [a, b, c] = [await person(ts), await person(ts), await person(ts)];
  await run(a, (x) => x.share('Team', b.email, 'writer', false));
  await run(a, (x) => x.share('Team', c.email, 'reader', false));
  await run(b, (x) => x.accept('Team'));
  await run(c, (x) => x.accept('Team'));
  await run(a, (x) => x.write('Team', entry('deploy', 'pw-WRONG-PASTE-1')));
  await run(b, (x) => x.write('Team', entry('deploy', 'pw-deploy-2')));
  await run(a, (x) => x.write('Team', entry('deploy', 'pw-deploy-3')));
  await run(b, (x) => x.write('Team', entry('db', 'pw-db-1')));
  for (const p of [a, b, c]) await run(p, (x) => x.openForUse('Team'));
  const id = (await run(a, (x) => x.resolve('Team')))!.id;
  for (const p of [a, b, c]) p.writes.length = 0;
  return { ts, a, b, c, id, dbFile: engine === 'sqlite' ? dbFile : undefined };
}

const open = (p: Person) => run(p, (x) => x.openForUse('Team'));
const idOf = (v: OpenedVault, name: string) => [...v.entries].find(([, e]) => e.entry.name === name)![0];
const passwords = (v: OpenedVault, name: string) => (v.versions.get(idOf(v, name)) ?? []).map((x) => x.entry.fields.password);

async function historyPurge(p: Person, name: string) {
  return run(p, async (x) => {
    const v = await x.openForUse('Team');
    return x.purge(v, { cutHistory: idOf(v, name) }, RET);
  });
}

async function trashPurge(p: Person, names: string[] | 'all', ret = RET, now = new Date()) {
  return run(p, async (x) => {
    const v = await x.openForUse('Team');
    return x.purge(v, { purgeTrash: names === 'all' ? 'all' : names.map((n) => idOf(v, n)) }, ret, now);
  });
}

/** The base64 body of the record at `rev` as the server has it (or had it). */
const rowOf = async (ts: TestServer, id: string, rev: number) => (await ts.store.db.selectFrom('share_records').select('body').where('vault_id', '=', id).where('rev', '=', rev).executeTakeFirst())?.body;

async function dump(ts: TestServer): Promise<string> {
  const tables = ['share_identities', 'share_vaults', 'share_memberships', 'share_members', 'share_records', 'share_blobs', 'share_blob_chunks', 'share_leaves', 'share_pins'];
  let out = '';
  for (const t of tables) out += JSON.stringify((await sql`select * from ${sql.table(t)}`.execute(ts.store.db)).rows);
  return out;
}

/** Every byte of the SQLite database's files (the database, its WAL and journal). */
function sqliteBytes(dbFile: string): Buffer {
  const parts: Buffer[] = [];
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-journal`]) if (fs.existsSync(f)) parts.push(fs.readFileSync(f));
  return Buffer.concat(parts);
}

/** The records this device keeps in its share.kpms (opened with its key). */
function localRecords(p: Person, id: string): string[] {
  return loadShareState(p.paths, accountShareSecrets(p.accountKey), p.profileId).vaults[id]?.records ?? [];
}

/** The sealed part of a record (its ciphertext), for searching raw bytes. */
const cipherOf = (b64: string) => {
  const p = parseRecord(fromBase64(b64));
  expect(p.sealed.length).toBeGreaterThan(120);
  return Buffer.from(b64.slice(200, 280)); // the server keeps records as base64 text: 80 characters of the sealed part
};

/** A statement as the given account would sign it, over the vault as `v` saw it. */
async function forged(signerOf: Person, v: OpenedVault, over: Partial<Compaction>): Promise<string> {
  const c: Compaction = {
    vaultId: fromHex(v.id),
    generation: (v.compaction?.generation ?? 0) + 1,
    epoch: v.latest.epoch,
    epochHash: membershipHash(v.bodies[v.latest.epoch - 1]),
    upto: v.head,
    chain: v.chainHash,
    kept: [],
    purged: [],
    keptBlobs: [],
    droppedBlobs: [],
    ...over,
  };
  return toBase64(await sealCompaction(accountIdentity(signerOf.accountKey, signerOf.email).signer, c));
}

/** The kept list of the latest record of each entry of `v` (what an honest history purge of everything would keep). */
async function latestKept(ts: TestServer, v: OpenedVault): Promise<{ rev: number; hash: Uint8Array }[]> {
  const out: { rev: number; hash: Uint8Array }[] = [];
  for (const e of [...v.entries.values()].sort((x, y) => x.rev - y.rev)) out.push({ rev: e.rev, hash: recordHash(fromBase64((await rowOf(ts, v.id, e.rev))!)) });
  return out;
}

/** Serves `statement` as the vault's compaction (generation `gen`) to `p`, records pulled as the server has them. */
function serve(p: Person, statement: string | undefined, gen: number) {
  p.tamper.shareVault = (r) => {
    const out = { ...r, generation: gen, compaction: statement };
    if (statement === undefined) {
      delete out.compaction;
      delete out.generation;
    }
    return out;
  };
  p.tamper.sharePull = (r) => {
    const out = { ...r, generation: gen };
    if (gen === 0) delete out.generation;
    return out;
  };
}

if (!PG_URL) it.skip(`PostgreSQL runs of this suite: ${PG_SKIP_REASON}`, () => {});
describe.each(ENGINES)('purging a shared vault on %s', (engine) => {
  it('history purge by the owner: every member keeps only the latest version after its next sync; after the owner\'s purge no ciphertext of a purged version is in the server database (SQLite file, WAL and dump; PostgreSQL) nor in any member\'s share.kpms; writes go on', async () => {
    const { ts, a, b, c, id, dbFile } = await team(engine);
    const v0 = await open(c);
    expect(passwords(v0, 'deploy')).toEqual(['pw-WRONG-PASTE-1', 'pw-deploy-2', 'pw-deploy-3']);
    const old = [(await rowOf(ts, id, 1))!, (await rowOf(ts, id, 2))!];
    expect(localRecords(c, id)).toEqual(expect.arrayContaining(old));
    if (dbFile) expect(sqliteBytes(dbFile).includes(cipherOf(old[0]))).toBe(true); // the search finds it while it is there

    const r = await historyPurge(a, 'deploy');
    expect(r.dropped).toBe(2);
    expect(passwords(r.vault, 'deploy')).toEqual(['pw-deploy-3']);
    expect(r.vault.compaction?.generation).toBe(1);
    expect(r.vault.head).toBe(4); // the head and the chain do not change
    // the server: no row, no byte of the dropped records
    expect(await rowOf(ts, id, 1)).toBeUndefined();
    const d = await dump(ts);
    for (const o of old) {
      expect(d).not.toContain(o);
      if (dbFile) expect(sqliteBytes(dbFile).includes(cipherOf(o))).toBe(false);
    }
    // carol (offline during it) sees it at her next read: the versions are gone, from her device too
    const vc = await open(c);
    expect(passwords(vc, 'deploy')).toEqual(['pw-deploy-3']);
    expect(ShareClient.find(vc, 'db')?.[1].fields.password).toBe('pw-db-1');
    for (const o of old) expect(localRecords(c, id)).not.toContain(o);
    // the verified copy (what the agent and offline reads load) is checked again with its statement
    const off = await run(c, (x) => x.usable({ online: false }));
    expect(off.offline).toBe(true);
    expect(passwords(off.vaults[0], 'deploy')).toEqual(['pw-deploy-3']);
    // writes after the compaction follow the chain; a new device reads the compacted log from scratch
    await run(b, (x) => x.write('Team', entry('deploy', 'pw-deploy-4')));
    expect(passwords(await open(c), 'deploy')).toEqual(['pw-deploy-3', 'pw-deploy-4']);
    const c2 = await secondDeviceOf(ts, c);
    const v2 = await open(c2);
    expect(passwords(v2, 'deploy')).toEqual(['pw-deploy-3', 'pw-deploy-4']);
    expect(v2.head).toBe(5);
    // a second compaction (generation 2) over the first
    const r2 = await historyPurge(a, 'deploy');
    expect(r2.vault.compaction?.generation).toBe(2);
    expect(passwords(await open(c), 'deploy')).toEqual(['pw-deploy-4']);
    expect(passwords(await open(b), 'deploy')).toEqual(['pw-deploy-4']);
  });

  it('trash purge by the owner: a deleted entry and its file are gone for every member (records, blob rows and chunks); trash.days purges only deletions older than that; an entry not in the trash is never purged', async () => {
    const { ts, a, b, c, id } = await team(engine);
    const dir = tmp();
    const path = join(dir, 'plan.txt');
    fs.writeFileSync(path, 'PLAN-SECRET-CONTENT');
    let file!: SharedFile;
    await run(b, async (x) => {
      const v = await x.openForUse('Team');
      file = await x.uploadFile(v, dir, path);
      const doc: EntryPayload = { type: 'document', name: 'plan', fields: {}, custom: [], tags: [], created: '2026-11-01T00:00:00.000Z', updated: '2026-11-01T00:00:00.000Z' };
      await x.writeEntry(v, doc, { files: [file] });
    });
    await run(b, (x) => x.write('Team', { name: 'plan' }, true));
    await run(b, (x) => x.write('Team', { name: 'db' }, true));
    expect((await ts.store.db.selectFrom('share_blobs').select('blob_id').where('vault_id', '=', id).execute()).map((x) => x.blob_id)).toEqual([file.blob]);
    // trash.days: both deletions are "now" (their updated), so a 30-day retention purges neither
    const none = await trashPurge(a, [], { keep: 20, trashDays: 30 });
    expect(none.dropped).toBe(0);
    expect(a.writes).not.toContain('shareCompact');
    // ... and 40 days later both go
    const later = new Date(Date.now() + 40 * 86_400_000);
    const r = await trashPurge(a, [], { keep: 20, trashDays: 30 }, later);
    expect(r.purged.sort()).toEqual(['db', 'plan']);
    expect((await ts.store.db.selectFrom('share_blobs').select('blob_id').where('vault_id', '=', id).execute()).length).toBe(0);
    expect((await ts.store.db.selectFrom('share_blob_chunks').select('blob_id').where('vault_id', '=', id).execute()).length).toBe(0);
    const vc = await open(c);
    expect([...vc.entries.values()].map((e) => e.entry.name)).toEqual(['deploy']);
    expect((await dump(ts)).includes('pw-db-1')).toBe(false);
    // the planner never purges a live entry, even when asked to
    const infos = [{ rev: 1, entryId: 'e1', deleted: false, hash: new Uint8Array(32), files: [] }];
    expect(planCompaction(infos, { historyKeep: 20, trashDays: 0, now: new Date(), purgeTrash: 'all' }).kept.map((k) => k.rev)).toEqual([1]);
  });

  it('a writer or a reader cannot purge: exit 9 before anything is sent; the server refuses a compaction from anyone but the owner (403)', async () => {
    const { ts, a, b, c, id } = await team(engine);
    for (const p of [b, c]) {
      await refused(p, async (x) => x.purge(await x.openForUse('Team'), { purgeTrash: 'all' }, RET), /only the owner .* deletes versions/, EXIT.forbidden);
      await refused(p, async (x) => {
        const v = await x.openForUse('Team');
        return x.purge(v, { cutHistory: idOf(v, 'deploy') }, RET);
      }, /only the owner/, EXIT.forbidden);
    }
    // straight to the server, signed by the writer itself
    const v = await open(b);
    const st = await forged(b, v, { kept: await latestKept(ts, v) });
    const res = await ts.call('POST', `/v1/share/vaults/${id}/compact`, { statement: st }, { token: b.token });
    expect(res.status).toBe(403);
    expect(await rowOf(ts, id, 1)).toBeDefined();
    void a;
  });

  it('a compaction statement not signed by the owner (by the writer, the reader, a removed member, or the server\'s own key) is exit 8 for every member, nothing changed locally', async () => {
    const { ts, a, b, c } = await team(engine);
    const d = await person(ts); // a member the owner removes again
    await run(a, (x) => x.share('Team', d.email, 'writer', false));
    await run(a, (x) => x.revoke('Team', d.email));
    const outsider = await person(ts); // the server's own key
    for (const signer of [b, c, d, outsider]) {
      const v = await open(c);
      const st = await forged(signer, v, { kept: await latestKept(ts, v) });
      for (const p of [b, c]) {
        serve(p, st, 1);
        await refused(p, (x) => x.openForUse('Team'), /compaction statement .* is not signed by the vault's owner/);
        p.tamper = {};
      }
    }
  });

  it('a statement the owner signed that drops a live entry (or purges one), or rolls a member back to an older head, or forks the log, is exit 8, nothing changed locally', async () => {
    const { ts, a, b, c, id } = await team(engine);
    const v = await open(c);
    const all = await latestKept(ts, v);
    const dbId = idOf(v, 'db');
    const dbRev = v.entries.get(dbId)!.rev;
    // the server drops the rows the statement drops (as an honest one would); here it drops "db"'s latest too
    const cases: [string, Partial<Compaction>, RegExp][] = [
      ['drops live "db"', { kept: all.filter((k) => k.rev !== dbRev) }, /drops the latest version of entry/],
      ['purges live "db"', { kept: all.filter((k) => k.rev !== dbRev), purged: [dbId] }, /purges entry .* not in the trash/],
      ['rolls back to revision 3', { upto: 3, kept: all.filter((k) => k.rev <= 3), chain: new Uint8Array(32) }, /below revision 4 which was verified \(a rollback\)/],
      ['another chain at the same head', { kept: all, chain: new Uint8Array(32).fill(7) }, /another log up to revision 4 .* \(a fork\)/],
      ['another record at a kept revision', { kept: all.map((k) => (k.rev === dbRev ? { rev: k.rev, hash: new Uint8Array(32).fill(1) } : k)) }, /keeps a record 4 that is not the one verified/],
    ];
    for (const [what, over, msg] of cases) {
      const st = await forged(a, v, over);
      c.tamper.shareVault = (r) => ({ ...r, generation: 1, compaction: st });
      c.tamper.sharePull = (r) => ({ ...r, generation: 1, records: r.records.filter((x: string) => (over.kept ?? []).some((k) => toHex(k.hash) === toHex(recordHash(fromBase64(x))))), more: false });
      await refused(c, (x) => x.openForUse('Team'), msg).catch((e) => {
        throw new Error(`${what}: ${(e as Error).message}`);
      });
      c.tamper = {};
    }
    // and after all that carol still reads everything she had
    expect(passwords(await open(c), 'deploy')).toEqual(['pw-WRONG-PASTE-1', 'pw-deploy-2', 'pw-deploy-3']);
    void b;
    void id;
  });

  it('a replayed older compaction statement (or none, after one was accepted) is exit 8, nothing changed locally', async () => {
    const { ts, a, b, c, id } = await team(engine);
    await historyPurge(a, 'deploy');
    const g1 = (await ts.store.db.selectFrom('share_vaults').select('compaction').where('vault_id', '=', id).executeTakeFirstOrThrow()).compaction!;
    await run(b, (x) => x.write('Team', entry('deploy', 'pw-deploy-4')));
    await historyPurge(a, 'deploy');
    await open(c); // carol accepts generation 2
    serve(c, g1, 1);
    await refused(c, (x) => x.openForUse('Team'), /generation 1 .* older than generation 2 .* \(a replay\)/);
    serve(c, undefined, 0);
    await refused(c, (x) => x.openForUse('Team'), /generation 0 .* older than generation 2/);
    // the same generation, another statement (a fork)
    c.tamper = {};
    const v = await open(c);
    serve(c, await forged(a, v, { generation: 2, kept: await latestKept(ts, v), droppedBlobs: ['ab'.repeat(16)] }), 2); // (the same content would be the same bytes: Ed25519 is deterministic)
    await refused(c, (x) => x.openForUse('Team'), /another compaction statement of generation 2/);
    c.tamper = {};
    // a statement that replays an old generation to a device that already passed it: parse check of the agent's signer too
    expect(checkSharingMessage(fromBase64(g1).subarray(0, fromBase64(g1).length - 64), { signPublic: accountIdentity(a.accountKey, a.email).signPublic, boxPublic: accountIdentity(a.accountKey, a.email).boxPublic })).toBe('compaction');
    expect(() => checkSharingMessage(fromBase64(g1).subarray(0, fromBase64(g1).length - 64), { signPublic: accountIdentity(b.accountKey, b.email).signPublic, boxPublic: accountIdentity(b.accountKey, b.email).boxPublic })).toThrow(/not this account's key/);
  });

  it('a new device of an account that accepted generation 2 is served the whole vault as it was at generation 1 (a validly signed statement, the log of then): exit 8 (the account\'s pin state), nothing changed; the same generation with another statement too; served what the account accepted, it reads the vault', async () => {
    const { a, b, c, ts } = await team(engine);
    await historyPurge(a, 'deploy');
    // a device of carol's that reads the vault at generation 1: what the server answered it, kept
    const then = await secondDeviceOf(ts, c);
    const vaults: unknown[] = [];
    const pulls: unknown[] = [];
    then.tamper.shareVault = (r) => (vaults.push(structuredClone(r)), r);
    then.tamper.sharePull = (r) => (pulls.push(structuredClone(r)), r);
    expect(passwords(await open(then), 'deploy')).toEqual(['pw-deploy-3']);
    await run(b, (x) => x.write('Team', entry('deploy', 'pw-deploy-4')));
    await historyPurge(a, 'deploy');
    expect(passwords(await open(c), 'deploy')).toEqual(['pw-deploy-4']); // carol's first device accepts generation 2 (and says so in the account's pin state)
    // a new device of carol's, served generation 1 again: the password of then would come back as current
    const fresh = await secondDeviceOf(ts, c);
    let k = 0;
    fresh.tamper.shareVault = () => structuredClone(vaults[0]);
    fresh.tamper.sharePull = () => structuredClone(pulls[Math.min(k++, pulls.length - 1)]);
    await refused(fresh, (x) => x.openForUse('Team'), /generation 1 of shared vault "Team", older than generation 2 which a device of this account accepted \(a replay\)/);
    // the same generation with another statement than the one carol's first device accepted (a fork)
    const v = await open(c);
    serve(fresh, await forged(a, v, { generation: 2, kept: await latestKept(ts, v), droppedBlobs: ['cd'.repeat(16)] }), 2);
    await refused(fresh, (x) => x.openForUse('Team'), /another compaction statement of generation 2 of shared vault "Team" than the one a device of this account accepted \(a fork\)/);
    fresh.tamper = {};
    expect(passwords(await open(fresh), 'deploy')).toEqual(['pw-deploy-4']);
  });

  it('a server that compacts on its own (deletes record rows, with or without a statement of its own) is exit 8, nothing changed locally', async () => {
    const { ts, a, c, id } = await team(engine);
    const c2 = await secondDeviceOf(ts, c); // has seen nothing
    await ts.store.db.deleteFrom('share_records').where('vault_id', '=', id).where('rev', 'in', [1, 2]).execute();
    await refused(c2, (x) => x.openForUse('Team'), /out of place|does not follow|stops before its head/);
    // carol had verified them: her copy still reads them (the server cannot take back what she verified)
    expect(passwords(await open(c), 'deploy')).toEqual(['pw-WRONG-PASTE-1', 'pw-deploy-2', 'pw-deploy-3']);
    // after the owner's honest compaction, a row it keeps deleted by the server: exit 8 for a device reading it
    await run(a, (x) => x.write('Team', entry('db', 'pw-db-2')));
    await historyPurge(a, 'deploy');
    await ts.store.db.deleteFrom('share_records').where('vault_id', '=', id).where('rev', '=', 3).execute();
    const c3 = await secondDeviceOf(ts, c);
    await refused(c3, (x) => x.openForUse('Team'), /out of place|lacks records its compaction statement keeps/);
    await refused(c, (x) => x.openForUse('Team'), /out of place|lacks records its compaction statement keeps/);
  });

  it('the owner\'s honest compaction while a writer wrote meanwhile: 409, opened again and retried; a pull page of another generation makes the member open the vault again once', async () => {
    const { ts, a, b, c } = await team(engine);
    let once = false;
    a.tamper.shareCompact = undefined;
    const orig = a.c;
    a.c = () => {
      const x = orig();
      const purge = x.purge.bind(x);
      x.purge = async (v, w, r, now) => {
        if (!once) {
          once = true;
          await run(b, (y) => y.write('Team', entry('db', 'pw-db-2'))); // the head moves between the owner's read and its compaction
        }
        return purge(v, w, r, now);
      };
      return x;
    };
    const r = await historyPurge(a, 'deploy');
    expect(once).toBe(true);
    expect(a.writes.filter((w) => w === 'shareCompact').length).toBe(2); // 409, then again over the new head
    expect(passwords(r.vault, 'deploy')).toEqual(['pw-deploy-3']);
    expect(passwords(r.vault, 'db')).toEqual(['pw-db-1', 'pw-db-2']);
    a.c = orig;
    // carol: the vault answer of generation 0, then pages of generation 1 (the owner compacted between the two)
    await run(b, (x) => x.write('Team', entry('db', 'pw-db-3')));
    let first = true;
    c.tamper.shareVault = (x) => {
      if (!first) return x;
      first = false;
      const y = { ...x };
      delete y.generation;
      delete y.compaction;
      return y;
    };
    const v = await open(c);
    expect(first).toBe(false);
    expect(passwords(v, 'deploy')).toEqual(['pw-deploy-3']);
    expect(passwords(v, 'db')).toEqual(['pw-db-1', 'pw-db-2', 'pw-db-3']);
    void ts;
  });
});

describe('service tokens after a compaction', () => {
  it('a token made before reads the compacted log (with and without its cache); its cache of the older generation is checked, then read again; a statement not the owner\'s, a replayed older one, or a record the statement keeps gone: exit 8', async () => {
    const { ts, a, b, c, id } = await team('sqlite');
    const t = await makeShareToken(ts, c);
    const root = tmp();
    const cache = () => new TokenCache(root, t);
    expect((await loadToken(ts, t, cache())).get('deploy').payload.fields.password).toBe('pw-deploy-3');
    await run(b, (x) => x.write('Team', { name: 'db' }, true));
    await historyPurge(a, 'deploy');
    await trashPurge(a, ['db']);
    // with the cache of generation 0: checked against the statement, then read again
    const v1 = await loadToken(ts, t, cache());
    expect(v1.warnings.join('\n')).toMatch(/compacted by its owner \(generation 2\)/);
    expect(v1.list().map((x) => x.name)).toEqual(['deploy']);
    expect(v1.get('deploy').payload.fields.password).toBe('pw-deploy-3');
    // without a cache, and with the cache of generation 2; then a write after the compaction
    expect((await loadToken(ts, t)).get('deploy').payload.fields.password).toBe('pw-deploy-3');
    await run(b, (x) => x.write('Team', entry('deploy', 'pw-deploy-4')));
    expect((await loadToken(ts, t, cache())).get('deploy').payload.fields.password).toBe('pw-deploy-4');
    // a statement signed by the writer (the server's choice), an older one replayed, none at all
    const g2 = (await ts.store.db.selectFrom('share_vaults').select('compaction').where('vault_id', '=', id).executeTakeFirstOrThrow()).compaction!;
    const v = await open(c);
    const byWriter = await forged(b, v, { generation: 3, kept: await latestKept(ts, v) });
    const fail = async (tamper: Parameters<typeof loadToken>[3], msg: RegExp, withCache = true) => {
      const e = await loadToken(ts, t, withCache ? cache() : undefined, tamper).then(() => null, (x) => x);
      expect(e).toBeInstanceOf(KpmError);
      expect((e as KpmError).exitCode).toBe(EXIT.corrupt);
      expect((e as KpmError).message).toMatch(msg);
    };
    await fail({ vault: (x) => ({ ...x, vault: { ...x.vault, generation: 3, compaction: byWriter } }), pull: (x) => ({ ...x, generation: 3 }) }, /not signed by the vault's owner/, false);
    const g1 = await forged(a, { ...v, compaction: undefined }, { generation: 1, kept: await latestKept(ts, v) });
    await fail({ vault: (x) => ({ ...x, vault: { ...x.vault, generation: 1, compaction: g1 } }), pull: (x) => ({ ...x, generation: 1 }) }, /generation 1 .* older than generation 2 which this token saw \(a replay\)/);
    await fail({ vault: (x) => { const y = structuredClone(x); delete y.vault.generation; delete y.vault.compaction; return y; }, pull: (x) => { const y = { ...x }; delete y.generation; return y; } }, /generation 0 .* older than generation 2/);
    // the server drops a record the statement keeps: a token without a cache reads from the start
    const kept = parseCompaction(fromBase64(g2)).kept[0].rev;
    await ts.store.db.deleteFrom('share_records').where('vault_id', '=', id).where('rev', '=', kept).execute();
    await fail({}, /out of place|lacks records/, false);
  });
});

describe('the compaction statement', () => {
  it('is "KPSC" ‖ 1 ‖ vault id ‖ generation ‖ epoch ‖ its hash ‖ upto ‖ chain ‖ kept (rev, hash) ‖ purged ‖ kept blobs ‖ dropped blobs ‖ signer ‖ signature; a changed byte fails its signature', async () => {
    const ts = await testServer();
    const a = await person(ts);
    const id = accountIdentity(a.accountKey, a.email);
    const c: Compaction = { vaultId: new Uint8Array(16).fill(1), generation: 3, epoch: 2, epochHash: new Uint8Array(32).fill(2), upto: 9, chain: new Uint8Array(32).fill(3), kept: [{ rev: 4, hash: new Uint8Array(32).fill(4) }], purged: ['05'.repeat(16)], keptBlobs: ['06'.repeat(16)], droppedBlobs: ['07'.repeat(16)] };
    const bytes = await sealCompaction(id.signer, c);
    expect(Buffer.from(bytes.subarray(0, 4)).toString()).toBe('KPSC');
    expect(bytes.length).toBe(6 + 16 + 8 + 8 + 32 + 8 + 32 + 4 + 40 + 3 * (4 + 16) + 32 + 64);
    const p = parseCompaction(bytes);
    expect(p).toMatchObject({ generation: 3, epoch: 2, upto: 9, purged: c.purged, keptBlobs: c.keptBlobs, droppedBlobs: c.droppedBlobs });
    const bad = Uint8Array.from(bytes);
    bad[30] ^= 1;
    expect(() => parseCompaction(bad)).toThrow(KpmError);
    await expect(sealCompaction(id.signer, { ...c, kept: [{ rev: 10, hash: new Uint8Array(32) }] }).then(parseCompaction)).rejects.toThrow(/out of order/);
  });
});
