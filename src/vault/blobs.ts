// Documents and attachments: files encrypted as a chunked stream into blobs (docs/FORMAT.md
// "Documents (blobs)"). Every file has its own random key, kept with its name, type, size and
// SHA-256 in the entry payload, so blobs are read and written without the vault key, and memory
// stays bounded whatever the file size.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { open, seal, sealInto, AuthError, SEAL_OVERHEAD } from '../crypto/aead.js';
import { randomBytes } from '../crypto/random.js';
import { bytesEqual, fromBase64, toBase64, toHex, utf8, wipe } from '../crypto/bytes.js';
import { KpmError, EXIT, isServerCode, notFound, usageError } from '../core/errors.js';
import { discardTemp, ensureDir, fsyncDir, openTemp, writeAll } from '../core/fsutil.js';
import type { KpmPaths } from '../core/paths.js';
import { BLOB_CHUNK_BYTES } from '../protocol/schemas.js';

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

/** An entry payload (src/vault/entry.ts) as far as files go; typed here so that blobs.ts does not import entry.ts (which imports StoredFile). */
export interface PayloadWithFiles {
  files?: StoredFile[];
}
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

/** The exact size of the blob file of `size` plaintext bytes: header, and one tag and nonce per chunk (`headerBytes`: a shared vault's blob has a longer header, src/share/blobs.ts). */
export function sealedBlobSize(size: number, headerBytes = HEADER_BYTES): number {
  const chunks = size === 0 ? 1 : Math.ceil(size / CHUNK_SIZE);
  return headerBytes + size + chunks * SEAL_OVERHEAD;
}
/** How a server-held blob is fetched and judged (downloadBlob). */
export interface BlobDownload {
  /** the file's name, for messages */
  name: string;
  /** its declared plaintext size; with the blob's header size (a shared vault's is longer) it fixes the exact sealed size and chunk count */
  size: number;
  headerBytes?: number;
  /** what declares the size, for messages ("its entry", "its signed record") */
  source: string;
  /** hex SHA-256 the sealed bytes must have, when their writer signed one */
  sha256?: string;
  /** transfer chunk `index` of the blob (a "not found" answer means the server lacks it) */
  fetch(index: number): Promise<{ data: string; last: boolean }>;
  /** the error a server's misbehaviour raises (exit 8) */
  tampered(message: string): Error;
}

/**
 * Fetches a sealed blob from the server into a temporary file `tmpName` in `dir` and checks it
 * before anything is decrypted: no more bytes than the declared size makes and no more chunks
 * (S10), exactly that many bytes, and the signed SHA-256 when there is one. Returns a descriptor to
 * read it; the caller decrypts (which checks every chunk's AEAD) and must call `remove`. Anything
 * else is `d.tampered(…)`, the temporary file removed.
 */
export async function downloadBlob(dir: string, tmpName: string, d: BlobDownload): Promise<{ fd: number; remove(): void }> {
  const expected = sealedBlobSize(d.size, d.headerBytes);
  const chunks = Math.max(1, Math.ceil(expected / BLOB_CHUNK_BYTES));
  ensureDir(dir);
  const { fd, tmp } = openTemp(join(dir, tmpName));
  try {
    const hash = d.sha256 === undefined ? undefined : createHash('sha256');
    let written = 0;
    for (let index = 0; ; index++) {
      let c: { data: string; last: boolean };
      try {
        c = await d.fetch(index);
      } catch (e) {
        if (isServerCode(e, 'not_found')) throw d.tampered(`the server does not have (all of) the encrypted data of file "${d.name}", which ${d.source} names`);
        throw e;
      }
      const data = fromBase64(c.data);
      if (written + data.length > expected) throw d.tampered(`the server sent more of file "${d.name}" than ${d.source} declares (${d.size} bytes); nothing was written`);
      writeAll(fd, data);
      hash?.update(data);
      written += data.length;
      if (c.last) break;
      if (index + 1 >= chunks) throw d.tampered(`the server sent more chunks of file "${d.name}" than ${d.source} declares (${chunks}); nothing was written`);
    }
    if (written !== expected) throw d.tampered(`the server sent ${written} bytes of file "${d.name}"; ${d.source} declares ${expected}; nothing was written`);
    if (hash && hash.digest('hex') !== d.sha256) throw d.tampered(`the encrypted data of file "${d.name}" is not the one its writer signed (substituted, reordered or replayed); nothing was written`);
  } catch (e) {
    discardTemp(fd, tmp);
    throw e;
  }
  fs.closeSync(fd);
  const rd = fs.openSync(tmp, 'r');
  return { fd: rd, remove: () => discardTemp(rd, tmp) };
}

