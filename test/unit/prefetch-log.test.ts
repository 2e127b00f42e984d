// #17: the no-agent `kpm get` reads and hashes the vault log while Argon2id runs (prefetchLog,
// src/vault/store.ts). A load that takes the prefetched bytes must give the same records and the
// same errors as one that reads the log itself: the chain is still compared with the MAC'd commit,
// a change to the log after the prefetch (or before it) is still caught, and a prefetch of another
// header (a writer committed since) is never used.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { newProfile, openProfile } from '../helpers/sync.js';
import { prefetchLog, readVaultHeader, logFile } from '../../src/vault/store.js';
import type { Session } from '../../src/vault/session.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { KpmError } from '../../src/core/errors.js';

function login(name: string): EntryPayload {
  const at = '2026-12-01T10:00:00.000Z';
  return { type: 'login', name, fields: { username: `${name}-user`, password: `pw-${name}` }, custom: [], tags: [], created: at, updated: at } as unknown as EntryPayload;
}

async function profileWith(n: number): Promise<{ s: Session; dir: string; log: string }> {
  const s = await newProfile();
  await s.addMany('Personal', Array.from({ length: n }, (_, i) => login(`site${i}`)));
  await s.update('Personal', s.get('site3').id, s.get('site3').version, { ...login('site3'), fields: { password: 'pw-site3-v2' } } as unknown as EntryPayload);
  const dir = s.vault().dir;
  return { s, dir, log: join(dir, logFile(readVaultHeader(dir).commit.generation)) };
}

/** What a session shows: every entry's latest payload, by name. */
const everything = (s: Session) => Object.fromEntries(s.list().map((e) => [e.name, s.get(e.name).payload]));

function failure(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof KpmError) return `${e.exitCode} ${e.message}`;
    throw e;
  }
  return 'no error';
}

const flip = (b: Buffer) => {
  const c = Buffer.from(b);
  c[b.length - 40] ^= 0x10; // inside the last record's ciphertext: at load, only the hash chain sees it
  return c;
};

describe('prefetchLog (the no-agent get)', () => {
  it('a load of prefetched bytes gives the same entries as one that reads the log', async () => {
    const { s, dir } = await profileWith(40);
    const plain = everything(await openProfile(s.paths));
    const t = await openProfile(s.paths);
    prefetchLog(dir);
    expect(everything(t)).toEqual(plain);
    expect(t.get('site3').payload.fields.password).toBe('pw-site3-v2');
  });

  it('a bit flipped in the log before the prefetch: exit 8, the same error as without it', async () => {
    const { s, dir, log } = await profileWith(20);
    fs.writeFileSync(log, flip(fs.readFileSync(log)));
    const u = await openProfile(s.paths);
    const plainError = failure(() => u.get('site0'));
    expect(plainError).toMatch(/^8 .*hash chain mismatch/);
    const a = await openProfile(s.paths);
    prefetchLog(dir);
    expect(failure(() => a.get('site0'))).toBe(plainError);
  });

  it('a change to the log after the prefetch: the load uses the bytes that were hashed (the committed state then), never a mix', async () => {
    const { s, dir, log } = await profileWith(20);
    const plain = everything(await openProfile(s.paths));
    const b = await openProfile(s.paths);
    prefetchLog(dir);
    fs.writeFileSync(log, flip(fs.readFileSync(log)));
    expect(everything(b)).toEqual(plain); // what a load at prefetch time gave: verified against the MAC'd commit
    // … and only once: the next load of that vault reads the changed log and refuses it
    const c = await openProfile(s.paths);
    expect(failure(() => c.get('site0'))).toMatch(/^8 .*hash chain mismatch/);
  });

  it('a commit after the prefetch: the prefetch is not used (the new entry is there)', async () => {
    const { s, dir } = await profileWith(10);
    const reader = await openProfile(s.paths);
    prefetchLog(dir);
    const writer = await openProfile(s.paths);
    await writer.add('Personal', login('late'));
    expect(reader.get('late').payload.fields.password).toBe('pw-late');
    expect(Object.keys(everything(reader))).toHaveLength(11);
  });

  it('a write after the prefetch (the no-agent kpm add) takes the prefetched records, verified, and reads back only what it appended: the log is not read and hashed again for the compaction check', async () => {
    // Before: the writer's load skipped the prefetch (it asked for no chain check), so the check
    // after the write read and hashed the whole log once more (3 × applyRecords; 1.6 s for one
    // `kpm add` at 100k entries against 0.4 s at 1k). The bit flipped after the prefetch shows
    // which bytes the command used: a second full read would refuse them (exit 8).
    const { s, dir, log } = await profileWith(20);
    const w = await openProfile(s.paths);
    prefetchLog(dir);
    fs.writeFileSync(log, flip(fs.readFileSync(log)));
    await w.add('Personal', login('added'));
    expect(w.get('added').payload.fields.password).toBe('pw-added');
    expect(Object.keys(everything(w))).toHaveLength(21);
    // the next load of that vault reads the changed log and refuses it
    const next = await openProfile(s.paths);
    expect(failure(() => next.get('site0'))).toMatch(/^8 .*hash chain mismatch/);
  });

  it('a log altered before the prefetch: the write refuses it (exit 8) and appends nothing', async () => {
    const { s, dir, log } = await profileWith(20);
    fs.writeFileSync(log, flip(fs.readFileSync(log)));
    const size = fs.statSync(log).size;
    const w = await openProfile(s.paths);
    prefetchLog(dir);
    await expect(w.add('Personal', login('added'))).rejects.toMatchObject({ exitCode: 8 });
    expect(fs.statSync(log).size).toBe(size);
  });

  it('a missing log: the prefetch does nothing, the load reports it (exit 8)', async () => {
    const { s, dir, log } = await profileWith(5);
    fs.rmSync(log);
    const t = await openProfile(s.paths);
    expect(() => prefetchLog(dir)).not.toThrow();
    expect(failure(() => t.get('site0'))).toMatch(/^8 /);
  });
});
