// What sync puts on the server besides records, each signed with the account's Ed25519 key
// (src/crypto/sign.ts), which only the account's devices hold, so neither the server nor a service
// token holder (who has the public key and read keys only) can forge or alter it (docs/SECURITY.md
// "Sync", "Signed writes"):
//  - the keyring envelope: keyring.kpm and an epoch;
//  - a vault envelope: the vault's key part (wrapped vault key, sealed name), an epoch and the
//    deletion flag;
//  - a manifest: the revision and hash chain of the vault's server log. The chain covers every record
//    in server order, so the signature covers every record: a dropped, reordered, altered, added or
//    replayed record, or a log rolled back, shows as a mismatch.
// Each ends with the signer's public key (32 bytes, covered by the signature) and the signature (64).
import { bytesEqual, toHex, utf8 } from '../crypto/bytes.js';
import { Sha256Chain, sha256, sha256ChainStep } from '../crypto/keys.js';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verifySignature, type Signer } from '../crypto/sign.js';
import { ByteReader, ByteWriter } from '../vault/binary.js';
import { KpmError, EXIT } from '../core/errors.js';
import { ID_BYTES } from '../vault/format.js';

const MAGIC = utf8.encode('KPMS');
/** 2: signed (format 1 was MAC'd with keys the vault key gave, which a service token holds) */
const VERSION = 2;
/** manifest: kind 3 is generation 1 (kpm before compaction); kind 4 names its log generation */
const KIND = { keyring: 1, vault: 2, manifest: 3, manifestGen: 4 } as const;
const TRAILER_BYTES = PUBLIC_KEY_BYTES + SIGNATURE_BYTES;

export const SYNC_LABEL = {
  chain: 'kpm/v1/sync-log',
} as const;

/** Exit 8: what the server sent was altered, replayed or does not belong here. */
export const tampered = (what: string) => new KpmError(`the server's data was tampered with: ${what}; nothing was changed on this device`, EXIT.corrupt, 'your local vault is intact; contact the server operator, and do not trust this server', 'tampered');

/** Refuses KDF parameters weaker than the ones this device already uses (R11). */
export function checkNotWeaker(offered: { m: number; t: number; p: number }, pinned: { m: number; t: number; p: number }, what = ''): void {
  if (offered.m < pinned.m || offered.t < pinned.t || offered.p < pinned.p) {
    throw tampered(`the server offered weaker KDF parameters${what} (m=${offered.m} t=${offered.t} p=${offered.p}, this device uses m=${pinned.m} t=${pinned.t} p=${pinned.p})`);
  }
}

function header(kind: number): ByteWriter {
  return new ByteWriter().bytes(MAGIC).u16(VERSION).u8(kind);
}

interface Opened {
  r: ByteReader;
  /** everything the signature covers (the signer's public key included) */
  body: Uint8Array;
  signer: Uint8Array;
  signature: Uint8Array;
}

function open(bytes: Uint8Array, kind: number | readonly number[], what: string): Opened & { kind: number } {
  if (bytes.length < MAGIC.length + 3 + TRAILER_BYTES) throw tampered(`${what} is truncated`);
  const body = bytes.subarray(0, bytes.length - SIGNATURE_BYTES);
  const r = new ByteReader(body.subarray(0, body.length - PUBLIC_KEY_BYTES), what);
  if (!bytesEqual(r.bytes(4), MAGIC)) throw tampered(`${what} has an unknown format`);
  const version = r.u16();
  if (version === 1) throw tampered(`${what} is of sync format 1 (unsigned), which this kpm refuses; a device with this kpm must upload the account again (docs/FORMAT.md "Format versions")`);
  const k = version === VERSION ? r.u8() : -1;
  if (!(Array.isArray(kind) ? kind.includes(k) : k === kind)) throw tampered(`${what} has an unknown format`);
  return { kind: k, r, body, signer: body.subarray(body.length - PUBLIC_KEY_BYTES), signature: bytes.subarray(body.length) };
}

/** The signature must be the pinned key's: another key (a token holder's, the server's) is refused. */
function verify(publicKey: Uint8Array, o: Pick<Opened, 'body' | 'signer' | 'signature'>, what: string): void {
  if (!bytesEqual(o.signer, publicKey)) throw tampered(`${what} is not signed by this account's key`);
  if (!verifySignature(publicKey, o.body, o.signature)) throw tampered(`${what} fails its signature check`);
}

const signed = (signer: Signer, w: ByteWriter): Uint8Array => {
  const body = w.bytes(signer.publicKey).finish();
  const out = new Uint8Array(body.length + SIGNATURE_BYTES);
  out.set(body);
  out.set(signer.sign(body), body.length);
  return out;
};

