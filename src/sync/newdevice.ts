// A new device: `kpm login` downloads the account's keyring envelope (data/sync/keyring.env); the
// first unlock opens it with the master password, checks its signature with the public key of the account key it unwraps,
// and only then installs it as this device's keyring. A wrong password, or an envelope the server
// altered, writes nothing (R12).
import { existsSync, rmSync } from 'node:fs';
import { toHex, wipe } from '../crypto/bytes.js';
import { sha256 } from '../crypto/keys.js';
import { accountPublicKey } from '../crypto/sign.js';
import { decodeKeyring } from '../vault/format.js';
import { openAccountKey } from '../vault/keyring.js';
import { KpmError } from '../core/errors.js';
import { withLock, writeFileAtomic } from '../core/fsutil.js';
import type { KpmPaths } from '../core/paths.js';
import { keyringEnvelopeFile, loadKeyringEnvelope, saveProfileState } from './state.js';
import { parseKeyringEnvelope, tampered, verifyKeyringEnvelope } from './envelope.js';

/** True when this device has no keyring yet but one was downloaded at login. */
export function hasDownloadedKeyring(paths: KpmPaths): boolean {
  return !existsSync(paths.keyring) && existsSync(keyringEnvelopeFile(paths));
}

export async function installDownloadedKeyring(paths: KpmPaths, password: Uint8Array, accountId: string): Promise<void> {
  const bytes = loadKeyringEnvelope(paths);
  if (!bytes) throw new KpmError('no downloaded keyring', 3);
  const env = parseKeyringEnvelope(bytes);
  let kr;
  try {
    kr = decodeKeyring(env.keyring); // KDF parameters range-checked before any derivation (R11)
  } catch (e) {
    if (e instanceof KpmError) throw tampered(`the downloaded keyring is unusable (${e.message})`);
    throw e;
  }
  const ak = await openAccountKey(kr, password);
  try {
    verifyKeyringEnvelope(accountPublicKey(ak), bytes);
  } finally {
    wipe(ak);
  }
  withLock(paths.data, () => {
    if (existsSync(paths.keyring)) return;
    writeFileAtomic(paths.keyring, env.keyring);
    saveProfileState(paths, { v: 1, accountId, keyringEpoch: env.epoch, keyringHash: toHex(sha256(env.keyring)), removed: {}, gone: {} });
  });
  rmSync(keyringEnvelopeFile(paths), { force: true });
}
