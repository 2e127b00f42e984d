// Data vaults with their own password and sync: only their key can seal what goes to the server
// (envelope MAC, manifest), and a locked vault's key is not on this device. So changes made in a
// data vault are sent before it locks (`kpm vault lock`, its idle timeout, `kpm lock`), and a vault
// unlocked again syncs at once (setting sync=auto, signed in). A sync that finds a data vault locked
// with changes the server lacks says so, instead of skipping it silently.
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

/** Before data vaults lock: an automatic sync (when wanted) sends what only their key can seal. Never throws. */
export async function syncBeforeLock(s: Session): Promise<string | undefined> {
  if (!s.listVaults().some((v) => v.ownPassword && !v.locked)) return undefined;
  const { autoSync, autoSyncWanted } = await import('./auto.js');
  if (!(await autoSyncWanted(s.paths))) return undefined;
  return autoSync(s);
}

/** After a data vault is unlocked: an automatic sync (when wanted) sends and fetches what waited while it was locked. */
export async function syncAfterUnlock(s: Session): Promise<void> {
  const { autoSync, autoSyncWanted } = await import('./auto.js');
  if (await autoSyncWanted(s.paths)) await autoSync(s);
}
