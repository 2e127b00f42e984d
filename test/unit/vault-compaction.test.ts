// Retention and compaction of the local log (issue 17; docs/FORMAT.md "Compaction"): `history.keep`,
// `trash.days`, `kpm trash purge`, `kpm history purge`. After a purge, no byte of the purged
// ciphertext is left in any file of the device's data folder.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { utf8 } from '../../src/crypto/bytes.js';
import { createKeyring } from '../../src/vault/keyring.js';
import { resolvePaths, type KpmPaths } from '../../src/core/paths.js';
import { maintainLocked, Session } from '../../src/vault/session.js';
import { listVaultDirs, readVaultHeader } from '../../src/vault/store.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { filesUnder } from '../helpers/files.js';
import { TEST_KDF } from '../helpers/kdf.js';

const PW = 'correct horse battery staple';
const FAST = { ...TEST_KDF };

function payload(name: string, password: string, updated = new Date().toISOString()): EntryPayload {
  return { type: 'login', name, fields: { username: `${name}-user`, password, url: `https://${name}.example` }, custom: [], tags: [], created: updated, updated } as unknown as EntryPayload;
}

async function session(): Promise<Session> {
  const paths = resolvePaths({ KPM_HOME: mkdtempSync(join(tmpdir(), 'kpm-compact-')) });
  const s = await Session.open(paths, await createKeyring(paths, utf8.encode(PW), FAST));
  await s.createVault('Personal');
  return s;
}

/** The sealed bytes (ciphertext) of every record of one entry, as they are in the log now. */
function sealedOf(s: Session, name: string): Buffer[] {
  const v = s.vault();
  const id = s.history(name)[0].id;
  return v.historyOf(Buffer.from(id, 'hex')).map((r) => Buffer.from(r.sealed));
}

/** Files under the data folder holding any of `needles`. */
function filesHolding(paths: KpmPaths, needles: Buffer[]): string[] {
  return filesUnder(paths.data).filter((f) => {
    const b = fs.readFileSync(f);
    return needles.some((n) => b.includes(n));
  });
}

const logFiles = (paths: KpmPaths) => fs.readdirSync(listVaultDirs(paths.vaults)[0]).filter((f) => f.endsWith('.log'));

