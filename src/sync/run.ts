// Runs a sync of an unlocked session with the signed-in account, over HTTP (src/sync/http.ts).
import type { Session } from '../vault/session.js';
import type { PullResultT, SyncStateT } from '../protocol/schemas.js';
import { ApiClient, authedCall, loadSession, notSignedIn } from './http.js';
import { syncProfile, type SyncReport, type SyncTransport } from './engine.js';

export type { SyncReport } from './engine.js';

/** True when this profile is signed in to a server (sync has somewhere to go). */
export function isSignedIn(session: Session): boolean {
  return loadSession(session.paths) !== null;
}

export async function syncNow(session: Session): Promise<SyncReport> {
  const paths = session.paths;
  const stored = loadSession(paths);
  if (!stored) throw notSignedIn();
  const api = new ApiClient(stored.server, stored.insecure === true);
  const call = <T>(name: Parameters<typeof authedCall>[3], o: { body?: unknown; params?: Record<string, string> } = {}) => authedCall<T>(paths, api, stored, name, o);
  const t: SyncTransport = {
    state: () => call<SyncStateT>('syncState'),
    putKeyring: async (expectedEpoch, epoch, body) => void (await call('syncKeyring', { body: { expectedEpoch, epoch, body } })),
    putVault: async (id, expectedEpoch, epoch, body) => void (await call('syncVault', { params: { id }, body: { expectedEpoch, epoch, body } })),
    pull: (id, after) => call<PullResultT>('syncPull', { params: { id }, body: { after } }),
    push: (id, base, records, manifest, generation) => call<{ head: number }>('syncPush', { params: { id }, body: { base, records, manifest, generation } }),
    compact: (id, generation, base, records, manifest) => call<{ head: number; generation: number }>('syncCompact', { params: { id }, body: { generation, base, records, manifest } }),
    blobsHave: (ids) => call<{ have: string[] }>('syncBlobsHave', { body: { ids } }),
    blobPut: async (id, index, data, last) => void (await call('syncBlobPut', { params: { id }, body: { index, data, last } })),
    blobGet: (id, index) => call<{ data: string; last: boolean }>('syncBlobGet', { params: { id }, body: { index } }),
  };
  try {
    const retention = await (await import('../settings/retention.js')).loadRetention(paths);
    const report = await syncProfile(session, t, stored.account.id, retention);
    (await import('./mergebackup.js')).removeSyncedMergeBackups(paths); // `kpm login --merge`: its backup, once the merge is on the server
    return report;
  } finally {
    await api.close();
  }
}
