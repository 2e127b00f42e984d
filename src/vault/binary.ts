// Minimal big-endian writer/reader for the vault file formats. The reader throws CorruptError on
// any read past the end, so truncated files can never be half-parsed.
import { corrupt } from '../core/errors.js';

export class ByteWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  bytes(b: Uint8Array): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }
  u8(v: number): this {
    return this.bytes(Uint8Array.of(v));
  }
  u16(v: number): this {
    return this.bytes(Uint8Array.of((v >>> 8) & 0xff, v & 0xff));
  }
  u32(v: number): this {
    return this.bytes(Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  }
  u64(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v));
    return this.bytes(b);
  }
  varBytes(b: Uint8Array): this {
    return this.u32(b.length).bytes(b);
  }
  get length(): number {
    return this.size;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

export class ByteReader {
  private view: DataView;
  offset = 0;

  constructor(
    readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw corrupt(`${this.what} is truncated or corrupt`);
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  u8(): number {
    this.need(1);
    return this.buf[this.offset++];
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset);
    this.offset += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset);
    this.offset += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.offset);
    this.offset += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`${this.what} is corrupt (integer out of range)`);
    return Number(v);
  }
  varBytes(max = 1 << 26): Uint8Array {
    const n = this.u32();
    if (n > max) throw corrupt(`${this.what} is corrupt (field too long)`);
    return this.bytes(n);
  }
  get remaining(): number {
    return this.buf.length - this.offset;
  }
}
