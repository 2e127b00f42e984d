// R1: known-answer tests for the crypto layer (RFC 9106, RFC 5869, draft-irtf-cfrg-xchacha-03) and,
// when the files are available, every Wycheproof case for XChaCha20-Poly1305, ChaCha20-Poly1305 and
// HKDF-SHA256. Wycheproof files are not committed; see test/vectors/fetch-wycheproof.md.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { fromHex, toHex, utf8 } from '../../src/crypto/bytes.js';
import { argon2id, type KdfParams } from '../../src/crypto/kdf.js';
import { hkdf } from '../../src/crypto/keys.js';
import { AuthError, hchacha20, xchachaDecrypt, xchachaEncrypt } from '../../src/crypto/xchacha.js';

const fill = (length: number, byte: number) => new Uint8Array(length).fill(byte);

describe('R1: Argon2id', () => {
  it('R1: RFC 9106 §5.3 Argon2id test vector (with secret and associated data) via @noble/hashes', () => {
    // RFC 9106 §5.3: password 32×0x01, salt 16×0x02, secret 8×0x03, associated data 12×0x04,
    // m = 32 KiB, t = 3, p = 4, tag length 32, version 0x13.
    const tag = nobleArgon2id(fill(32, 0x01), fill(16, 0x02), {
      m: 32, t: 3, p: 4, dkLen: 32, version: 0x13,
      key: fill(8, 0x03), // the Argon2 "secret" K
      personalization: fill(12, 0x04), // the Argon2 "associated data" X
    });
    expect(toHex(tag)).toBe('0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659');
  });

  // The project's native argon2id() must agree with the pure-JS reference at real parameters.
  const cases: [string, Uint8Array, Uint8Array, KdfParams][] = [
    ['floor m=19456 t=2 p=1', utf8.encode('correct horse battery staple'), fill(16, 0xa5), { m: 19456, t: 2, p: 1 }],
    ['default m=65536 t=3 p=4', utf8.encode('pässwörd – ünïcödé ✓'), fromHex('000102030405060708090a0b0c0d0e0f'), { m: 65536, t: 3, p: 4 }],
    ['m=20000 t=2 p=2, 32-byte salt', fromHex('ff00ff00deadbeef'), fill(32, 0x3c), { m: 20000, t: 2, p: 2 }],
  ];
  it.each(cases)('R1: native argon2id equals @noble/hashes argon2id (%s)', async (_name, password, salt, params) => {
    const ours = await argon2id(password, salt, params);
    const reference = nobleArgon2id(password, salt, { ...params, dkLen: 32, version: 0x13 });
    expect(ours).toHaveLength(32);
    expect(toHex(ours)).toBe(toHex(reference));
  });
});

describe('R1: HKDF-SHA256, RFC 5869 Appendix A', () => {
  // RFC 5869 A.1–A.3 (the SHA-256 cases). Our signature is hkdf(ikm, info, length, salt).
  const range = (from: number, to: number) => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const vectors = [
    {
      name: 'A.1 Test Case 1 (basic)',
      ikm: fill(22, 0x0b), salt: range(0x00, 0x0c), info: range(0xf0, 0xf9), length: 42,
      okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    },
    {
      name: 'A.2 Test Case 2 (longer inputs/outputs)',
      ikm: range(0x00, 0x4f), salt: range(0x60, 0xaf), info: range(0xb0, 0xff), length: 82,
      okm: 'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09'
        + 'da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
    },
    {
      name: 'A.3 Test Case 3 (zero-length salt and info)',
      ikm: fill(22, 0x0b), salt: new Uint8Array(0), info: new Uint8Array(0), length: 42,
      okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    },
  ];
  it.each(vectors)('R1: RFC 5869 $name', ({ ikm, salt, info, length, okm }) => {
    expect(toHex(hkdf(ikm, info, length, salt))).toBe(okm);
  });
  it('R1: RFC 5869 A.3 also holds with the salt argument omitted', () => {
    expect(toHex(hkdf(fill(22, 0x0b), new Uint8Array(0), 42))).toBe(vectors[2].okm);
  });
});

