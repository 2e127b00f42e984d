// Issue 17 (one change sent / received by `kpm sync`, the first read of a service token): the steps
// a sync no longer takes, and that what it still takes verifies as before.
//  - a change sent while the server's head is the revision verified last time goes out without a
//    pull first; a server whose head moved meanwhile refuses the push, and the sync pulls, verifies
//    and retries;
//  - one sync writes the vault's sync state once (not after the push and again after the settle);
//  - pull pages are asked for one ahead, but used (and verified) only in order;
//  - the hash-chain step is SHA-256(chain ‖ SHA-256(record)), as docs/FORMAT.md defines it.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { login, syncedPair as pair } from '../helpers/sync.js';
import { syncProfile } from '../../src/sync/engine.js';
import { pullVerified } from '../../src/sync/vaultsync.js';
import { accountPublicKey } from '../../src/crypto/sign.js';
import { initialSyncChain, nextSyncChain, syncChainFrom } from '../../src/sync/envelope.js';
import { initialChain, nextChain } from '../../src/vault/format.js';
import { fromHex } from '../../src/crypto/bytes.js';
import { loadVaultState } from '../../src/sync/state.js';
import type { PullResultT } from '../../src/protocol/schemas.js';



/** Counts pulls of a transport. */
function countPulls(t: { pull: (id: string, after: number) => Promise<PullResultT> }): number[] {
  const pulls: number[] = [];
  const pull = t.pull;
  t.pull = (id, after) => (pulls.push(after), pull(id, after));
  return pulls;
}

describe('sync: the steps one change takes', () => {
  it('a change sent on top of the head verified last time is pushed without a pull first', async () => {
    const { acc, a, ta } = await pair();
    await a.add(undefined, login('new-one', 'pw'));
    const pulls = countPulls(ta);
    const r = await syncProfile(a, ta, acc.accountId);
    expect(r.vaults[0]).toMatchObject({ pushed: 1, pulled: 0 });
    expect(pulls).toEqual([]);
    // with nothing to send, the head is still pulled (and its manifest verified)
    expect((await syncProfile(a, ta, acc.accountId)).vaults[0]).toMatchObject({ pushed: 0, pulled: 0 });
    expect(pulls.length).toBe(1);
  });

  it('when the head moved meanwhile, the push is refused by the server and the sync pulls, verifies and retries', async () => {
    const { acc, a, b, ta, tb } = await pair();
    await b.add(undefined, login('from-b', 'pw-b'));
    await syncProfile(b, tb, acc.accountId);
    await a.add(undefined, login('from-a', 'pw-a'));
    // A's server state says the head it verified last (a stale answer): A pushes first, is refused, then pulls
    const state = ta.state;
    let stale = true;
    ta.state = async () => {
      const s = await state();
      if (!stale) return s;
      stale = false;
      const before = loadVaultState(a.vault().dir)!;
      return { ...s, vaults: s.vaults.map((v) => ({ ...v, head: before.revision })) };
    };
    const pulls = countPulls(ta);
    const r = await syncProfile(a, ta, acc.accountId);
    expect(r.vaults[0]).toMatchObject({ pushed: 1, pulled: 1 });
    expect(pulls.length).toBeGreaterThan(0);
    expect(a.get('from-b').payload.fields.password).toBe('pw-b');
    await syncProfile(b, tb, acc.accountId);
    expect(b.get('from-a').payload.fields.password).toBe('pw-a');
  });

  it('a sync that sends or receives one change replaces its sync state; one with nothing to do leaves it as it was', async () => {
    const { acc, a, b, ta, tb } = await pair();
    const statOf = (dir: string) => fs.statSync(join(dir, 'sync.json')).ino;
    await a.add(undefined, login('one', 'pw'));
    const ia = statOf(a.vault().dir);
    await syncProfile(a, ta, acc.accountId);
    // the state file is replaced atomically (a new inode each write): one write, one new inode
    expect(statOf(a.vault().dir)).not.toBe(ia);
    const ib = statOf(b.vault().dir);
    await syncProfile(b, tb, acc.accountId);
    expect(statOf(b.vault().dir)).not.toBe(ib);
    expect(b.get('one').payload.fields.password).toBe('pw');
    const ia2 = statOf(a.vault().dir);
    const ib2 = statOf(b.vault().dir);
    await syncProfile(a, ta, acc.accountId);
    await syncProfile(b, tb, acc.accountId);
    expect([statOf(a.vault().dir), statOf(b.vault().dir)]).toEqual([ia2, ib2]);
  });
});

