// Key hierarchy: every sub-key comes from HKDF-SHA256 with its own label, so no key serves two purposes.
import * as nodeCrypto from 'node:crypto';
import { createHmac, createHash } from 'node:crypto';
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { utf8 } from './bytes.js';

export const LABEL = {
  kek: 'kpm/v1/kek',
} as const;

/**
 * Format 2 key separation (docs/FORMAT.md "Keys"): the account key and every vault key are only ever
 * HKDF input; each use has its own subkey, so no key is both an AEAD key and a MAC/KDF key.
 */
export const ACCOUNT_LABEL = {
  /** AEAD key that wraps account-wrapped vault keys */
  vaultKeyWrap: 'kpm/v2/account/vault-key-wrap',
  /** AEAD key of the sealed vault metadata (name) */
  vaultMeta: 'kpm/v2/account/vault-meta',
  /** seed of the account's Ed25519 signing key (sync writes) */
  signing: 'kpm/v2/account/signing-seed',
  /** private X25519 key of the account's sharing identity (docs/SHARING.md "Keys") */
  shareX25519: 'kpm/v2/account/share-x25519',
  /** AEAD key of this device's sharing state: contact pins, pinned memberships (docs/SHARING.md) */
  shareState: 'kpm/v2/account/share-state',
} as const;

export const VAULT_LABEL = {
  /** AEAD key of the entry records */
  record: 'kpm/v2/vault/record-aead',
  /** HMAC key of the local header's commit MAC */
  headerMac: 'kpm/v2/vault/header-mac',
  /** HMAC key of the name tags */
  nameTag: 'kpm/v2/vault/name-tag',
  /** AEAD key of the summary index (summaries.idx, docs/FORMAT.md "Summary index") */
  summaryIndex: 'kpm/v2/vault/summary-index',
} as const;

export const accountSubkey = (accountKey: Uint8Array, use: keyof typeof ACCOUNT_LABEL): Uint8Array => hkdf(accountKey, ACCOUNT_LABEL[use]);
/**
 * The key of share.kpms: what the agent hands the CLI for shared vaults. Never the signing seed or the
 * X25519 seed: the agent signs sharing messages and does X25519 itself (docs/SECURITY.md "Sharing keys
 * and signatures").
 */
export const accountShareSecrets = (accountKey: Uint8Array): Uint8Array => accountSubkey(accountKey, 'shareState');
export const vaultSubkey = (vaultKey: Uint8Array, use: keyof typeof VAULT_LABEL): Uint8Array => hkdf(vaultKey, VAULT_LABEL[use]);

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

// One-shot hashing (node:crypto `hash`, Node ≥ 20.12) costs about half of a createHash object per
// call: the hash chains run it twice per record (10k records: 20k calls).
// A digest as a 'binary' (latin1) string (one character a byte), written into a scratch buffer, costs about half
// of one as a Buffer (no backing store to allocate and collect): the chain steps below take that.
const oneShot = (nodeCrypto as { hash?: { (alg: string, data: Uint8Array, enc: 'buffer'): Buffer; (alg: string, data: Uint8Array, enc: 'binary'): string } }).hash;

export function sha256(...data: Uint8Array[]): Uint8Array {
  if (oneShot) {
    if (data.length === 1) return new Uint8Array(oneShot('sha256', data[0], 'buffer'));
    let n = 0;
    for (const d of data) n += d.length;
    const all = new Uint8Array(n);
    n = 0;
    for (const d of data) {
      all.set(d, n);
      n += d.length;
    }
    return new Uint8Array(oneShot('sha256', all, 'buffer'));
  }
  const h = createHash('sha256');
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
}

const chainScratch = Buffer.alloc(64);

/**
 * SHA-256(chain ‖ SHA-256(record)) for a 32-byte chain: one step of the log and sync hash chains
 * (run once per record: 10k records on a vault's load or a token's first read), without the
 * concatenation sha256() of several parts allocates.
 */
export function sha256ChainStep(chain: Uint8Array, record: Uint8Array): Uint8Array {
  if (!oneShot || chain.length !== 32) return sha256(chain, sha256(record));
  chainScratch.set(chain, 0);
  chainScratch.write(oneShot('sha256', record, 'binary'), 32, 'latin1');
  return new Uint8Array(oneShot('sha256', chainScratch, 'buffer'));
}

/**
 * sha256ChainStep over many records in a row (a token's first read: 10k): the chain stays in one
 * scratch buffer between steps, and is copied out once (`value`). The same bytes as
 * sha256ChainStep, step by step.
 */
export class Sha256Chain {
  private readonly s = Buffer.alloc(64);
  private slow: Uint8Array | undefined;

  constructor(chain: Uint8Array) {
    if (oneShot && chain.length === 32) this.s.set(chain, 0);
    else this.slow = chain;
  }

  step(record: Uint8Array): void {
    if (this.slow !== undefined) {
      this.slow = sha256ChainStep(this.slow, record);
      return;
    }
    this.s.write(oneShot!('sha256', record, 'binary'), 32, 'latin1');
    this.s.write(oneShot!('sha256', this.s, 'binary'), 0, 'latin1');
  }

  value(): Uint8Array {
    return this.slow ?? new Uint8Array(this.s.subarray(0, 32));
  }
}
