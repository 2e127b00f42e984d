// The only source of randomness in kpm: the platform CSPRNG. Never Math.random, never the clock
// (Kaspersky's generator seeded from the time: CVE-2020-27020).
import { webcrypto } from 'node:crypto';

export type ByteSource = (n: number) => Uint8Array;

export const randomBytes: ByteSource = (n: number): Uint8Array => {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65536 bytes per call.
  for (let i = 0; i < n; i += 65536) webcrypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
};

/**
 * Uniform integer in [0, n) by rejection sampling: bytes are drawn big-endian into the smallest
 * number of whole bytes covering n, and values at or above the largest multiple of n are thrown
 * away, so there is no modulo bias.
 */
export function randomIndex(n: number, source: ByteSource = randomBytes): number {
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError('randomIndex: n out of range');
  if (n === 1) return 0;
  const bytes = n <= 2 ** 8 ? 1 : n <= 2 ** 16 ? 2 : n <= 2 ** 24 ? 3 : 4;
  const space = 2 ** (8 * bytes);
  const limit = space - (space % n);
  for (;;) {
    const b = source(bytes);
    let v = 0;
    for (let i = 0; i < bytes; i++) v = v * 256 + b[i];
    if (v < limit) return v % n;
  }
}
