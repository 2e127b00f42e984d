// Automatic sync (setting `sync` = auto, the default): after changes and on unlock, when the profile
// is signed in and not told to stay offline (--offline or KPM_OFFLINE=1). A failure never fails the
// change that was made: the change is saved and queued, and goes out with the next sync.
import { existsSync } from 'node:fs';
import type { Session } from '../vault/session.js';
import type { KpmPaths } from '../core/paths.js';
import { sessionFile } from './sessionfile.js';
import { conflictText } from './report.js';

export function offline(): boolean {
  return process.env.KPM_OFFLINE === '1';
}

/** Whether an automatic sync should run now (no network is touched to decide). */
export async function autoSyncWanted(paths: KpmPaths): Promise<boolean> {
  if (offline() || !existsSync(sessionFile(paths))) return false;
  const { loadState } = await import('../settings/store.js');
  const { toCoreSettings } = await import('../settings/schema.js');
  try {
    return toCoreSettings((await loadState(paths)).values).sync === 'auto';
  } catch {
    return true;
  }
}

/** Runs a sync; returns a one-line note of what happened or went wrong (never throws). */
export async function autoSync(session: Session): Promise<string | undefined> {
  return (await autoSyncOutcome(session)).note;
}

/** The same, also telling whether it failed (the agent keeps the last failure: src/agent/syncsched.ts). */
export async function autoSyncOutcome(session: Session): Promise<{ note?: string; failed?: string }> {
  try {
    const { syncNow } = await import('./run.js');
    const r = await syncNow(session);
    const pulled = r.vaults.reduce((n, v) => n + v.pulled, 0);
    const pushed = r.vaults.reduce((n, v) => n + v.pushed, 0);
    const conflicts = r.vaults.flatMap((v) => v.conflicts);
    const notes = [...r.warnings, ...conflicts.map((c) => conflictText(c))];
    return { note: pulled || pushed || notes.length ? `synced: ${pushed} sent, ${pulled} received${notes.length ? `; ${notes.join('; ')}` : ''}` : undefined };
  } catch (e) {
    const { KpmError, EXIT } = await import('../core/errors.js');
    const message = (e as Error).message.split('\n')[0];
    if (e instanceof KpmError && e.exitCode === EXIT.network) return { note: `not synced (offline?): changes are kept and sent with the next sync`, failed: `not synced (network: ${message}); the changes are kept and sent with the next sync` };
    return { note: `sync failed: ${message}`, failed: message };
  }
}
