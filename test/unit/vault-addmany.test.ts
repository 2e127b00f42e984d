// Session.addMany (kpm import): many entries in one locked append and one commit.
import { describe, expect, it } from 'vitest';
import { TEST_KDF } from '../helpers/kdf.js';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utf8 } from '../../src/crypto/bytes.js';
import { createKeyring, type UnlockedProfile } from '../../src/vault/keyring.js';
import { resolvePaths, type KpmPaths } from '../../src/core/paths.js';
import { Session } from '../../src/vault/session.js';
import { EXIT } from '../../src/core/errors.js';
import { listVaultDirs, readVaultHeader } from '../../src/vault/store.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { asyncExitCodeOf } from '../helpers/exitcode.js';
import { startWorker } from '../helpers/workers.js';

const FLOOR = { ...TEST_KDF };

function login(name: string): EntryPayload {
  const now = new Date().toISOString();
  return { type: 'login', name, fields: { username: `${name}-user`, password: `pw-${name}` }, custom: [], tags: [], created: now, updated: now, passwordChanged: now };
}

async function newProfile(): Promise<{ home: string; paths: KpmPaths; profile: UnlockedProfile }> {
  const home = fs.mkdtempSync(join(tmpdir(), 'kpm-addmany-'));
  const paths = resolvePaths({ KPM_HOME: home });
  const profile = await createKeyring(paths, utf8.encode('addmany test password'), FLOOR);
  const s = await Session.open(paths, { ...profile, accountKey: profile.accountKey.slice() });
  await s.createVault('Personal');
  s.close();
  return { home, paths, profile };
}

const open = (paths: KpmPaths, profile: UnlockedProfile) => Session.open(paths, { ...profile, accountKey: profile.accountKey.slice() });

describe('Session.addMany', () => {
  it('writes 5,000 entries in one commit; the vault reopens, verifies its hash chain and decrypts them all', async () => {
    const { paths, profile } = await newProfile();
    const s = await open(paths, profile);
    const dir = listVaultDirs(paths.vaults)[0];
    const before = readVaultHeader(dir).commit;
    const t0 = Date.now();
    const res = await s.addMany(undefined, Array.from({ length: 5000 }, (_, i) => login(`site${i}`)));
    const ms = Date.now() - t0;
    console.log(`addMany: 5000 entries in ${ms} ms`);
    expect(res.vault).toBe('Personal');
    expect(res.ids).toHaveLength(5000);
    expect(new Set(res.ids).size).toBe(5000);
    const after = readVaultHeader(dir).commit;
    expect(after.sequence - before.sequence).toBe(2); // one announced append, one commit
    expect(after.recordCount).toBe(5000);
    expect(after.liveCount).toBe(5000);
    s.close();
    const again = await open(paths, profile);
    const all = again.entries();
    expect(all).toHaveLength(5000);
    expect(all.every((e) => e.payload.fields.password === `pw-${e.payload.name}`)).toBe(true);
    expect(again.get('site4999').payload.fields.username).toBe('site4999-user');
  });

  it('is all or nothing: a duplicate name (in the batch or in the vault) writes nothing (exit 7)', async () => {
    const { paths, profile } = await newProfile();
    const s = await open(paths, profile);
    await s.add(undefined, login('taken'));
    const dir = listVaultDirs(paths.vaults)[0];
    const before = readVaultHeader(dir).commit;
    expect(await asyncExitCodeOf(() => s.addMany(undefined, [login('a'), login('b'), login('A')]))).toBe(EXIT.conflict);
    expect(await asyncExitCodeOf(() => s.addMany(undefined, [login('c'), login('TAKEN')]))).toBe(EXIT.conflict);
    expect(await asyncExitCodeOf(() => s.addMany(undefined, [login('d'), login('bad\u0001name')]))).toBe(EXIT.usage);
    expect(readVaultHeader(dir).commit).toEqual(before);
    expect(s.list().map((e) => e.name)).toEqual(['taken']);
    expect(await s.addMany(undefined, [])).toEqual({ vault: 'Personal', ids: [] });
    expect(readVaultHeader(dir).commit).toEqual(before);
  });

  it('loses no concurrent writer: two processes adding one entry per commit while batches of 1,000 are appended', async () => {
    const { home, paths, profile } = await newProfile();
    const workers = await Promise.all([startWorker(home, profile, 'w0-', 60), startWorker(home, profile, 'w1-', 60)]);
    await Promise.all(workers.map((w) => w.ready));
    const s = await open(paths, profile);
    for (let b = 0; b < 4; b++) await s.addMany(undefined, Array.from({ length: 1000 }, (_, i) => login(`batch${b}-${i}`)));
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
    s.close();
    const again = await open(paths, profile);
    const names = new Set(again.entries().map((e) => e.payload.name));
    expect(names.size).toBe(4000 + 120);
    for (let i = 0; i < 60; i++) expect(names.has(`w0-${i}`) && names.has(`w1-${i}`)).toBe(true);
    expect(readVaultHeader(listVaultDirs(paths.vaults)[0]).commit.liveCount).toBe(4120);
  });
});
