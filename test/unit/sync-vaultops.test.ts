// The vault's coarse operations for sync (issue 18 item 2; src/vault/store.ts "for sync",
// src/vault/synclog.ts): a pull is applied under one lock against the sync state it was read at (a
// log rewritten meanwhile by another process is refused before anything is written, and sync retries
// with the state read again); sync reaches the vault only through its sync surface, which hands out
// records and results, never the vault key.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newProfile, openProfile, login, syncedPair as pair } from '../helpers/sync.js';
import { syncProfile } from '../../src/sync/engine.js';
import { compactionLacks } from '../../src/sync/compactcheck.js';
import { resolveConflict } from '../../src/sync/merge.js';
import { LogMovedError, Vault } from '../../src/vault/store.js';
import { LOG_HEADER_BYTES, type LogRecord } from '../../src/vault/format.js';
import { loadVaultState } from '../../src/sync/state.js';
import type { Session } from '../../src/vault/session.js';
import { snapshot } from '../helpers/files.js';


async function edit(s: Session, name: string, password: string): Promise<void> {
  const e = s.get(name);
  await s.update('Personal', e.id, e.version, { ...e.payload, fields: { ...e.payload.fields, password } });
}


/**
 * What sync may use of a Vault. Everything else (exportKey, readKeys, the keys themselves, the
 * private log methods) throws when sync reaches for it.
 */
const SYNC_SURFACE = new Set([
  // identity and header facts
  'id', 'name', 'dir', 'ownPassword', 'generation', 'profile', 'keyPart',
  // reading entries (blob ids of pulled records, trash expiry before a sync)
  'decrypt', 'latest',
  // local upkeep before a sync (session.ts maintainLocked: trash purge, compaction)
  'write', 'compact',
  // the coarse operations
  'confirmedVersions', 'hasPending', 'applyVerifiedPull', 'settlePush', 'wrapsOwnKey', 'adoptKeyPart',
]);

