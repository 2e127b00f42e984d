// Random identifiers, bearer tokens and one-time codes, all from the CSPRNG; the database keeps only
// SHA-256 digests of tokens and codes, so a dump of it opens no session.
import { createHash, timingSafeEqual } from 'node:crypto';
import { randomBytes, randomIndex } from '../crypto/random.js';
import { toHex } from '../crypto/bytes.js';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export const newId = (bytes = 16): string => toHex(randomBytes(bytes));

/** `kpa_…` access, `kpr_…` refresh, `kpt_…` login ticket, `kpf_…` SSO flow: a prefix and 256 random bits. */
export function newToken(kind: 'a' | 'r' | 't' | 'f' | 'c'): string {
  return `kp${kind}_${Buffer.from(randomBytes(32)).toString('base64url')}`;
}

export const sha256Hex = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

export function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** A code for people to copy or type: base32 in groups of four, e.g. ABCD-EFGH-… */
export function newCode(bytes: number): string {
  return base32(randomBytes(bytes)).match(/.{1,4}/g)!.join('-');
}

/** The canonical form of a typed code: upper case, no dashes or spaces. */
export const normalizeCode = (code: string): string => code.replace(/[\s-]/g, '').toUpperCase();

/** `n` decimal digits, each uniform (rejection sampling, no modulo bias). */
export function newDigits(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(randomIndex(10));
  return s;
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