export const filesOf = (p: PayloadWithFiles): StoredFile[] => p.files ?? [];
export function setFiles(p: PayloadWithFiles, files: StoredFile[]): void {
  if (files.length) p.files = files;
  else delete p.files;
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

/**
 * How a blob is framed: its header, and what every chunk's associated data starts with (then the
 * chunk index u64 and the final flag u8). An own vault's blob: {@link ownFrame}; a shared vault's:
 * src/share/blobs.ts (the vault id and membership epoch in both).
 */
export interface BlobFrame {
  header: Uint8Array;
  aadPrefix: Uint8Array;
}

/** An own vault's blob: the header above, aad = "kpm/v1/blob" ‖ blob id ‖ index ‖ final. */
export const ownFrame = (blobId: Uint8Array): BlobFrame => ({ header: blobHeader(blobId), aadPrefix: Buffer.concat([AAD_PREFIX, blobId]) });

/** The frame's prefix ‖ chunk index u64 ‖ final u8, rewritten in place for every chunk. */
class ChunkAad {
  readonly bytes: Buffer;
  private readonly at0: number;
  constructor(prefix: Uint8Array) {
    this.at0 = prefix.length;
    this.bytes = Buffer.alloc(prefix.length + 8 + 1);
    this.bytes.set(prefix, 0);
  }
  at(index: number, final: boolean): Uint8Array {
    this.bytes.writeBigUInt64BE(BigInt(index), this.at0);
    this.bytes[this.bytes.length - 1] = final ? 1 : 0;
    return this.bytes;
  }
}

/** What a reader knows of a file before opening its blob: its name (for messages) and the plaintext size its record declares. */
export interface BlobMeta {
  name: string;
  size: number;
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
 * The STREAM construction: chunks of CHUNK_SIZE, the last one (shorter, full, or empty for an
 * empty input) flagged final. One chunk of read-ahead tells whether a full chunk is the last.
 */
export function encryptStream(key: Uint8Array, blobId: Uint8Array, read: Read, write: Write, opts: StreamOptions = {}): { size: number } {
  return encryptStreamFramed(key, ownFrame(blobId), read, write, opts);
}

/** encryptStream with any frame (a shared vault's blob). */
export function encryptStreamFramed(key: Uint8Array, frame: BlobFrame, read: Read, write: Write, opts: StreamOptions = {}): { size: number } {
  const aad = new ChunkAad(frame.aadPrefix);
  let cur = Buffer.allocUnsafe(CHUNK_SIZE);
  let next = Buffer.allocUnsafe(CHUNK_SIZE);
  write(frame.header);
  let curLen = fill(read, cur);
  let size = 0;
  for (let index = 0; ; index++) {
    const nextLen = curLen === CHUNK_SIZE ? fill(read, next) : 0;
    const final = nextLen === 0;
    const plain = cur.subarray(0, curLen);
    write(seal(key, plain, aad.at(index, final)));
    size += curLen;
    opts.onChunk?.(size);
    if (final) break;
    [cur, next] = [next, cur];
    curLen = nextLen;
  }
  cur.fill(0);
  next.fill(0);
  return { size };
}

/**
 * The checks of one blob's chunks, in order, for both decrypt paths: the header, each chunk's
 * length, flag and tag, and the size against the record. Throws exit 8 on the first failure.
 */
class ChunkOpener {
  private index = 0;
  size = 0;
  private readonly aad: ChunkAad;
  constructor(
    private readonly file: BlobMeta,
    private readonly key: Uint8Array,
    frame: BlobFrame,
  ) {
    this.aad = new ChunkAad(frame.aadPrefix);
  }
  static checkHeader(file: BlobMeta, header: Uint8Array, got: number, frame: BlobFrame): void {
    if (got !== frame.header.length || !bytesEqual(header, frame.header)) throw tampered(file.name, 'bad header');
  }
  /** The next chunk's plaintext; `final`: no byte of the blob follows this chunk. */
  open(sealed: Uint8Array, final: boolean): Uint8Array {
    if (sealed.length < SEAL_OVERHEAD) throw tampered(this.file.name, 'truncated');
    if (final && this.index > 0 && sealed.length === SEAL_OVERHEAD) throw tampered(this.file.name, 'empty final chunk');
    let plain: Uint8Array;
    try {
      plain = open(this.key, sealed, this.aad.at(this.index, final));
    } catch (e) {
      if (e instanceof AuthError) throw tampered(this.file.name, `chunk ${this.index} fails to authenticate`);
      throw e;
    }
    this.index++;
    this.size += plain.length;
    if (this.size > this.file.size) throw tampered(this.file.name, 'longer than recorded');
    return plain;
  }
  /** After the final chunk. */
  finish(): void {
    if (this.size !== this.file.size) throw tampered(this.file.name, 'size differs from the record');
  }
}

/**
 * Decrypts a blob, handing each verified chunk to `write`. Throws (exit 8) on any header change,
 * failed chunk, missing final chunk, data after it, or a size other than the record's; the caller
 * must discard what was written unless this returns. The record's SHA-256 is not recomputed: the
 * chunk tags already authenticate every byte under a key that encrypts nothing else.
 */
export function decryptStream(file: StoredFile, read: Read, write: Write, opts: StreamOptions = {}): void {
  const key = checkStoredFile(file);
  try {
    decryptStreamFramed(key, ownFrame(Buffer.from(file.blob, 'hex')), file, read, write, opts);
  } finally {
    wipe(key);
  }
}

/** decryptStream with any frame and key (a shared vault's blob); the caller wipes the key. */
export function decryptStreamFramed(key: Uint8Array, frame: BlobFrame, file: BlobMeta, read: Read, write: Write, opts: StreamOptions = {}): void {
  const header = new Uint8Array(frame.header.length);
  ChunkOpener.checkHeader(file, header, fill(read, header), frame);
  const chunks = new ChunkOpener(file, key, frame);
  let cur = Buffer.allocUnsafe(SEALED_CHUNK_BYTES);
  let next = Buffer.allocUnsafe(SEALED_CHUNK_BYTES);
  let curLen = fill(read, cur);
  for (;;) {
    const nextLen = curLen === SEALED_CHUNK_BYTES ? fill(read, next) : 0;
    const final = nextLen === 0;
    write(chunks.open(cur.subarray(0, curLen), final));
    opts.onChunk?.(chunks.size);
    if (final) break;
    [cur, next] = [next, cur];
    curLen = nextLen;
  }
  chunks.finish();
}

// ---------------------------------------------------------------------------------------------
// Files: the same construction, pipelined. Reads and writes go to libuv's thread pool a batch of
// BATCH_CHUNKS chunks at a time while this thread seals or opens the batch before, so the file
// system's copies and the cipher run on two cores. At most two batches are in flight each way, so
// memory stays bounded whatever the file size.

const BATCH_CHUNKS = 16;

/** Reads at `position` until `buf` is full or the file ends; resolves to the bytes read. */
function readAt(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const step = (): void =>
      fs.read(fd, buf, got, buf.length - got, position + got, (e, n) => {
        if (e) return reject(e);
        got += n;
        if (n === 0 || got === buf.length) resolve(got);
        else step();
      });
    step();
  });
}

