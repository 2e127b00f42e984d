// Documents and attachments: files encrypted as a chunked stream into blobs (docs/FORMAT.md
// "Documents (blobs)"). Every file has its own random key, kept with its name, type, size and
// SHA-256 in the entry payload, so blobs are read and written without the vault key, and memory
// stays bounded whatever the file size.
import * as fs from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { open, sealInto, AuthError, SEAL_OVERHEAD } from '../crypto/aead.js';
import { randomBytes } from '../crypto/random.js';
import { bytesEqual, fromBase64, toBase64, toHex, utf8, wipe } from '../crypto/bytes.js';
import type { EntryPayload } from './entry.js';
import { KpmError, EXIT, notFound, usageError } from '../core/errors.js';
import { discardTemp, ensureDir, fsyncDir, openTemp } from '../core/fsutil.js';
import type { KpmPaths } from '../core/paths.js';

/** One stored file, as kept in an entry payload's `files`. */
export interface StoredFile {
  /** blob id: 32 lowercase hex digits, the blob's file name */
  blob: string;
  /** the file key, 32 bytes, base64 */
  key: string;
  /** file name (no directory part) */
  name: string;
  /** media type, e.g. application/pdf */
  type: string;
  /** plaintext size in bytes */
  size: number;
}

export type PayloadWithFiles = EntryPayload & { files?: StoredFile[] };
/** (bytes done, bytes in all) */
export type Progress = (done: number, total: number) => void;

export const BLOB_MAGIC = utf8.encode('KPMB');
export const BLOB_VERSION = 1;
export const CHUNK_SIZE = 64 * 1024;
export const HEADER_BYTES = 4 + 2 + 16 + 4;
export const SEALED_CHUNK_BYTES = CHUNK_SIZE + SEAL_OVERHEAD;
const AAD_PREFIX = utf8.encode('kpm/v1/blob');
const BLOB_ID = /^[0-9a-f]{32}$/;

export const blobsDir = (paths: KpmPaths): string => join(paths.data, 'blobs');

/** The exact size of the blob file of `size` plaintext bytes: header, and one tag and nonce per chunk. */
export function sealedBlobSize(size: number): number {
  const chunks = size === 0 ? 1 : Math.ceil(size / CHUNK_SIZE);
  return HEADER_BYTES + size + chunks * SEAL_OVERHEAD;
}
export const filesOf = (p: EntryPayload): StoredFile[] => p.files ?? [];
export function setFiles(p: EntryPayload, files: StoredFile[]): void {
  if (files.length) (p as PayloadWithFiles).files = files;
  else delete (p as PayloadWithFiles).files;
}

const tampered = (name: string, why: string) =>
  new KpmError(`file "${name}" is corrupt or has been tampered with (${why}); nothing was written`, EXIT.corrupt);

/** A file name as stored and as written out: one path component, no control characters. */
export function checkFileName(name: string): string {
  const n = name.normalize('NFC');
  // eslint-disable-next-line no-control-regex
  if (!n || n === '.' || n === '..' || /[/\\\u0000-\u001f\u007f]/.test(n) || Buffer.byteLength(n) > 255) {
    throw usageError(`unusable file name ${JSON.stringify(name)}`, 'file names must be one path component of at most 255 bytes without control characters');
  }
  return n;
}

/** Checks a StoredFile read from a payload before any of it is used as a path or key. */
export function checkStoredFile(f: StoredFile): Uint8Array {
  const key = typeof f?.key === 'string' ? fromBase64(f.key) : new Uint8Array(0);
  if (!BLOB_ID.test(String(f?.blob)) || key.length !== 32 || !Number.isSafeInteger(f.size) || f.size < 0) {
    throw new KpmError(`the entry's record of file "${String(f?.name)}" is malformed`, EXIT.corrupt);
  }
  checkFileName(f.name);
  return key;
}

