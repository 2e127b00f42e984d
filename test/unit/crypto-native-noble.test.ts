// The bulk path (native ChaCha20-Poly1305 from node:crypto after an HChaCha20 subkey; the document
// blob stream) against @noble/ciphers' pure-JS XChaCha20-Poly1305, on seeded inputs: the same bytes
// out, so the on-disk format does not depend on which implementation wrote it.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { hchacha, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { seal, open, SEAL_OVERHEAD } from '../../src/crypto/aead.js';
import { hchacha20, xchachaEncrypt, xchachaDecrypt } from '../../src/crypto/xchacha.js';
import { toBase64, toHex, utf8 } from '../../src/crypto/bytes.js';
import { CHUNK_SIZE, HEADER_BYTES, SEALED_CHUNK_BYTES, blobHeader, decryptBytes, encryptStream, type StoredFile } from '../../src/vault/blobs.js';

/** Deterministic bytes: SHA-256 in counter mode over a seed string. */
function seeded(seed: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, c = 0; i < n; c++) {
    const block = createHash('sha256').update(`${seed}/${c}`).digest();
    out.set(block.subarray(0, Math.min(32, n - i)), i);
    i += 32;
  }
  return out;
}

/** The chunk AAD as docs/FORMAT.md defines it: "kpm/v1/blob" ‖ blob id ‖ index u64 BE ‖ final u8. */
function chunkAad(blobId: Uint8Array, index: number, final: boolean): Uint8Array {
  const b = Buffer.alloc(11 + 16 + 8 + 1);
  b.set(utf8.encode('kpm/v1/blob'), 0);
  b.set(blobId, 11);
  b.writeBigUInt64BE(BigInt(index), 27);
  b[35] = final ? 1 : 0;
  return b;
}

describe('native XChaCha20-Poly1305 equals @noble/ciphers on seeded inputs', () => {
  const lengths = [0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 1000, 4095, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7];
  it.each(lengths)('%i bytes: same ciphertext and tag, and each opens the other', (len) => {
    for (let s = 0; s < 4; s++) {
      const seed = `x/${len}/${s}`;
      const key = seeded(`${seed}/key`, 32), nonce = seeded(`${seed}/nonce`, 24), pt = seeded(`${seed}/pt`, len), aad = seeded(`${seed}/aad`, (len + s) % 50);
      const native = xchachaEncrypt(key, nonce, pt, aad);
      const noble = xchacha20poly1305(key, nonce, aad).encrypt(pt);
      expect(toHex(native)).toBe(toHex(noble));
      expect(toHex(xchachaDecrypt(key, nonce, noble, aad))).toBe(toHex(pt));
      expect(toHex(xchacha20poly1305(key, nonce, aad).decrypt(native))).toBe(toHex(pt));
    }
  });

  it('seal() is nonce ‖ the noble ciphertext under that nonce, and open() reads it', () => {
    for (let n = 0; n < 64; n++) {
      const key = seeded(`seal/${n}/key`, 32), pt = seeded(`seal/${n}/pt`, n * 97), aad = seeded(`seal/${n}/aad`, n % 37);
      const sealed = seal(key, pt, aad);
      expect(sealed.length).toBe(pt.length + SEAL_OVERHEAD);
      expect(toHex(sealed.subarray(24))).toBe(toHex(xchacha20poly1305(key, sealed.subarray(0, 24), aad).encrypt(pt)));
      expect(toHex(open(key, sealed, aad))).toBe(toHex(pt));
    }
  });
});

/** Sizes around 2 MiB boundaries too (any batching of chunks must not change the bytes). */
const MIB2 = 32 * CHUNK_SIZE;

