// What sync needs of the server (src/sync/run.ts over HTTP; test/helpers/sync.ts in process).
// On its own so that vaultsync.ts and blobsync.ts both import it, not each other.
import type { PullResultT, SyncStateT } from '../protocol/schemas.js';

export interface SyncTransport {
  state(): Promise<SyncStateT>;
  putKeyring(expectedEpoch: number, epoch: number, body: string): Promise<void>;
  putVault(id: string, expectedEpoch: number, epoch: number, body: string): Promise<void>;
  pull(id: string, after: number): Promise<PullResultT>;
  /** `generation`: the server log generation `base` counts in */
  push(id: string, base: number, records: string[], manifest: string, generation?: number): Promise<{ head: number }>;
  /** replaces generation `generation` (at head `base`) with `records` as the next generation */
  compact(id: string, generation: number, base: number, records: string[], manifest: string): Promise<{ head: number; generation: number }>;
  blobsHave(ids: string[]): Promise<{ have: string[] }>;
  blobPut(id: string, index: number, data: string, last: boolean): Promise<void>;
  blobGet(id: string, index: number): Promise<{ data: string; last: boolean }>;
}