describe('R1: HChaCha20, draft-irtf-cfrg-xchacha-03 §2.2.1', () => {
  it('R1: derives the subkey of the test vector', () => {
    const key = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    const nonce = fromHex('000000090000004a0000000031415927');
    const out = new Uint8Array(32);
    hchacha20(key, nonce, out);
    expect(toHex(out)).toBe('82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
  });
});

describe('R1: XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03 §A.3.1', () => {
  const plaintext = fromHex(
    '4c616469657320616e642047656e746c656d656e206f662074686520636c6173'
    + '73206f66202739393a204966204920636f756c64206f6666657220796f75206f'
    + '6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73'
    + '637265656e20776f756c642062652069742e',
  );
  const aad = fromHex('50515253c0c1c2c3c4c5c6c7');
  const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = fromHex('404142434445464748494a4b4c4d4e4f5051525354555657');
  const ciphertext = 'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb'
    + '731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452'
    + '2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9'
    + '21f9664c97637da9768812f615c68b13b52e';
  const tag = 'c0875924c1c7987947deafd8780acf49';

  it('R1: encrypts to ciphertext ‖ tag and decrypts back', () => {
    expect(new TextDecoder().decode(plaintext)).toMatch(/^Ladies and Gentlemen of the class of '99/);
    const sealed = xchachaEncrypt(key, nonce, plaintext, aad);
    expect(toHex(sealed)).toBe(ciphertext + tag);
    expect(toHex(xchachaDecrypt(key, nonce, sealed, aad))).toBe(toHex(plaintext));
  });

  it('R1: rejects the vector with a flipped tag bit or changed AAD', () => {
    const sealed = fromHex(ciphertext + tag);
    sealed[sealed.length - 1] ^= 0x01;
    expect(() => xchachaDecrypt(key, nonce, sealed, aad)).toThrow(AuthError);
    expect(() => xchachaDecrypt(key, nonce, fromHex(ciphertext + tag), fill(12, 0))).toThrow(AuthError);
  });
});

// ---- Wycheproof (C2SP/wycheproof testvectors_v1) ----

interface AeadCase { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string; flags: string[] }
interface HkdfCase { tcId: number; ikm: string; salt: string; info: string; size: number; okm: string; result: string }
interface VectorFile<T> { algorithm: string; numberOfTests: number; testGroups: { tests: T[] }[] }

/** KPM_WYCHEPROOF_DIR, or undefined (then the Wycheproof tests are skipped). No npm package ships these files. */
const WYCHEPROOF_DIR = process.env.KPM_WYCHEPROOF_DIR || undefined;

function loadWycheproof<T>(file: string, algorithm: string): T[] {
  const path = join(WYCHEPROOF_DIR!, file);
  if (!existsSync(path)) throw new Error(`KPM_WYCHEPROOF_DIR is set but ${path} is missing (see test/vectors/fetch-wycheproof.md)`);
  const data = JSON.parse(readFileSync(path, 'utf8')) as VectorFile<T>;
  expect(data.algorithm).toBe(algorithm);
  const tests = data.testGroups.flatMap((g) => g.tests);
  expect(tests).toHaveLength(data.numberOfTests);
  return tests;
}

/** Runs `attempt`; returns true if it threw. */
function throws(attempt: () => unknown): boolean {
  try {
    attempt();
    return false;
  } catch {
    return true;
  }
}

function nodeChachaDecrypt(key: Uint8Array, iv: Uint8Array, ct: Uint8Array, tag: Uint8Array, aad: Uint8Array): Uint8Array {
  const d = createDecipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 });
  d.setAAD(aad, { plaintextLength: ct.length });
  d.setAuthTag(tag);
  const body = d.update(ct);
  d.final();
  return new Uint8Array(body);
}

function nodeChachaEncrypt(key: Uint8Array, iv: Uint8Array, msg: Uint8Array, aad: Uint8Array): string {
  const c = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: msg.length });
  const body = Buffer.concat([c.update(msg), c.final()]);
  return toHex(body) + toHex(c.getAuthTag());
}

