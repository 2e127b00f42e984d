// The bulk path (native ChaCha20-Poly1305 from node:crypto, HChaCha20 subkeys, chunks sealed in
// batches into one buffer) against @noble/ciphers' pure-JS XChaCha20-Poly1305, on seeded inputs:
// the same bytes out, so the on-disk format does not depend on which implementation wrote it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sealInto, open, SEAL_OVERHEAD } from '../../src/crypto/aead.js';
import { xchachaEncrypt, xchachaDecrypt } from '../../src/crypto/xchacha.js';
import { toBase64, toHex, utf8 } from '../../src/crypto/bytes.js';
import {
  BATCH_CHUNKS, CHUNK_SIZE, HEADER_BYTES, SEALED_CHUNK_BYTES, blobHeader, decryptBlobToFile, decryptBlobToFileAsync, decryptBytes, encryptFileToBlob, encryptFileToBlobAsync,
  encryptStream, type StoredFile,
} from '../../src/vault/blobs.js';
import { EXIT, KpmError } from '../../src/core/errors.js';

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

  it('sealInto writes nonce ‖ the noble ciphertext under that nonce, at any offset, and open() reads it', () => {
    for (let s = 0; s < 64; s++) {
      const key = seeded(`si/${s}/key`, 32), pt = seeded(`si/${s}/pt`, s * 97), aad = seeded(`si/${s}/aad`, s % 37);
      const offset = (s * 13) % 50;
      const out = new Uint8Array(offset + pt.length + SEAL_OVERHEAD + 9);
      expect(sealInto(key, pt, aad, out, offset)).toBe(pt.length + SEAL_OVERHEAD);
      const sealed = out.subarray(offset, offset + pt.length + SEAL_OVERHEAD);
      const nonce = sealed.subarray(0, 24);
      expect(toHex(sealed.subarray(24))).toBe(toHex(xchacha20poly1305(key, nonce, aad).encrypt(pt)));
      expect(toHex(open(key, sealed, aad))).toBe(toHex(pt));
      expect(out.subarray(offset + sealed.length).every((b) => b === 0)).toBe(true); // nothing written past the end
    }
  });
});

describe('the batched blob stream equals chunk-by-chunk sealing with @noble/ciphers', () => {
  const sizes = [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, BATCH_CHUNKS * CHUNK_SIZE - 1, BATCH_CHUNKS * CHUNK_SIZE, BATCH_CHUNKS * CHUNK_SIZE + 1, 2 * BATCH_CHUNKS * CHUNK_SIZE + 3 * CHUNK_SIZE + 5];
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

  it('a blob sealed chunk by chunk with @noble/ciphers decrypts through the batched path', () => {
    const n = BATCH_CHUNKS * CHUNK_SIZE + 2 * CHUNK_SIZE + 11;
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

describe('the pipelined file functions (kpm doc add / doc get) write the same format', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(join(tmpdir(), 'kpm-blobs-async-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const sizes = [0, 1, CHUNK_SIZE, BATCH_CHUNKS * CHUNK_SIZE, BATCH_CHUNKS * CHUNK_SIZE + 1, 3 * BATCH_CHUNKS * CHUNK_SIZE + 2 * CHUNK_SIZE + 9];
  it.each(sizes)('%i bytes: async encrypt → noble per chunk and sync decrypt; sync encrypt → async decrypt; same progress', async (n) => {
    const plain = seeded(`file/${n}`, n);
    const src = join(root, `in-${n}.bin`);
    fs.writeFileSync(src, plain);
    const blobs = join(root, 'blobs');
    const seenAsync: number[] = [];
    const seenSync: number[] = [];
    const f = await encryptFileToBlobAsync(blobs, src, (d) => seenAsync.push(d));
    const g = encryptFileToBlob(blobs, src, (d) => seenSync.push(d));
    expect(seenAsync).toEqual(seenSync);
    expect(f.size).toBe(n);
    const blob = fs.readFileSync(join(blobs, f.blob));
    const key = Buffer.from(f.key, 'base64'), blobId = Buffer.from(f.blob, 'hex');
    const chunks = Math.max(1, Math.ceil(n / CHUNK_SIZE));
    expect(blob.length).toBe(HEADER_BYTES + n + chunks * SEAL_OVERHEAD);
    for (let i = 0; i < chunks; i++) {
      const sealed = blob.subarray(HEADER_BYTES + i * SEALED_CHUNK_BYTES, Math.min(blob.length, HEADER_BYTES + (i + 1) * SEALED_CHUNK_BYTES));
      const want = xchacha20poly1305(key, sealed.subarray(0, 24), chunkAad(blobId, i, i === chunks - 1)).encrypt(plain.subarray(i * CHUNK_SIZE, Math.min(n, (i + 1) * CHUNK_SIZE)));
      expect(toHex(sealed.subarray(24)), `chunk ${i}`).toBe(toHex(want));
    }
    const a = join(root, `a-${n}.out`), b = join(root, `b-${n}.out`);
    decryptBlobToFile(blobs, f, a);
    const back: number[] = [];
    await decryptBlobToFileAsync(blobs, g, b, {}, (d) => back.push(d));
    expect(back.at(-1)).toBe(n);
    expect(fs.readFileSync(a).equals(Buffer.from(plain))).toBe(true);
    expect(fs.readFileSync(b).equals(Buffer.from(plain))).toBe(true);
    expect(fs.statSync(b).mode & 0o777).toBe(0o600);
  });

  it('refuses a tampered chunk or a cut-off blob (exit 8) and leaves no output file', async () => {
    const n = 2 * BATCH_CHUNKS * CHUNK_SIZE + 100;
    const src = join(root, 'tamper.bin');
    fs.writeFileSync(src, seeded('tamper', n));
    const blobs = join(root, 'blobs-t');
    const f = await encryptFileToBlobAsync(blobs, src);
    const path = join(blobs, f.blob);
    const good = fs.readFileSync(path);
    const cases: [string, Buffer][] = [
      ['a flipped byte in the second batch', (() => { const b = Buffer.from(good); b[HEADER_BYTES + (BATCH_CHUNKS + 3) * SEALED_CHUNK_BYTES + 100] ^= 1; return b; })()],
      ['the final chunk dropped', good.subarray(0, good.length - (100 + SEAL_OVERHEAD))],
      ['cut at a batch boundary', good.subarray(0, HEADER_BYTES + BATCH_CHUNKS * SEALED_CHUNK_BYTES)],
      ['a byte appended', Buffer.concat([good, Buffer.from([0])])],
    ];
    for (const [what, bytes] of cases) {
      fs.writeFileSync(path, bytes);
      const dest = join(root, 'tamper.out');
      const err = await decryptBlobToFileAsync(blobs, f, dest).then(() => undefined, (e: unknown) => e);
      expect(err, what).toBeInstanceOf(KpmError);
      expect((err as KpmError).exitCode, what).toBe(EXIT.corrupt);
      expect(fs.existsSync(dest), what).toBe(false);
      expect(fs.readdirSync(root).filter((x) => x.includes('kpm-tmp')), what).toEqual([]);
    }
  });
});
