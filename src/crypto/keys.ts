// Key hierarchy: every sub-key comes from HKDF-SHA256 with its own label, so no key serves two purposes.
import { createHmac, createHash } from 'node:crypto';
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { utf8 } from './bytes.js';

export const LABEL = {
  kek: 'kpm/v1/kek',
  manifest: 'kpm/v1/manifest',
  nameTag: 'kpm/v1/name-tag',
} as const;

/** HKDF-SHA256 (RFC 5869). Pure JS so the input key never passes through native buffers (R39). */
export function hkdf(ikm: Uint8Array, info: string | Uint8Array, length = 32, salt: Uint8Array = new Uint8Array(0)): Uint8Array {
  const infoBytes = typeof info === 'string' ? utf8.encode(info) : info;
  return nobleHkdf(nobleSha256, ikm, salt, infoBytes, length);
}

export function hmacSha256(key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key);
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
}

export function sha256(...data: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
}
