// The SSH wire encoding (RFC 4251 §5): byte, boolean, uint32, string, mpint. Used by the key
// formats (public key blobs, openssh-key-v1) and the agent protocol (draft-miller-ssh-agent).

export class WireError extends Error {}

export class WireReader {
  private o = 0;
  constructor(readonly buf: Buffer) {}
  get offset(): number {
    return this.o;
  }
  get remaining(): number {
    return this.buf.length - this.o;
  }
  private need(n: number): void {
    if (n < 0 || this.o + n > this.buf.length) throw new WireError('truncated SSH data');
  }
  byte(): number {
    this.need(1);
    return this.buf[this.o++];
  }
  bool(): boolean {
    return this.byte() !== 0;
  }
  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.o);
    this.o += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
  string(): Buffer {
    return this.bytes(this.uint32());
  }
  text(): string {
    return this.string().toString('utf8');
  }
  /** an mpint as unsigned big-endian bytes without leading zeros (negative values are refused) */
  mpint(): Buffer {
    const b = this.string();
    if (b.length && b[0] & 0x80) throw new WireError('negative mpint');
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    return b.subarray(i);
  }
  rest(): Buffer {
    return this.bytes(this.remaining);
  }
  end(): void {
    if (this.remaining !== 0) throw new WireError('trailing bytes in SSH data');
  }
}

export class WireWriter {
  private parts: Buffer[] = [];
  byte(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]));
    return this;
  }
  bool(v: boolean): this {
    return this.byte(v ? 1 : 0);
  }
  uint32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }
  raw(b: Uint8Array): this {
    this.parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    return this;
  }
  string(b: Uint8Array | string): this {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    this.uint32(buf.length);
    return this.raw(buf);
  }
  /** an unsigned big-endian integer as an mpint (a zero byte in front when the top bit is set) */
  mpint(b: Uint8Array): this {
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    const v = Buffer.from(b.subarray(i));
    return this.string(v.length && v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** base64url (JWK) ↔ bytes */
export const b64u = {
  decode: (s: string): Buffer => Buffer.from(s, 'base64url'),
  encode: (b: Uint8Array): string => Buffer.from(b).toString('base64url'),
};

/** Left-pads unsigned big-endian bytes to a fixed length (ECDSA coordinates and scalars). */
export function padTo(b: Uint8Array, len: number): Buffer {
  let i = 0;
  while (b.length - i > len && b[i] === 0) i++;
  const v = Buffer.from(b.subarray(i));
  if (v.length > len) throw new WireError('integer too large');
  return Buffer.concat([Buffer.alloc(len - v.length), v]);
}
