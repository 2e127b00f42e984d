// The profile keyring: master password → Argon2id → KEK, which unwraps the account key (AK).
import { existsSync } from 'node:fs';
import { argon2id, DEFAULT_KDF, isBelowDefault, SALT_BYTES, type KdfParams } from '../crypto/kdf.js';
import { concatBytes, wipe } from '../crypto/bytes.js';
import { hkdf, LABEL } from '../crypto/keys.js';
import { AuthError, openKey, sealKey } from '../crypto/aead.js';
import { randomBytes } from '../crypto/random.js';
import { AAD, decodeKeyring, encodeKeyring, ID_BYTES, keyringBoundBytes, type KdfSpec, type Keyring } from './format.js';
import { ensureDir, readFileOrNull, withLock, writeFileAtomic } from '../core/fsutil.js';
import { KpmError, EXIT, wrongPassword, usageError } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';

export interface UnlockedProfile {
  profileId: Uint8Array;
  accountKey: Uint8Array;
}

/** Derives the key-encryption key from a password; the intermediate master key is wiped. */
export async function deriveKek(password: Uint8Array, kdf: KdfSpec): Promise<Uint8Array> {
  const mk = await argon2id(password, kdf.salt, kdf.params);
  const kek = hkdf(mk, LABEL.kek);
  wipe(mk);
  return kek;
}

export function noVaultError(): KpmError {
  return new KpmError('no vault here yet', EXIT.notFound, 'run `kpm init` to create one (or set KPM_HOME)');
}

export function readKeyring(paths: KpmPaths): Keyring {
  const file = readFileOrNull(paths.keyring);
  if (!file) throw noVaultError();
  return decodeKeyring(file);
}

function writeKeyring(paths: KpmPaths, kek: Uint8Array, kdf: KdfSpec, profileId: Uint8Array, accountKey: Uint8Array): void {
  const bound = keyringBoundBytes(kdf, profileId);
  const wrapped = sealKey(kek, accountKey, concatBytes(AAD.keyring, bound));
  writeFileAtomic(paths.keyring, encodeKeyring(bound, wrapped));
}

export async function createKeyring(paths: KpmPaths, password: Uint8Array, params: KdfParams = DEFAULT_KDF): Promise<UnlockedProfile> {
  ensureDir(paths.data);
  if (existsSync(paths.keyring)) throw usageError(`a vault already exists in ${paths.data}`, 'use `kpm unlock`, or set KPM_HOME to create another profile');
  const kdf = { params, salt: randomBytes(SALT_BYTES) };
  const profileId = randomBytes(ID_BYTES);
  const accountKey = randomBytes(32);
  const kek = await deriveKek(password, kdf);
  withLock(paths.data, () => {
    if (existsSync(paths.keyring)) throw usageError(`a vault already exists in ${paths.data}`);
    writeKeyring(paths, kek, kdf, profileId, accountKey);
  });
  wipe(kek);
  return { profileId, accountKey };
}

/** The account key a keyring wraps, opened with the master password (exit 5 if it is wrong). */
export async function openAccountKey(kr: Keyring, password: Uint8Array): Promise<Uint8Array> {
  const kek = await deriveKek(password, kr.kdf);
  try {
    return openKey(kek, kr.wrappedKey, concatBytes(AAD.keyring, kr.boundBytes));
  } catch (e) {
    if (e instanceof AuthError) throw wrongPassword();
    throw e;
  } finally {
    wipe(kek);
  }
}

/**
 * Opens the keyring with the master password. A keyring whose KDF parameters are below today's
 * default (but above the floor) is re-wrapped with the default parameters and a fresh salt (R8).
 */
export async function unlockKeyring(paths: KpmPaths, password: Uint8Array): Promise<UnlockedProfile> {
  const kr = readKeyring(paths);
  const accountKey = await openAccountKey(kr, password);
  if (isBelowDefault(kr.kdf.params)) await changeMasterPassword(paths, { profileId: kr.profileId, accountKey }, password, DEFAULT_KDF);
  return { profileId: kr.profileId, accountKey };
}

/** Rewraps the account key under a new password; no entry is touched. */
export async function changeMasterPassword(paths: KpmPaths, profile: UnlockedProfile, newPassword: Uint8Array, params: KdfParams = DEFAULT_KDF): Promise<void> {
  const kdf = { params, salt: randomBytes(SALT_BYTES) };
  const kek = await deriveKek(newPassword, kdf);
  withLock(paths.data, () => writeKeyring(paths, kek, kdf, profile.profileId, profile.accountKey));
  wipe(kek);
}
