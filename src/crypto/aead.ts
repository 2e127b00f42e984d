// The public AEAD: XChaCha20-Poly1305 with a fresh random 192-bit nonce on every call.
// No function here accepts a nonce from the caller (SECURITY-REQUIREMENTS R5).
import { randomBytes } from './random.js';
import { NONCE_BYTES, TAG_BYTES, xchachaDecrypt, xchachaEncrypt, AuthError } from './xchacha.js';

export { AuthError };
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** nonce ‖ ciphertext ‖ tag */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const body = xchachaEncrypt(key, nonce, plaintext, aad);
  const out = new Uint8Array(NONCE_BYTES + body.length);
  out.set(nonce, 0);
  out.set(body, NONCE_BYTES);
  return out;
}

export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  if (sealed.length < SEAL_OVERHEAD) throw new AuthError();
  return xchachaDecrypt(key, sealed.subarray(0, NONCE_BYTES), sealed.subarray(NONCE_BYTES), aad);
}