/** Hands batches to `put` one after the other, in the order given, while the caller goes on. */
class Chain {
  private tail: Promise<void> = Promise.resolve();
  /** `idle`: other work of `put`'s that drain() and settle() wait for too (drain() throws its error) */
  constructor(
    private readonly put: (parts: Uint8Array[]) => Promise<void>,
    private readonly idle: () => Promise<void> = async () => {},
  ) {}
  /** Resolves when `put` has taken these parts. */
  write(parts: Uint8Array[]): Promise<void> {
    const done = this.tail.then(() => this.put(parts));
    done.catch(() => {}); // awaited later (or through the next write); never an unhandled rejection
    this.tail = done;
    return done;
  }
  /** Every write so far has ended; the first error, if any, thrown. */
  async drain(): Promise<void> {
    await this.tail;
    await this.idle();
  }
  /** Waits for every write so far without throwing (before the file is closed or removed). */
  async settle(): Promise<void> {
    await this.tail.catch(() => {});
    await this.idle().catch(() => {});
  }
}

/** Bytes written between two background flushes of a file (see fileChain). */
const FLUSH_BYTES = 8 << 20;

/**
 * A Chain that writes a file descriptor from position 0 on. Every FLUSH_BYTES it also starts an
 * fdatasync in the background, so the disk writes while the cipher works and the caller's final
 * fsync finds little left to do (instead of a whole file of dirty pages). drain() and settle()
 * include the flush in flight, so the file is never closed under it; drain() throws its error.
 */
