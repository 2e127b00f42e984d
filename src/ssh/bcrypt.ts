// bcrypt_pbkdf, the key derivation of passphrase-protected OpenSSH private keys (PROTOCOL.key,
// OpenBSD's bcrypt_pbkdf.c): SHA-512 of passphrase and salt feeding an expensive Blowfish key
// schedule ("EksBlowfish"), output bytes spread across the rounds. Blowfish's initial state is the
// fractional part of pi in hexadecimal, computed here once (Machin's formula over BigInt) instead
// of a 4 KiB table of constants.
import { createHash } from 'node:crypto';

const P_WORDS = 18;
const S_WORDS = 1024;
let PI_WORDS: Uint32Array | undefined;

/** The first n 32-bit words of pi's fractional part (0x243f6a88, 0x85a308d3, …). */
export function piWords(n: number): Uint32Array {
  const bits = BigInt(32 * n + 64);
  const one = 1n << bits;
  const atanInv = (x: bigint): bigint => {
    let sum = 0n;
    let power = one / x;
    const x2 = x * x;
    for (let k = 1n, add = true; power > 0n; k += 2n, add = !add) {
      sum += add ? power / k : -(power / k);
      power /= x2;
    }
    return sum;
  };
  const frac = 16n * atanInv(5n) - 4n * atanInv(239n) - (3n << bits);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Number((frac >> (bits - BigInt(32 * (i + 1)))) & 0xffffffffn);
  return out;
}

class Blowfish {
  readonly p: Uint32Array;
  readonly s: Uint32Array;
  constructor() {
    PI_WORDS ??= piWords(P_WORDS + S_WORDS);
    this.p = PI_WORDS.slice(0, P_WORDS);
    this.s = PI_WORDS.slice(P_WORDS);
  }

  /** enciphers the pair in lr[0], lr[1] in place */
  encipher(lr: Uint32Array): void {
    const p = this.p;
    const s = this.s;
    let l = lr[0] ^ p[0];
    let r = lr[1];
    for (let i = 1; i <= 16; i += 2) {
      r ^= ((((s[l >>> 24] + s[0x100 | ((l >>> 16) & 0xff)]) ^ s[0x200 | ((l >>> 8) & 0xff)]) + s[0x300 | (l & 0xff)]) ^ p[i]);
      l ^= ((((s[r >>> 24] + s[0x100 | ((r >>> 16) & 0xff)]) ^ s[0x200 | ((r >>> 8) & 0xff)]) + s[0x300 | (r & 0xff)]) ^ p[i + 1]);
    }
    lr[0] = r ^ p[17];
    lr[1] = l;
  }

  /** Blowfish_expandstate (data given) or Blowfish_expand0state (data undefined) */
  expand(key: Uint8Array, data?: Uint8Array): void {
    const kw = new Stream(key);
    for (let i = 0; i < P_WORDS; i++) this.p[i] ^= kw.next();
    const dw = data ? new Stream(data) : undefined;
    const lr = new Uint32Array(2);
    const fill = (arr: Uint32Array) => {
      for (let i = 0; i < arr.length; i += 2) {
        if (dw) {
          lr[0] ^= dw.next();
          lr[1] ^= dw.next();
        }
        this.encipher(lr);
        arr[i] = lr[0];
        arr[i + 1] = lr[1];
      }
    };
    fill(this.p);
    fill(this.s);
  }
}

/** Blowfish_stream2word: big-endian words from a byte string that wraps around. */
class Stream {
  private j = 0;
  constructor(private readonly data: Uint8Array) {}
  next(): number {
    let w = 0;
    for (let i = 0; i < 4; i++) {
      if (this.j >= this.data.length) this.j = 0;
      w = ((w << 8) | this.data[this.j++]) >>> 0;
    }
    return w;
  }
}

const MAGIC = Buffer.from('OxychromaticBlowfishSwatDynamite', 'latin1');

function bcryptHash(sha2pass: Uint8Array, sha2salt: Uint8Array): Buffer {
  const bf = new Blowfish();
  bf.expand(sha2pass, sha2salt);
  for (let i = 0; i < 64; i++) {
    bf.expand(sha2salt);
    bf.expand(sha2pass);
  }
  const stream = new Stream(MAGIC);
  const cdata = new Uint32Array(8);
  for (let i = 0; i < 8; i++) cdata[i] = stream.next();
  const pair = new Uint32Array(2);
  for (let i = 0; i < 64; i++) {
    for (let b = 0; b < 8; b += 2) {
      pair[0] = cdata[b];
      pair[1] = cdata[b + 1];
      bf.encipher(pair);
      cdata[b] = pair[0];
      cdata[b + 1] = pair[1];
    }
  }
  const out = Buffer.alloc(32);
  for (let i = 0; i < 8; i++) out.writeUInt32LE(cdata[i], 4 * i);
  bf.p.fill(0);
  bf.s.fill(0);
  return out;
}

const sha512 = (b: Uint8Array) => createHash('sha512').update(b).digest();

export function bcryptPbkdf(pass: Uint8Array, salt: Uint8Array, keyLength: number, rounds: number): Buffer {
  if (rounds < 1 || keyLength < 1 || keyLength > 1024) throw new Error('bad bcrypt_pbkdf parameters');
  const stride = Math.ceil(keyLength / 32);
  const amt = Math.ceil(keyLength / stride);
  const key = Buffer.alloc(keyLength);
  const sha2pass = sha512(pass);
  const countSalt = Buffer.alloc(salt.length + 4);
  countSalt.set(salt);
  let left = keyLength;
  for (let count = 1; left > 0; count++) {
    countSalt.writeUInt32BE(count, salt.length);
    let tmp = bcryptHash(sha2pass, sha512(countSalt));
    const out = Buffer.from(tmp);
    for (let r = 1; r < rounds; r++) {
      tmp = bcryptHash(sha2pass, sha512(tmp));
      for (let i = 0; i < 32; i++) out[i] ^= tmp[i];
    }
    let i = 0;
    for (; i < Math.min(amt, left); i++) {
      const dest = i * stride + (count - 1);
      if (dest >= keyLength) break;
      key[dest] = out[i];
    }
    left -= i;
    out.fill(0);
  }
  sha2pass.fill(0);
  return key;
}
