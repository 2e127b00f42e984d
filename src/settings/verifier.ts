// The settings password is stored only as an Argon2id verifier, in a PHC-like string:
//   $argon2id$v=19$m=65536,t=3,p=4$<salt, base64>$<verifier, base64>
// The last field is not the Argon2id output A itself but HKDF(A, "kpm/v1/settings-verifier"): A is
// the root of the keys that authenticate the settings (below), so it must never be written down.
import { timingSafeEqual } from 'node:crypto';
import { argon2id, checkKdfParams, DEFAULT_KDF, KdfParamsError, SALT_BYTES, type KdfParams } from '../crypto/kdf.js';
import { hkdf } from '../crypto/keys.js';
import { fromBase64, toBase64, utf8, wipe } from '../crypto/bytes.js';
import { randomBytes } from '../crypto/random.js';

export const SETTINGS_LABEL = {
  verifier: 'kpm/v1/settings-verifier',
  /** the MAC over the canonical settings (SECURITY-REQUIREMENTS §3 key hierarchy) */
  mac: 'kpm/v1/settings-mac',
  /** wraps the Ed25519 signing key that lets readers check the settings without the password */
  signingKeyWrap: 'kpm/v1/settings-signing-key',
} as const;

/** The keys one correct settings password yields. The caller wipes them. */
export interface SettingsKeys {
  macKey: Uint8Array;
  wrapKey: Uint8Array;
}

export interface ParsedVerifier {
  params: KdfParams;
  salt: Uint8Array;
  hash: Uint8Array;
}

export class VerifierFormatError extends Error {}

const PHC = /^\$argon2id\$v=19\$m=(\d{1,10}),t=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

export function parseVerifier(phc: string): ParsedVerifier {
  const m = PHC.exec(phc);
  if (!m) throw new VerifierFormatError('the settings password verifier is malformed');
  const params = { m: Number(m[1]), t: Number(m[2]), p: Number(m[3]) };
  const salt = fromBase64(m[4]);
  const hash = fromBase64(m[5]);
  try {
    checkKdfParams(params, salt.length); // refuses parameters below the floor (a downgrade) or above the cap
  } catch (e) {
    if (e instanceof KdfParamsError) throw new VerifierFormatError(`the settings password verifier: ${e.message}`);
    throw e;
  }
  if (hash.length !== 32) throw new VerifierFormatError('the settings password verifier has the wrong length');
  return { params, salt, hash };
}

function formatVerifier(params: KdfParams, salt: Uint8Array, hash: Uint8Array): string {
  return `$argon2id$v=19$m=${params.m},t=${params.t},p=${params.p}$${toBase64(salt)}$${toBase64(hash)}`;
}

async function derive(password: string, salt: Uint8Array, params: KdfParams): Promise<{ hash: Uint8Array; keys: SettingsKeys }> {
  const pw = utf8.encode(password.normalize('NFKC'));
  let root: Uint8Array | undefined;
  try {
    root = await argon2id(pw, salt, params);
    return {
      hash: hkdf(root, SETTINGS_LABEL.verifier),
      keys: { macKey: hkdf(root, SETTINGS_LABEL.mac), wrapKey: hkdf(root, SETTINGS_LABEL.signingKeyWrap) },
    };
  } finally {
    wipe(pw, root);
  }
}

/** A new verifier (fresh 16-byte salt, default parameters: 64 MiB, t=3, p=4) and the keys. */
export async function createVerifier(password: string, params: KdfParams = DEFAULT_KDF): Promise<{ phc: string; keys: SettingsKeys }> {
  const salt = randomBytes(SALT_BYTES);
  const { hash, keys } = await derive(password, salt, params);
  return { phc: formatVerifier(params, salt, hash), keys };
}

/** The keys if `password` matches the verifier, else null. The comparison is constant-time. */
export async function checkVerifier(phc: string, password: string): Promise<SettingsKeys | null> {
  const v = parseVerifier(phc);
  const { hash, keys } = await derive(password, v.salt, v.params);
  const ok = timingSafeEqual(hash, v.hash);
  wipe(hash);
  if (ok) return keys;
  wipe(keys.macKey, keys.wrapKey);
  return null;
}
