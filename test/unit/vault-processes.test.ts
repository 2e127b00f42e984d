// Many processes on one vault: the inter-process lock and crash safety of the store, with real
// child processes running kpm's store code (the binary's own runs are in test/e2e/concurrency and
// test/e2e/crash, fewer because each kpm process pays a key derivation).
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utf8 } from '../../src/crypto/bytes.js';
import { createKeyring, type UnlockedProfile } from '../../src/vault/keyring.js';
import { resolvePaths, type KpmPaths } from '../../src/core/paths.js';
import { Session } from '../../src/vault/session.js';
import { startWorker } from '../helpers/workers.js';
import { TEST_KDF } from '../helpers/kdf.js';

async function newProfile(): Promise<{ home: string; paths: KpmPaths; profile: UnlockedProfile }> {
  const home = mkdtempSync(join(tmpdir(), 'kpm-procs-'));
  const paths = resolvePaths({ KPM_HOME: home });
  const profile = await createKeyring(paths, utf8.encode('process test password'), { ...TEST_KDF });
  const s = await Session.open(paths, { ...profile, accountKey: profile.accountKey.slice() });
  await s.createVault('Personal');
  return { home, paths, profile };
}

async function passwords(paths: KpmPaths, profile: UnlockedProfile): Promise<Map<string, string>> {
  const s = await Session.open(paths, { ...profile, accountKey: profile.accountKey.slice() });
  return new Map(s.entries().map((e) => [e.payload.name, e.payload.fields.password!]));
}

describe('concurrency', () => {
  it('8 processes each adding 50 entries at once, one commit per entry: all 400 are there', async () => {
    const { home, paths, profile } = await newProfile();
    const workers = await Promise.all(Array.from({ length: 8 }, (_, lane) => startWorker(home, profile, `lane${lane}-`, 50)));
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes).toEqual(Array(8).fill(0));
    const all = await passwords(paths, profile);
    expect(all.size).toBe(400);
    for (const [name, pw] of all) expect(pw).toBe(`pw-${name}`);
  });
});

describe('crash safety', () => {
  it('200 writers killed with SIGKILL at random moments: every committed entry survives and the vault opens', async () => {
    const { home, paths, profile } = await newProfile();
    const committed = new Set<string>();
    const firstSeed = Number(process.env.KPM_TEST_SEED ?? 20261201); // seeded: the same kill points every run
    let seed = firstSeed;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const KILLS = 200;
    const PER_ROUND = 4;
    for (let round = 0; round < KILLS / PER_ROUND; round++) {
      // several writers at once, so kills also land while another one holds or waits for the lock
      const ws = await Promise.all(Array.from({ length: PER_ROUND }, (_, k) => startWorker(home, profile, `r${round}w${k}-`, 100_000)));
      await Promise.all(ws.map((w) => w.ready));
      // each one is killed after its k-th reported commit (k seeded, 1 or 2), while it writes the next:
      // the kill point is set by commits, not by a timer, so a busy machine cannot move it
      await Promise.all(ws.map((w) => w.commits(1 + rand(2)).then(() => w.child.kill('SIGKILL'))));
      await Promise.all(ws.map((w) => w.exited));
      for (const w of ws) for (const n of w.committed) committed.add(n);
      if (round % 10 === 9 || round === KILLS / PER_ROUND - 1) {
        const all = await passwords(paths, profile); // opens, verifies the hash chain, decrypts all
        for (const n of committed) expect(all.get(n), `${n} (seed ${firstSeed})`).toBe(`pw-${n}`);
        for (const [n, pw] of all) expect(pw).toBe(`pw-${n}`);
      }
    }
    expect(committed.size).toBeGreaterThanOrEqual(KILLS); // the kills did land among real commits
  }, 600_000); // 200 processes: a hang guard only, for a machine busy with other work (no timing is asserted)
});
