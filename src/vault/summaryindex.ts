// The summary index of a vault (docs/FORMAT.md "Summary index"): an optional file, summaries.idx in
// the vault folder, that holds the summary (what `kpm list` shows, no secret field) of every live
// entry, sealed in one AEAD call under its own vault subkey. One open instead of one per record is
// what makes the first `kpm list` after unlocking a large vault fast.
//  - It is bound to the log state it summarizes: the generation, committed length and hash chain of
//    the commit it was made from are in its clear header and in the AAD. A reader uses it in place of
//    the log only when they equal the commit of the vault header, whose MAC the reader verified;
//    otherwise (stale: the log moved on; a crash between a log append and the index write) it is
//    ignored for listing and rebuilt later.
//  - An index that does not open (tampered, truncated, another vault's, a bad magic or version) is
//    ignored entirely, as if missing, and rebuilt; nothing in it is ever used.
//  - Each summary carries its record's entry id, version and AEAD nonce, so an authentic index that
//    is stale still spares decrypting the records that did not change: a record loaded (and chain
//    verified) from the log takes the indexed summary only when all three match.
// Nothing here reads the log; src/vault/session.ts decides when to use or write an index.
import { AuthError, open, seal } from '../crypto/aead.js';
import { bytesEqual, concatBytes, utf8 } from '../crypto/bytes.js';
import { readFileOrNull, writeFileAtomic } from '../core/fsutil.js';
import { KpmError } from '../core/errors.js';
import { ByteReader, ByteWriter } from './binary.js';
import type { Commit } from './format.js';
import type { EntrySummary, EntryType } from './entry.js';
import { collator } from './listing.js';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';

export const SUMMARY_INDEX_FILE = 'summaries.idx';
const MAGIC = utf8.encode('KPMS');
const VERSION = 1;
const AAD_LABEL = utf8.encode('kpm/v2/summary-index');
/** bytes of a record's AEAD nonce (its first bytes) that identify it in the index */
const NONCE_BYTES = 24;

/** The log state an index summarizes (a commit's generation, committed length and chain). */
export interface IndexedState {
  generation: number;
  logLength: number;
  chain: Uint8Array;
}

/** One entry for writeSummaryIndex: the summary of a live record, with the record's version and sealed bytes. */
export interface IndexedSummary {
  version: number;
  /** the record's sealed bytes (their first NONCE_BYTES, its AEAD nonce, identify it) */
  sealed: Uint8Array;
  summary: EntrySummary;
}

export interface SummaryIndex extends IndexedState {
  /** the summary of every live entry, in `kpm list` order (`vault` is left for the caller to set) */
  readonly summaries: EntrySummary[];
  /** The indexed summary of entry `id` when it is of exactly this record (same version and nonce). */
  knows(id: string, version: number, sealed: Uint8Array): EntrySummary | undefined;
}

/** A SummaryIndex over summaries and, per entry, where its version and nonce are (row `i` of `rows`). */
function makeIndex(state: IndexedState, summaries: EntrySummary[], rows: Uint8Array): SummaryIndex {
  let byId: Map<string, number> | undefined;
  const view = new DataView(rows.buffer, rows.byteOffset, rows.byteLength);
  return {
    generation: state.generation,
    logLength: state.logLength,
    chain: state.chain.slice(),
    summaries,
    knows(id, version, sealed) {
      if (!byId) {
        byId = new Map();
        for (let i = 0; i < summaries.length; i++) byId.set(summaries[i].id, i);
      }
      const i = byId.get(id);
      if (i === undefined) return undefined;
      const at = 4 + i * ROW_BYTES;
      if (view.getUint32(at + 16) !== version || sealed.length < NONCE_BYTES) return undefined;
      return bytesEqual(rows.subarray(at + 20, at + 20 + NONCE_BYTES), sealed.subarray(0, NONCE_BYTES)) ? summaries[i] : undefined;
    },
  };
}

/** What the index key and AAD bind: whose vault it is. */
export interface IndexOwner {
  dir: string;
  key: Uint8Array;
  profileId: Uint8Array;
  vaultId: Uint8Array;
}

/** True when the index summarizes exactly this commit. */
export const indexMatches = (idx: IndexedState, c: Commit): boolean =>
  idx.generation === c.generation && idx.logLength === c.logLength && bytesEqual(idx.chain, c.chain);

function clearHeader(s: IndexedState): Uint8Array {
  return new ByteWriter().bytes(MAGIC).u16(VERSION).u32(s.generation).u64(s.logLength).bytes(s.chain).finish();
}

const aadOf = (o: IndexOwner, head: Uint8Array) => concatBytes(AAD_LABEL, o.profileId, o.vaultId, head);

