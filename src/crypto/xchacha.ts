// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03): HChaCha20 (below) derives the subkey,
// OpenSSL's ChaCha20-Poly1305 (via node:crypto) does the bulk work.
// Internal: takes a nonce from the caller, so only aead.ts and the known-answer tests may import it.
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;

export class AuthError extends Error {
  constructor() {
    super('authentication failed');
  }
}

/**
 * HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2): the subkey of `key` and the first 16 bytes of `nonce`,
 * written to `out` (32 bytes). Twenty rounds on local variables, without the word arrays of a
 * general implementation (it runs once per 64 KiB chunk of a document); the same function as
 * @noble/ciphers' hchacha (test/unit/crypto-native-noble.test.ts, and §2.2.1's vector in
 * test/unit/crypto-vectors.test.ts).
 */
export function hchacha20(key: Uint8Array, nonce: Uint8Array, out: Uint8Array): void {
  const k = (b: Uint8Array, i: number): number => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
  let x0 = 0x61707865, x1 = 0x3320646e, x2 = 0x79622d32, x3 = 0x6b206574;
  let x4 = k(key, 0), x5 = k(key, 4), x6 = k(key, 8), x7 = k(key, 12);
  let x8 = k(key, 16), x9 = k(key, 20), x10 = k(key, 24), x11 = k(key, 28);
  let x12 = k(nonce, 0), x13 = k(nonce, 4), x14 = k(nonce, 8), x15 = k(nonce, 12);
  for (let round = 0; round < 20; round += 2) {
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  const words = [x0, x1, x2, x3, x12, x13, x14, x15];
  for (let i = 0; i < 8; i++) {
    const w = words[i];
    out[4 * i] = w & 0xff;
    out[4 * i + 1] = (w >>> 8) & 0xff;
    out[4 * i + 2] = (w >>> 16) & 0xff;
    out[4 * i + 3] = w >>> 24;
  }
  words.fill(0);
  x0 = x1 = x2 = x3 = x4 = x5 = x6 = x7 = x8 = x9 = x10 = x11 = x12 = x13 = x14 = x15 = 0;
}

// One subkey and one IV buffer for every call: each is filled, handed to createCipheriv /
// createDecipheriv (which copy them into the cipher's context) and the subkey wiped, all before
// the call returns.
const SUBKEY = Buffer.alloc(32);
const IV = Buffer.alloc(12);

function subkeyAndNonce(key: Uint8Array, nonce: Uint8Array): [Buffer, Buffer] {
  if (key.length !== 32) throw new RangeError('key must be 32 bytes');
  if (nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 24 bytes');
  hchacha20(key, nonce, SUBKEY);
  IV.set(nonce.subarray(16, 24), 4); // (bytes 0-3 stay zero)
  return [SUBKEY, IV];
}

/** Returns ciphertext ‖ tag. */
export function xchachaEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG_BYTES);
  xchachaEncryptInto(key, nonce, plaintext, aad, out, 0);
  return out;
}

/** Writes ciphertext ‖ tag into `out` at `offset` (one copy, for the bulk path). */
export function xchachaEncryptInto(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, offset: number): void {
  const [subkey, iv] = subkeyAndNonce(key, nonce);
  const cipher = createCipheriv('chacha20-poly1305', subkey, iv, { authTagLength: TAG_BYTES });
  subkey.fill(0);
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  out.set(body, offset);
  const fin = cipher.final();
  out.set(fin, offset + body.length);
  out.set(cipher.getAuthTag(), offset + plaintext.length);
}

/** xchachaEncryptInto of the concatenation of `parts` (nothing concatenated first): ciphertext ‖ tag into `out` at `offset`. */
export function xchachaEncryptPartsInto(key: Uint8Array, nonce: Uint8Array, parts: readonly Uint8Array[], aad: Uint8Array, out: Uint8Array, offset: number): void {
  const [subkey, iv] = subkeyAndNonce(key, nonce);
  const cipher = createCipheriv('chacha20-poly1305', subkey, iv, { authTagLength: TAG_BYTES });
  subkey.fill(0);
  let length = 0;
  for (const p of parts) length += p.length;
  cipher.setAAD(aad, { plaintextLength: length });
  let o = offset;
  for (const p of parts) {
    const body = cipher.update(p);
    out.set(body, o);
    o += body.length;
  }
  const fin = cipher.final();
  out.set(fin, o);
  out.set(cipher.getAuthTag(), offset + length);
}

/** Takes ciphertext ‖ tag; throws AuthError on any mismatch. */
export function xchachaDecrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  if (sealed.length < TAG_BYTES) throw new AuthError();
  const [subkey, iv] = subkeyAndNonce(key, nonce);
  const decipher = createDecipheriv('chacha20-poly1305', subkey, iv, { authTagLength: TAG_BYTES });
  subkey.fill(0);
  const ctLength = sealed.length - TAG_BYTES;
  decipher.setAAD(aad, { plaintextLength: ctLength });
  decipher.setAuthTag(sealed.subarray(ctLength));
  const body = decipher.update(sealed.subarray(0, ctLength));
  try {
    decipher.final();
  } catch {
    body.fill(0);
    throw new AuthError();
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}
