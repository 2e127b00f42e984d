// Documents: the chunked blob stream (docs/FORMAT.md "Documents (blobs)"). Round trips, and every
// chunk attack of the STREAM construction refused with exit 8 and nothing written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asyncExitCodeOf, exitCodeOf } from '../helpers/exitcode.js';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { buildSync } from 'esbuild';
import { randomBytes as nodeRandom } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, toBase64, toHex } from '../../src/crypto/bytes.js';
import { seal } from '../../src/crypto/aead.js';
import {
  CHUNK_SIZE, DIRECT_MIN_BYTES, HEADER_BYTES, SEALED_CHUNK_BYTES, decryptBlobToFile, decryptBlobToStream, decryptBytes, encryptBytes, encryptFileToBlob, encryptStream,
  removeBlob, type StoredFile,
} from '../../src/vault/blobs.js';
import { KpmError, EXIT } from '../../src/core/errors.js';

let root: string;
let blobs: string;
let outDir: string;
beforeAll(() => {
  root = fs.mkdtempSync(join(tmpdir(), 'kpm-blobs-'));
  blobs = join(root, 'data', 'blobs');
  outDir = join(root, 'out');
  fs.mkdirSync(outDir);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));


/** Encrypts with a chosen key and blob id (to build the cross-blob attacks). */
function encryptWith(plain: Uint8Array, key: Uint8Array, blobId: Uint8Array): { blob: Buffer; file: StoredFile } {
  const parts: Uint8Array[] = [];
  let pos = 0;
  const { size } = encryptStream(key, blobId, (buf) => {
    const n = Math.min(buf.length, plain.length - pos);
    buf.set(plain.subarray(pos, pos + n));
    pos += n;
    return n;
  }, (b) => parts.push(Uint8Array.from(b)));
  return { blob: Buffer.concat(parts), file: { blob: toHex(blobId), key: toBase64(key), name: 'f.bin', type: 'application/octet-stream', size } };
}

/** header, then the sealed chunks */
function split(blob: Uint8Array): { header: Buffer; chunks: Buffer[] } {
  const b = Buffer.from(blob);
  const chunks: Buffer[] = [];
  for (let off = HEADER_BYTES; off < b.length; off += SEALED_CHUNK_BYTES) chunks.push(b.subarray(off, Math.min(b.length, off + SEALED_CHUNK_BYTES)));
  return { header: b.subarray(0, HEADER_BYTES), chunks };
}
const join_ = (header: Uint8Array, chunks: Uint8Array[]) => Buffer.concat([header, ...chunks]);

/** `plain` written to root/`name` and encrypted into the blobs folder: its record */
async function stored(name: string, plain: Uint8Array): Promise<StoredFile> {
  const src = join(root, name);
  fs.writeFileSync(src, plain);
  return encryptFileToBlob(blobs, src);
}

/** tmpfs keeps every file in memory whatever the writer asks (0x01021994: TMPFS_MAGIC) */
const onTmpfs = (path: string): boolean => fs.statfsSync(path).type === 0x01021994;

/**
 * A script for a child process, bundled into `dir/name.mjs` (returned): node:fs as `fs`, the
 * `names` of src/vault/blobs.ts, then `body`.
 */
function blobsScript(dir: string, name: string, names: string, body: string): string {
  const entry = join(dir, `${name}.ts`);
  const bundle = join(dir, `${name}.mjs`);
  const blobsTs = fileURLToPath(new URL('../../src/vault/blobs.ts', import.meta.url));
  fs.writeFileSync(entry, `import * as fs from 'node:fs';\nimport { ${names} } from ${JSON.stringify(blobsTs)};\n${body}`);
  buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'warning' });
  return bundle;
}

