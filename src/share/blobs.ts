// Files (documents and attachments) in shared vaults (docs/SHARING.md "Files in shared vaults",
// docs/FORMAT.md "A shared vault's blob"). A file's contents are sealed as an own vault's blob is
// (the same chunked STREAM construction, src/vault/blobs.ts), but framed with the vault id and the
// membership epoch, and under a key derived per blob from that epoch's record key: only members of
// the epoch (and nothing the server holds) can open it. Since every member of the epoch, readers
// too, could derive that key, the writer's signed record also binds SHA-256 of the sealed blob and
// its size: a blob the server (or a reader) substituted, truncated, reordered or replayed is refused
// (exit 8) before a byte of it is decrypted to the output.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { concatBytes, fromHex, toBase64, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hkdf } from '../crypto/keys.js';
import { randomBytes } from '../crypto/random.js';
import { BLOB_CHUNK_BYTES, MAX_BLOB_CHUNKS } from '../protocol/schemas.js';
import { ByteWriter } from '../vault/binary.js';
import { CHUNK_SIZE, checkFileName, downloadBlob, encryptFdFramed, mediaType, sealedBlobSize, type BlobFrame, type Progress } from '../vault/blobs.js';
import { discardTemp, ensureDir, openTemp } from '../core/fsutil.js';
import { EXIT, KpmError, notFound, usageError } from '../core/errors.js';
import { shareTampered } from './identity.js';

/** A file of a shared entry, as the writer's signed record names it (record plaintext version 3). No key: it is derived. */
export interface SharedFile {
  /** blob id, 32 lowercase hex digits */
  blob: string;
  name: string;
  /** media type */
  type: string;
  /** plaintext size in bytes */
  size: number;
  /** the membership epoch whose record key the blob's key derives from */
  epoch: number;
  /** SHA-256 of the whole sealed blob (header and every chunk), 64 lowercase hex digits */
  sha256: string;
}

export const SHARE_BLOB_MAGIC = utf8.encode('KPSB');
export const SHARE_BLOB_VERSION = 1;
/** "KPSB" ‖ u16 version ‖ vault id (16) ‖ u64 epoch ‖ blob id (16) ‖ u32 chunk size */
export const SHARE_BLOB_HEADER_BYTES = 4 + 2 + 16 + 8 + 16 + 4;
export const MAX_SHARED_FILES = 1000;
/** The largest plaintext a shared file may have: its sealed blob fits in MAX_BLOB_CHUNKS transfer chunks (as an own vault's). */
export const MAX_SHARED_FILE_BYTES = Math.floor(((MAX_BLOB_CHUNKS * BLOB_CHUNK_BYTES - SHARE_BLOB_HEADER_BYTES) * CHUNK_SIZE) / (CHUNK_SIZE + 40));
const LABEL = { key: 'kpm/v1/share/blob-key', aad: 'kpm/v1/share/blob' } as const;

function bound(vaultId: Uint8Array, epoch: number, blobId: Uint8Array): Uint8Array {
  return new ByteWriter().bytes(vaultId).u64(epoch).bytes(blobId).finish();
}

/** The header and the chunks' associated data of a shared blob: both name the vault, the epoch and the blob. */
export function shareFrame(vaultId: Uint8Array, epoch: number, blobId: Uint8Array): BlobFrame {
  const header = new ByteWriter().bytes(SHARE_BLOB_MAGIC).u16(SHARE_BLOB_VERSION).bytes(bound(vaultId, epoch, blobId)).u32(CHUNK_SIZE).finish();
  return { header, aadPrefix: concatBytes(utf8.encode(LABEL.aad), bound(vaultId, epoch, blobId)) };
}

/** The blob's key: HKDF(record key of the epoch, "kpm/v1/share/blob-key" ‖ vault id ‖ u64 epoch ‖ blob id). */
export function shareBlobKey(recordKeyOfEpoch: Uint8Array, vaultId: Uint8Array, epoch: number, blobId: Uint8Array): Uint8Array {
  return hkdf(recordKeyOfEpoch, concatBytes(utf8.encode(LABEL.key), bound(vaultId, epoch, blobId)));
}

/** The exact size of a shared file's sealed blob. */
export const sharedBlobSize = (size: number): number => sealedBlobSize(size, SHARE_BLOB_HEADER_BYTES);

const FILE_KEYS = ['blob', 'name', 'type', 'size', 'epoch', 'sha256'];

/**
 * Why `files` cannot be the files of a record of epoch `recordEpoch` (null: it can): 1 to 1000
 * objects of exactly the SharedFile fields, a blob id and a SHA-256 in hex, a usable file name
 * (unique, case-insensitively, in the entry), a size a blob can have, and an epoch from 1 to the
 * record's (a file keeps the epoch it was sealed under).
 */
