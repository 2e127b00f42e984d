// What a sync does to the local log, planned without I/O (src/vault/store.ts runs the plans under one
// vault lock in Vault.applyVerifiedPull and Vault.settlePush; src/sync/vaultsync.ts talks to the
// server). The sync state (src/sync/state.ts) marks which local records the server has by their byte
// offsets in one log generation: LogMarks. Records here carry absolute offsets.
import { toHex } from '../crypto/bytes.js';
import { sha256 } from '../crypto/keys.js';
import { FLAG_CUT, FLAG_DELETED, FLAG_PURGED, LOG_HEADER_BYTES, type LogRecord } from './format.js';
import type { EntryPayload } from './entry.js';
import { EXIT, KpmError } from '../core/errors.js';

/** Which local records the server has: those starting before `confirmedUpTo` or in a range, in log generation `generation`. */
export interface LogMarks {
  /** the local log generation the offsets count in */
  generation: number;
  confirmedUpTo: number;
  confirmedRanges: [number, number][];
}

/** One side of a conflict, for the merge policy (src/sync/merge.ts resolveConflict). */
export interface ConflictSide {
  payload: EntryPayload;
  deleted: boolean;
  /** when the change was made (its `updated`), ms; 0 if unknown */
  at: number;
}

/** The merge policy sync passes in: which side wins, or one merged payload. */
export type ResolveConflict = (base: ConflictSide | undefined, local: ConflictSide, remote: ConflictSide) => { kind: 'local' | 'remote' } | { kind: 'merged'; payload: EntryPayload };

export interface Conflict {
  name: string;
  kept: 'local' | 'remote' | 'merged';
}

export const isConfirmed = (m: LogMarks, r: LogRecord): boolean => (r.offset ?? 0) < m.confirmedUpTo || m.confirmedRanges.some(([a, b]) => r.offset! >= a && r.offset! < b);

/** The records of `all` (the whole log) the server lacks, in log order. */
export const pendingOf = (m: LogMarks, all: readonly LogRecord[]): LogRecord[] => all.filter((r) => !isConfirmed(m, r));

export function addRange(m: LogMarks, a: number, b: number): void {
  if (b > a) m.confirmedRanges.push([a, b]);
}

const hashHex = (b: Uint8Array) => toHex(sha256(b));
const bytesOf = (records: readonly LogRecord[]) => records.reduce((n, r) => n + r.raw.length, 0);

/** Per entry (hex id), the highest version among the records the server confirmed. */
export function confirmedVersions(m: LogMarks, all: readonly LogRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of all) {
    if (!isConfirmed(m, r)) continue;
    const id = toHex(r.entryId);
    out.set(id, Math.max(out.get(id) ?? 0, r.version));
  }
  return out;
}

/**
 * A new server generation (a compaction): the local log becomes the pulled records this device
 * already knew (at or below its confirmed version), then its pending records; the rest is new here.
 */
export function planAdopt(m: LogMarks, all: readonly LogRecord[], pulled: readonly LogRecord[]): { log: LogRecord[]; confirmedUpTo: number; fresh: LogRecord[] } {
  const knownMax = confirmedVersions(m, all);
  const known = pulled.filter((r) => r.version <= (knownMax.get(toHex(r.entryId)) ?? 0));
  const fresh = pulled.filter((r) => r.version > (knownMax.get(toHex(r.entryId)) ?? 0));
  return { log: [...known, ...pendingOf(m, all)], confirmedUpTo: LOG_HEADER_BYTES + bytesOf(known), fresh };
}

export interface PullPlanTools {
  decrypt(r: LogRecord): EntryPayload;
  /** seals a record under the vault's key; `flags` as in the log */
  seal(entryId: Uint8Array, version: number, flags: number, payload: EntryPayload): LogRecord;
  resolve: ResolveConflict;
}

/** The local log for planPull: the records from the marks' confirmedUpTo on (all that can be pending), and the whole log when a rebase needs it. */
export interface PullPlanLog {
  tail: readonly LogRecord[];
  all: () => readonly LogRecord[];
}

export type PullPlan =
  /** append `records`; `m` (updated in place) marks the echoes of our own pushes */
  | { kind: 'append'; records: LogRecord[]; pulled: number; conflicts: Conflict[] }
  /** a new log generation holding `log`; its first `confirmedUpTo` bytes are on the server */
  | { kind: 'rewrite'; log: LogRecord[]; confirmedUpTo: number; pulled: number; conflicts: Conflict[] };

function payloadTime(t: PullPlanTools, r: LogRecord): { payload: EntryPayload; at: number } {
  const payload = t.decrypt(r);
  const at = Date.parse(payload.updated ?? '');
  return { payload, at: Number.isFinite(at) ? at : 0 };
}

/**
 * Pulled records onto the local log: echoes of our own pushes (whose answer was lost) are marked
 * confirmed in `m`; the rest is appended, unless a pending local change touches the same entry:
 * then a rebase, a new log with the confirmed records, the pulled ones, the untouched local changes,
 * and the clashing ones re-sealed with versions after the server's (the merge policy decides).
 */
