// Shared vaults as the entry commands read them (docs/SHARING.md "Shared vaults in the entry
// commands"): lookups, list summaries and the ambiguity rule over the own vaults and the verified
// shared vaults. Pure functions of verified state, used by the full program (src/cli/shared.ts) and by
// the agent, which holds the shared vaults while unlocked (src/agent/sharedhold.ts).
import { EXIT, KpmError, notFound, usageError } from '../core/errors.js';
import type { EntrySummary } from '../vault/entry.js';
import type { EntryView, ListFilter } from '../vault/session.js';
import { matchesFilter, summaryOf } from '../vault/records.js';
import type { OpenedVault } from './client.js';

/** Verified shared vaults (the full program's Shared, or what the agent holds). */
export interface SharedVaults {
  vaults: OpenedVault[];
}

/** A shared entry as the entry commands see it (a copy: changing it changes nothing cached). */
export function sharedView(v: OpenedVault, id: string): EntryView {
  const e = v.entries.get(id)!;
  return { id, vault: v.name, version: e.rev, payload: structuredClone(e.entry) };
}

export const live = (v: OpenedVault) => [...v.entries].filter(([, e]) => !e.deleted);
export const norm = (s: string) => s.normalize('NFC').trim().toLowerCase();

/** The shared entries matching a list filter, as summaries (no secret field). */
export function sharedSummaries(s: SharedVaults, filter: ListFilter): EntrySummary[] {
  const out: EntrySummary[] = [];
  for (const v of s.vaults) {
    if (filter.vault !== undefined && v.name !== filter.vault) continue;
    for (const [id, e] of live(v)) {
      const x = summaryOf(id, v.name, e.entry);
      if (matchesFilter(x, filter)) out.push(x);
    }
  }
  return out;
}

/** Entries of the shared vaults (only `vault` when given) named `query` (case-insensitive), else with an id starting with it. */
export function findShared(s: SharedVaults, query: string, vault?: string): { v: OpenedVault; id: string }[] {
  const vaults = s.vaults.filter((v) => vault === undefined || v.name === vault);
  const q = norm(query);
  let hits = vaults.flatMap((v) => live(v).filter(([, e]) => norm(e.entry.name) === q).map(([id]) => ({ v, id })));
  if (hits.length === 0 && /^[0-9a-f]{8,32}$/i.test(query)) hits = vaults.flatMap((v) => live(v).filter(([id]) => id.startsWith(query.toLowerCase())).map(([id]) => ({ v, id })));
  return hits;
}

export const isSharedVault = (s: SharedVaults | null, name: string | undefined): boolean => !!s && name !== undefined && s.vaults.some((v) => v.name === name);

/**
 * One entry by name among the own vaults (`local`: the agent's or session's answer, or its not-found)
 * and the shared vaults: several matches are the usual ambiguity error (exit 2), none the own vaults'
 * not-found (exit 3).
 */
export function pickOne<T>(query: string, local: { hit?: T; label?: string; error?: unknown }, shared: { v: OpenedVault; id: string }[]): { local: T } | { shared: { v: OpenedVault; id: string } } {
  const n = (local.hit !== undefined ? 1 : 0) + shared.length;
  if (n > 1) {
    const names = [...(local.hit !== undefined ? [local.label!] : []), ...shared.map((h) => `${h.v.name}/${h.v.entries.get(h.id)!.entry.name} (${h.id.slice(0, 8)}, shared)`)];
    throw usageError(`"${query}" matches ${n} entries: ${names.join(', ')}`, 'name the vault with --vault, or use an id');
  }
  if (local.hit !== undefined) return { local: local.hit };
  if (shared.length === 1) return { shared: shared[0] };
  throw local.error ?? notFound(`no entry named "${query}"`, 'see `kpm list`');
}

/** The own vaults' answer to a lookup: a hit, or (exit 3) nothing there; any other error is thrown. */
export async function localLookup<T>(fn: () => Promise<T>): Promise<{ hit?: T; error?: unknown }> {
  try {
    return { hit: await fn() };
  } catch (e) {
    if (e instanceof KpmError && e.exitCode === EXIT.notFound) return { error: e };
    throw e;
  }
}

/** What `kpm sync` reports per shared vault (`--json`: the `shared` list). */
export interface SharedSyncRow {
  name: string;
  id: string;
  owner: string;
  role: string | undefined;
  epoch: number;
  revision: number;
  entries: number;
}

export const sharedSyncRow = (v: OpenedVault): SharedSyncRow => ({ name: v.name, id: v.id, owner: v.owner, role: v.role, epoch: v.latest.epoch, revision: v.head, entries: [...v.entries.values()].filter((e) => !e.deleted).length });
