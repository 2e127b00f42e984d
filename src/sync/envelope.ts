// What sync puts on the server besides records, each authenticated so the server can neither forge
// nor alter it unnoticed (docs/SECURITY.md "Sync"):
//  - the keyring envelope: keyring.kpm and an epoch, MAC'd with a key from the account key;
//  - a vault envelope: the vault's key part (wrapped vault key, sealed name) and an epoch, MAC'd with
//    a key from the vault key;
//  - a manifest: the revision and hash chain of the vault's server log, MAC'd with a key from the
//    vault key. The chain covers every record in server order, so a dropped, reordered, altered or
//    replayed record, or a log rolled back, shows as a mismatch.
import { bytesEqual, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hkdf, hmacSha256, sha256 } from '../crypto/keys.js';
import { ByteReader, ByteWriter } from '../vault/binary.js';
import { KpmError, EXIT } from '../vault/errors.js';
import { ID_BYTES } from '../vault/format.js';

const MAGIC = utf8.encode('KPMS');
const VERSION = 1;
const KIND = { keyring: 1, vault: 2, manifest: 3 } as const;
const MAC_BYTES = 32;

export const SYNC_LABEL = {
  keyring: 'kpm/v1/sync-keyring',
  vault: 'kpm/v1/sync-vault',
  manifest: 'kpm/v1/sync-manifest',
  chain: 'kpm/v1/sync-log',
} as const;

/** Exit 8: what the server sent was altered, replayed or does not belong here. */
export const tampered = (what: string) => new KpmError(`the server's data was tampered with: ${what}; nothing was changed on this device`, EXIT.corrupt, 'your local vault is intact; contact the server operator, and do not trust this server');

/** Refuses KDF parameters weaker than the ones this device already uses (R11). */
export function checkNotWeaker(offered: { m: number; t: number; p: number }, pinned: { m: number; t: number; p: number }, what = ''): void {
  if (offered.m < pinned.m || offered.t < pinned.t || offered.p < pinned.p) {
    throw tampered(`the server offered weaker KDF parameters${what} (m=${offered.m} t=${offered.t} p=${offered.p}, this device uses m=${pinned.m} t=${pinned.t} p=${pinned.p})`);
  }
}

function mac(key: Uint8Array, label: string, body: Uint8Array): Uint8Array {
  const k = hkdf(key, label);
  try {
    return hmacSha256(k, body);
  } finally {
    wipe(k);
  }
}

function header(kind: number): ByteWriter {
  return new ByteWriter().bytes(MAGIC).u16(VERSION).u8(kind);
}

function open(bytes: Uint8Array, kind: number, what: string): { r: ByteReader; body: Uint8Array; tag: Uint8Array } {
  if (bytes.length < MAGIC.length + 3 + MAC_BYTES) throw tampered(`${what} is truncated`);
  const body = bytes.subarray(0, bytes.length - MAC_BYTES);
  const r = new ByteReader(body, what);
  if (!bytesEqual(r.bytes(4), MAGIC) || r.u16() !== VERSION || r.u8() !== kind) throw tampered(`${what} has an unknown format`);
  return { r, body, tag: bytes.subarray(body.length) };
}

function verify(key: Uint8Array, label: string, body: Uint8Array, tag: Uint8Array, what: string): void {
  if (!bytesEqual(mac(key, label, body), tag)) throw tampered(`${what} fails its authentication`);
}

const sealed = (key: Uint8Array, label: string, w: ByteWriter): Uint8Array => {
  const body = w.finish();
  const out = new Uint8Array(body.length + MAC_BYTES);
  out.set(body);
  out.set(mac(key, label, body), body.length);
  return out;
};

const wrapReader = <T>(what: string, fn: () => T): T => {
  try {
    return fn();
  } catch (e) {
    // a ByteReader's "truncated or corrupt" is exit 8 already; say where it came from
    if (e instanceof KpmError && e.exitCode === EXIT.corrupt && !/tampered/.test(e.message)) throw tampered(`${what} is malformed`);
    throw e;
  }
};

// ------------------------------------------------------------------ keyring

export interface KeyringEnvelope {
  epoch: number;
  keyring: Uint8Array;
}

