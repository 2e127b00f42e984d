// A zip archive read member by member (S12): the central directory is parsed first, and a member
// is inflated only when the caller asks for it, never beyond the size its header declares, and
// never beyond a total budget for the whole archive. A zip bomb is refused from its headers
// (or, if they lie, as soon as the output passes the declared size) without inflating it whole.
import { crc32, inflateRawSync } from 'node:zlib';
import { FileFormatError } from './model.js';

export interface ZipMember {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

export interface ZipLimits {
  /** the most any one member may inflate to */
  member: number;
  /** the most all members read from this archive may inflate to together */
  total: number;
}

const EOCD = 0x06054b50, CENTRAL = 0x02014b50, LOCAL = 0x04034b50;
const mib = (n: number) => `${Math.round(n / (1 << 20))} MiB`;

export class ZipReader {
  readonly members = new Map<string, ZipMember>();
  private used = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly limits: ZipLimits,
    private readonly what = 'zip archive',
  ) {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    let end = -1;
    for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
      if (b.readUInt32LE(i) === EOCD) {
        end = i;
        break;
      }
    }
    if (end < 0) throw new FileFormatError(`not a ${what} (a zip archive): no end of central directory`);
    const count = b.readUInt16LE(end + 10);
    const cdSize = b.readUInt32LE(end + 12);
    let at = b.readUInt32LE(end + 16);
    if (count === 0xffff || cdSize === 0xffffffff || at === 0xffffffff) throw new FileFormatError(`the ${what} is a ZIP64 archive, which kpm does not read`);
    if (at + cdSize > end) throw new FileFormatError(`the ${what} is damaged: its central directory lies outside the file`);
    for (let n = 0; n < count; n++) {
      if (at + 46 > end || b.readUInt32LE(at) !== CENTRAL) throw new FileFormatError(`the ${what} is damaged: central directory entry ${n + 1} is unreadable`);
      const nameLen = b.readUInt16LE(at + 28), extraLen = b.readUInt16LE(at + 30), commentLen = b.readUInt16LE(at + 32);
      const m: ZipMember = {
        flags: b.readUInt16LE(at + 8), method: b.readUInt16LE(at + 10), crc: b.readUInt32LE(at + 16),
        compressedSize: b.readUInt32LE(at + 20), size: b.readUInt32LE(at + 24), localOffset: b.readUInt32LE(at + 42),
        name: b.toString('utf8', at + 46, at + 46 + nameLen),
      };
      if (m.size === 0xffffffff || m.compressedSize === 0xffffffff || m.localOffset === 0xffffffff) throw new FileFormatError(`the ${what} is a ZIP64 archive, which kpm does not read`);
      if (!this.members.has(m.name)) this.members.set(m.name, m);
      at += 46 + nameLen + extraLen + commentLen;
    }
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  /** The declared size of a member (before reading it), for budgeting. */
  sizeOf(name: string): number | undefined {
    return this.members.get(name)?.size;
  }

  /** Inflates one member, within the limits; undefined if there is no such member. */
  read(name: string): Uint8Array | undefined {
    const m = this.members.get(name);
    if (!m) return undefined;
    const label = `${this.what} member "${name}"`;
    if (m.flags & 1) throw new FileFormatError(`${label} is encrypted`);
    if (m.size > this.limits.member) throw new FileFormatError(`refused: ${label} would unpack to ${mib(m.size)} (at most ${mib(this.limits.member)})`);
    if (this.used + m.size > this.limits.total) throw new FileFormatError(`refused: the ${this.what} would unpack to more than ${mib(this.limits.total)}`);
    const b = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const at = m.localOffset;
    if (at + 30 > b.length || b.readUInt32LE(at) !== LOCAL) throw new FileFormatError(`the ${this.what} is damaged: ${label} has no local header`);
    const start = at + 30 + b.readUInt16LE(at + 26) + b.readUInt16LE(at + 28);
    if (start + m.compressedSize > b.length) throw new FileFormatError(`the ${this.what} is damaged: ${label} is cut short`);
    const data = b.subarray(start, start + m.compressedSize);
    let out: Buffer;
    if (m.method === 0) out = data;
    else if (m.method === 8) {
      try {
        // One byte more than declared, so a header that under-states the size is caught.
        out = inflateRawSync(data, { maxOutputLength: Math.max(1, m.size + 1) });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ERR_BUFFER_TOO_LARGE') throw new FileFormatError(`refused: ${label} unpacks to more than the ${m.size} bytes its header declares`);
        throw new FileFormatError(`the ${this.what} is damaged: ${label} cannot be unpacked (${(e as Error).message})`);
      }
    } else throw new FileFormatError(`${label} uses compression method ${m.method}, which kpm does not read`);
    if (out.length !== m.size) throw new FileFormatError(`refused: ${label} unpacks to ${out.length} bytes, its header declares ${m.size}`);
    if ((crc32(out) >>> 0) !== m.crc) throw new FileFormatError(`the ${this.what} is damaged: ${label} fails its CRC check`);
    this.used += out.length;
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
}