function fileChain(fd: number): Chain {
  let position = 0;
  let unflushed = 0;
  let flushing: Promise<void> | null = null;
  let flushError: unknown;
  return new Chain(
    async (parts) => {
      const at = position;
      const n = parts.reduce((k, p) => k + p.length, 0);
      position += n;
      await writeAllAt(fd, parts, at);
      unflushed += n;
      if (unflushed >= FLUSH_BYTES && !flushing) {
        unflushed = 0;
        // Kept and thrown by drain(): Linux reports a writeback error to one fsync only, which
        // may be this one rather than the caller's final fsync.
        flushing = new Promise<void>((resolve) =>
          fs.fdatasync(fd, (e) => {
            flushError ??= e ?? undefined;
            flushing = null;
            resolve();
          }),
        );
      }
    },
    async () => {
      await flushing;
      if (flushError) throw flushError;
    },
  );
}

function writeAllAt(fd: number, parts: Uint8Array[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (rest: Uint8Array[], at: number): void =>
      fs.writev(fd, rest, at, (e, n) => {
        if (e) return reject(e);
        const left: Uint8Array[] = [];
        for (const p of rest) {
          if (n >= p.length) n -= p.length;
          else {
            left.push(p.subarray(n));
            n = 0;
          }
        }
        if (left.length === 0) resolve();
        else step(left, at + rest.reduce((k, p) => k + p.length, 0) - left.reduce((k, p) => k + p.length, 0));
      });
    step(parts, position);
  });
}

/**
 * The plaintext of a restored file written past the page cache (O_DIRECT), for files of at least
 * DIRECT_MIN_BYTES. Measured on the 2-core VMs kpm is benchmarked on (bench/docs.sh,
 * bench/HISTORY.md 2026-12-03): 1 GiB written through the page cache took 1.8–2.7 s with fsync, most
 * of it the kernel's copy into fresh page-cache memory, and 0.55–0.67 s written direct. Direct
 * writes need offsets, lengths and buffer addresses that are multiples of the block size: the
 * bytes go through a staging buffer in WebAssembly memory (page-aligned), every aligned run is
 * written direct and the last bytes (< DIRECT_ALIGN) through the ordinary descriptor. Where the
 * file system refuses O_DIRECT, or a direct write fails with EINVAL, the ordinary descriptor takes
 * every write (fileChain's way). The caller's fsync of that descriptor makes all of it durable.
 * The price: the restored file is not left in memory, so its first read comes from the disk.
 * Blobs are written the ordinary way: direct, `kpm doc add` was no faster (1.18–1.29 s against
 * 1.13–1.17 s per GiB), and the next `kpm doc get` then read the blob from the disk (2.7–3.1 s).
 */
export const DIRECT_MIN_BYTES = 1 << 20;
const DIRECT_ALIGN = 4096;
const STAGE_BYTES = 1 << 20; // a multiple of DIRECT_ALIGN and of WebAssembly's 64 KiB page

interface DirectOut {
  chain: Chain;
  /** wipes the staging buffer and closes the direct descriptor */
  close(): void;
}