export function sharedFilesProblem(files: unknown, recordEpoch: number): string | null {
  if (!Array.isArray(files) || files.length === 0 || files.length > MAX_SHARED_FILES) return 'files: expected 1 to 1000 files';
  const names = new Set<string>();
  const blobs = new Set<string>();
  for (const [i, f] of files.entries()) {
    const at = `files[${i}]`;
    if (f === null || typeof f !== 'object' || Array.isArray(f)) return `${at}: expected an object`;
    const o = f as Record<string, unknown>;
    if (Object.keys(o).length !== FILE_KEYS.length || !FILE_KEYS.every((k) => Object.hasOwn(o, k))) return `${at}: expected exactly ${FILE_KEYS.join(', ')}`;
    if (typeof o.blob !== 'string' || !/^[0-9a-f]{32}$/.test(o.blob)) return `${at}.blob: not a blob id`;
    if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) return `${at}.sha256: not a SHA-256`;
    if (typeof o.type !== 'string' || o.type.length > 255) return `${at}.type: not a media type`;
    if (typeof o.name !== 'string') return `${at}.name: not a file name`;
    try {
      if (checkFileName(o.name) !== o.name) return `${at}.name: not in NFC`;
    } catch {
      return `${at}.name: not a usable file name`;
    }
    if (!Number.isSafeInteger(o.size) || (o.size as number) < 0 || (o.size as number) > MAX_SHARED_FILE_BYTES) return `${at}.size: out of range`;
    if (!Number.isSafeInteger(o.epoch) || (o.epoch as number) < 1 || (o.epoch as number) > recordEpoch) return `${at}.epoch: not an epoch up to the record's (${recordEpoch})`;
    if (names.has(o.name.toLowerCase())) return `${at}.name: two files of the entry are called "${o.name}"`;
    if (blobs.has(o.blob)) return `${at}.blob: named twice`;
    names.add(o.name.toLowerCase());
    blobs.add(o.blob);
  }
  return null;
}

/** What the blob routes need (src/share/client.ts gives its authenticated call). */
export type BlobCall = <T>(name: 'shareBlobPut' | 'shareBlobGet', o: { params: { id: string }; body: unknown }) => Promise<T>;

/**
 * Seals `srcPath` for shared vault `vaultId` under epoch `epoch` (whose vault key is `vaultKey`) into
 * a temporary file in `dir`, sends it to the server in chunks of at most BLOB_CHUNK_BYTES, and
 * returns the file as the record will name it (with SHA-256 of what was sent). The temporary file
 * is removed in every case; nothing stays on this device.
 */
export async function uploadSharedFile(call: BlobCall, dir: string, vaultId: string, epoch: number, recordKeyOfEpoch: Uint8Array, srcPath: string, onProgress?: Progress): Promise<SharedFile> {
  const name = checkFileName(basename(srcPath));
  let src: number;
  try {
    src = fs.openSync(srcPath, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`no such file: ${srcPath}`);
    throw e;
  }
  const blobId = randomBytes(16);
  const id = toHex(blobId);
  const vid = fromHex(vaultId);
  const key = shareBlobKey(recordKeyOfEpoch, vid, epoch, blobId);
  let tmp = '';
  let out: number | undefined;
  try {
    const st = fs.fstatSync(src);
    if (!st.isFile()) throw usageError(`${srcPath} is not a regular file`);
    if (st.size > MAX_SHARED_FILE_BYTES) throw usageError(`${srcPath} is larger than a file may be (${MAX_SHARED_FILE_BYTES} bytes)`);
    ensureDir(dir);
    ({ fd: out, tmp } = openTemp(join(dir, `share-${id}`)));
    const { size } = await encryptFdFramed(key, shareFrame(vid, epoch, blobId), src, out, { onChunk: onProgress && ((done) => onProgress(done, st.size)) });
    const total = sharedBlobSize(size);
    fs.closeSync(out);
    out = fs.openSync(tmp, 'r');
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(BLOB_CHUNK_BYTES);
    for (let index = 0, pos = 0; ; index++) {
      const n = fs.readSync(out, buf, 0, Math.min(BLOB_CHUNK_BYTES, total - pos), pos);
      const data = buf.subarray(0, n);
      hash.update(data);
      pos += n;
      const last = pos >= total;
      await call('shareBlobPut', { params: { id: vaultId }, body: { blob: id, index, data: toBase64(data), last } });
      if (last) break;
      if (n === 0) throw new KpmError(`the sealed file ${id} ended early`, EXIT.error);
    }
    return { blob: id, name, type: mediaType(name), size, epoch, sha256: hash.digest('hex') };
  } finally {
    if (tmp) discardTemp(out, tmp);
    fs.closeSync(src);
    wipe(key);
  }
}

/**
 * Fetches a shared file's sealed blob into a temporary file in `dir` and checks it against the
 * writer's signed record before anything is decrypted (downloadBlob: sizes, chunks and the signed
 * SHA-256). Returns a descriptor to read it; the caller decrypts and must call `remove`.
 */
export function downloadSharedFile(call: BlobCall, dir: string, vaultId: string, file: SharedFile): Promise<{ fd: number; remove(): void }> {
  return downloadBlob(dir, `share-${file.blob}`, {
    name: file.name,
    size: file.size,
    headerBytes: SHARE_BLOB_HEADER_BYTES,
    source: 'its signed record',
    sha256: file.sha256,
    fetch: (index) => call<{ data: string; last: boolean }>('shareBlobGet', { params: { id: vaultId }, body: { blob: file.blob, index } }),
    tampered: shareTampered,
  });
}
