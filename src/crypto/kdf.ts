// Argon2id key derivation with client-enforced floors and caps (SECURITY-REQUIREMENTS §3).
// The native `argon2` package does the work (about 8× faster than pure JS here); a test checks its
// output against @noble/hashes' argon2id on fixed inputs.
import { createRequire } from 'node:module';

export interface KdfParams {
  /** memory in KiB */
  m: number;
  /** iterations */
  t: number;
  /** parallelism */
  p: number;
}

export const KDF_ARGON2ID = 1;
export const DEFAULT_KDF: KdfParams = { m: 65536, t: 3, p: 4 };
export const KDF_FLOOR: KdfParams = { m: 19456, t: 2, p: 1 };
export const KDF_CAP: KdfParams = { m: 2 * 1024 * 1024, t: 16, p: 16 };
export const SALT_BYTES = 16;
export const KEY_BYTES = 32;

export class KdfParamsError extends Error {}

/** Throws KdfParamsError unless params are within [floor, cap] and the salt is long enough. */
export function checkKdfParams(params: KdfParams, saltLength: number, floor: KdfParams = KDF_FLOOR): void {
  const { m, t, p } = params;
  for (const [name, v] of [['memory', m], ['iterations', t], ['parallelism', p]] as const) {
    if (!Number.isSafeInteger(v)) throw new KdfParamsError(`KDF ${name} is not an integer`);
  }
  if (m < floor.m || t < floor.t || p < Math.max(1, floor.p)) {
    throw new KdfParamsError(`KDF parameters m=${m} t=${t} p=${p} are below the minimum m=${floor.m} t=${floor.t} p=${floor.p}`);
  }
  if (m > KDF_CAP.m || t > KDF_CAP.t || p > KDF_CAP.p) {
    throw new KdfParamsError(`KDF parameters m=${m} t=${t} p=${p} exceed the maximum m=${KDF_CAP.m} t=${KDF_CAP.t} p=${KDF_CAP.p}`);
  }
  if (m < 8 * p) throw new KdfParamsError('KDF memory must be at least 8 KiB per lane');
  if (saltLength < SALT_BYTES) throw new KdfParamsError(`KDF salt is ${saltLength} bytes; at least ${SALT_BYTES} are required`);
}

export function isBelowDefault(params: KdfParams): boolean {
  return params.m < DEFAULT_KDF.m || params.t < DEFAULT_KDF.t;
}

type NativeArgon2 = {
  hash(password: Buffer, options: Record<string, unknown>): Promise<Buffer>;
  argon2id: number;
};
let native: NativeArgon2 | undefined;

/** How many derivations this process ran; lets tests prove a check happens before the KDF (R3). */
export let derivationCount = 0;

/** Argon2id(password, salt) → 32-byte key. Parameters are checked before any memory is allocated. */
export async function argon2id(password: Uint8Array, salt: Uint8Array, params: KdfParams): Promise<Uint8Array> {
  checkKdfParams(params, salt.length);
  derivationCount++;
  native ??= createRequire(import.meta.url)('argon2') as NativeArgon2;
  const out = await native.hash(Buffer.from(password), {
    type: native.argon2id,
    raw: true,
    salt: Buffer.from(salt),
    memoryCost: params.m,
    timeCost: params.t,
    parallelism: params.p,
    hashLength: KEY_BYTES,
    version: 0x13,
  });
  const key = new Uint8Array(out);
  out.fill(0);
  return key;
}
