// The summary index (src/vault/summaryindex.ts, docs/FORMAT.md "Summary index"; issue 17: the first
// `kpm list` after unlocking a large vault). It is used in place of the log only when it is of
// exactly the commit in the MAC'd vault header; stale, tampered, moved or re-labelled indexes are
// ignored and rebuilt; a compaction takes the old one away.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { newProfile, openProfile } from '../helpers/sync.js';
import { toHex } from '../../src/crypto/bytes.js';
import { open } from '../../src/crypto/aead.js';
import { maintainLocked, type Session } from '../../src/vault/session.js';
import { readVaultHeader, Vault } from '../../src/vault/store.js';
import { readSummaryIndex, SUMMARY_INDEX_FILE, summaryIndexGeneration } from '../../src/vault/summaryindex.js';
import type { EntryPayload } from '../../src/vault/entry.js';

function login(name: string, extra: Record<string, string> = {}): EntryPayload {
  const at = '2026-12-01T10:00:00.000Z';
  return { type: 'login', name, fields: { username: `${name}-user`, password: `pw-${name}`, url: `https://${name}.example`, ...extra }, custom: [], tags: [], created: at, updated: at } as unknown as EntryPayload;
}

const indexFile = (s: Session) => join(s.vault().dir, SUMMARY_INDEX_FILE);
const names = (s: Session) => s.list().map((e) => e.name);

/** A profile with `n` entries whose index is written (a full list, then the save). */
async function indexed(n: number): Promise<Session> {
  const s = await newProfile();
  await s.addMany(undefined, Array.from({ length: n }, (_, i) => login(`site${i}`)));
  s.list();
  await s.saveSummaryIndexes();
  expect(fs.existsSync(indexFile(s))).toBe(true);
  return s;
}

/** The same profile opened again, as a new agent or command would. */
const reopen = (s: Session) => openProfile(s.paths);

afterEach(() => vi.restoreAllMocks());

describe('summary index', () => {
  it('a new session lists from an index of the current commit without loading or decrypting the log', async () => {
    const s = await indexed(30);
    const expected = s.list();
    const t = await reopen(s);
    const decrypt = vi.spyOn(Vault.prototype, 'decrypt');
    expect(t.list()).toEqual(expected);
    expect(t.list({ search: 'site2' }).map((e) => e.name)).toEqual(['site2', 'site20', 'site21', 'site22', 'site23', 'site24', 'site25', 'site26', 'site27', 'site28', 'site29']);
    expect(t.vault().recordsReady).toBe(false);
    expect(decrypt).not.toHaveBeenCalled();
    // the secret fields are not in it: only summaries
    const idx = readSummaryIndex(t.vault().summaryIndexOwner())!;
    expect(JSON.stringify(idx.summaries)).not.toContain('pw-site');
    // and what `get` reads still comes from the log
    expect(t.get('site7').payload.fields.password).toBe('pw-site7');
  });

  it('crash between the log append and the index write: the stale index is ignored, the new entry listed, the index rebuilt', async () => {
    const s = await indexed(10);
    const before = fs.readFileSync(indexFile(s));
    // another process commits and dies before it writes an index (its session never saves one)
    const writer = await reopen(s);
    await writer.add(undefined, login('added-later'));
    await writer.update('Personal', writer.get('site3').id, 1, login('site3-renamed'));
    expect(fs.readFileSync(indexFile(s))).toEqual(before);
    const t = await reopen(s);
    const decrypt = vi.spyOn(Vault.prototype, 'decrypt');
    expect(names(t)).toContain('added-later');
    expect(names(t)).toContain('site3-renamed');
    expect(names(t)).not.toContain('site3');
    expect(t.vault().recordsReady).toBe(true); // it read the log, not the index
    // the stale index still knew the 9 records that did not change: only the 2 new ones were opened
    expect(decrypt).toHaveBeenCalledTimes(2);
    await t.saveSummaryIndexes();
    const h = readVaultHeader(t.vault().dir).commit;
    const idx = readSummaryIndex(t.vault().summaryIndexOwner())!;
    expect([idx.generation, idx.logLength, toHex(idx.chain)]).toEqual([h.generation, h.logLength, toHex(h.chain)]);
    const u = await reopen(s);
    expect(names(u)).toEqual(names(t));
    expect(u.vault().recordsReady).toBe(false); // served by the rebuilt index
  });

  it('a tampered index is ignored (never partly used) and rebuilt', async () => {
    const s = await indexed(12);
    const file = fs.readFileSync(indexFile(s));
    const bad = Buffer.from(file);
    bad[bad.length - 40] ^= 1;
    fs.writeFileSync(indexFile(s), bad);
    const t = await reopen(s);
    expect(readSummaryIndex(t.vault().summaryIndexOwner())).toBeNull();
    expect(names(t)).toEqual(s.list().map((e) => e.name));
    expect(t.vault().recordsReady).toBe(true);
    await t.saveSummaryIndexes();
    expect(readSummaryIndex(t.vault().summaryIndexOwner())).not.toBeNull();
    // truncated, or not an index at all: the same
    for (const junk of [file.subarray(0, 30), Buffer.from('not an index')]) {
      fs.writeFileSync(indexFile(s), junk);
      const u = await reopen(s);
      expect(names(u)).toEqual(names(t));
      expect(u.vault().recordsReady).toBe(true);
    }
  });

  it('an old index re-labelled with the current commit does not open: it is bound to the log state it summarizes', async () => {
    const s = await indexed(5);
    const old = Buffer.from(fs.readFileSync(indexFile(s)));
    await s.remove('site1');
    s.list();
    await s.saveSummaryIndexes();
    const cur = fs.readFileSync(indexFile(s));
    // clear header: magic 4, version 2, generation 4, log length 8, chain 32; copy the current one over the old body
    const relabelled = Buffer.concat([cur.subarray(0, 50), old.subarray(50)]);
    fs.writeFileSync(indexFile(s), relabelled);
    const t = await reopen(s);
    expect(names(t)).not.toContain('site1');
    expect(t.vault().recordsReady).toBe(true);
    // and an old index as it was (its own header): stale, so not used for the list either
    fs.writeFileSync(indexFile(s), old);
    const u = await reopen(s);
    expect(names(u)).not.toContain('site1');
    expect(u.vault().recordsReady).toBe(true);
  });

  it("another vault's index does not open in this vault", async () => {
    const s = await indexed(4);
    await s.createVault('Work');
    await s.add('Work', login('work-only'));
    const work = s.vault('Work');
    s.list();
    await s.saveSummaryIndexes();
    fs.copyFileSync(join(work.dir, SUMMARY_INDEX_FILE), indexFile(s));
    const t = await reopen(s);
    expect(readSummaryIndex(t.vault().summaryIndexOwner())).toBeNull();
    expect(t.list({ vault: 'Personal' }).map((e) => e.name)).toEqual(['site0', 'site1', 'site2', 'site3']);
  });

  it('a compaction takes the old generation index away (shredded); the rebuilt one holds no purged entry', async () => {
    const s = await indexed(6);
    await s.remove('site4');
    const gen = readVaultHeader(s.vault().dir).commit.generation;
    expect(summaryIndexGeneration(indexFile(s))).toBe(gen);
    await s.purgeTrash('site4');
    const after = readVaultHeader(s.vault().dir).commit.generation;
    expect(after).toBeGreaterThan(gen);
    expect(fs.existsSync(indexFile(s))).toBe(false);
    s.list();
    await s.saveSummaryIndexes();
    const idx = readSummaryIndex(s.vault().summaryIndexOwner())!;
    expect(idx.generation).toBe(after);
    expect(idx.summaries.map((e) => e.name)).not.toContain('site4');
    // compaction under sync's lock (maintainLocked), by another process, with an old index lying around: the same
    const t = await reopen(s);
    await t.remove('site5');
    t.list();
    await t.saveSummaryIndexes();
    await maintainLocked(t.vault(), { keep: 20, trashDays: 0 }, true);
    expect(fs.existsSync(indexFile(s))).toBe(true); // nothing was dropped: same generation, index kept
    await t.purgeTrash('site5');
    expect(fs.existsSync(indexFile(s))).toBe(false);
  });

  it('the index is sealed: no summary text is readable in the file', async () => {
    const s = await indexed(3);
    const file = fs.readFileSync(indexFile(s));
    expect(file.toString('latin1')).not.toContain('site1');
    expect(file.toString('latin1')).not.toContain('example');
    expect(() => open(new Uint8Array(32), file.subarray(50), new Uint8Array(0))).toThrow();
  });
});

