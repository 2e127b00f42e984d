// Ed25519 through node:crypto (no extra dependency). Keys cross into OpenSSL only as DER buffers
// that are wiped right after use; the private key exists only in the short-lived CLI process that
// changes the settings, never in the agent.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { concatBytes, fromHex } from './bytes.js';
import { offHeapCopy } from './aead.js';

const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420'); // followed by the 32-byte seed
const SPKI_PREFIX = fromHex('302a300506032b6570032100'); // followed by the 32-byte public key

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

function privateKeyObject(seed: Uint8Array): KeyObject {
  const der = Buffer.from(concatBytes(PKCS8_PREFIX, seed));
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const spki = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
}

/** A fresh key pair: the 32-byte seed (off the V8 heap, for wiping) and the raw public key. */
export function generateSigningKey(): { seed: Uint8Array; publicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = offHeapCopy(new Uint8Array(der.subarray(PKCS8_PREFIX.length)));
  der.fill(0);
  return { seed, publicKey: rawPublicKey(publicKey) };
}

export function publicKeyOf(seed: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(privateKeyObject(seed)));
}

export function signBytes(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKeyObject(seed)));
}

export function verifyBytes(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    const key = createPublicKey({ key: Buffer.from(concatBytes(SPKI_PREFIX, publicKey)), format: 'der', type: 'spki' });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}