// A restored file of DIRECT_MIN_BYTES or more is written past the page cache (O_DIRECT) in aligned
// runs, its last bytes through the ordinary descriptor (src/vault/blobs.ts, directOut).
describe('restoring a large file past the page cache', () => {
  /** bytes of `path` in the page cache (util-linux fincore) */
  const cached = (path: string): number => Number(execFileSync('fincore', ['-b', '-n', '-o', 'RES', path], { encoding: 'utf8' }).trim());
  const sizes = [DIRECT_MIN_BYTES - 1, DIRECT_MIN_BYTES, DIRECT_MIN_BYTES + 1, 2 * DIRECT_MIN_BYTES + 4095, 3 * DIRECT_MIN_BYTES + 4097, 4 * DIRECT_MIN_BYTES + 4096];
  it.each(sizes)('%i bytes: byte-identical, 0600, no temp file left', async (n) => {
    const plain = nodeRandom(n);
    const f = await stored(`direct-${n}`, plain);
    const dest = join(outDir, `direct-${n}.out`);
    await decryptBlobToFile(blobs, f, dest);
    expect(fs.readFileSync(dest).equals(plain)).toBe(true);
    expect(fs.statSync(dest).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(outDir).filter((x) => x.includes('kpm-tmp'))).toEqual([]);
  });

  it.skipIf(onTmpfs(tmpdir()))('leaves at most the last page of the plaintext in the page cache (a smaller file: all of it)', async () => {
    const plain = nodeRandom(4 * DIRECT_MIN_BYTES + 100);
    const f = await stored('direct-cache', plain);
    const dest = join(outDir, 'direct-cache.out');
    await decryptBlobToFile(blobs, f, dest);
    expect(cached(dest)).toBeLessThanOrEqual(4096);
    const small = plain.subarray(0, DIRECT_MIN_BYTES - 1);
    const g = await stored('direct-cache-small', small);
    await decryptBlobToFile(blobs, g, join(outDir, 'direct-cache-small.out'));
    expect(cached(join(outDir, 'direct-cache-small.out'))).toBeGreaterThanOrEqual(small.length);
    expect(fs.readFileSync(dest).equals(plain)).toBe(true);
  });

  // no page-aligned buffer to be had: `node --jitless` (no WebAssembly), `ulimit -v` (no address space for one)
  it.each([
    ['node --jitless', (bundle: string, dir: string) => execFileSync(process.execPath, ['--jitless', bundle, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })],
    ['ulimit -v 4000000', (bundle: string, dir: string) => execFileSync('bash', ['-c', 'ulimit -v 4000000 && exec "$0" "$1" "$2"', process.execPath, bundle, dir], { encoding: 'utf8' })],
  ])('without a page-aligned buffer (%s) the file is written the ordinary way, byte-identical', (label, run) => {
    const dir = join(root, `noalign-${label.replace(/\W+/g, '-')}`);
    fs.mkdirSync(dir);
    const bundle = blobsScript(dir, 'restore', 'encryptFileToBlob, decryptBlobToFile', `
const [dir] = process.argv.slice(2);
const f = await encryptFileToBlob(dir + '/blobs', dir + '/in.bin');
await decryptBlobToFile(dir + '/blobs', f, dir + '/out.bin');
console.log('done');
`);
    const plain = nodeRandom(3 * DIRECT_MIN_BYTES + 5);
    fs.writeFileSync(join(dir, 'in.bin'), plain);
    expect(run(bundle, dir).trim()).toBe('done');
    if (!onTmpfs(dir)) expect(cached(join(dir, 'out.bin'))).toBeGreaterThanOrEqual(plain.length); // through the page cache
    expect(fs.readFileSync(join(dir, 'out.bin')).equals(plain)).toBe(true);
  });

  it('a chunk changed after 2 MiB: exit 8, nothing placed, no temp file, an existing file kept', async () => {
    const f = await stored('direct-tamper', nodeRandom(3 * DIRECT_MIN_BYTES + 7));
    const path = join(blobs, f.blob);
    const blob = fs.readFileSync(path);
    blob[HEADER_BYTES + 40 * SEALED_CHUNK_BYTES + 100] ^= 1;
    fs.writeFileSync(path, blob);
    const dir = join(root, 'direct-tamper-out');
    fs.mkdirSync(dir);
    expect(await asyncExitCodeOf(() => decryptBlobToFile(blobs, f, join(dir, 'new.bin')))).toBe(EXIT.corrupt);
    fs.writeFileSync(join(dir, 'old.bin'), 'kept');
    expect(await asyncExitCodeOf(() => decryptBlobToFile(blobs, f, join(dir, 'old.bin'), { force: true }))).toBe(EXIT.corrupt);
    expect(fs.readdirSync(dir)).toEqual(['old.bin']);
    expect(fs.readFileSync(join(dir, 'old.bin'), 'utf8')).toBe('kept');
  });
});

