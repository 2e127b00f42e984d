// Document contents: the blobs that entries name travel next to the records. They are encrypted and
// authenticated on their own (docs/FORMAT.md "Blob"), under keys only the entries hold, so the
// server stores opaque chunks; a blob it altered fails when opened (exit 8). A blob goes up before
// the record naming it, so another device never receives an entry whose file is not there yet.
// A download stops at the size (and so the chunk count) that the authenticated entry declares: a
// server sending more, or less, is refused (exit 8) and the partial file removed (S10).
import * as fs from 'node:fs';
import { join } from 'node:path';
import { toBase64, fromBase64 } from '../crypto/bytes.js';
import { BLOB_CHUNK_BYTES } from '../protocol/schemas.js';
import { blobsDir, filesOf, sealedBlobSize } from '../vault/blobs.js';
import { commitTemp, discardTemp, ensureDir, openTemp, writeAll } from '../core/fsutil.js';
import { FLAG_DELETED, type LogRecord } from '../vault/format.js';
import type { Vault } from '../vault/store.js';
import type { KpmPaths } from '../core/paths.js';
import type { SyncTransport } from './transport.js';
import { tampered } from './envelope.js';

/** Blob ids named by live records, with the plaintext size each declares (payloads decrypted to find them). */
export function blobsOf(v: Vault, records: LogRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records) {
    if (r.flags & FLAG_DELETED) continue;
    for (const f of filesOf(v.decrypt(r))) {
      if (!/^[0-9a-f]{32}$/.test(f.blob) || !Number.isSafeInteger(f.size) || f.size < 0) continue;
      out.set(f.blob, Math.max(out.get(f.blob) ?? 0, f.size));
    }
  }
  return out;
}

export const blobIdsOf = (v: Vault, records: LogRecord[]): string[] => [...blobsOf(v, records).keys()];

/** Sends the blobs the server lacks; returns how many. A blob missing here is skipped (warned). */
export async function uploadBlobs(paths: KpmPaths, t: SyncTransport, ids: string[], warnings: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const have = new Set<string>();
  for (let i = 0; i < ids.length; i += 1000) for (const id of (await t.blobsHave(ids.slice(i, i + 1000))).have) have.add(id);
  let sent = 0;
  for (const id of ids) {
    if (have.has(id)) continue;
    const path = join(blobsDir(paths), id);
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch {
      warnings.push(`the file of blob ${id} is missing on this device; other devices will not get it`);
      continue;
    }
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.allocUnsafe(BLOB_CHUNK_BYTES);
      for (let index = 0, pos = 0; ; index++) {
        const n = fs.readSync(fd, buf, 0, BLOB_CHUNK_BYTES, pos);
        pos += n;
        const last = pos >= size;
        await t.blobPut(id, index, toBase64(buf.subarray(0, n)), last);
        if (last) break;
      }
      sent++;
    } finally {
      fs.closeSync(fd);
    }
  }
  return sent;
}

/**
 * Fetches the blobs this device lacks (written whole to a temporary name, then renamed). `blobs`:
 * id → plaintext size the entry declares; no more bytes or chunks than that size makes are taken.
 */
export async function downloadBlobs(paths: KpmPaths, t: SyncTransport, blobs: Map<string, number>): Promise<number> {
  const dir = blobsDir(paths);
  let got = 0;
  for (const [id, size] of blobs) {
    const expected = sealedBlobSize(size);
    const chunks = Math.max(1, Math.ceil(expected / BLOB_CHUNK_BYTES));
    const path = join(dir, id);
    if (fs.existsSync(path)) continue;
    ensureDir(dir);
    const { fd, tmp } = openTemp(path);
    try {
      let written = 0;
      for (let index = 0; ; index++) {
        const c = await t.blobGet(id, index);
        const data = fromBase64(c.data);
        if (written + data.length > expected) throw tampered(`the server sent more of file ${id} than its entry declares (${size} bytes)`);
        writeAll(fd, data);
        written += data.length;
        if (c.last) break;
        if (index + 1 >= chunks) throw tampered(`the server sent more chunks of file ${id} than its entry declares (${chunks})`);
      }
      if (written !== expected) throw tampered(`the server sent ${written} bytes of file ${id}; its entry declares ${expected}`);
    } catch (e) {
      discardTemp(fd, tmp);
      throw e;
    }
    commitTemp(fd, tmp, path);
    got++;
  }
  return got;
}
