// The proof-of-work half of the security check (hashcash-style): find a nonce so that
// SHA-256(salt ":" nonce) starts with `bits` zero bits. Expected work: 2^bits hashes. No I/O.
import { sha256 } from '@noble/hashes/sha2.js';

const enc = new TextEncoder();

export function leadingZeroBits(digest: Uint8Array): number {
  let n = 0;
  for (const b of digest) {
    if (b === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(b) - 24;
  }
  return n;
}

export function powValid(salt: string, nonce: string, bits: number): boolean {
  return leadingZeroBits(sha256(enc.encode(`${salt}:${nonce}`))) >= bits;
}

/** Tries nonces 0, 1, 2, … (base 36) until one is valid; gives up after `maxTries`. */
export function solvePow(salt: string, bits: number, maxTries = 2 ** Math.min(bits + 6, 30)): string | null {
  for (let i = 0; i < maxTries; i++) {
    const nonce = i.toString(36);
    if (powValid(salt, nonce, bits)) return nonce;
  }
  return null;
}
