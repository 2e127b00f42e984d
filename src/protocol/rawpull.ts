// The binary answer of a service token's pull (docs/PROTOCOL.md "Service tokens", "The binary pull
// answer"). A client that sends `accept: application/x-kpm-records` gets the page as
//   "KPMR" ‖ u32 n ‖ n bytes of JSON { head, from, count, manifest, more, generation } ‖ the `count`
//   records, one after the other, each as stored (a record begins with its own u32 length)
// instead of JSON with every record in base64: the client neither parses megabytes of JSON nor
// decodes base64, and keeps the records as they arrived (the layout of a log and of the token cache).
// The framing is checked here; each record's contents, the hash chain and the signed manifest are
// checked by the same code as for the JSON answer (src/sync/vaultsync.ts pullInto).
import { PullMeta, type PullMetaT, type PullResultT } from './schemas.js';
import { validate } from './validate.js';

export const RAW_PULL_TYPE = 'application/x-kpm-records';
const MAGIC = Buffer.from('KPMR', 'latin1');
/** the JSON part is a few numbers and a manifest (at most 1024 characters) */
const MAX_META_BYTES = 4096;

/** A page's records as one buffer of raw records: `length` of them, framed by their own u32 lengths. */
export interface RawRecords {
  readonly length: number;
  readonly bytes: Uint8Array;
}

/** A pull page as the verification takes it: records in base64 (the JSON answer), or raw (the binary one). */
export type PullPage = Omit<PullResultT, 'records'> & { records: readonly string[] | RawRecords };

export const isRaw = (r: PullPage['records']): r is RawRecords => !Array.isArray(r);

/** The server's side: a JSON page (records in base64, as stored) as the binary answer. */
export function encodeRawPull(page: PullResultT): Buffer {
  const meta = Buffer.from(JSON.stringify({ head: page.head, from: page.from, count: page.records.length, manifest: page.manifest, more: page.more, generation: page.generation } satisfies PullMetaT));
  const head = Buffer.alloc(8);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(meta.length, 4);
  let size = 0;
  for (const b of page.records) size += Buffer.byteLength(b, 'base64');
  const out = Buffer.allocUnsafe(head.length + meta.length + size);
  head.copy(out, 0);
  meta.copy(out, head.length);
  let o = head.length + meta.length;
  for (const b of page.records) o += out.write(b, o, 'base64');
  return out.subarray(0, o);
}

/**
 * The client's side: the page, or null when the answer is not one (wrong magic, a JSON part off the
 * schema, a record frame that runs past the end, fewer or more records than `count`, bytes left
 * over). `maxRecordBytes`: the most one record may have (as the JSON answer's schema bounds it).
 */
export function decodeRawPull(bytes: Buffer, maxRecordBytes: number): PullPage | null {
  if (bytes.length < 8 || !bytes.subarray(0, 4).equals(MAGIC)) return null;
  const n = bytes.readUInt32BE(4);
  if (n > MAX_META_BYTES || 8 + n > bytes.length) return null;
  let meta: PullMetaT;
  try {
    meta = JSON.parse(bytes.toString('utf8', 8, 8 + n)) as PullMetaT;
  } catch {
    return null;
  }
  if (validate(PullMeta, meta, { allowExtra: false }) !== null) return null;
  const start = 8 + n;
  let o = start;
  for (let i = 0; i < meta.count; i++) {
    if (o + 4 > bytes.length) return null;
    const len = bytes.readUInt32BE(o) + 4;
    if (len > maxRecordBytes || o + len > bytes.length) return null;
    o += len;
  }
  if (o !== bytes.length) return null;
  return { head: meta.head, from: meta.from, manifest: meta.manifest, more: meta.more, generation: meta.generation, records: { length: meta.count, bytes: bytes.subarray(start) } };
}
