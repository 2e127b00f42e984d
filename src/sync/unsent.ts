// What a data vault that is locked here still has to send (src/sync/lockflush.ts sends it before it
// locks): read from its sync state and commit, no key needed. Apart from lockflush.ts so that the
// sync engine can name such a vault without importing the automatic sync (no import cycle).
import { join } from 'node:path';
import type { Session } from '../vault/session.js';
import { readVaultHeader } from '../vault/store.js';
import { loadVaultState } from './state.js';

/** Whether a (locked) data vault holds anything the server lacks: read from its sync state and commit, no key needed. */
export function hasUnsentChanges(dir: string): boolean {
  const s = loadVaultState(dir);
  if (!s) return true; // never synced: the vault itself is not on the server
  let logLength: number, generation: number;
  try {
    ({ logLength, generation } = readVaultHeader(dir).commit);
  } catch {
    return false;
  }
  if (generation !== s.generation) return true;
  return Math.max(s.confirmedUpTo, ...s.confirmedRanges.map(([, b]) => b)) < logLength;
}

/** The sync report of a data vault that is locked here (its id is its folder name). */
export function lockedVaultReport(s: Session, id: string): { id: string; name: string; pulled: 0; pushed: 0; conflicts: []; renamed: []; skipped: string } {
  const name = s.listVaults().find((v) => v.id === id)?.name ?? id;
  const unsent = hasUnsentChanges(join(s.paths.vaults, id));
  const skipped = unsent ? `locked (own password), with changes not yet on the server: \`kpm vault unlock "${name}"\` sends them` : 'locked (own password)';
  return { id, name, pulled: 0, pushed: 0, conflicts: [], renamed: [], skipped };
}
