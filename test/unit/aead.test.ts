import { describe, expect, it, vi } from 'vitest';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { seal, sealInto, open, AuthError, SEAL_OVERHEAD } from '../../src/crypto/aead.js';
import { xchachaEncrypt, xchachaDecrypt } from '../../src/crypto/xchacha.js';
import { randomBytes } from '../../src/crypto/random.js';
import { toHex } from '../../src/crypto/bytes.js';
import { seededBytes } from '../helpers/seeded.js';

// The nonce source, spied: while `recording`, every draw of the CSPRNG is kept (the draws are real).
const spy = vi.hoisted(() => ({ draws: [] as Uint8Array[], recording: false }));
vi.mock('../../src/crypto/random.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/crypto/random.js')>();
  return {
    ...real,
    randomBytes: (n: number) => {
      const b = real.randomBytes(n);
      if (spy.recording) spy.draws.push(b.slice());
      return b;
    },
  };
});

/** How many distinct 24-byte nonces `packed` holds (back to back): sorted on their first 8 bytes, ties compared in full. */
function distinctCount(packed: Uint8Array): number {
  const n = packed.length / 24;
  const view = new DataView(packed.buffer, packed.byteOffset, packed.length);
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = view.getBigUint64(i * 24);
  keys.sort();
  let tied = false;
  for (let i = 1; i < n && !tied; i++) tied = keys[i] === keys[i - 1];
  if (!tied) return n;
  const all = new Set<string>(); // a shared prefix: compare whole nonces
  for (let i = 0; i < n; i++) all.add(Buffer.from(packed.subarray(i * 24, i * 24 + 24)).toString('hex'));
  return all.size;
}

describe('XChaCha20-Poly1305 (native-backed) agrees with @noble/ciphers', () => {
  it('matches noble on random inputs of many lengths', () => {
    const bytes = seededBytes('aead-vs-noble'); // the same inputs on every run
    for (let len = 0; len < 300; len += 7) {
      const key = bytes(32), nonce = bytes(24), pt = bytes(len), aad = bytes(len % 40);
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
    // Every seal takes its nonce from one fresh 24-byte draw of the CSPRNG (src/crypto/random.ts,
    // spied by the vi.mock above): 10,000 seals, each nonce exactly the bytes its own call drew, all distinct.
    const empty = new Uint8Array(0);
    const sealed = new Uint8Array(24 * 10_000);
    spy.draws.length = 0;
    spy.recording = true;
    const wrong: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const before = spy.draws.length;
      const nonce = seal(key, empty, empty).subarray(0, 24);
      if (spy.draws.length - before !== 1 || !Buffer.from(spy.draws[before]).equals(nonce)) wrong.push(`seal ${i}: ${spy.draws.length - before} draws`);
      sealed.set(nonce, i * 24);
    }
    spy.recording = false;
    expect(wrong).toEqual([]);
    expect(distinctCount(sealed)).toBe(10_000);
    // ... and that source gives 10^6 distinct 24-byte nonces (one 24 MB draw, cut in nonces: one
    // CSPRNG call per nonce costs about 15 s on the CI machine, and seal's per-call draw is checked above).
    expect(distinctCount(randomBytes(24 * 1_000_000))).toBe(1_000_000);
  });

  it('R5: seal takes no nonce argument', () => {
    expect(seal.length).toBe(3);
  });

  it('R5: sealInto (bulk data) takes no nonce either: each call draws its own, as seal does, and opens with open', () => {
    expect(sealInto.length).toBe(5); // key, plaintext, aad, out, offset
    const key = randomBytes(32), pt = new Uint8Array([1, 2, 3]), aad = new Uint8Array([9]);
    const out = new Uint8Array(7 + 2 * (SEAL_OVERHEAD + pt.length));
    spy.draws.length = 0;
    spy.recording = true;
    const n1 = sealInto(key, pt, aad, out, 7);
    const n2 = sealInto(key, pt, aad, out, 7 + n1);
    spy.recording = false;
    expect([n1, n2]).toEqual([SEAL_OVERHEAD + 3, SEAL_OVERHEAD + 3]);
    expect(spy.draws.length).toBe(2);
    expect(Buffer.from(spy.draws[0]).equals(out.subarray(7, 31))).toBe(true);
    expect(Buffer.from(spy.draws[1]).equals(out.subarray(7 + n1, 7 + n1 + 24))).toBe(true);
    expect(Array.from(open(key, out.subarray(7, 7 + n1), aad))).toEqual([1, 2, 3]);
    expect(Array.from(open(key, out.subarray(7 + n1), aad))).toEqual([1, 2, 3]);
  });
});