/** A second, direct descriptor of the temp file `fd` (at `tmp`), or null where there is none. */
function openDirect(tmp: string, fd: number): number | null {
  const O_DIRECT = fs.constants.O_DIRECT;
  if (O_DIRECT === undefined) return null;
  let direct: number;
  try {
    direct = fs.openSync(tmp, fs.constants.O_WRONLY | O_DIRECT | (fs.constants.O_NOFOLLOW ?? 0));
  } catch {
    return null;
  }
  const a = fs.fstatSync(fd);
  const b = fs.fstatSync(direct);
  if (a.dev !== b.dev || a.ino !== b.ino) {
    fs.closeSync(direct); // the name now leads to another file: write through our own descriptor only
    return null;
  }
  return direct;
}

/** A page-aligned buffer of STAGE_BYTES, or null (no WebAssembly: node --jitless; or no address space for it: ulimit -v). */
function alignedStage(): Uint8Array | null {
  try {
    return new Uint8Array(new WebAssembly.Memory({ initial: STAGE_BYTES / 65536 }).buffer);
  } catch {
    return null; // (without WebAssembly, the name itself throws a ReferenceError)
  }
}

function directOut(tmp: string, fd: number): DirectOut | null {
  const stage = alignedStage();
  if (stage === null) return null;
  let direct = openDirect(tmp, fd);
  if (direct === null) return null;
  let position = 0; // the file offset of stage[0]
  let held = 0; // bytes staged, not yet written
  /** Writes the first `n` staged bytes (a multiple of DIRECT_ALIGN) at `position`. */
  const write = async (n: number): Promise<void> => {
    const bytes = stage.subarray(0, n);
    if (direct !== null) {
      try {
        return await writeAllAt(direct, [bytes], position);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        fs.closeSync(direct); // refused after all (alignment): every later write goes the ordinary way
        direct = null;
      }
    }
    await writeAllAt(fd, [bytes], position);
  };
  /** Writes the aligned part of what is staged; what is left moves to the buffer's start. */
  const writeAligned = async (): Promise<void> => {
    const n = held - (held % DIRECT_ALIGN);
    if (n === 0) return;
    await write(n);
    position += n;
    stage.copyWithin(0, n, held);
    held -= n;
  };
  const chain = new Chain(
    async (parts) => {
      for (let p of parts) {
        while (p.length > 0) {
          const take = Math.min(p.length, STAGE_BYTES - held);
          stage.set(p.subarray(0, take), held);
          held += take;
          p = p.subarray(take);
          if (held === STAGE_BYTES) await writeAligned();
        }
      }
      await writeAligned();
    },
    async () => {
      if (held === 0) return;
      await writeAllAt(fd, [stage.subarray(0, held)], position); // the last, unaligned bytes
      position += held;
      held = 0;
    },
  );
  return {
    chain,
    close: () => {
      stage.fill(0);
      if (direct !== null) fs.closeSync(direct);
      direct = null;
    },
  };
}

const quietly = <T>(p: Promise<T>): Promise<T> => {
  p.catch(() => {});
  return p;
};

/** encryptStream from one file descriptor into another (written from position 0). */
export async function encryptFd(key: Uint8Array, blobId: Uint8Array, src: number, out: number, opts: StreamOptions = {}): Promise<{ size: number }> {
  return encryptFdFramed(key, ownFrame(blobId), src, out, opts);
}

/** encryptFd with any frame (a shared vault's blob). */
export async function encryptFdFramed(key: Uint8Array, frame: BlobFrame, src: number, out: number, opts: StreamOptions = {}): Promise<{ size: number }> {
  const writer = fileChain(out);
  const aad = new ChunkAad(frame.aadPrefix);
  const plain = [Buffer.allocUnsafe(BATCH_CHUNKS * CHUNK_SIZE), Buffer.allocUnsafe(BATCH_CHUNKS * CHUNK_SIZE)];
  const sealed = [Buffer.allocUnsafe(BATCH_CHUNKS * SEALED_CHUNK_BYTES), Buffer.allocUnsafe(BATCH_CHUNKS * SEALED_CHUNK_BYTES)];
  const written: Promise<void>[] = [writer.write([frame.header]), Promise.resolve()];
  let reading: Promise<number> = Promise.resolve(0);
  try {
    let cur = 0;
    let inPos = 0;
    let curLen = await readAt(src, plain[0], 0);
    inPos += curLen;
    let index = 0;
    let size = 0;
    for (;;) {
      reading = quietly(curLen === plain[cur].length ? readAt(src, plain[1 - cur], inPos) : Promise.resolve(0));
      await written[cur]; // sealed[cur] is free again
      const chunks = Math.max(1, Math.ceil(curLen / CHUNK_SIZE));
      let at = 0;
      let nextLen = 0;
      for (let j = 0; j < chunks; j++) {
        const last = j === chunks - 1;
        if (last) nextLen = await reading;
        const p = plain[cur].subarray(j * CHUNK_SIZE, Math.min(curLen, (j + 1) * CHUNK_SIZE));
        at += sealInto(key, p, aad.at(index++, last && nextLen === 0), sealed[cur], at);
        size += p.length;
        opts.onChunk?.(size);
      }
      written[cur] = writer.write([sealed[cur].subarray(0, at)]);
      if (nextLen === 0) break;
      inPos += nextLen;
      cur = 1 - cur;
      curLen = nextLen;
    }
    await writer.drain();
    return { size };
  } finally {
    await reading.catch(() => 0);
    await writer.settle();
    plain.forEach((b) => b.fill(0));
  }
}