describe('the blob stream equals chunk-by-chunk sealing with @noble/ciphers', () => {
  const sizes = [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, MIB2 - 1, MIB2, MIB2 + 1, 2 * MIB2 + 3 * CHUNK_SIZE + 5];
  it.each(sizes)('%i bytes, read in odd-sized pieces', (n) => {
    const key = seeded(`blob/${n}/key`, 32), blobId = seeded(`blob/${n}/id`, 16), plain = seeded(`blob/${n}/pt`, n);
    const parts: Uint8Array[] = [];
    let pos = 0;
    const { size } = encryptStream(key, blobId, (buf) => {
      const k = Math.min(buf.length, plain.length - pos, 40_000); // short reads, like a pipe
      buf.set(plain.subarray(pos, pos + k));
      pos += k;
      return k;
    }, (b) => parts.push(Uint8Array.from(b)));
    const blob = Buffer.concat(parts);
    expect(size).toBe(n);
    expect(toHex(blob.subarray(0, HEADER_BYTES))).toBe(toHex(blobHeader(blobId)));
    const chunks = Math.max(1, Math.ceil(n / CHUNK_SIZE));
    expect(blob.length).toBe(HEADER_BYTES + n + chunks * SEAL_OVERHEAD);
    for (let i = 0; i < chunks; i++) {
      const at = HEADER_BYTES + i * SEALED_CHUNK_BYTES;
      const sealed = blob.subarray(at, Math.min(blob.length, at + SEALED_CHUNK_BYTES));
      const nonce = sealed.subarray(0, 24);
      const want = xchacha20poly1305(key, nonce, chunkAad(blobId, i, i === chunks - 1)).encrypt(plain.subarray(i * CHUNK_SIZE, Math.min(n, (i + 1) * CHUNK_SIZE)));
      expect(toHex(sealed.subarray(24)), `chunk ${i}`).toBe(toHex(want));
    }
    const file: StoredFile = { blob: toHex(blobId), key: toBase64(key), name: 'f.bin', type: 'application/octet-stream', size: n };
    expect(Buffer.from(decryptBytes(file, blob)).equals(Buffer.from(plain))).toBe(true);
  });

  it('a blob sealed chunk by chunk with @noble/ciphers decrypts through decryptStream', () => {
    const n = MIB2 + 2 * CHUNK_SIZE + 11;
    const key = seeded('noble/key', 32), blobId = seeded('noble/id', 16), plain = seeded('noble/pt', n);
    const chunks = Math.ceil(n / CHUNK_SIZE);
    const parts: Uint8Array[] = [blobHeader(blobId)];
    for (let i = 0; i < chunks; i++) {
      const nonce = seeded(`noble/nonce/${i}`, 24);
      parts.push(nonce, xchacha20poly1305(key, nonce, chunkAad(blobId, i, i === chunks - 1)).encrypt(plain.subarray(i * CHUNK_SIZE, Math.min(n, (i + 1) * CHUNK_SIZE))));
    }
    const file: StoredFile = { blob: toHex(blobId), key: toBase64(key), name: 'f.bin', type: 'application/octet-stream', size: n };
    expect(Buffer.from(decryptBytes(file, Buffer.concat(parts))).equals(Buffer.from(plain))).toBe(true);
  });
});

describe('HChaCha20 (the subkey of every native seal) against @noble/ciphers', () => {
  const u32 = (b: Uint8Array) => new Uint32Array(Array.from({ length: b.length / 4 }, (_, i) => Buffer.from(b).readUInt32LE(4 * i)));
  it('the same subkey on 2,000 seeded keys and nonces (including all-zero and all-one bytes)', () => {
    const cases: [Uint8Array, Uint8Array][] = [
      [new Uint8Array(32), new Uint8Array(24)],
      [new Uint8Array(32).fill(0xff), new Uint8Array(24).fill(0xff)],
    ];
    for (let i = 0; i < 2000; i++) cases.push([seeded(`hchacha-key/${i}`, 32), seeded(`hchacha-nonce/${i}`, 24)]);
    for (const [key, nonce] of cases) {
      const ours = new Uint8Array(32);
      hchacha20(key, nonce, ours);
      const words = new Uint32Array(8);
      hchacha(new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]), u32(key), u32(nonce.subarray(0, 16)), words);
      const theirs = Buffer.alloc(32);
      words.forEach((w, j) => theirs.writeUInt32LE(w, 4 * j));
      expect(toHex(ours)).toBe(toHex(theirs));
    }
  });
});
