// Seeded test data: the same bytes on every run, so a failure can be reproduced (no Math.random, no
// randomBytes as test data).
import { createCipheriv, createHash } from 'node:crypto';

/** Pseudo-random bytes from a seed (AES-256-CTR keystream under SHA-256(seed)); each call continues the stream. */
export function seededBytes(seed: string): (n: number) => Buffer {
  const key = createHash('sha256').update(`kpm-test-seed:${seed}`).digest();
  const ctr = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (n: number) => ctr.update(Buffer.alloc(n));
}

/** `n` seeded bytes at once. */
export const seeded = (seed: string, n: number): Buffer => seededBytes(seed)(n);