describe('round trips', () => {
  const sizes = [0, 1, 100, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * 1024 * 1024 + 17];
  it.each(sizes)('%i bytes in memory, with the documented chunk layout', (n) => {
    const plain = nodeRandom(n);
    const { blob, file } = encryptBytes(plain, 'x.bin');
    const chunks = Math.max(1, Math.ceil(n / CHUNK_SIZE));
    expect(blob.length).toBe(HEADER_BYTES + n + chunks * 40);
    expect(file.size).toBe(n);
    expect(Buffer.from(decryptBytes(file, blob)).equals(plain)).toBe(true);
  });

  it('writes the header: magic, version 1, blob id, chunk size', () => {
    const { blob, file } = encryptBytes(new Uint8Array(5));
    const h = Buffer.from(blob.subarray(0, HEADER_BYTES));
    expect(h.subarray(0, 4).toString()).toBe('KPMB');
    expect(h.readUInt16BE(4)).toBe(1);
    expect(toHex(h.subarray(6, 22))).toBe(file.blob);
    expect(h.readUInt32BE(22)).toBe(65536);
  });

  it('gives every file its own key and blob id', () => {
    const a = encryptBytes(new Uint8Array(10)).file;
    const b = encryptBytes(new Uint8Array(10)).file;
    expect(a.key).not.toBe(b.key);
    expect(a.blob).not.toBe(b.blob);
  });

  const names = ['plain.txt', 'with spaces in it.pdf', 'Übersicht — naïve 日本語 😀.png', '.hidden'];
  it.each(names)('file %s: byte-identical, blob 0600 in a 0700 folder, output 0600, no temp files left', async (name) => {
    const src = join(root, name);
    const plain = nodeRandom(CHUNK_SIZE * 2 + 333);
    fs.writeFileSync(src, plain);
    const f = await encryptFileToBlob(blobs, src);
    expect(f.name).toBe(name.normalize('NFC'));
    expect(f.size).toBe(plain.length);
    expect(fs.statSync(join(blobs, f.blob)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(blobs).mode & 0o777).toBe(0o700);
    const dest = join(outDir, name);
    await decryptBlobToFile(blobs, f, dest);
    expect(fs.readFileSync(dest).equals(plain)).toBe(true);
    expect(fs.statSync(dest).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(blobs).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(fs.readdirSync(outDir).filter((n) => n.includes('kpm-tmp'))).toEqual([]);
  });

  it('empty and multi-MB files through the file functions', async () => {
    for (const n of [0, 1, 5 * 1024 * 1024 + 3]) {
      const plain = nodeRandom(n);
      const f = await stored(`size-${n}`, plain);
      const dest = join(outDir, `size-${n}.out`);
      await decryptBlobToFile(blobs, f, dest);
      expect(fs.readFileSync(dest).equals(plain)).toBe(true);
    }
  });

  it('refuses to overwrite without force (exit 2), overwrites with it', async () => {
    const src = join(root, 'ow.txt');
    fs.writeFileSync(src, 'new content');
    const f = await encryptFileToBlob(blobs, src);
    const dest = join(outDir, 'ow.txt');
    fs.writeFileSync(dest, 'old', { mode: 0o644 });
    expect(await asyncExitCodeOf(() => decryptBlobToFile(blobs, f, dest))).toBe(EXIT.usage);
    expect(fs.readFileSync(dest, 'utf8')).toBe('old');
    await decryptBlobToFile(blobs, f, dest, { force: true });
    expect(fs.readFileSync(dest, 'utf8')).toBe('new content');
    expect(fs.statSync(dest).mode & 0o777).toBe(0o600);
  });

  it('reports progress up to the file size', async () => {
    const src = join(root, 'progress.bin');
    fs.writeFileSync(src, nodeRandom(3 * CHUNK_SIZE + 5));
    const seen: number[] = [];
    const f = await encryptFileToBlob(blobs, src, (done) => seen.push(done));
    expect(seen).toEqual([CHUNK_SIZE, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE, 3 * CHUNK_SIZE + 5]);
    const back: number[] = [];
    await decryptBlobToFile(blobs, f, join(outDir, 'progress.out'), {}, (done, total) => back.push(total - done));
    expect(back.at(-1)).toBe(0);
  });

  it('removeBlob deletes the blob and ignores ids that are not blob ids', async () => {
    const src = join(root, 'rm.txt');
    fs.writeFileSync(src, 'x');
    const f = await encryptFileToBlob(blobs, src);
    expect(removeBlob(blobs, f.blob)).toBe(true);
    expect(fs.existsSync(join(blobs, f.blob))).toBe(false);
    expect(removeBlob(blobs, f.blob)).toBe(false);
    expect(removeBlob(blobs, '../keyring.kpm')).toBe(false);
  });

  it('a missing source is exit 3 and leaves no blob behind', async () => {
    const before = fs.readdirSync(blobs).length;
    expect(await asyncExitCodeOf(() => encryptFileToBlob(blobs, join(root, 'nope')))).toBe(EXIT.notFound);
    expect(fs.readdirSync(blobs).length).toBe(before);
  });
});

describe('format as documented', () => {
  /** Builds a blob from docs/FORMAT.md alone, with the public seal(). */
  function specBlob(plainChunks: Uint8Array[], key: Uint8Array, id: Uint8Array): Buffer {
    const header = Buffer.alloc(26);
    header.write('KPMB', 0, 'latin1');
    header.writeUInt16BE(1, 4);
    header.set(id, 6);
    header.writeUInt32BE(65536, 22);
    const parts: Uint8Array[] = [header];
    plainChunks.forEach((c, i) => {
      const aad = Buffer.alloc(11 + 16 + 8 + 1);
      aad.write('kpm/v1/blob', 0, 'latin1');
      aad.set(id, 11);
      aad.writeBigUInt64BE(BigInt(i), 27);
      aad[35] = i === plainChunks.length - 1 ? 1 : 0;
      parts.push(seal(key, c, aad));
    });
    return Buffer.concat(parts);
  }
  const record = (plain: Uint8Array, key: Uint8Array, id: Uint8Array): StoredFile => ({
    blob: toHex(id), key: toBase64(key), name: 'spec.bin', type: 'application/octet-stream', size: plain.length,
  });

  it('a blob built from the spec decrypts', () => {
    const key = nodeRandom(32), id = nodeRandom(16);
    const plain = nodeRandom(2 * CHUNK_SIZE + 7);
    const blob = specBlob([plain.subarray(0, CHUNK_SIZE), plain.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE), plain.subarray(2 * CHUNK_SIZE)], key, id);
    expect(Buffer.from(decryptBytes(record(plain, key, id), blob)).equals(plain)).toBe(true);
  });

  it('only the canonical encoding is accepted: no empty final chunk after full ones', () => {
    const key = nodeRandom(32), id = nodeRandom(16);
    const plain = nodeRandom(CHUNK_SIZE);
    const blob = specBlob([plain, new Uint8Array(0)], key, id);
    expect(exitCodeOf(() => decryptBytes(record(plain, key, id), blob))).toBe(EXIT.corrupt);
  });
});

describe('attacks: refused with exit 8 and nothing written', () => {
  // 4 chunks: three full ones and a short final one
  const plain = nodeRandom(3 * CHUNK_SIZE + 1000);
  const key = nodeRandom(32);
  const id = nodeRandom(16);
  const a = encryptWith(plain, key, id);
  const { header, chunks } = split(a.blob);
  const other = encryptWith(plain, nodeRandom(32), nodeRandom(16)); // another file, another key
  const sameKey = encryptWith(plain, key, nodeRandom(16)); // same key, other blob id
  const flip = (buf: Uint8Array, at: number) => {
    const c = Buffer.from(buf);
    c[at] ^= 0x01;
    return c;
  };
  const replace = (i: number, c: Uint8Array) => join_(header, chunks.map((x, j) => (j === i ? c : x)));
  let n = 0;

  /** How the stream itself refuses (not merely the size / SHA-256 cross-check in the record). */
  const BY_STREAM = /chunk \d+ fails to authenticate|truncated|bad header|empty final chunk/;

  /**
   * Writes `blob` as the blob of `file` and decrypts it to a fresh path: must be exit 8 for the
   * expected reason, with no output and no temp file left.
   */
  async function expectRefused(blob: Uint8Array, file: StoredFile = a.file, reason: RegExp = BY_STREAM): Promise<void> {
    const refusal = async (f: () => unknown): Promise<void> => {
      let err: unknown;
      try {
        await f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KpmError);
      expect((err as KpmError).exitCode).toBe(EXIT.corrupt);
      expect((err as KpmError).message).toMatch(reason);
    };
    await refusal(() => decryptBytes(file, blob));
    const dir = join(root, `attack-${++n}`);
    fs.mkdirSync(join(dir, 'blobs'), { recursive: true });
    fs.writeFileSync(join(dir, 'blobs', file.blob), blob);
    await refusal(() => decryptBlobToFile(join(dir, 'blobs'), file, join(dir, 'out.bin')));
    expect(fs.readdirSync(dir)).toEqual(['blobs']);
    // to stdout: nothing handed on
    const streamed: Uint8Array[] = [];
    await refusal(() => decryptBlobToStream(join(dir, 'blobs'), file, async (b) => void streamed.push(b)));
    expect(streamed).toEqual([]);
  }

  it('the untouched blob decrypts (control)', async () => {
    expect(chunks.length).toBe(4);
    expect(Buffer.from(decryptBytes(a.file, a.blob)).equals(plain)).toBe(true);
  });

  it('reordered chunks', async () => {
    await expectRefused(join_(header, [chunks[1], chunks[0], chunks[2], chunks[3]]));
    await expectRefused(join_(header, [chunks[0], chunks[2], chunks[1], chunks[3]]));
  });

  it('truncated at a chunk boundary (final chunk dropped)', async () => {
    await expectRefused(join_(header, chunks.slice(0, 3)));
    await expectRefused(join_(header, chunks.slice(0, 1)));
    await expectRefused(header);
  });

  it('truncated inside a chunk', async () => {
    await expectRefused(a.blob.subarray(0, a.blob.length - 1));
    await expectRefused(a.blob.subarray(0, HEADER_BYTES + SEALED_CHUNK_BYTES + 100));
    await expectRefused(a.blob.subarray(0, HEADER_BYTES + 10));
    await expectRefused(a.blob.subarray(0, HEADER_BYTES - 1));
  });

  it('a chunk appended, or bytes after the final chunk', async () => {
    await expectRefused(join_(header, [...chunks, chunks[1]]));
    await expectRefused(join_(header, [...chunks, other.blob.subarray(HEADER_BYTES + 3 * SEALED_CHUNK_BYTES)]));
    await expectRefused(Buffer.concat([a.blob, Buffer.from([0])]));
  });

  it('a chunk from another file under another key', async () => {
    const o = split(other.blob).chunks;
    await expectRefused(replace(1, o[1]));
    await expectRefused(replace(3, o[3]));
  });

  it('a chunk from another blob under the same key (other blob id)', async () => {
    const s = split(sameKey.blob);
    await expectRefused(replace(1, s.chunks[1]));
    await expectRefused(replace(3, s.chunks[3]));
    // the whole other blob, with or without its header rewritten to this blob id
    await expectRefused(sameKey.blob);
    await expectRefused(join_(header, s.chunks));
  });

  it('a chunk duplicated in place of another one', async () => {
    await expectRefused(replace(2, chunks[1]));
  });

  it('one flipped bit anywhere in the header', async () => {
    for (let i = 0; i < HEADER_BYTES; i++) await expectRefused(flip(a.blob, i));
  });

  it('one flipped bit in a nonce, ciphertext or tag of the first, a middle and the final chunk', async () => {
    for (const c of [0, 2, 3]) {
      const start = HEADER_BYTES + c * SEALED_CHUNK_BYTES;
      const len = chunks[c].length;
      for (const at of [0, 23, 24, 24 + 500, len - 17, len - 16, len - 1]) await expectRefused(flip(a.blob, start + at));
    }
  });

  it('the wrong file key', async () => {
    await expectRefused(a.blob, { ...a.file, key: toBase64(nodeRandom(32)) });
  });

  it('a record whose size differs from the blob', async () => {
    await expectRefused(a.blob, { ...a.file, size: a.file.size - 1 }, /longer than recorded/);
    await expectRefused(a.blob, { ...a.file, size: a.file.size + 1 }, /size differs/);
  });

  it('an empty file: final chunk dropped, or a chunk appended', async () => {
    const e = encryptWith(new Uint8Array(0), key, id);
    const ec = split(e.blob);
    expect(ec.chunks.length).toBe(1);
    await expectRefused(ec.header, e.file);
    await expectRefused(join_(ec.header, [ec.chunks[0], ec.chunks[0]]), e.file);
  });

  it('a malformed record (path-like blob id, short key) is refused before any file is touched', async () => {
    expect(await asyncExitCodeOf(() => decryptBlobToFile(blobs, { ...a.file, blob: '../../keyring.kpm' }, join(outDir, 'm1')))).toBe(EXIT.corrupt);
    expect(await asyncExitCodeOf(() => decryptBlobToFile(blobs, { ...a.file, key: toBase64(new Uint8Array(16)) }, join(outDir, 'm2')))).toBe(EXIT.corrupt);
    expect(await asyncExitCodeOf(() => decryptBlobToFile(blobs, { ...a.file, name: '../evil' }, join(outDir, 'm3')))).toBe(EXIT.usage);
    expect(fs.existsSync(join(outDir, 'm1')) || fs.existsSync(join(outDir, 'm2')) || fs.existsSync(join(outDir, 'm3'))).toBe(false);
  });

  it('a missing blob is exit 8', async () => {
    expect(await asyncExitCodeOf(() => decryptBlobToFile(blobs, { ...a.file, blob: toHex(fromHex('00'.repeat(16))) }, join(outDir, 'missing')))).toBe(EXIT.corrupt);
    expect(fs.existsSync(join(outDir, 'missing'))).toBe(false);
  });
});

describe('the file functions read and write 16 chunks at a time: batch edges', () => {
  const B = 16 * CHUNK_SIZE;
  const sizes = [B - 1, B, B + 1, 2 * B, 2 * B + CHUNK_SIZE, 2 * B + CHUNK_SIZE + 9];

  it.each(sizes)('%i bytes: the file blob is byte-compatible with the in-memory stream both ways, and goes to a stream whole', async (n) => {
    const plain = nodeRandom(n);
    const src = join(root, `edge-${n}`);
    fs.writeFileSync(src, plain);
    const f = await encryptFileToBlob(blobs, src);
    const blob = fs.readFileSync(join(blobs, f.blob));
    expect(blob.length).toBe(HEADER_BYTES + n + Math.ceil(n / CHUNK_SIZE) * 40);
    expect(Buffer.from(decryptBytes(f, blob)).equals(plain)).toBe(true); // read by the chunk-at-a-time code
    const mem = encryptBytes(plain, 'm.bin');
    fs.writeFileSync(join(blobs, mem.file.blob), mem.blob);
    const dest = join(outDir, `edge-${n}.out`);
    await decryptBlobToFile(blobs, mem.file, dest); // written by it, read by the batch code
    expect(fs.readFileSync(dest).equals(plain)).toBe(true);
    const streamed: Uint8Array[] = [];
    await decryptBlobToStream(blobs, f, async (bytes) => void streamed.push(Buffer.from(bytes)));
    expect(Buffer.concat(streamed).equals(plain)).toBe(true);
  });

  it('a blob cut at a batch edge, or a chunk moved across batches, is exit 8 with nothing written', async () => {
    const plain = nodeRandom(2 * B + CHUNK_SIZE); // 33 chunks, the last one full
    const e = encryptBytes(plain, 'cut.bin');
    const { header, chunks } = split(e.blob);
    expect(chunks.length).toBe(33);
    const cases = [
      join_(header, chunks.slice(0, 16)), // the first batch alone
      join_(header, chunks.slice(0, 32)), // two whole batches, the final chunk dropped
      join_(header, [...chunks.slice(0, 15), chunks[16], chunks[15], ...chunks.slice(17)]), // swapped across the edge
      join_(header, [...chunks, chunks[32]]), // a chunk appended after the final one
    ];
    for (const [i, blob] of cases.entries()) {
      const dir = join(root, `edge-cut-${i}`);
      fs.mkdirSync(join(dir, 'blobs'), { recursive: true });
      fs.writeFileSync(join(dir, 'blobs', e.file.blob), blob);
      expect(await asyncExitCodeOf(() => decryptBlobToFile(join(dir, 'blobs'), e.file, join(dir, 'out.bin'))), `case ${i}`).toBe(EXIT.corrupt);
      expect(fs.readdirSync(dir)).toEqual(['blobs']);
      const streamed: Uint8Array[] = [];
      expect(await asyncExitCodeOf(() => decryptBlobToStream(join(dir, 'blobs'), e.file, async (b) => void streamed.push(b))), `case ${i}`).toBe(EXIT.corrupt);
      expect(streamed).toEqual([]);
    }
  });
});

describe('bounded memory', () => {
  it('encrypts and decrypts a 256 MiB file (to a file and to a stream) with peak RSS well under 150 MiB (child process)', () => {
    const dir = join(root, 'mem');
    fs.mkdirSync(dir);
    const bundle = blobsScript(dir, 'mem', 'encryptFileToBlob, decryptBlobToFile, decryptBlobToStream', `
import { randomFillSync } from 'node:crypto';
const [dir] = process.argv.slice(2);
const src = dir + '/big.bin';
const fd = fs.openSync(src, 'w');
const buf = Buffer.alloc(1 << 20);
for (let i = 0; i < 256; i++) fs.writeSync(fd, randomFillSync(buf));
fs.closeSync(fd);
const base = process.resourceUsage().maxRSS;
const f = await encryptFileToBlob(dir + '/blobs', src);
await decryptBlobToFile(dir + '/blobs', f, dir + '/big.out');
let streamed = 0;
await decryptBlobToStream(dir + '/blobs', f, async (b) => { streamed += b.length; });
const same = fs.statSync(dir + '/big.out').size === f.size && streamed === f.size;
fs.rmSync(src); fs.rmSync(dir + '/big.out'); fs.rmSync(dir + '/blobs', { recursive: true });
console.log(JSON.stringify({ base, peak: process.resourceUsage().maxRSS, same }));
`);
    const r = JSON.parse(execFileSync(process.execPath, [bundle, dir], { encoding: 'utf8' })) as { base: number; peak: number; same: boolean };
    expect(r.same).toBe(true);
    expect(r.peak / 1024).toBeLessThan(150);
  });
});