export function sealKeyringEnvelope(accountKey: Uint8Array, e: KeyringEnvelope): Uint8Array {
  return sealed(accountKey, SYNC_LABEL.keyring, header(KIND.keyring).u64(e.epoch).varBytes(e.keyring));
}

/** Parses without verifying (a new device has no account key yet): check with verifyKeyringEnvelope. */
export function parseKeyringEnvelope(bytes: Uint8Array): KeyringEnvelope & { body: Uint8Array; tag: Uint8Array } {
  return wrapReader('the keyring envelope', () => {
    const { r, body, tag } = open(bytes, KIND.keyring, 'the keyring envelope');
    const epoch = r.u64();
    const keyring = r.varBytes(8192);
    if (r.remaining !== 0) throw tampered('the keyring envelope has trailing bytes');
    return { epoch, keyring, body, tag };
  });
}

export function verifyKeyringEnvelope(accountKey: Uint8Array, bytes: Uint8Array): KeyringEnvelope {
  const e = parseKeyringEnvelope(bytes);
  verify(accountKey, SYNC_LABEL.keyring, e.body, e.tag, 'the keyring envelope');
  return { epoch: e.epoch, keyring: e.keyring };
}

// ------------------------------------------------------------------ vault

export interface VaultEnvelope {
  vaultId: Uint8Array;
  epoch: number;
  deleted: boolean;
  /** encodeVaultKeyPart(): key-bound bytes, wrapped vault key, sealed name */
  keyPart: Uint8Array;
}

export function sealVaultEnvelope(vaultKey: Uint8Array, e: VaultEnvelope): Uint8Array {
  return sealed(vaultKey, SYNC_LABEL.vault, header(KIND.vault).bytes(e.vaultId).u64(e.epoch).u8(e.deleted ? 1 : 0).varBytes(e.keyPart));
}

export function parseVaultEnvelope(bytes: Uint8Array): VaultEnvelope & { body: Uint8Array; tag: Uint8Array } {
  return wrapReader('a vault envelope', () => {
    const { r, body, tag } = open(bytes, KIND.vault, 'a vault envelope');
    const vaultId = r.bytes(ID_BYTES);
    const epoch = r.u64();
    const del = r.u8();
    if (del > 1) throw tampered('a vault envelope is malformed');
    const keyPart = r.varBytes(1 << 17);
    if (r.remaining !== 0) throw tampered('a vault envelope has trailing bytes');
    return { vaultId, epoch, deleted: del === 1, keyPart, body, tag };
  });
}

export function verifyVaultEnvelope(vaultKey: Uint8Array, parsed: ReturnType<typeof parseVaultEnvelope>): void {
  verify(vaultKey, SYNC_LABEL.vault, parsed.body, parsed.tag, `the envelope of vault ${toHex(parsed.vaultId)}`);
}

// ------------------------------------------------------------------ manifest

export interface Manifest {
  vaultId: Uint8Array;
  profileId: Uint8Array;
  revision: number;
  chain: Uint8Array;
  /** when the pushing device made it (its clock), ms */
  time: number;
}

export function initialSyncChain(vaultId: Uint8Array): Uint8Array {
  return sha256(utf8.encode(SYNC_LABEL.chain), vaultId);
}

export function nextSyncChain(chain: Uint8Array, record: Uint8Array): Uint8Array {
  return sha256(chain, sha256(record));
}

export function sealManifest(vaultKey: Uint8Array, m: Manifest): Uint8Array {
  return sealed(vaultKey, SYNC_LABEL.manifest, header(KIND.manifest).bytes(m.vaultId).bytes(m.profileId).u64(m.revision).bytes(m.chain).u64(m.time));
}

export function verifyManifest(vaultKey: Uint8Array, bytes: Uint8Array): Manifest {
  return wrapReader('the manifest', () => {
    const { r, body, tag } = open(bytes, KIND.manifest, 'the manifest');
    verify(vaultKey, SYNC_LABEL.manifest, body, tag, 'the manifest');
    const m = { vaultId: r.bytes(ID_BYTES), profileId: r.bytes(ID_BYTES), revision: r.u64(), chain: r.bytes(32), time: r.u64() };
    if (r.remaining !== 0) throw tampered('the manifest has trailing bytes');
    return m;
  });
}
