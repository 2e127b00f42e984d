// Which vault an account holds, compared with this device's, before anything else of a sync or a
// sign-in: a device that made its own vault (`kpm init`) and signs in to an account that already
// holds another profile's vault is a conflict (exit 7, `kpm login --merge`), not tampering — every
// envelope of that account belongs to the other profile, and the server did nothing wrong.
import { bytesEqual, fromBase64 } from '../crypto/bytes.js';
import { decodeKeyring } from '../vault/format.js';
import { KpmError, EXIT } from '../core/errors.js';
import type { SyncStateT } from '../protocol/schemas.js';
import { parseKeyringEnvelope } from './envelope.js';

export const MERGE_HINT = "`kpm login --merge` brings this device's entries into the account's vaults (it asks this device's master password, then the account's); or use another KPM_HOME for this account";

export function ownVaultConflict(): KpmError {
  return new KpmError('this device has its own vault, and the account already holds another one (made on another device, with its own master password): they cannot sync together', EXIT.conflict, MERGE_HINT);
}

/** The profile id of the account's keyring on the server; undefined if none, or if it does not parse (the keyring checks then say exit 8). */
export function accountProfileId(st: Pick<SyncStateT, 'keyring'>): Uint8Array | undefined {
  if (!st.keyring) return undefined;
  try {
    return decodeKeyring(parseKeyringEnvelope(fromBase64(st.keyring.body)).keyring).profileId;
  } catch {
    return undefined;
  }
}

/** Exit 7 when the account holds another profile's vault than this device's. */
export function checkSameProfile(st: Pick<SyncStateT, 'keyring'>, localProfileId: Uint8Array): void {
  const id = accountProfileId(st);
  if (id && !bytesEqual(id, localProfileId)) throw ownVaultConflict();
}
