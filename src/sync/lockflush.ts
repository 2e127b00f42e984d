// Data vaults with their own password and sync: only their key can seal what goes to the server
// (envelope MAC, manifest), and a locked vault's key is not on this device. So changes made in a
// data vault are sent before it locks (`kpm vault lock`, its idle timeout, `kpm lock`), and a vault
// unlocked again syncs at once (setting sync=auto, signed in). A sync that finds a data vault locked
// with changes the server lacks says so, instead of skipping it silently.
import type { Session } from '../vault/session.js';
export { hasUnsentChanges, lockedVaultReport } from './unsent.js';

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