/**
 * decryptStream from a blob's file descriptor; each verified batch goes to `writer`, or nowhere
 * when it is null (a check only). The caller must discard what was written unless this resolves.
 */
async function decryptFd(file: StoredFile, src: number, writer: Chain | null, opts: StreamOptions = {}): Promise<void> {
  const key = checkStoredFile(file);
  try {
    await decryptFdFramed(key, ownFrame(Buffer.from(file.blob, 'hex')), file, src, writer, opts);
  } finally {
    wipe(key);
  }
}

/** decryptFd with any frame and key; the caller wipes the key. */
async function decryptFdFramed(key: Uint8Array, frame: BlobFrame, file: BlobMeta, src: number, writer: Chain | null, opts: StreamOptions = {}): Promise<void> {
  const sealed = [Buffer.allocUnsafe(BATCH_CHUNKS * SEALED_CHUNK_BYTES), Buffer.allocUnsafe(BATCH_CHUNKS * SEALED_CHUNK_BYTES)];
  const written: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  let reading: Promise<number> = Promise.resolve(0);
  try {
    const header = new Uint8Array(frame.header.length);
    ChunkOpener.checkHeader(file, header, await readAt(src, header, 0), frame);
    const opener = new ChunkOpener(file, key, frame);
    let cur = 0;
    let inPos = frame.header.length;
    let curLen = await readAt(src, sealed[0], inPos);
    inPos += curLen;
    for (;;) {
      reading = quietly(curLen === sealed[cur].length ? readAt(src, sealed[1 - cur], inPos) : Promise.resolve(0));
      await written[cur]; // at most two batches of plaintext wait for the disk
      const chunks = Math.max(1, Math.ceil(curLen / SEALED_CHUNK_BYTES));
      const parts: Uint8Array[] = [];
      let nextLen = 0;
      for (let j = 0; j < chunks; j++) {
        const last = j === chunks - 1;
        if (last) nextLen = await reading;
        const c = sealed[cur].subarray(j * SEALED_CHUNK_BYTES, Math.min(curLen, (j + 1) * SEALED_CHUNK_BYTES));
        parts.push(opener.open(c, last && nextLen === 0));
        opts.onChunk?.(opener.size);
      }
      if (writer) written[cur] = quietly(writer.write(parts).then(() => parts.forEach((p) => p.fill(0))));
      else parts.forEach((p) => p.fill(0));
      if (nextLen === 0) break;
      inPos += nextLen;
      cur = 1 - cur;
      curLen = nextLen;
    }
    opener.finish();
    await writer?.drain();
  } finally {
    await reading.catch(() => 0);
    await writer?.settle();
  }
}