describe('R1: Wycheproof vectors', () => {
  it.skipIf(!WYCHEPROOF_DIR)('R1: xchacha20_poly1305_test.json: valid cases decrypt, invalid ones are rejected', () => {
    const counts = { valid: 0, rejected: 0 };
    for (const t of loadWycheproof<AeadCase>('xchacha20_poly1305_test.json', 'XCHACHA20-POLY1305')) {
      const [key, iv, aad, msg] = [fromHex(t.key), fromHex(t.iv), fromHex(t.aad), fromHex(t.msg)];
      const sealed = fromHex(t.ct + t.tag);
      const label = `tcId ${t.tcId} (${t.flags.join(',')})`;
      if (t.result === 'valid') {
        expect(toHex(xchachaEncrypt(key, iv, msg, aad)), label).toBe(t.ct + t.tag);
        expect(toHex(xchachaDecrypt(key, iv, sealed, aad)), label).toBe(t.msg);
        counts.valid++;
      } else {
        expect(t.result, label).toBe('invalid');
        expect(throws(() => xchachaDecrypt(key, iv, sealed, aad)), label).toBe(true);
        if (iv.length !== 24) expect(throws(() => xchachaEncrypt(key, iv, msg, aad)), label).toBe(true);
        counts.rejected++;
      }
    }
    expect(counts.valid).toBeGreaterThan(200);
    expect(counts.rejected).toBeGreaterThan(0);
  });

  it.skipIf(!WYCHEPROOF_DIR)('R1: chacha20_poly1305_test.json (node:crypto, 12-byte nonces): valid decrypt, invalid rejected', () => {
    const counts = { valid: 0, rejected: 0, invalidNonceSize: 0 };
    for (const t of loadWycheproof<AeadCase>('chacha20_poly1305_test.json', 'CHACHA20-POLY1305')) {
      const [key, iv, aad, msg, ct, tag] = [t.key, t.iv, t.aad, t.msg, t.ct, t.tag].map(fromHex);
      const label = `tcId ${t.tcId} (${t.flags.join(',')})`;
      if (iv.length !== 12) {
        // Only 96-bit nonces are used; every other size must be an invalid case, and must not decrypt.
        expect(t.result, label).toBe('invalid');
        expect(throws(() => nodeChachaDecrypt(key, iv, ct, tag, aad)), label).toBe(true);
        counts.invalidNonceSize++;
      } else if (t.result === 'valid') {
        expect(nodeChachaEncrypt(key, iv, msg, aad), label).toBe(t.ct + t.tag);
        expect(toHex(nodeChachaDecrypt(key, iv, ct, tag, aad)), label).toBe(t.msg);
        counts.valid++;
      } else {
        expect(t.result, label).toBe('invalid');
        expect(throws(() => nodeChachaDecrypt(key, iv, ct, tag, aad)), label).toBe(true);
        counts.rejected++;
      }
    }
    expect(counts.valid).toBeGreaterThan(200);
    expect(counts.rejected + counts.invalidNonceSize).toBeGreaterThan(0);
  });

  it.skipIf(!WYCHEPROOF_DIR)('R1: hkdf_sha256_test.json: valid cases match, invalid sizes are refused', () => {
    const counts = { valid: 0, rejected: 0 };
    for (const t of loadWycheproof<HkdfCase>('hkdf_sha256_test.json', 'HKDF-SHA-256')) {
      const label = `tcId ${t.tcId}`;
      if (t.result === 'valid') {
        expect(toHex(hkdf(fromHex(t.ikm), fromHex(t.info), t.size, fromHex(t.salt))), label).toBe(t.okm);
        counts.valid++;
      } else {
        expect(t.result, label).toBe('invalid');
        expect(throws(() => hkdf(fromHex(t.ikm), fromHex(t.info), t.size, fromHex(t.salt))), label).toBe(true);
        counts.rejected++;
      }
    }
    expect(counts.valid).toBeGreaterThan(50);
  });
});
