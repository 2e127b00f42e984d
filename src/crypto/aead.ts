// The public AEAD: XChaCha20-Poly1305 with a fresh random 192-bit nonce on every call.
// No function here accepts a nonce from the caller (SECURITY-REQUIREMENTS R5).
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from './random.js';
import { NONCE_BYTES, TAG_BYTES, xchachaDecrypt, xchachaEncryptInto, xchachaEncryptPartsInto, AuthError } from './xchacha.js';

export { AuthError };
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** nonce ‖ ciphertext ‖ tag */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const out = new Uint8Array(NONCE_BYTES + plaintext.length + TAG_BYTES);
  sealInto(key, plaintext, aad, out, 0);
  return out;
}

/**
 * seal() into `out` at `offset` (nonce ‖ ciphertext ‖ tag, SEAL_OVERHEAD + plaintext bytes, the
 * count returned), for bulk data that should not cost an allocation per chunk. The nonce is drawn
 * here as in seal(): no caller gives one (R5).
 */
export function sealInto(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, offset: number): number {
  const nonce = out.subarray(offset, offset + NONCE_BYTES);
  nonce.set(randomBytes(NONCE_BYTES));
  xchachaEncryptInto(key, nonce, plaintext, aad, out, offset + NONCE_BYTES);
  return SEAL_OVERHEAD + plaintext.length;
}

/**
 * `prefix` ‖ seal(key, concatenation of `parts`, aad), in one buffer: for a large plaintext in pieces
 * (the token cache: its state and the log), sealed without concatenating them first. The nonce is
 * drawn here as in seal() (R5).
 */
export function sealParts(key: Uint8Array, prefix: Uint8Array, parts: readonly Uint8Array[], aad: Uint8Array): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(prefix.length + SEAL_OVERHEAD + length);
  out.set(prefix, 0);
  const nonce = out.subarray(prefix.length, prefix.length + NONCE_BYTES);
  nonce.set(randomBytes(NONCE_BYTES));
  xchachaEncryptPartsInto(key, nonce, parts, aad, out, prefix.length + NONCE_BYTES);
  return out;
}

export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  if (sealed.length < SEAL_OVERHEAD) throw new AuthError();
  return xchachaDecrypt(key, sealed.subarray(0, NONCE_BYTES), sealed.subarray(NONCE_BYTES), aad);
}

/**
 * Sealing and opening of key material (32-byte keys). Pure JS (@noble/ciphers), so no copy of the
 * key lingers in native buffers that JavaScript cannot wipe (R39); speed is irrelevant at 32 bytes.
 */
export function sealKey(kek: Uint8Array, key: Uint8Array, aad: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const body = xchacha20poly1305(kek, nonce, aad).encrypt(key);
  const out = new Uint8Array(NONCE_BYTES + body.length);
  out.set(nonce, 0);
  out.set(body, NONCE_BYTES);
  return out;
}

export function openKey(kek: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  if (sealed.length < SEAL_OVERHEAD) throw new AuthError();
  let plain: Uint8Array;
  try {
    plain = xchacha20poly1305(kek, sealed.subarray(0, NONCE_BYTES), aad).decrypt(sealed.subarray(NONCE_BYTES));
  } catch {
    throw new AuthError();
  }
  return offHeapCopy(plain);
}

/**
 * Small typed arrays live inside the V8 heap, where the garbage collector may copy them and leave
 * the old bytes behind. Keys are moved into a buffer of their own (allocated outside the heap) at
 * once, and the heap copy is wiped, so that `wipe()` later really removes the key.
 */
export function offHeapCopy(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  bytes.fill(0);
  return out;
}