describe('pullVerified: pages asked for ahead, used in order', () => {
  it('the next page is asked for when one arrives; a tampered page fails the pull whatever was asked ahead', async () => {
    const { acc, a, ta } = await pair();
    for (let i = 0; i < 5; i++) await a.add(undefined, login(`e${i}`, `p${i}`));
    await syncProfile(a, ta, acc.accountId);
    const v = a.vault();
    const whole = await ta.pull(v.id, 0);
    // the server's answer cut into pages of two records
    const page = (after: number): PullResultT => {
      const records = whole.records.slice(after, after + 2);
      return { ...whole, from: after + 1, records, more: after + records.length < whole.head };
    };
    const asked: number[] = [];
    const from = (tamperAt?: number) => ({
      id: v.id, name: v.name, revision: 0, chain: initialSyncChain(fromHex(v.id)), time: 0, profileId: a.profile.profileId, publicKey: accountPublicKey(a.profile.accountKey),
      pull: async (after: number) => {
        asked.push(after);
        const p = page(after);
        if (after === tamperAt) p.records = [...p.records].reverse();
        return p;
      },
    });
    const ok = await pullVerified(from());
    expect(ok.head).toBe(whole.head);
    expect(ok.records.map((r) => Buffer.from(r.raw).toString('base64'))).toEqual(whole.records);
    expect(asked).toEqual([...Array(Math.ceil(whole.head / 2)).keys()].map((i) => 2 * i));
    asked.length = 0;
    await expect(pullVerified(from(2))).rejects.toMatchObject({ exitCode: 8 });
  });
});

describe('the hash-chain step', () => {
  it('is SHA-256(chain ‖ SHA-256(record)) for the log chain and the sync chain', () => {
    const sha = (...parts: Uint8Array[]) => new Uint8Array(createHash('sha256').update(Buffer.concat(parts)).digest());
    const id = fromHex('00112233445566778899aabbccddeeff');
    let log = initialChain(id);
    let sync = initialSyncChain(id);
    for (let n = 0; n < 50; n++) {
      const record = new Uint8Array(n * 7).map((_, i) => (i * 31 + n) & 0xff);
      const wantLog = sha(log, sha(record));
      const wantSync = sha(sync, sha(record));
      log = nextChain(log, record);
      sync = nextSyncChain(sync, record);
      expect(log).toEqual(wantLog);
      expect(sync).toEqual(wantSync);
    }
  });
  it('over many records in a row (syncChainFrom, a token pull page) is the same chain, step by step', () => {
    const sha = (...parts: Uint8Array[]) => new Uint8Array(createHash('sha256').update(Buffer.concat(parts)).digest());
    const start = initialSyncChain(fromHex('00112233445566778899aabbccddeeff'));
    const steps = syncChainFrom(start);
    let want = start;
    for (let n = 0; n < 50; n++) {
      const record = new Uint8Array(n * 7).map((_, i) => (i * 29 + n) & 0xff);
      want = sha(want, sha(record));
      steps.step(record);
    }
    expect(steps.value()).toEqual(want);
    expect(start).toEqual(initialSyncChain(fromHex('00112233445566778899aabbccddeeff'))); // the start is not changed
    expect(syncChainFrom(start).value()).toEqual(start); // no record: the chain as it was
  });
});