const wrapReader = <T>(what: string, fn: () => T): T => {
  try {
    return fn();
  } catch (e) {
    // a ByteReader's "truncated or corrupt" is exit 8 already; say where it came from
    if (e instanceof KpmError && e.exitCode === EXIT.corrupt && e.kind !== 'tampered') throw tampered(`${what} is malformed`);
    throw e;
  }
};

// ------------------------------------------------------------------ keyring

export interface KeyringEnvelope {
  epoch: number;
  keyring: Uint8Array;
}

export function sealKeyringEnvelope(signer: Signer, e: KeyringEnvelope): Uint8Array {
  return signed(signer, header(KIND.keyring).u64(e.epoch).varBytes(e.keyring));
}

/** Parses without verifying (a new device has no account key yet): check with verifyKeyringEnvelope. */
export function parseKeyringEnvelope(bytes: Uint8Array): KeyringEnvelope & Omit<Opened, 'r'> {
  return wrapReader('the keyring envelope', () => {
    const { r, ...o } = open(bytes, KIND.keyring, 'the keyring envelope');
    const epoch = r.u64();
    const keyring = r.varBytes(8192);
    if (r.remaining !== 0) throw tampered('the keyring envelope has trailing bytes');
    return { epoch, keyring, ...o };
  });
}

/** `publicKey`: the account's (accountPublicKey of the account key the keyring opened). */
export function verifyKeyringEnvelope(publicKey: Uint8Array, bytes: Uint8Array): KeyringEnvelope {
  const e = parseKeyringEnvelope(bytes);
  verify(publicKey, e, 'the keyring envelope');
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

export function sealVaultEnvelope(signer: Signer, e: VaultEnvelope): Uint8Array {
  return signed(signer, header(KIND.vault).bytes(e.vaultId).u64(e.epoch).u8(e.deleted ? 1 : 0).varBytes(e.keyPart));
}

export function parseVaultEnvelope(bytes: Uint8Array): VaultEnvelope & Omit<Opened, 'r'> {
  return wrapReader('a vault envelope', () => {
    const { r, ...o } = open(bytes, KIND.vault, 'a vault envelope');
    const vaultId = r.bytes(ID_BYTES);
    const epoch = r.u64();
    const del = r.u8();
    if (del > 1) throw tampered('a vault envelope is malformed');
    const keyPart = r.varBytes(1 << 17);
    if (r.remaining !== 0) throw tampered('a vault envelope has trailing bytes');
    return { vaultId, epoch, deleted: del === 1, keyPart, ...o };
  });
}

export function verifyVaultEnvelope(publicKey: Uint8Array, parsed: ReturnType<typeof parseVaultEnvelope>): void {
  verify(publicKey, parsed, `the envelope of vault ${toHex(parsed.vaultId)}`);
}

// ------------------------------------------------------------------ manifest

export interface Manifest {
  vaultId: Uint8Array;
  profileId: Uint8Array;
  /**
   * the server log generation (1 until the first compaction): a compaction replaces the server's
   * records with a new generation, revisions counted from 1 again; a lower generation is a rollback
   */
  generation?: number;
  revision: number;
  chain: Uint8Array;
  /** when the pushing device made it (its clock), ms */
  time: number;
}

export function initialSyncChain(vaultId: Uint8Array): Uint8Array {
  return sha256(utf8.encode(SYNC_LABEL.chain), vaultId);
}

export function nextSyncChain(chain: Uint8Array, record: Uint8Array): Uint8Array {
  return sha256ChainStep(chain, record);
}

/** nextSyncChain over many records in a row (one scratch buffer between steps): `value()` is the chain after the last. */
export const syncChainFrom = (chain: Uint8Array): Sha256Chain => new Sha256Chain(chain);

export function sealManifest(signer: Signer, m: Manifest): Uint8Array {
  return signed(signer, header(KIND.manifestGen).bytes(m.vaultId).bytes(m.profileId).u32(m.generation ?? 1).u64(m.revision).bytes(m.chain).u64(m.time));
}

export function verifyManifest(publicKey: Uint8Array, bytes: Uint8Array): Manifest & { generation: number } {
  return wrapReader('the manifest', () => {
    const { r, kind, ...o } = open(bytes, [KIND.manifest, KIND.manifestGen], 'the manifest');
    verify(publicKey, o, 'the manifest');
    const vaultId = r.bytes(ID_BYTES);
    const profileId = r.bytes(ID_BYTES);
    const generation = kind === KIND.manifestGen ? r.u32() : 1;
    if (generation < 1) throw tampered('the manifest names log generation 0');
    const m = { vaultId, profileId, generation, revision: r.u64(), chain: r.bytes(32), time: r.u64() };
    if (r.remaining !== 0) throw tampered('the manifest has trailing bytes');
    return m;
  });
}
