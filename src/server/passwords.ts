// Account passwords: Argon2id PHC strings (m=19 MiB, t=2, p=1: OWASP's minimum, SECURITY-REQUIREMENTS
// §3 "Account password (server)"), verified by the native `argon2` package, which compares in
// constant time. Unknown emails are checked against a dummy hash so they take as long as a wrong
// password (R28).
import argon2 from 'argon2';
import { normalizePassword } from '../protocol/password-policy.js';
import { randomBytes } from '../crypto/random.js';

export const PHC_PARAMS = { m: 19456, t: 2, p: 1 } as const;

const options = { type: argon2.argon2id, memoryCost: PHC_PARAMS.m, timeCost: PHC_PARAMS.t, parallelism: PHC_PARAMS.p, hashLength: 32 } as const;

/** How many Argon2id verifications this process ran (tests count them). */
export let verificationCount = 0;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(normalizePassword(password), options);
}

export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  verificationCount++;
  try {
    return await argon2.verify(phc, normalizePassword(password));
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/** Runs one verification that always fails, at the same cost as a real one. */
export async function verifyDummy(password: string): Promise<false> {
  dummy ??= argon2.hash(Buffer.from(randomBytes(32)), options);
  await verifyPassword(await dummy, password);
  return false;
}

/** Same hash for secrets that are not passwords (recovery codes): no normalisation needed. */
export function hashSecret(secret: string): Promise<string> {
  return argon2.hash(secret, options);
}

export async function verifySecret(phc: string, secret: string): Promise<boolean> {
  try {
    return await argon2.verify(phc, secret);
  } catch {
    return false;
  }
}
