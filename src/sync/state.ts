// What a device remembers between syncs, 0600 in its data folder:
//  - data/sync/profile.json: the account this profile syncs with and the keyring epoch it last saw
//    (a lower one from the server is a rollback), and, for good, the id and deletion epoch of every
//    vault removed here or seen removed (one that comes back from the server is a rollback, exit 8);
//  - data/sync/keyring.env: on a new device, the keyring envelope downloaded at login, until the
//    master password opens it;
//  - data/vaults/<id>/sync.json: per vault, the server revision and hash chain verified so far, the
//    envelope epoch, and which local log records the server already has.
import { join } from 'node:path';
import { ensureDir, readFileOrNull, writeFileAtomic } from '../core/fsutil.js';
import { corrupt } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';

export interface ProfileSyncState {
  v: 1;
  accountId: string;
  keyringEpoch: number;
  /** SHA-256 (hex) of keyring.kpm as last synced: a different local file means a local change */
  keyringHash: string;
  /** vaults removed on this device: their deletion envelopes (base64) still to be sent */
  removed: Record<string, string>;
  /** every vault removed on this device or seen deleted on the server: id → deletion epoch; never forgotten */
  gone?: Record<string, number>;
}

export interface VaultSyncState {
  v: 1;
  revision: number;
  chain: string;
  epoch: number;
  envelopeHash: string;
  keyPartHash: string;
  /** the local log generation the offsets below refer to */
  generation: number;
  /** every local record before this offset is on the server */
  confirmedUpTo: number;
  /** and so are these byte ranges after it */
  confirmedRanges: [number, number][];
  /** manifest time of the revision (the pushing device's clock), ms */
  time: number;
  /** the server log generation `revision` and `chain` count in (absent: 1, before any compaction) */
  serverGeneration?: number;
  /** a purge or history cut went to (or came from) the server in this generation: compact the server's log */
  serverPurge?: boolean;
  /** written just before a log rewrite, for the case the rewrite commits and this file does not */
  next?: { generation: number; confirmedUpTo: number };
}

const syncDir = (paths: KpmPaths) => join(paths.data, 'sync');
const profileFile = (paths: KpmPaths) => join(syncDir(paths), 'profile.json');
export const keyringEnvelopeFile = (paths: KpmPaths) => join(syncDir(paths), 'keyring.env');
const vaultFile = (dir: string) => join(dir, 'sync.json');

function readJson<T>(path: string): T | null {
  const b = readFileOrNull(path);
  if (!b) return null;
  try {
    return JSON.parse(Buffer.from(b).toString('utf8')) as T;
  } catch {
    throw corrupt(`${path} is corrupt`);
  }
}

const writeJson = (path: string, value: unknown) => writeFileAtomic(path, Buffer.from(JSON.stringify(value)));

export function loadProfileState(paths: KpmPaths): ProfileSyncState | null {
  return readJson<ProfileSyncState>(profileFile(paths));
}

export function saveProfileState(paths: KpmPaths, s: ProfileSyncState): void {
  ensureDir(syncDir(paths));
  writeJson(profileFile(paths), s);
}

export function loadKeyringEnvelope(paths: KpmPaths): Uint8Array | null {
  return readFileOrNull(keyringEnvelopeFile(paths));
}

export function saveKeyringEnvelope(paths: KpmPaths, bytes: Uint8Array): void {
  ensureDir(syncDir(paths));
  writeFileAtomic(keyringEnvelopeFile(paths), bytes);
}

export function loadVaultState(dir: string): VaultSyncState | null {
  return readJson<VaultSyncState>(vaultFile(dir));
}

export function saveVaultState(dir: string, s: VaultSyncState): void {
  writeJson(vaultFile(dir), s);
}
