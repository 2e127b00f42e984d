import { describe, expect, it } from 'vitest';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { seal, open, AuthError } from '../../src/crypto/aead.js';
import { xchachaEncrypt, xchachaDecrypt } from '../../src/crypto/xchacha.js';
import { randomBytes } from '../../src/crypto/random.js';
import { toHex } from '../../src/crypto/bytes.js';

describe('XChaCha20-Poly1305 (native-backed) agrees with @noble/ciphers', () => {
  it('matches noble on random inputs of many lengths', () => {
    for (let len = 0; len < 300; len += 7) {
      const key = randomBytes(32), nonce = randomBytes(24), pt = randomBytes(len), aad = randomBytes(len % 40);
      const ours = xchachaEncrypt(key, nonce, pt, aad);
      const theirs = xchacha20poly1305(key, nonce, aad).encrypt(pt);
      expect(toHex(ours)).toBe(toHex(theirs));
      expect(toHex(xchachaDecrypt(key, nonce, ours, aad))).toBe(toHex(pt));
    }
  });
});

describe('seal/open (R5)', () => {
  it('round-trips and rejects any change of ciphertext or associated data', () => {
    const key = randomBytes(32);
    const aad = new Uint8Array([1, 2, 3]);
    const s = seal(key, new TextEncoder().encode('secret'), aad);
    expect(new TextDecoder().decode(open(key, s, aad))).toBe('secret');
    for (let i = 0; i < s.length; i++) {
      const t = s.slice();
      t[i] ^= 1;
      expect(() => open(key, t, aad)).toThrow(AuthError);
    }
    expect(() => open(key, s, new Uint8Array([1, 2, 4]))).toThrow(AuthError);
    expect(() => open(key, s.subarray(0, 39), aad)).toThrow(AuthError);
  });

  it('R5: same plaintext sealed twice differs; 1e6 nonces are distinct', () => {
    const key = randomBytes(32), pt = new Uint8Array(8);
    expect(toHex(seal(key, pt, pt))).not.toBe(toHex(seal(key, pt, pt)));
    const seen = new Set<string>();
    const empty = new Uint8Array(0);
    for (let i = 0; i < 1_000_000; i++) seen.add(Buffer.from(seal(key, empty, empty).subarray(0, 24)).toString('latin1'));
    expect(seen.size).toBe(1_000_000);
  });

  it('R5: seal takes no nonce argument', () => {
    expect(seal.length).toBe(3);
  });
});
