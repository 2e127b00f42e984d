// The audit's build-made data files (dist/audit-*.bin): tables computed once by the build from the
// zxcvbn-ts set-up it bundles, read in milliseconds instead of being rebuilt on every audit.
//
// Layout: MAGIC, the length of a JSON header (4 bytes, little-endian), the header, spaces up to a
// multiple of 4 bytes, the sections one after another (each padded with zeros to a multiple of 4
// bytes, so that every section can be read as 32-bit words in place), then a SHA-256 of all before
// it. A damaged file, one with another magic, or one whose sections do not have the sizes its
// header implies is not used: the caller then builds its data from the library (slower, the same).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const pad4 = (n: number) => (4 - (n % 4)) % 4;

export function encodeDataFile(magic: string, header: object, sections: readonly ArrayBufferView[]): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(magic.length + 4);
  head.write(magic, 0, 'latin1');
  head.writeUInt32LE(json.length, magic.length);
  const parts: Buffer[] = [head, json, Buffer.alloc(pad4(head.length + json.length), 0x20)];
  for (const s of sections) parts.push(Buffer.from(s.buffer, s.byteOffset, s.byteLength), Buffer.alloc(pad4(s.byteLength)));
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/**
 * The header and sections of a file written by encodeDataFile with `magic`; `sizes` gives each
 * section's length in bytes from the header (undefined: a header this reader does not accept).
 * Every section starts at a multiple of 4 bytes of its buffer.
 */
export function decodeDataFile<H>(file: Buffer, magic: string, sizes: (header: H) => number[] | undefined): { header: H; sections: Uint8Array[] } | undefined {
  if (file.length < magic.length + 4 + 32 || file.toString('latin1', 0, magic.length) !== magic) return undefined;
  const body = file.subarray(0, file.length - 32);
  if (!createHash('sha256').update(body).digest().equals(file.subarray(file.length - 32))) return undefined;
  const headerLength = body.readUInt32LE(magic.length);
  let at = magic.length + 4;
  if (at + headerLength > body.length) return undefined;
  let header: H;
  try {
    header = JSON.parse(body.toString('utf8', at, at + headerLength)) as H;
  } catch {
    return undefined;
  }
  at += headerLength;
  at += pad4(at);
  let lengths: number[] | undefined;
  try {
    lengths = header !== null && typeof header === 'object' ? sizes(header) : undefined;
  } catch {
    lengths = undefined;
  }
  if (!lengths || lengths.some((n) => !Number.isSafeInteger(n) || n < 0)) return undefined;
  if (body.length !== at + lengths.reduce((a, n) => a + n + pad4(n), 0)) return undefined;
  // typed arrays need aligned offsets: copy the body out when the read buffer is not aligned
  const bytes = body.byteOffset % 4 === 0 ? body : new Uint8Array(body);
  const sections = lengths.map((n) => {
    const s = bytes.subarray(at, at + n);
    at += n + pad4(n);
    return s;
  });
  return { header, sections };
}

/** A typed view of a section from decodeDataFile (its length must be a multiple of the element size). */
export const u32 = (s: Uint8Array) => new Uint32Array(s.buffer, s.byteOffset, s.byteLength / 4);
export const i32 = (s: Uint8Array) => new Int32Array(s.buffer, s.byteOffset, s.byteLength / 4);
export const u16 = (s: Uint8Array) => new Uint16Array(s.buffer, s.byteOffset, s.byteLength / 2);

/**
 * The decoded data file `name` of the build this module is part of (next to dist/kpm.mjs, above
 * dist/chunks/), or undefined when there is no good one.
 */
export function readDataFile<T>(name: string, base: string | URL, decode: (file: Buffer) => T | undefined): T | undefined {
  for (const rel of [`../${name}`, `./${name}`]) {
    let file: Buffer;
    try {
      file = readFileSync(new URL(rel, base));
    } catch {
      continue;
    }
    const d = decode(file);
    if (d) return d;
  }
  return undefined;
}