describe('compaction and retention', () => {
  it('trash purge NAME: the entry and every version of it are gone from every file; the rest is intact', async () => {
    const s = await session();
    await s.add(undefined, payload('keep-me', 'pw-keep'));
    await s.add(undefined, payload('doomed', 'pw-1'));
    const e = s.get('doomed');
    await s.update('Personal', e.id, e.version, payload('doomed', 'pw-2'));
    await s.remove('doomed');
    const secret = sealedOf(s, 'doomed');
    expect(secret).toHaveLength(3);
    expect(filesHolding(s.paths, secret).length).toBeGreaterThan(0); // control: the grep finds them before
    const r = await s.purgeTrash('doomed');
    expect(r.purged.map((x) => x.name)).toEqual(['doomed']);
    expect(r.dropped).toBe(3);
    expect(filesHolding(s.paths, secret)).toEqual([]);
    expect(s.trash()).toEqual([]);
    expect(() => s.history('doomed')).toThrow(/no entry/);
    expect(s.get('keep-me').payload.fields.password).toBe('pw-keep');
    expect(logFiles(s.paths)).toEqual(['entries.2.log']);
    // a fresh process reads the compacted vault (chain and MAC verified)
    const again = await Session.open(s.paths, { ...s.profile, accountKey: s.profile.accountKey.slice() });
    expect(again.list().map((x) => x.name)).toEqual(['keep-me']);
    expect(again.trash()).toEqual([]);
  });

  it('trash purge without a name empties the trash; a live entry cannot be purged', async () => {
    const s = await session();
    for (const n of ['a', 'b', 'c']) await s.add(undefined, payload(n, `pw-${n}`));
    await s.remove('a');
    await s.remove('b');
    await expect(s.purgeTrash('c')).rejects.toMatchObject({ exitCode: 2 });
    const r = await s.purgeTrash();
    expect(r.purged.map((x) => x.name).sort()).toEqual(['a', 'b']);
    expect(s.trash()).toEqual([]);
    expect(s.list().map((x) => x.name)).toEqual(['c']);
  });

  it('history purge NAME keeps only the current version; old ciphertexts are gone from every file', async () => {
    const s = await session();
    await s.add(undefined, payload('site', 'v1'));
    for (let i = 2; i <= 4; i++) {
      const e = s.get('site');
      await s.update('Personal', e.id, e.version, payload('site', `v${i}`));
    }
    const old = sealedOf(s, 'site');
    expect(old).toHaveLength(4);
    const r = await s.purgeHistory('site');
    expect(r.dropped).toBe(4);
    expect(s.history('site').map((h) => h.payload.fields.password)).toEqual(['v4']);
    expect(s.get('site').payload.fields.password).toBe('v4');
    expect(filesHolding(s.paths, old)).toEqual([]);
  });

  it('history.keep bounds the log: 150 edits of one entry keep at most keep + the threshold records', async () => {
    const s = await session();
    await s.add(undefined, payload('busy', 'v0'));
    const v = s.vault();
    for (let i = 1; i <= 150; i++) {
      const e = s.get('busy');
      await s.update('Personal', e.id, e.version, payload('busy', `v${i}`));
      await maintainLocked(v, { keep: 5, trashDays: 30 });
      expect(readVaultHeader(v.dir).commit.recordCount).toBeLessThanOrEqual(5 + 64 + 16);
    }
    const h = s.history('busy');
    expect(h.length).toBeGreaterThanOrEqual(5);
    expect(h.at(-1)!.payload.fields.password).toBe('v150');
    expect(h.map((x) => x.version)).toEqual([...h.map((x) => x.version)].sort((a, b) => a - b));
    await v.compact(5, true);
    expect(s.history('busy').map((x) => x.payload.fields.password)).toEqual(['v146', 'v147', 'v148', 'v149', 'v150']);
  });

  it('without the threshold reached nothing is rewritten', async () => {
    const s = await session();
    await s.add(undefined, payload('x', 'v0'));
    for (let i = 1; i <= 10; i++) {
      const e = s.get('x');
      await s.update('Personal', e.id, e.version, payload('x', `v${i}`));
    }
    expect(await maintainLocked(s.vault(), { keep: 2, trashDays: 30 })).toBe(0);
    expect(logFiles(s.paths)).toEqual(['entries.1.log']);
    expect(s.history('x')).toHaveLength(11);
  });

  it('trash.days: a deletion older than the setting is purged for good; a newer one stays', async () => {
    const s = await session();
    const now = Date.parse('2026-06-01T00:00:00Z');
    const day = 86_400_000;
    await s.add(undefined, payload('old', 'pw-old'));
    await s.add(undefined, payload('new', 'pw-new'));
    const v = s.vault();
    for (const [name, age] of [['old', 40], ['new', 10]] as const) {
      const e = s.get(name);
      await v.write([{ entryId: Buffer.from(e.id, 'hex'), payload: { ...e.payload, updated: new Date(now - age * day).toISOString() }, baseVersion: e.version, deleted: true }]);
    }
    const oldSealed = sealedOf(s, 'old');
    expect(await maintainLocked(v, { keep: 20, trashDays: 0 }, false, now)).toBe(0); // 0: never
    expect(s.trash().map((x) => x.name).sort()).toEqual(['new', 'old']);
    await maintainLocked(v, { keep: 20, trashDays: 30 }, false, now);
    expect(s.trash().map((x) => x.name)).toEqual(['new']);
    expect(filesHolding(s.paths, oldSealed)).toEqual([]);
  });
});
