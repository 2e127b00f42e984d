// An entry changed on two devices before either synced: a three-way merge against the last version
// both had (the base: the entry's last record this device had confirmed on the server).
//  - every field (name, type, each documented field) on its own: changed on one side only → that
//    side's value; changed on both to the same value → that value;
//  - custom fields per name, tags and attached files per item (an item added or removed on one side
//    is added or removed);
//  - a field changed on both sides to different values, a deletion on either side, or no base:
//    the whole-entry rule: the later change wins as a whole, the other stays in the history.
// No I/O; used by src/sync/vaultsync.ts when it rebases local changes on pulled ones.
import type { CustomField, EntryPayload } from '../vault/entry.js';
import type { StoredFile } from '../vault/blobs.js';

export interface Side {
  payload: EntryPayload;
  deleted: boolean;
  /** when this side's change was made (its `updated`), ms; 0 if unknown */
  at: number;
}

export type MergeOutcome =
  | { kind: 'merged'; payload: EntryPayload }
  | { kind: 'local' | 'remote'; conflicts: string[] };

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

type Pick3<T> = { ok: true; value: T } | { ok: false };

/** One value, three ways: the side that changed it wins; both changed it differently: no result. */
function pick<T>(base: T, local: T, remote: T): Pick3<T> {
  if (same(local, remote)) return { ok: true, value: local };
  if (same(local, base)) return { ok: true, value: remote };
  if (same(remote, base)) return { ok: true, value: local };
  return { ok: false };
}

/** Items keyed for a per-item merge: a custom field by its name (the 2nd "pin" is "pin#2"), a file by its blob. */
function keyed<T>(items: readonly T[], keyOf: (t: T) => string): Map<string, T> {
  const seen = new Map<string, number>();
  const out = new Map<string, T>();
  for (const it of items) {
    const k = keyOf(it);
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    out.set(n === 1 ? k : `${k}#${n}`, it);
  }
  return out;
}

/** Per-item three-way merge of a list; order: the local list, then items only the remote side added. */
function mergeList<T>(base: readonly T[], local: readonly T[], remote: readonly T[], keyOf: (t: T) => string, what: string, conflicts: string[]): T[] {
  const [b, l, r] = [keyed(base, keyOf), keyed(local, keyOf), keyed(remote, keyOf)];
  const keys = [...l.keys(), ...[...r.keys()].filter((k) => !l.has(k)), ...[...b.keys()].filter((k) => !l.has(k) && !r.has(k))];
  const out: T[] = [];
  for (const k of keys) {
    const p = pick(b.get(k), l.get(k), r.get(k));
    if (!p.ok) {
      conflicts.push(`${what} ${k}`);
      continue;
    }
    if (p.value !== undefined) out.push(p.value);
  }
  return out;
}

/** Merges two changed versions of one entry against their common base (see the top of this file). */
export function mergeEntry(base: EntryPayload, local: EntryPayload, remote: EntryPayload): { payload: EntryPayload; conflicts: string[] } {
  const conflicts: string[] = [];
  const scalar = <K extends 'name' | 'type'>(k: K): EntryPayload[K] => {
    const p = pick(base[k], local[k], remote[k]);
    if (p.ok) return p.value;
    conflicts.push(k);
    return local[k];
  };
  const name = scalar('name');
  const type = scalar('type');
  const fields: Record<string, string> = {};
  const fieldKeys = [...new Set([...Object.keys(local.fields), ...Object.keys(remote.fields), ...Object.keys(base.fields)])];
  for (const k of fieldKeys) {
    const p = pick(base.fields[k], local.fields[k], remote.fields[k]);
    if (!p.ok) conflicts.push(k);
    else if (p.value !== undefined && p.value !== '') fields[k] = p.value;
  }
  const custom = mergeList<CustomField>(base.custom ?? [], local.custom ?? [], remote.custom ?? [], (c) => c.name.toLowerCase(), 'custom field', conflicts);
  const tags = mergeList<string>(base.tags ?? [], local.tags ?? [], remote.tags ?? [], (t) => t, 'tag', conflicts);
  const files = mergeList<StoredFile>(base.files ?? [], local.files ?? [], remote.files ?? [], (f) => f.blob, 'file', conflicts);
  const payload: EntryPayload = { ...remote, ...local, type, name, fields, custom, tags };
  if (files.length > 0) payload.files = files;
  else delete payload.files;
  // the password's change time goes with the password
  const pwFrom = same(local.fields.password, base.fields.password) ? remote : local;
  if (pwFrom.passwordChanged !== undefined) payload.passwordChanged = pwFrom.passwordChanged;
  else delete payload.passwordChanged;
  payload.created = base.created;
  payload.updated = local.updated > remote.updated ? local.updated : remote.updated;
  return { payload, conflicts };
}

/**
 * What to do with an entry changed here and on another device. `base` undefined: no common version
 * known (the whole-entry rule). Ties go to the remote side (as before: every device decides alike).
 */
export function resolveConflict(base: Side | undefined, local: Side, remote: Side): MergeOutcome {
  const later: 'local' | 'remote' = local.at > remote.at ? 'local' : 'remote';
  if (!base || base.deleted || local.deleted || remote.deleted) return { kind: later, conflicts: [] };
  const m = mergeEntry(base.payload, local.payload, remote.payload);
  if (m.conflicts.length > 0) return { kind: later, conflicts: m.conflicts };
  return { kind: 'merged', payload: m.payload };
}