const MEDIA_TYPES: Record<string, string> = {
  '.pdf': 'application/pdf', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif',
  '.webp': 'image/webp', '.heic': 'image/heic', '.tif': 'image/tiff', '.tiff': 'image/tiff', '.svg': 'image/svg+xml',
  '.txt': 'text/plain', '.md': 'text/markdown', '.csv': 'text/csv', '.html': 'text/html', '.json': 'application/json',
  '.xml': 'application/xml', '.zip': 'application/zip', '.gz': 'application/gzip', '.tar': 'application/x-tar',
  '.7z': 'application/x-7z-compressed', '.pem': 'application/x-pem-file', '.crt': 'application/x-x509-ca-cert',
  '.asc': 'application/pgp-keys', '.gpg': 'application/pgp-encrypted', '.kdbx': 'application/x-keepass2',
  '.doc': 'application/msword', '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.xls': 'application/vnd.ms-excel', '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.odt': 'application/vnd.oasis.opendocument.text', '.ods': 'application/vnd.oasis.opendocument.spreadsheet',
};
export const mediaType = (name: string): string => MEDIA_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';

export function blobHeader(blobId: Uint8Array): Uint8Array {
  const h = Buffer.alloc(HEADER_BYTES);
  h.set(BLOB_MAGIC, 0);
  h.writeUInt16BE(BLOB_VERSION, 4);
  h.set(blobId, 6);
  h.writeUInt32BE(CHUNK_SIZE, 22);
  return h;
}

/** "kpm/v1/blob" ‖ blob id ‖ chunk index u64 ‖ final u8, rewritten in place for every chunk. */
class ChunkAad {
  readonly bytes = Buffer.alloc(AAD_PREFIX.length + 16 + 8 + 1);
  constructor(blobId: Uint8Array) {
    this.bytes.set(AAD_PREFIX, 0);
    this.bytes.set(blobId, AAD_PREFIX.length);
  }
  at(index: number, final: boolean): Uint8Array {
    this.bytes.writeBigUInt64BE(BigInt(index), AAD_PREFIX.length + 16);
    this.bytes[this.bytes.length - 1] = final ? 1 : 0;
    return this.bytes;
  }
}

export interface StreamOptions {
  /** called after every chunk with the plaintext bytes done so far */
  onChunk?: (done: number) => void;
}

type Read = (buf: Uint8Array) => number;
type Write = (bytes: Uint8Array) => void;

