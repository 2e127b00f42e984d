// The check a device makes of a compacted server log (docs/PROTOCOL.md "Compaction"), one function
// for sync (src/sync/vaultsync.ts) and for the service-token reader (src/sync/tokenvault.ts): a new
// generation must keep, of every entry the reader saw before, that version or a later one (a purge
// is a later version). A server that dropped a live entry while compacting, or serves a compaction
// made without records it had accepted, is refused before anything is written.
import { toHex } from '../crypto/bytes.js';
import type { LogRecord } from '../vault/format.js';

export interface CompactionGap {
  /** entry id (hex) */
  id: string;
  /** the version the reader knew */
  version: number;
  /** the highest version of it in the compacted log (0: none) */
  have: number;
}

/**
 * The first entry of `known` (entry id in hex → version seen before) that the compacted log
 * `records` lacks at that version or later; undefined when it keeps every one.
 */
export function compactionLacks(known: Iterable<readonly [string, number]>, records: readonly LogRecord[]): CompactionGap | undefined {
  const got = new Map<string, number>();
  for (const r of records) {
    const id = toHex(r.entryId);
    got.set(id, Math.max(got.get(id) ?? 0, r.version));
  }
  for (const [id, version] of known) {
    const have = got.get(id) ?? 0;
    if (have < version) return { id, version, have };
  }
  return undefined;
}