export function planPull(m: LogMarks, log: PullPlanLog, pulled: readonly LogRecord[], t: PullPlanTools): PullPlan {
  const pending = pendingOf(m, log.tail);
  const byHash = new Map(pending.map((r) => [hashHex(r.raw), r]));
  const freshRecords: LogRecord[] = [];
  for (const r of pulled) {
    const h = hashHex(r.raw);
    const echo = byHash.get(h);
    if (echo) {
      addRange(m, echo.offset!, echo.offset! + echo.raw.length);
      byHash.delete(h);
    } else freshRecords.push(r);
  }
  const conflicts: Conflict[] = [];
  const left = pending.filter((r) => byHash.has(hashHex(r.raw)));
  const pendingIds = new Set(left.map((r) => toHex(r.entryId)));
  const clash = new Set(freshRecords.map((r) => toHex(r.entryId)).filter((id) => pendingIds.has(id)));
  if (clash.size === 0) return { kind: 'append', records: freshRecords, pulled: freshRecords.length, conflicts };
  // Every record is either confirmed (echoes were marked so above) or in `left`.
  const confirmed = log.all().filter((r) => isConfirmed(m, r));
  const keep = left.filter((r) => !clash.has(toHex(r.entryId)));
  const rebased: LogRecord[] = [];
  for (const id of clash) {
    const remote = freshRecords.filter((r) => toHex(r.entryId) === id);
    const latestRemote = remote[remote.length - 1];
    const local = left.filter((r) => toHex(r.entryId) === id);
    const r = payloadTime(t, latestRemote);
    const l = payloadTime(t, local[local.length - 1]);
    let version = latestRemote.version;
    const localLast = local[local.length - 1];
    if (latestRemote.flags & FLAG_PURGED) {
      // deleted for good on another device: that wins over any local change (nothing is rebased)
      conflicts.push({ name: l.payload.name, kept: 'remote' });
      continue;
    }
    if (localLast.flags & FLAG_PURGED) {
      // deleted for good here: the purge goes on top of the other device's changes
      rebased.push(t.seal(localLast.entryId, ++version, FLAG_DELETED | FLAG_PURGED, l.payload));
      conflicts.push({ name: r.payload.name, kept: 'local' });
      continue;
    }
    for (const rec of local) rebased.push(t.seal(rec.entryId, ++version, rec.flags & (FLAG_DELETED | FLAG_CUT), t.decrypt(rec)));
    // field by field against the last version both had; the later whole entry when both changed one field
    const baseRec = confirmed.filter((x) => toHex(x.entryId) === id).at(-1);
    const side = (rec: LogRecord, pt: { payload: EntryPayload; at: number }) => ({ ...pt, deleted: (rec.flags & FLAG_DELETED) !== 0 });
    const outcome = t.resolve(baseRec && side(baseRec, payloadTime(t, baseRec)), side(localLast, l), side(latestRemote, r));
    if (outcome.kind === 'merged') rebased.push(t.seal(latestRemote.entryId, ++version, 0, outcome.payload));
    if (outcome.kind === 'remote') rebased.push(t.seal(latestRemote.entryId, ++version, latestRemote.flags & FLAG_DELETED, r.payload));
    conflicts.push({ name: (outcome.kind === 'merged' ? outcome.payload : outcome.kind === 'remote' ? r.payload : l.payload).name, kept: outcome.kind });
  }
  const head = [...confirmed, ...freshRecords];
  return { kind: 'rewrite', log: [...head, ...keep, ...rebased], confirmedUpTo: LOG_HEADER_BYTES + bytesOf(head), pulled: freshRecords.length, conflicts };
}

// ---------------------------------------------------------------- the types of Vault.applyVerifiedPull and settlePush

/** The log moved to another generation (compacted by another process) since the sync state was read: nothing was written; read the state again. */
export class LogMovedError extends KpmError {
  constructor(name: string) {
    super(`vault "${name}" was rewritten by another process during sync; try again`, EXIT.conflict);
  }
}

/** What sync has verified (src/sync/vaultsync.ts pullVerified): decoded records, their chain checked against the signed manifest. */
export interface VerifiedPull {
  records: LogRecord[];
  /** a new server log generation (a compaction): `records` are the whole server log */
  newGeneration: boolean;
}

export interface ApplyPullOptions {
  /** the merge policy for an entry changed on both sides (src/sync/merge.ts) */
  resolve: ResolveConflict;
  /** a new server generation: called inside the lock with what this device had confirmed (entry id → version), to refuse a log that lacks some */
  checkKept?: (confirmed: Map<string, number>) => void;
  /**
   * Called just before a log rewrite commits, so the caller's sync state names the generation it
   * makes (a crash between the two leaves the state right): `adopt` (a new server generation),
   * `rebase` (local changes on top of pulled ones), `compact` (after the pulled records are in).
   * `now`: the marks as they stand before the rewrite (about the log on disk).
   */
  noteRewrite: (next: { generation: number; confirmedUpTo: number }, step: 'adopt' | 'rebase' | 'compact', now: LogMarks) => void;
  /** `history.keep`: a pulled purge or history cut compacts the log with it, when due */
  keep: number;
  /** still under the lock, after every write: the caller saves its sync state */
  applied?: (r: PullApplied) => void;
}

export interface PullApplied {
  /** the marks after the pull (a rewrite starts a new generation) */
  marks: LogMarks;
  /** pulled records that were new here */
  pulled: number;
  conflicts: Conflict[];
  /** "OLD → NEW" for each pending entry renamed */
  renamed: string[];
  /** a pulled record new here was a purge or history cut */
  purgeArrived: boolean;
  /** what the server lacks now (to push), read under the same lock; offsets in marks.generation */
  pending: LogRecord[];
}