/** Reads until `buf` is full or the source ends; returns the bytes read. */
function fill(read: Read, buf: Uint8Array): number {
  let got = 0;
  while (got < buf.length) {
    const n = read(buf.subarray(got));
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Chunks are read, sealed and written BATCH_CHUNKS at a time (one read and one write call per
 * 2 MiB instead of per 64 KiB, and no buffer allocated per chunk); the bytes on disk are exactly
 * those of one chunk at a time. Memory: three batch buffers.
 */
export const BATCH_CHUNKS = 32;
const PLAIN_BATCH = BATCH_CHUNKS * CHUNK_SIZE;
const SEALED_BATCH = BATCH_CHUNKS * SEALED_CHUNK_BYTES;

/**
 * Seals plain[0, len) as chunks `index`, `index + 1`, … into `out`; the last one is flagged final
 * when `final`. An empty input (only ever the whole of an empty file) is one empty final chunk.
 * Returns the bytes written to `out`.
 */
function sealBatch(key: Uint8Array, aad: ChunkAad, plain: Uint8Array, len: number, index: number, final: boolean, out: Uint8Array): number {
  const n = len === 0 ? 1 : Math.ceil(len / CHUNK_SIZE);
  let o = 0;
  for (let k = 0; k < n; k++) {
    const start = k * CHUNK_SIZE;
    o += sealInto(key, plain.subarray(start, Math.min(len, start + CHUNK_SIZE)), aad.at(index + k, final && k === n - 1), out, o);
  }
  return o;
}

/**
 * The STREAM construction: chunks of CHUNK_SIZE, the last one (shorter, full, or empty for an
 * empty input) flagged final. One batch of read-ahead tells whether a full batch ends the input.
 */
export function encryptStream(key: Uint8Array, blobId: Uint8Array, read: Read, write: Write, opts: StreamOptions = {}): { size: number } {
  const aad = new ChunkAad(blobId);
  let cur = Buffer.allocUnsafe(PLAIN_BATCH);
  let next = Buffer.allocUnsafe(PLAIN_BATCH);
  const out = Buffer.allocUnsafe(SEALED_BATCH);
  try {
    write(blobHeader(blobId));
    let curLen = fill(read, cur);
    let size = 0;
    for (let index = 0; ; index += BATCH_CHUNKS) {
      const nextLen = curLen === PLAIN_BATCH ? fill(read, next) : 0;
      const final = nextLen === 0;
      write(out.subarray(0, sealBatch(key, aad, cur, curLen, index, final, out)));
      size = reportChunks(size, curLen, opts.onChunk);
      if (final) return { size };
      [cur, next] = [next, cur];
      curLen = nextLen;
    }
  } finally {
    cur.fill(0);
    next.fill(0);
  }
}

/** Calls onChunk once per chunk of a batch of `len` bytes, as when chunks were handled one by one. */
function reportChunks(size: number, len: number, onChunk?: (done: number) => void): number {
  if (!onChunk) return size + len;
  const end = size + len;
  do {
    size = Math.min(end, size + CHUNK_SIZE);
    onChunk(size);
  } while (size < end);
  return size;
}

/**
 * Opens the sealed chunks in sealed[0, len) (chunks `index`, …; the last one is flagged final when
 * `final`), handing each verified plaintext to `emit`. Returns the plaintext bytes.
 */
function openBatch(file: StoredFile, key: Uint8Array, aad: ChunkAad, sealed: Uint8Array, len: number, index: number, final: boolean, emit: (plain: Uint8Array) => void): number {
  const n = Math.max(1, Math.ceil(len / SEALED_CHUNK_BYTES));
  let bytes = 0;
  for (let k = 0; k < n; k++) {
    const start = k * SEALED_CHUNK_BYTES;
    const chunk = sealed.subarray(start, Math.min(len, start + SEALED_CHUNK_BYTES));
    const last = final && k === n - 1;
    if (chunk.length < SEAL_OVERHEAD) throw tampered(file.name, 'truncated');
    if (last && index + k > 0 && chunk.length === SEAL_OVERHEAD) throw tampered(file.name, 'empty final chunk');
    let plain: Uint8Array;
    try {
      plain = open(key, chunk, aad.at(index + k, last));
    } catch (e) {
      if (e instanceof AuthError) throw tampered(file.name, `chunk ${index + k} fails to authenticate`);
      throw e;
    }
    bytes += plain.length;
    emit(plain);
  }
  return bytes;
}

/** Gathers plaintext chunks into one buffer, for one write call per batch. */
class Gather {
  readonly buf = Buffer.allocUnsafe(PLAIN_BATCH);
  len = 0;
  readonly add = (plain: Uint8Array): void => {
    this.buf.set(plain, this.len);
    this.len += plain.length;
    plain.fill(0);
  };
  take(): Uint8Array {
    const b = this.buf.subarray(0, this.len);
    this.len = 0;
    return b;
  }
}

/**
 * Decrypts a blob, handing the verified plaintext to `write` (a batch at a time). Throws (exit 8) on
 * any header change, failed chunk, missing final chunk, data after it, or a size other than the
 * record's; the caller must discard what was written unless this returns. The record's SHA-256 is
 * not recomputed: the chunk tags already authenticate every byte under a key that encrypts nothing
 * else. Nothing of a batch is written before all of its chunks are verified.
 */
export function decryptStream(file: StoredFile, read: Read, write: Write, opts: StreamOptions = {}): void {
  const key = checkStoredFile(file);
  const blobId = Buffer.from(file.blob, 'hex');
  const gather = new Gather();
  try {
    const header = new Uint8Array(HEADER_BYTES);
    if (fill(read, header) !== HEADER_BYTES || !bytesEqual(header, blobHeader(blobId))) throw tampered(file.name, 'bad header');
    const aad = new ChunkAad(blobId);
    let cur = Buffer.allocUnsafe(SEALED_BATCH);
    let next = Buffer.allocUnsafe(SEALED_BATCH);
    let curLen = fill(read, cur);
    let size = 0;
    for (let index = 0; ; index += BATCH_CHUNKS) {
      const nextLen = curLen === SEALED_BATCH ? fill(read, next) : 0;
      const final = nextLen === 0;
      const got = openBatch(file, key, aad, cur, curLen, index, final, gather.add);
      if (size + got > file.size) throw tampered(file.name, 'longer than recorded');
      write(gather.take());
      size = reportChunks(size, got, opts.onChunk);
      if (final) break;
      [cur, next] = [next, cur];
      curLen = nextLen;
    }
    if (size !== file.size) throw tampered(file.name, 'size differs from the record');
  } finally {
    gather.buf.fill(0);
    wipe(key);
  }
}

// ---------------------------------------------------------------------------------------------
// Files

const fdReader = (fd: number): Read => (buf) => fs.readSync(fd, buf, 0, buf.length, null);
const fdWriter = (fd: number): Write => (bytes) => {
  for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off, bytes.length - off);
};


/** Encrypts `srcPath` into a new blob (temp file, fsync, rename) and returns its record for the payload. */
export function encryptFileToBlob(dir: string, srcPath: string, onProgress?: Progress): StoredFile {
  const name = checkFileName(basename(srcPath));
  let src: number;
  try {
    src = fs.openSync(srcPath, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound(`no such file: ${srcPath}`);
    throw e;
  }
  const blobId = randomBytes(16);
  const id = toHex(blobId);
  const key = randomBytes(32);
  let tmp = '';
  let out: number | undefined;
  try {
    const st = fs.fstatSync(src);
    if (!st.isFile()) throw usageError(`${srcPath} is not a regular file`);
    ensureDir(dir);
    ({ fd: out, tmp } = openTemp(join(dir, id)));
    const { size } = encryptStream(key, blobId, fdReader(src), fdWriter(out), { onChunk: onProgress && ((done) => onProgress(done, st.size)) });
    fs.fsyncSync(out);
    fs.closeSync(out);
    out = undefined;
    fs.renameSync(tmp, join(dir, id));
    fsyncDir(dir);
    return { blob: id, key: toBase64(key), name, type: mediaType(name), size };
  } catch (e) {
    if (tmp) discardTemp(out, tmp);
    throw e;
  } finally {
    fs.closeSync(src);
    wipe(key);
  }
}

/**
 * Decrypts a blob to `destPath`: into a temp file beside it (0600), renamed into place only after
 * the final chunk and the checksum verified. Without `force`, an existing destination is refused
 * (exit 2) and never replaced, even if it appears while decrypting.
 */
export function decryptBlobToFile(dir: string, file: StoredFile, destPath: string, opts: { force?: boolean } = {}, onProgress?: Progress): void {
  checkStoredFile(file);
  const existing = fs.statSync(destPath, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw usageError(`${destPath} is a directory`);
  if (existing && !opts.force) throw exists(destPath);
  let src: number;
  try {
    src = fs.openSync(join(dir, file.blob), 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new KpmError(`the encrypted data of file "${file.name}" is missing (blob ${file.blob})`, EXIT.corrupt);
    throw e;
  }
  let tmp = '';
  let out: number | undefined;
  let placed = false;
  try {
    ({ fd: out, tmp } = openTemp(destPath));
    decryptStream(file, fdReader(src), fdWriter(out), { onChunk: onProgress && ((done) => onProgress(done, file.size)) });
    fs.fsyncSync(out);
    fs.closeSync(out);
    out = undefined;
    placeFile(tmp, destPath, Boolean(opts.force));
    placed = true;
    fsyncDir(dirname(destPath));
  } finally {
    if (out !== undefined) fs.closeSync(out);
    if (!placed && tmp) fs.rmSync(tmp, { force: true });
    fs.closeSync(src);
  }
}

// ---------------------------------------------------------------------------------------------
// Files, pipelined (what `kpm doc add` / `kpm doc get` use): the same bytes as the functions above,
// but the next batch is read and the previous one written on libuv's threads while this thread
// seals or opens the current one, and every WRITEBACK_BYTES the file's data is handed to the disk
// (fdatasync in the background), so that the final fsync has little left to wait for. One read and
// one write are in flight at most, in order; every operation has settled before a file is closed.

const WRITEBACK_BYTES = 64 * 1024 * 1024;

const readAsync = (fd: number, buf: Uint8Array): Promise<number> =>
  new Promise((resolve, reject) => fs.read(fd, buf, 0, buf.length, null, (e, n) => (e ? reject(e) : resolve(n))));
const writeAsync = (fd: number, buf: Uint8Array): Promise<number> =>
  new Promise((resolve, reject) => fs.write(fd, buf, 0, buf.length, null, (e, n) => (e ? reject(e) : resolve(n))));
const datasyncAsync = (fd: number): Promise<void> => new Promise((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));

async function fillAsync(fd: number, buf: Uint8Array): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const n = await readAsync(fd, buf.subarray(got));
    if (n === 0) break;
    got += n;
  }
  return got;
}

async function writeAllAsync(fd: number, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length; ) off += await writeAsync(fd, bytes.subarray(off));
}

/** Background work on the output file: one write at a time, in order, and a periodic fdatasync. */
class Behind {
  private write: Promise<void> = Promise.resolve();
  private sync: Promise<void> | undefined;
  private since = 0;
  constructor(private readonly fd: number) {}
  /** Waits for the previous write, then starts writing `bytes` (whose buffer must stay untouched until the next call). */
  async push(bytes: Uint8Array): Promise<void> {
    await this.write;
    this.write = writeAllAsync(this.fd, bytes);
    this.since += bytes.length;
    if (this.since >= WRITEBACK_BYTES && !this.sync) {
      this.since = 0;
      this.sync = datasyncAsync(this.fd).finally(() => (this.sync = undefined));
    }
  }
  /** Everything written (throws what failed). */
  async drain(): Promise<void> {
    await this.write;
    await this.sync;
  }
  /** Everything settled, failed or not (before the file is closed on an error). */
  async settle(): Promise<void> {
    await Promise.allSettled([this.write, this.sync]);
  }
}

async function encryptFdAsync(key: Uint8Array, blobId: Uint8Array, src: number, out: number, onChunk?: (done: number) => void): Promise<number> {
  const aad = new ChunkAad(blobId);
  let cur = Buffer.allocUnsafe(PLAIN_BATCH);
  let next = Buffer.allocUnsafe(PLAIN_BATCH);
  const outs = [Buffer.allocUnsafe(SEALED_BATCH), Buffer.allocUnsafe(SEALED_BATCH)];
  const behind = new Behind(out);
  let ahead: Promise<number> | undefined;
  try {
    await behind.push(blobHeader(blobId));
    let curLen = await fillAsync(src, cur);
    let size = 0;
    for (let index = 0, k = 0; ; index += BATCH_CHUNKS, k++) {
      ahead = curLen === PLAIN_BATCH ? fillAsync(src, next) : Promise.resolve(0);
      const o = outs[k % 2];
      // every chunk but the last now; the last once the read-ahead tells whether it is final
      const n = curLen === 0 ? 1 : Math.ceil(curLen / CHUNK_SIZE);
      const lead = (n - 1) * CHUNK_SIZE;
      let used = lead > 0 ? sealBatch(key, aad, cur, lead, index, false, o) : 0;
      const nextLen = await ahead;
      ahead = undefined;
      const final = nextLen === 0;
      used += sealInto(key, cur.subarray(lead, curLen), aad.at(index + n - 1, final), o, used);
      await behind.push(o.subarray(0, used));
      size = reportChunks(size, curLen, onChunk);
      if (final) break;
      [cur, next] = [next, cur];
      curLen = nextLen;
    }
    await behind.drain();
    return size;
  } finally {
    await Promise.allSettled([ahead]);
    await behind.settle();
    cur.fill(0);
    next.fill(0);
  }
}

async function decryptFdAsync(file: StoredFile, src: number, out: number, onChunk?: (done: number) => void): Promise<void> {
  const key = checkStoredFile(file);
  const blobId = Buffer.from(file.blob, 'hex');
  const gathers = [new Gather(), new Gather()];
  const behind = new Behind(out);
  let ahead: Promise<number> | undefined;
  try {
    const header = new Uint8Array(HEADER_BYTES);
    if ((await fillAsync(src, header)) !== HEADER_BYTES || !bytesEqual(header, blobHeader(blobId))) throw tampered(file.name, 'bad header');
    const aad = new ChunkAad(blobId);
    let cur = Buffer.allocUnsafe(SEALED_BATCH);
    let next = Buffer.allocUnsafe(SEALED_BATCH);
    let curLen = await fillAsync(src, cur);
    let size = 0;
    for (let index = 0, k = 0; ; index += BATCH_CHUNKS, k++) {
      ahead = curLen === SEALED_BATCH ? fillAsync(src, next) : Promise.resolve(0);
      const g = gathers[k % 2];
      const n = Math.max(1, Math.ceil(curLen / SEALED_CHUNK_BYTES));
      const lead = (n - 1) * SEALED_CHUNK_BYTES;
      let got = lead > 0 ? openBatch(file, key, aad, cur, lead, index, false, g.add) : 0;
      const nextLen = await ahead;
      ahead = undefined;
      const final = nextLen === 0;
      got += openBatch(file, key, aad, cur.subarray(lead, curLen), curLen - lead, index + n - 1, final, g.add);
      if (size + got > file.size) throw tampered(file.name, 'longer than recorded');
      await behind.push(g.take());
      size = reportChunks(size, got, onChunk);
      if (final) break;
      [cur, next] = [next, cur];
      curLen = nextLen;
    }
    if (size !== file.size) throw tampered(file.name, 'size differs from the record');
    await behind.drain();
  } finally {
    await Promise.allSettled([ahead]);
    await behind.settle();
    for (const g of gathers) g.buf.fill(0);
    wipe(key);
  }
}

/** encryptFileToBlob, pipelined (see above): the same blob bytes and record. */
export async function encryptFileToBlobAsync(dir: string, srcPath: string, onProgress?: Progress): Promise<StoredFile> {
  const name = checkFileName(basename(srcPath));
  let src: number;
  try {
    src = fs.openSync(srcPath, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound(`no such file: ${srcPath}`);
    throw e;
  }
  const blobId = randomBytes(16);
  const id = toHex(blobId);
  const key = randomBytes(32);
  let tmp = '';
  let out: number | undefined;
  try {
    const st = fs.fstatSync(src);
    if (!st.isFile()) throw usageError(`${srcPath} is not a regular file`);
    ensureDir(dir);
    ({ fd: out, tmp } = openTemp(join(dir, id)));
    const size = await encryptFdAsync(key, blobId, src, out, onProgress && ((done) => onProgress(done, st.size)));
    fs.fsyncSync(out);
    fs.closeSync(out);
    out = undefined;
    fs.renameSync(tmp, join(dir, id));
    fsyncDir(dir);
    return { blob: id, key: toBase64(key), name, type: mediaType(name), size };
  } catch (e) {
    if (tmp) discardTemp(out, tmp);
    throw e;
  } finally {
    fs.closeSync(src);
    wipe(key);
  }
}

/** decryptBlobToFile, pipelined (see above): the same checks, nothing placed unless all verified. */
export async function decryptBlobToFileAsync(dir: string, file: StoredFile, destPath: string, opts: { force?: boolean } = {}, onProgress?: Progress): Promise<void> {
  checkStoredFile(file);
  const existing = fs.statSync(destPath, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw usageError(`${destPath} is a directory`);
  if (existing && !opts.force) throw exists(destPath);
  let src: number;
  try {
    src = fs.openSync(join(dir, file.blob), 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new KpmError(`the encrypted data of file "${file.name}" is missing (blob ${file.blob})`, EXIT.corrupt);
    throw e;
  }
  let tmp = '';
  let out: number | undefined;
  let placed = false;
  try {
    ({ fd: out, tmp } = openTemp(destPath));
    await decryptFdAsync(file, src, out, onProgress && ((done) => onProgress(done, file.size)));
    fs.fsyncSync(out);
    fs.closeSync(out);
    out = undefined;
    placeFile(tmp, destPath, Boolean(opts.force));
    placed = true;
    fsyncDir(dirname(destPath));
  } finally {
    if (out !== undefined) fs.closeSync(out);
    if (!placed && tmp) fs.rmSync(tmp, { force: true });
    fs.closeSync(src);
  }
}

const exists = (path: string) => usageError(`${path} exists`, 'use --force to overwrite it');

/** Moves the finished temp file into place; without `force`, never over an existing file. */
function placeFile(tmp: string, dest: string, force: boolean): void {
  if (force) return fs.renameSync(tmp, dest);
  try {
    fs.linkSync(tmp, dest); // atomic "create only if absent"
    fs.rmSync(tmp, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw exists(dest);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV' && code !== 'EMLINK') throw e;
    // file systems without hard links: check, then rename
    if (fs.existsSync(dest)) throw exists(dest);
    fs.renameSync(tmp, dest);
  }
}

/** Deletes a blob; true if it existed. */
export function removeBlob(dir: string, blobId: string): boolean {
  if (!BLOB_ID.test(blobId)) return false;
  const path = join(dir, blobId);
  if (!fs.existsSync(path)) return false;
  fs.rmSync(path, { force: true });
  return true;
}

// ---------------------------------------------------------------------------------------------
// In memory (tests and small data)

/** Encrypts bytes into a complete blob; returns the blob and its payload record. */
export function encryptBytes(plaintext: Uint8Array, name = 'file', opts: StreamOptions = {}): { blob: Uint8Array; file: StoredFile } {
  const blobId = randomBytes(16);
  const key = randomBytes(32);
  const parts: Uint8Array[] = [];
  let pos = 0;
  const read: Read = (buf) => {
    const n = Math.min(buf.length, plaintext.length - pos);
    buf.set(plaintext.subarray(pos, pos + n));
    pos += n;
    return n;
  };
  const { size } = encryptStream(key, blobId, read, (b) => parts.push(Uint8Array.from(b)), opts);
  const file: StoredFile = { blob: toHex(blobId), key: toBase64(key), name: checkFileName(name), type: mediaType(name), size };
  return { blob: Buffer.concat(parts), file };
}

/** Decrypts a complete in-memory blob (throws exit 8 on any tampering). */
export function decryptBytes(file: StoredFile, blob: Uint8Array, opts: StreamOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = 0;
  const read: Read = (buf) => {
    const n = Math.min(buf.length, blob.length - pos);
    buf.set(blob.subarray(pos, pos + n));
    pos += n;
    return n;
  };
  decryptStream(file, read, (b) => parts.push(Uint8Array.from(b)), opts);
  return Buffer.concat(parts);
}