// The sealed body: u32 count, then per entry a fixed row (entry id 16 bytes, version u32, record nonce
// 24 bytes, and the length in UTF-16 code units of each of the TEXT fields, u32 each), then every
// text field of every entry in that order, one UTF-8 string. One decode and cheap substrings instead
// of parsing 100k JSON objects. Rows are in `kpm list` order, so the list's sort finds them sorted.
const TEXT = ['name', 'type', 'updated', 'username', 'url', 'hint'] as const;
const ROW_BYTES = 16 + 4 + NONCE_BYTES + 4 * TEXT.length;

/**
 * The generation in the clear header of the index file at `path` (-1 when unreadable as an index,
 * so any generation is newer); undefined when there is no file.
 */
export function summaryIndexGeneration(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = new Uint8Array(10);
    if (readSync(fd, head, 0, 10, 0) < 10 || !bytesEqual(head.subarray(0, 4), MAGIC)) return -1;
    return new DataView(head.buffer).getUint32(6);
  } finally {
    closeSync(fd);
  }
}

/** Reads the vault's index; null when it is missing or does not open (never partly used). */
export function readSummaryIndex(o: IndexOwner): SummaryIndex | null {
  const file = readFileOrNull(join(o.dir, SUMMARY_INDEX_FILE));
  if (!file) return null;
  try {
    const r = new ByteReader(file, 'summary index');
    if (!bytesEqual(r.bytes(4), MAGIC) || r.u16() !== VERSION) return null;
    const state: IndexedState = { generation: r.u32(), logLength: r.u64(), chain: r.bytes(32) };
    const head = file.subarray(0, r.offset);
    const plain = open(o.key, file.subarray(r.offset), aadOf(o, head));
    const buf = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
    const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    const count = view.getUint32(0);
    const textStart = 4 + count * ROW_BYTES;
    if (textStart > buf.length) return null;
    const text = buf.toString('utf8', textStart);
    const summaries: EntrySummary[] = new Array(count);
    let t = 0;
    const next = (at: number): string => {
      const n = view.getUint32(at);
      const s = n ? text.substring(t, t + n) : '';
      t += n;
      return s;
    };
    for (let i = 0, at = 4 + 20 + NONCE_BYTES; i < count; i++, at += ROW_BYTES) {
      const id = buf.toString('hex', at - 20 - NONCE_BYTES, at - 4 - NONCE_BYTES);
      const summary: EntrySummary = { id, vault: '', name: next(at), type: next(at + 4) as EntryType, updated: next(at + 8) };
      const username = next(at + 12);
      const url = next(at + 16);
      const hint = next(at + 20);
      if (username) summary.username = username;
      if (url) summary.url = url;
      if (hint) summary.hint = hint;
      summaries[i] = summary;
    }
    if (t !== text.length) return null;
    return makeIndex(state, summaries, plain.subarray(0, textStart));
  } catch (e) {
    // tampered, truncated or not ours: ignored, as if missing (it is rebuilt from the log)
    if (e instanceof AuthError || e instanceof RangeError || e instanceof KpmError) return null;
    throw e;
  }
}

/** Writes the index of `state` (atomically: a reader sees the old file or the new one). */
export function writeSummaryIndex(o: IndexOwner, state: IndexedState, entries: IndexedSummary[]): SummaryIndex {
  const sorted = [...entries].sort((a, b) => collator.compare(a.summary.name, b.summary.name));
  const rows = Buffer.alloc(4 + sorted.length * ROW_BYTES);
  rows.writeUInt32BE(sorted.length, 0);
  const texts: string[] = [];
  const summaries: EntrySummary[] = [];
  let at = 4;
  for (const e of sorted) {
    const s = e.summary;
    rows.write(s.id, at, 16, 'hex');
    rows.writeUInt32BE(e.version, at + 16);
    rows.set(e.sealed.subarray(0, NONCE_BYTES), at + 20);
    let lo = at + 20 + NONCE_BYTES;
    for (const k of TEXT) {
      const v = s[k] ?? '';
      rows.writeUInt32BE(v.length, lo);
      texts.push(v);
      lo += 4;
    }
    at += ROW_BYTES;
    summaries.push({ ...s, vault: '' });
  }
  const plain = concatBytes(rows, utf8.encode(texts.join('')));
  const head = clearHeader(state);
  const body = seal(o.key, plain, aadOf(o, head));
  plain.fill(0);
  writeFileAtomic(join(o.dir, SUMMARY_INDEX_FILE), concatBytes(head, body));
  return makeIndex(state, summaries, rows);
}
