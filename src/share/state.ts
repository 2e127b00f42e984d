// This device's sharing state (docs/SHARING.md "Contacts"): contact pins, and per shared vault the
// owner's pinned keys, the highest membership epoch seen and the verified log. Sealed with
// XChaCha20-Poly1305 under a subkey of the account key, bound to the profile: a changed byte is exit 8.
import { join } from 'node:path';
import { decodeUtf8, utf8 } from '../crypto/bytes.js';
import { open, seal, AuthError } from '../crypto/aead.js';
import { readFileOrNull, withLock, writeFileAtomic, ensureDir } from '../core/fsutil.js';
import { KpmError, EXIT } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';
import { concatBytes } from '../crypto/bytes.js';

export interface ContactPin {
  sign: string;
  box: string;
  verified: boolean;
  pinnedAt: string;
  /** fingerprints (hex) of the keys this pin replaced by `kpm contacts accept-change` (src/share/pins.ts) */
  replaces?: string[];
}

export interface VaultPin {
  name: string;
  owner: string;
  ownerSign: string;
  ownerBox: string;
  /** highest membership epoch verified, and the hash of its signed bytes */
  epoch: number;
  epochHash: string;
  /** last verified log revision and chain */
  rev: number;
  chain: string;
  /** the verified records (base64), 1…rev */
  records: string[];
  accepted: boolean;
  /** this account is no longer in the latest membership */
  removed?: boolean;
  /** the signed membership epochs 1…epoch and this account's key bundle (base64), as verified: reads without the server check them again */
  memberships?: string[];
  bundle?: string;
  /** the owner's compaction statement this device accepted (base64; src/share/compact.ts): `records` are its kept records and those after its head */
  compaction?: string;
}

export interface ShareState {
  v: 1;
  contacts: Record<string, ContactPin>;
  vaults: Record<string, VaultPin>;
  /**
   * The account's pin state (src/share/pins.ts, docs/SHARING.md "Contact pins across the account's
   * devices"): the highest version this device saw on the server, SHA-256 of that blob, and of its
   * content (what this device pushes when its own pins differ from it).
   */
  pins?: { version: number; hash: string; content: string };
  /** vault id → the highest membership epoch a device of this account saw (account-level, synced) */
  epochs?: Record<string, { epoch: number; hash: string }>;
  /** vault id → the membership epoch this account left (account-level, synced) */
  left?: Record<string, number>;
  /** vault id → the highest compaction generation a device of this account accepted, SHA-256 of its statement (account-level, synced) */
  generations?: Record<string, { generation: number; hash: string }>;
}

const AAD = utf8.encode('kpm/v1/share/state');
export const shareStateFile = (paths: KpmPaths) => join(paths.data, 'share.kpms');

/** `stateKey`: HKDF(AK, `kpm/v2/account/share-state`) (src/crypto/keys.ts accountShareSecrets). */
export function loadShareState(paths: KpmPaths, stateKey: Uint8Array, profileId: Uint8Array): ShareState {
  const bytes = readFileOrNull(shareStateFile(paths));
  if (!bytes) return { v: 1, contacts: {}, vaults: {} };
  const key = stateKey;
  try {
    const s = JSON.parse(decodeUtf8(open(key, bytes, concatBytes(AAD, profileId)))) as ShareState;
    if (s.v !== 1 || typeof s.contacts !== 'object' || typeof s.vaults !== 'object') throw new AuthError();
    return s;
  } catch {
    throw new KpmError(`${shareStateFile(paths)} (contact pins and shared vaults) is corrupt or was altered`, EXIT.corrupt, 'restore it from a backup, or remove it and pin your contacts again (verify their fingerprints)');
  }
}

export function saveShareState(paths: KpmPaths, stateKey: Uint8Array, profileId: Uint8Array, s: ShareState): void {
  ensureDir(paths.data);
  withLock(paths.data, () => writeFileAtomic(shareStateFile(paths), seal(stateKey, utf8.encode(JSON.stringify(s)), concatBytes(AAD, profileId))));
}