function guarded(v: Vault, used: Set<string>): Vault {
  return new Proxy(v, {
    get(target, prop) {
      if (typeof prop === 'symbol' || prop === 'then') return Reflect.get(target, prop, target);
      if (!SYNC_SURFACE.has(prop)) throw new Error(`sync reached for Vault.${prop}`);
      used.add(prop);
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set() {
      throw new Error('sync set a Vault property');
    },
  });
}

/** Every vault `s` hands to sync goes through guarded(). */
function guard(s: Session): Set<string> {
  const used = new Set<string>();
  const open = s.openVault.bind(s);
  s.openVault = (id: string) => {
    const v = open(id);
    return v && guarded(v, used);
  };
  return used;
}

describe('the vault surface sync uses (src/vault/store.ts "for sync")', () => {
  it('a pull applied against marks of a log rewritten meanwhile is refused (LogMovedError) and writes nothing', async () => {
    const s = await newProfile();
    await s.add(undefined, login('github', 'v1'));
    await edit(s, 'github', 'v2');
    await edit(s, 'github', 'v3');
    const v = s.vault();
    const stale = { generation: v.generation, confirmedUpTo: LOG_HEADER_BYTES, confirmedRanges: [] as [number, number][] };
    // another process compacts the log (a new generation) after the marks were read
    const other = await Vault.open(v.dir, s.profile);
    expect(await other.compact(1, true)).toBe(2);
    other.close();
    const before = snapshot(v.dir);
    const notes: unknown[] = [];
    const pulled: LogRecord[] = [];
    await expect(
      v.applyVerifiedPull({ records: pulled, newGeneration: false }, stale, { resolve: resolveConflict, keep: 20, noteRewrite: (n) => notes.push(n), applied: (r) => notes.push(r) }),
    ).rejects.toBeInstanceOf(LogMovedError);
    await expect(v.settlePush(stale)).rejects.toBeInstanceOf(LogMovedError);
    expect(() => v.confirmedVersions(stale)).toThrow(LogMovedError);
    expect(notes).toEqual([]);
    expect(snapshot(v.dir)).toEqual(before);
    // the marks of the log on disk are taken
    const fresh = { ...stale, generation: v.generation };
    const r = await v.applyVerifiedPull({ records: [], newGeneration: false }, fresh, { resolve: resolveConflict, keep: 20, noteRewrite: () => {} });
    expect(r.pending.map((p) => p.version)).toEqual([3]);
    expect((await v.settlePush(fresh)).log).toBeNull(); // something is still to send: no collapse
  });

  it('a local compaction by another process while sync pulls: the sync retries with the state read again; nothing is lost, the state stays right', async () => {
    const { acc, a, b, ta, tb } = await pair();
    await a.add(undefined, login('from-a', 'pw-a'));
    await syncProfile(a, ta, acc.accountId);
    // B: local changes with history, then a sync during whose pull `kpm` compacts B's vault elsewhere
    await edit(b, 'github', 'b2');
    await edit(b, 'github', 'b3');
    await b.add(undefined, login('from-b', 'pw-b'));
    const pull = tb.pull;
    let compacted = 0;
    tb.pull = async (id, after) => {
      if (compacted === 0) {
        const elsewhere = await openProfile(b.paths);
        compacted = await elsewhere.vault().compact(1, true);
      }
      return pull(id, after);
    };
    const gen = b.vault().generation;
    await syncProfile(b, tb, acc.accountId);
    expect(compacted).toBeGreaterThan(0);
    expect(b.vault().generation).toBeGreaterThan(gen);
    expect(b.get('from-a').payload.fields.password).toBe('pw-a');
    // the state is about the log on disk, and everything reached A
    expect(loadVaultState(b.vault().dir)!.generation).toBe(b.vault().generation);
    expect((await syncProfile(b, tb, acc.accountId)).vaults[0]).toMatchObject({ pulled: 0, pushed: 0 });
    await syncProfile(a, ta, acc.accountId);
    expect(a.get('github').payload.fields.password).toBe('b3');
    expect(a.get('from-b').payload.fields.password).toBe('pw-b');
  });

  it('sync reaches a vault only through its sync surface: no vault key, no raw log access (pull, conflict, push, rename, key part)', async () => {
    const { acc, a, b, ta, tb } = await pair();
    const usedA = guard(a);
    const usedB = guard(b);
    // a conflict (rebase), a name clash (rename), a vault rename (key part adopted), plain pulls and pushes
    await edit(a, 'github', 'from-a');
    await edit(b, 'github', 'from-b');
    await a.add(undefined, login('same', 'a'));
    await b.add(undefined, login('same', 'b'));
    await a.renameVault('Personal', 'Main');
    await syncProfile(a, ta, acc.accountId);
    const rb = await syncProfile(b, tb, acc.accountId);
    expect(rb.vaults[0].conflicts.map((c) => c.name)).toEqual(['github']);
    expect(rb.vaults[0].renamed).toEqual(['same → same (2)']);
    expect(rb.vaults[0].name).toBe('Main');
    await syncProfile(a, ta, acc.accountId);
    expect(a.get('same (2)').payload.fields.password).toBe('b');
    expect([...usedA, ...usedB]).toEqual(expect.arrayContaining(['applyVerifiedPull', 'settlePush', 'wrapsOwnKey', 'adoptKeyPart']));
    // the sync surface has no member that hands out key bytes
    const v = b.vault('Main');
    for (const m of SYNC_SURFACE) expect(['exportKey', 'readKeys', 'vk', 'macKey', 'tagKey', 'recordKey']).not.toContain(m);
    expect(() => guarded(v, new Set()).exportKey()).toThrow(/exportKey/);
  });

  it('the raw-log API for sync is gone from Vault (only private helpers of its own coarse operations remain)', () => {
    const names = Object.getOwnPropertyNames(Vault.prototype);
    for (const gone of ['locked', 'appendRawLocked', 'sealRecord', 'hasKey', 'adoptKeyPartLocked']) expect(names).not.toContain(gone);
    // and src/sync/ calls none of the private ones (TypeScript enforces it; this keeps casts out)
    const dir = join(__dirname, '..', '..', 'src', 'sync');
    const files = Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(join(dir, f), 'utf8')]));
    const text = Object.values(files).join('\n');
    for (const m of ['recordsFrom', 'appendRecordsLocked', 'rewriteLocked', 'compactLocked', 'exportKey', 'locked(']) expect(text).not.toContain(`.${m}`);
    // no vault key is unwrapped in src/sync: the vault code does it (wrapsOwnKey, checkAccountVaultKey,
    // Session.adoptAccountVault), except a remote data vault's own-password key at `kpm vault unlock`;
    // a service token takes the read keys (record and name-tag keys), never the vault key
    const using = (needle: string) => Object.keys(files).filter((f) => files[f].includes(needle)).sort();
    expect(using('unwrapAccountVaultKey')).toEqual([]);
    expect(using('openKey(')).toEqual(['remotevaults.ts']);
    expect(using('.readKeys(')).toEqual(['tokenvault.ts']);
  });
});

describe('compactionLacks (src/sync/compactcheck.ts): one check for sync and the token cache', () => {
  const rec = (id: number, version: number) => ({ entryId: new Uint8Array(16).fill(id), version }) as LogRecord;
  const hexId = (id: number) => Buffer.from(new Uint8Array(16).fill(id)).toString('hex');
  it('names the first entry kept below the version seen before, or none', () => {
    expect(compactionLacks([[hexId(1), 2], [hexId(2), 1]], [rec(1, 1), rec(1, 3), rec(2, 1)])).toBeUndefined();
    expect(compactionLacks([[hexId(1), 2]], [rec(1, 1)])).toEqual({ id: hexId(1), version: 2, have: 1 });
    expect(compactionLacks([[hexId(2), 4]], [rec(1, 9)])).toEqual({ id: hexId(2), version: 4, have: 0 });
  });
});