describe('list text', () => {
  it('is given again while nothing was committed, and follows every commit, rename and filter', async () => {
    const s = await indexed(3);
    const a = s.listText();
    expect(a.split('\n').filter(Boolean)).toHaveLength(3);
    expect(s.listText()).toBe(a);
    await s.add(undefined, login('zzz'));
    expect(s.listText()).toContain('zzz');
    expect(s.listText({ search: 'zzz' }).split('\n').filter(Boolean)).toHaveLength(1);
    await s.renameVault('Personal', 'Home');
    expect(s.listText()).toContain('[Home]');
    // a commit by another process, picked up by refresh (as the agent does before each request)
    const other = await reopen(s);
    await other.remove('zzz');
    s.refresh();
    expect(s.listText()).not.toContain('zzz');
    expect(JSON.parse(s.listText({}, true))).toHaveLength(3);
  });
});

describe('summary index and a damaged log', () => {
  it('a list served by the index shows the committed (MAC-verified) state; the first command that reads the log reports the damage (exit 8)', async () => {
    const s = await indexed(5);
    const expected = names(s);
    const log = fs.readdirSync(s.vault().dir).find((f) => f.endsWith('.log'))!;
    const path = join(s.vault().dir, log);
    const bytes = fs.readFileSync(path);
    bytes[bytes.length - 30] ^= 1;
    fs.writeFileSync(path, bytes);
    const t = await reopen(s);
    expect(names(t)).toEqual(expected);
    let code: number | undefined;
    try {
      t.get('site1');
    } catch (e) {
      code = (e as { exitCode?: number }).exitCode;
    }
    expect(code).toBe(8);
  });
});

describe('list text from the index', () => {
  it('follows a commit made by another process while the log is not loaded', async () => {
    const s = await indexed(4);
    const t = await reopen(s);
    const a = t.listText();
    expect(t.vault().recordsReady).toBe(false);
    expect(t.listText()).toBe(a);
    const other = await reopen(s);
    await other.add(undefined, login('newcomer'));
    expect(t.listText()).toContain('newcomer');
  });
});

describe('prefetch', () => {
  it('renders the list from an index of the current commit without touching the log; does nothing with a stale one', async () => {
    const s = await indexed(6);
    const t = await reopen(s);
    const decrypt = vi.spyOn(Vault.prototype, 'decrypt');
    t.prefetchList();
    expect(t.vault().recordsReady).toBe(false);
    expect(t.listText()).toBe(s.listText());
    expect(decrypt).not.toHaveBeenCalled();
    await s.add(undefined, login('later'));
    const u = await reopen(s);
    u.prefetchList();
    expect(u.vault().recordsReady).toBe(false); // stale index: nothing loaded, nothing rendered
    expect(u.listText()).toContain('later');
  });
});