/** Encrypts `srcPath` into a new blob (temp file, fsync, rename) and returns its record for the payload. */
export async function encryptFileToBlob(dir: string, srcPath: string, onProgress?: Progress): Promise<StoredFile> {
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
    const { size } = await encryptFd(key, blobId, src, out, { onChunk: onProgress && ((done) => onProgress(done, st.size)) });
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

/** Opens a blob's file for reading; a missing blob is exit 8. */
function openBlob(dir: string, file: StoredFile): number {
  try {
    return fs.openSync(join(dir, file.blob), 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new KpmError(`the encrypted data of file "${file.name}" is missing (blob ${file.blob})`, EXIT.corrupt);
    throw e;
  }
}

/**
 * Decrypts a blob to `destPath`: into a temp file beside it (0600), renamed into place only after
 * the final chunk and the checksum verified. Without `force`, an existing destination is refused
 * (exit 2) and never replaced, even if it appears while decrypting.
 */
export async function decryptBlobToFile(dir: string, file: StoredFile, destPath: string, opts: { force?: boolean } = {}, onProgress?: Progress): Promise<void> {
  checkStoredFile(file);
  const existing = fs.statSync(destPath, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw usageError(`${destPath} is a directory`);
  if (existing && !opts.force) throw exists(destPath);
  const src = openBlob(dir, file);
  try {
    await decryptToFile(src, file, (s, w, o) => decryptFd(file, s, w, o), destPath, opts, onProgress);
  } finally {
    fs.closeSync(src);
  }
}

/**
 * A shared vault's blob (any frame and key) from an open descriptor to `destPath`, as
 * decryptBlobToFile does: a temp file renamed into place only when every chunk and the size held.
 */
export async function decryptFramedToFile(src: number, key: Uint8Array, frame: BlobFrame, file: BlobMeta, destPath: string, opts: { force?: boolean } = {}, onProgress?: Progress): Promise<void> {
  const existing = fs.statSync(destPath, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw usageError(`${destPath} is a directory`);
  if (existing && !opts.force) throw exists(destPath);
  await decryptToFile(src, file, (s, w, o) => decryptFdFramed(key, frame, file, s, w, o), destPath, opts, onProgress);
}

/** The same from a descriptor, checked whole before the first byte goes to `put` (decryptBlobToStream). */
export async function decryptFramedToStream(src: number, key: Uint8Array, frame: BlobFrame, file: BlobMeta, put: (bytes: Uint8Array) => Promise<void>): Promise<void> {
  await decryptFdFramed(key, frame, file, src, null);
  await decryptFdFramed(key, frame, file, src, new Chain(async (parts) => {
    for (const p of parts) await put(p);
  }));
}

/** Checks every chunk of a blob (any frame and key) from a descriptor and its size, writing nothing: exit 8 on the first failure. */
export async function verifyFramed(src: number, key: Uint8Array, frame: BlobFrame, file: BlobMeta): Promise<void> {
  await decryptFdFramed(key, frame, file, src, null);
}

type FdDecrypt = (src: number, writer: Chain | null, opts: StreamOptions) => Promise<void>;

async function decryptToFile(src: number, file: BlobMeta, decrypt: FdDecrypt, destPath: string, opts: { force?: boolean }, onProgress?: Progress): Promise<void> {
  let tmp = '';
  let out: number | undefined;
  let placed = false;
  let direct: DirectOut | null = null;
  try {
    ({ fd: out, tmp } = openTemp(destPath));
    direct = file.size >= DIRECT_MIN_BYTES ? directOut(tmp, out) : null;
    await decrypt(src, direct?.chain ?? fileChain(out), { onChunk: onProgress && ((done) => onProgress(done, file.size)) });
    fs.fsyncSync(out);
    fs.closeSync(out);
    out = undefined;
    placeFile(tmp, destPath, Boolean(opts.force));
    placed = true;
    fsyncDir(dirname(destPath));
  } finally {
    direct?.close();
    if (out !== undefined) fs.closeSync(out);
    if (!placed && tmp) fs.rmSync(tmp, { force: true });
  }
}

/**
 * Decrypts a blob to a stream (stdout) with bounded memory and nothing written unless the whole blob
 * is sound: a first pass checks every chunk, the second decrypts again while writing. A blob changed
 * between the passes still fails its chunk check (exit 8), after some bytes were written.
 */
export async function decryptBlobToStream(dir: string, file: StoredFile, put: (bytes: Uint8Array) => Promise<void>): Promise<void> {
  checkStoredFile(file);
  const src = openBlob(dir, file);
  try {
    await decryptFd(file, src, null);
    await decryptFd(
      file,
      src,
      new Chain(async (parts) => {
        for (const p of parts) await put(p);
      }),
    );
  } finally {
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
