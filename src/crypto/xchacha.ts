// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03): HChaCha20 from @noble/ciphers derives the subkey,
// OpenSSL's ChaCha20-Poly1305 (via node:crypto) does the bulk work.
// Internal: takes a nonce from the caller, so only aead.ts and the known-answer tests may import it.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { hchacha } from '@noble/ciphers/chacha.js';

export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

export class AuthError extends Error {
  constructor() {
    super('authentication failed');
  }
}

function u32le(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

function subkeyAndNonce(key: Uint8Array, nonce: Uint8Array): [Buffer, Buffer] {
  if (key.length !== 32) throw new RangeError('key must be 32 bytes');
  if (nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 24 bytes');
  const out32 = new Uint32Array(8);
  hchacha(SIGMA, u32le(key), u32le(nonce.subarray(0, 16)), out32);
  const subkey = Buffer.alloc(32);
  for (let i = 0; i < 8; i++) subkey.writeUInt32LE(out32[i], i * 4);
  out32.fill(0);
  const iv = Buffer.alloc(12);
  iv.set(nonce.subarray(16, 24), 4);
  return [subkey, iv];
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
