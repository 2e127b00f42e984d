// Encoding and decoding of keyring.kpm, vault.kpm and log records, exactly as docs/FORMAT.md says.
// Pure functions over bytes: no file I/O and no key derivation here.
import { bytesEqual, concatBytes, utf8 } from '../crypto/bytes.js';
import { Sha256Chain, sha256, sha256ChainStep } from '../crypto/keys.js';
import { checkKdfParams, KDF_ARGON2ID, KdfParamsError, type KdfParams } from '../crypto/kdf.js';
import { ByteReader, ByteWriter } from './binary.js';
import { corrupt, KpmError, EXIT } from '../core/errors.js';

/** 2: separate subkeys for every use of the account and vault keys (docs/FORMAT.md "Format versions"). */
export const FORMAT_VERSION = 2;
export const ID_BYTES = 16;
export const CHECKSUM_BYTES = 32;
const MAGIC_KEYRING = utf8.encode('KPMK');
const MAGIC_VAULT = utf8.encode('KPMV');
const MAGIC_LOG = utf8.encode('KPML');

export const AAD = {
  keyring: utf8.encode('kpm/v1/keyring'),
  vaultKey: utf8.encode('kpm/v1/vault-key'),
  vaultMeta: utf8.encode('kpm/v1/vault-meta'),
  entry: utf8.encode('kpm/v1/entry'),
  logChain: utf8.encode('kpm/v1/log'),
};

export interface KdfSpec {
  params: KdfParams;
  salt: Uint8Array;
}

export interface Keyring {
  kdf: KdfSpec;
  profileId: Uint8Array;
  wrappedKey: Uint8Array;
  /** header bytes the wrapped key is bound to (everything before it) */
  boundBytes: Uint8Array;
}

export const WRAP_BY_ACCOUNT = 1;
export const WRAP_BY_OWN_PASSWORD = 2;

export interface Commit {
  generation: number;
  sequence: number;
  logLength: number;
  /** while a writer appends: the log length it is writing up to (0 otherwise) */
  pendingLength: number;
  recordCount: number;
  liveCount: number;
  chain: Uint8Array;
}

export interface VaultHeader {
  vaultId: Uint8Array;
  profileId: Uint8Array;
  wrapKind: number;
  ownKdf?: KdfSpec;
  wrappedKey: Uint8Array;
  sealedMeta: Uint8Array;
  /** bytes the wrapped vault key is bound to */
  keyBoundBytes: Uint8Array;
  commit: Commit;
  /** bytes the commit MAC covers */
  macBoundBytes: Uint8Array;
  mac: Uint8Array;
}

function checkMagicAndVersion(r: ByteReader, magic: Uint8Array, what: string): void {
  if (!bytesEqual(r.bytes(4), magic)) throw corrupt(`${what} is not a kpm file (bad magic)`);
  checkVersion(r.u16(), what);
}

/** Exit 8 for any other version; format 1 (kpm before the key-separation change) gets its own hint. */
export function checkVersion(version: number, what: string): void {
  if (version === FORMAT_VERSION) return;
  if (version === 1) throw unsupportedFormat(`${what} uses format version 1, which this kpm no longer reads (it reads format ${FORMAT_VERSION})`);
  throw corrupt(`${what} has unsupported format version ${version}`);
}

export const unsupportedFormat = (msg: string): KpmError =>
  new KpmError(msg, EXIT.corrupt, 'export the vaults with the kpm that wrote them (`kpm export`), then `kpm init` and `kpm import` here; docs/FORMAT.md "Format versions"');

/** Verifies and strips the trailing SHA-256 checksum; runs before anything else is parsed. */
function verifyChecksum(file: Uint8Array, what: string): Uint8Array {
  if (file.length < CHECKSUM_BYTES + 6) throw corrupt(`${what} is truncated or corrupt`);
  const body = file.subarray(0, file.length - CHECKSUM_BYTES);
  if (!bytesEqual(sha256(body), file.subarray(body.length))) throw corrupt(`${what} is corrupt (checksum mismatch)`);
  return body;
}

function writeKdf(w: ByteWriter, kdf: KdfSpec): void {
  w.u8(KDF_ARGON2ID).u32(kdf.params.m).u32(kdf.params.t).u32(kdf.params.p).varBytes(kdf.salt);
}

function readKdf(r: ByteReader, what: string): KdfSpec {
  const id = r.u8();
  if (id !== KDF_ARGON2ID) throw corrupt(`${what} names an unknown key derivation function (${id})`);
  const params = { m: r.u32(), t: r.u32(), p: r.u32() };
  const salt = r.varBytes(1024);
  try {
    checkKdfParams(params, salt.length);
  } catch (e) {
    if (e instanceof KdfParamsError) throw corrupt(`${what}: ${e.message}`);
    throw e;
  }
  return { params, salt };
}

export function keyringBoundBytes(kdf: KdfSpec, profileId: Uint8Array): Uint8Array {
  const w = new ByteWriter().bytes(MAGIC_KEYRING).u16(FORMAT_VERSION);
  writeKdf(w, kdf);
  return w.bytes(profileId).finish();
}

export function encodeKeyring(boundBytes: Uint8Array, wrappedKey: Uint8Array): Uint8Array {
  const body = new ByteWriter().bytes(boundBytes).varBytes(wrappedKey).finish();
  return concatBytes(body, sha256(body));
}

export function decodeKeyring(file: Uint8Array): Keyring {
  const what = 'keyring';
  const body = verifyChecksum(file, what);
  const r = new ByteReader(body, what);
  checkMagicAndVersion(r, MAGIC_KEYRING, what);
  const kdf = readKdf(r, what);
  const profileId = r.bytes(ID_BYTES);
  const boundBytes = body.subarray(0, r.offset);
  const wrappedKey = r.varBytes(4096);
  if (r.remaining !== 0) throw corrupt(`${what} is corrupt (trailing bytes)`);
  return { kdf, profileId, wrappedKey, boundBytes };
}

export function vaultKeyBoundBytes(vaultId: Uint8Array, profileId: Uint8Array, wrapKind: number, ownKdf?: KdfSpec): Uint8Array {
  const w = new ByteWriter().bytes(MAGIC_VAULT).u16(FORMAT_VERSION).bytes(vaultId).bytes(profileId).u8(wrapKind);
  if (wrapKind === WRAP_BY_OWN_PASSWORD) writeKdf(w, ownKdf!);
  return w.finish();
}

/** Everything the commit MAC covers: key part, meta, commit fields. */
export function vaultMacBoundBytes(keyBoundBytes: Uint8Array, wrappedKey: Uint8Array, sealedMeta: Uint8Array, c: Commit): Uint8Array {
  return new ByteWriter()
    .bytes(keyBoundBytes)
    .varBytes(wrappedKey)
    .varBytes(sealedMeta)
    .u32(c.generation)
    .u64(c.sequence)
    .u64(c.logLength)
    .u64(c.pendingLength)
    .u32(c.recordCount)
    .u32(c.liveCount)
    .bytes(c.chain)
    .finish();
}

export function encodeVaultHeader(macBoundBytes: Uint8Array, mac: Uint8Array): Uint8Array {
  const body = concatBytes(macBoundBytes, mac);
  return concatBytes(body, sha256(body));
}

/** The key part of a vault header: what sync carries between devices (no commit record). */
export interface VaultKeyPart {
  vaultId: Uint8Array;
  profileId: Uint8Array;
  wrapKind: number;
  ownKdf?: KdfSpec;
  keyBoundBytes: Uint8Array;
  wrappedKey: Uint8Array;
  sealedMeta: Uint8Array;
}

function readKeyPart(r: ByteReader, body: Uint8Array, what: string): VaultKeyPart {
  checkMagicAndVersion(r, MAGIC_VAULT, what);
  const vaultId = r.bytes(ID_BYTES);
  const profileId = r.bytes(ID_BYTES);
  const wrapKind = r.u8();
  if (wrapKind !== WRAP_BY_ACCOUNT && wrapKind !== WRAP_BY_OWN_PASSWORD) throw corrupt(`${what} has an unknown key wrapping (${wrapKind})`);
  const ownKdf = wrapKind === WRAP_BY_OWN_PASSWORD ? readKdf(r, what) : undefined;
  const keyBoundBytes = body.subarray(0, r.offset);
  const wrappedKey = r.varBytes(4096);
  const sealedMeta = r.varBytes(1 << 16);
  return { vaultId, profileId, wrapKind, ownKdf, keyBoundBytes, wrappedKey, sealedMeta };
}

export function encodeVaultKeyPart(k: Pick<VaultKeyPart, 'keyBoundBytes' | 'wrappedKey' | 'sealedMeta'>): Uint8Array {
  return new ByteWriter().bytes(k.keyBoundBytes).varBytes(k.wrappedKey).varBytes(k.sealedMeta).finish();
}

export function decodeVaultKeyPart(bytes: Uint8Array): VaultKeyPart {
  const what = 'vault key envelope';
  const r = new ByteReader(bytes, what);
  const k = readKeyPart(r, bytes, what);
  if (r.remaining !== 0) throw corrupt(`${what} is corrupt (trailing bytes)`);
  return k;
}

export function decodeVaultHeader(file: Uint8Array): VaultHeader {
  const what = 'vault header';
  const body = verifyChecksum(file, what);
  const r = new ByteReader(body, what);
  const k = readKeyPart(r, body, what);
  const commit: Commit = {
    generation: r.u32(),
    sequence: r.u64(),
    logLength: r.u64(),
    pendingLength: r.u64(),
    recordCount: r.u32(),
    liveCount: r.u32(),
    chain: r.bytes(32),
  };
  const macBoundBytes = body.subarray(0, r.offset);
  const mac = r.bytes(32);
  if (r.remaining !== 0) throw corrupt(`${what} is corrupt (trailing bytes)`);
  return { ...k, commit, macBoundBytes, mac };
}

// ---- log ----

export const LOG_HEADER_BYTES = 4 + 2 + ID_BYTES;
export const RECORD_FIXED_BYTES = ID_BYTES + 4 + 1 + 16;
export const FLAG_DELETED = 1;
/** with FLAG_DELETED: the entry was deleted for good (`kpm trash purge`); the payload is empty and compaction keeps only this record */
export const FLAG_PURGED = 2;
/** `kpm history purge`: every older version of the entry is dropped at compaction */
export const FLAG_CUT = 4;
/** a record that obliges every device to compact (its old versions must not survive anywhere) */
export const isPurgeOrCut = (flags: number): boolean => (flags & (FLAG_PURGED | FLAG_CUT)) !== 0;

export interface LogRecord {
  entryId: Uint8Array;
  version: number;
  flags: number;
  nameTag: Uint8Array;
  sealed: Uint8Array;
  /** the whole record as stored, length prefix included */
  raw: Uint8Array;
  /** where the record starts, relative to the decoded bytes */
  offset?: number;
}

export function encodeLogHeader(vaultId: Uint8Array): Uint8Array {
  return new ByteWriter().bytes(MAGIC_LOG).u16(FORMAT_VERSION).bytes(vaultId).finish();
}

/** label ‖ profile id ‖ vault id ‖ entry id ‖ u32 version ‖ u8 flags ‖ name tag (one array: it is made for every record opened) */
export function entryAad(profileId: Uint8Array, vaultId: Uint8Array, entryId: Uint8Array, version: number, flags: number, nameTag: Uint8Array): Uint8Array {
  const label = AAD.entry;
  const out = new Uint8Array(label.length + profileId.length + vaultId.length + entryId.length + 5 + nameTag.length);
  out.set(label, 0);
  let o = label.length;
  out.set(profileId, o);
  o += profileId.length;
  out.set(vaultId, o);
  o += vaultId.length;
  out.set(entryId, o);
  o += entryId.length;
  out[o++] = version >>> 24;
  out[o++] = (version >>> 16) & 0xff;
  out[o++] = (version >>> 8) & 0xff;
  out[o++] = version & 0xff;
  out[o++] = flags;
  out.set(nameTag, o);
  return out;
}

export function encodeRecord(entryId: Uint8Array, version: number, flags: number, nameTag: Uint8Array, sealed: Uint8Array): Uint8Array {
  return new ByteWriter().u32(RECORD_FIXED_BYTES + sealed.length).bytes(entryId).u32(version).u8(flags).bytes(nameTag).bytes(sealed).finish();
}

export function initialChain(vaultId: Uint8Array): Uint8Array {
  return sha256(AAD.logChain, vaultId);
}

export function nextChain(chain: Uint8Array, rawRecord: Uint8Array): Uint8Array {
  return sha256ChainStep(chain, rawRecord);
}

export function checkLogHeader(head: Uint8Array, vaultId: Uint8Array): void {
  const what = 'vault log';
  const r = new ByteReader(head, what);
  if (!bytesEqual(r.bytes(4), MAGIC_LOG)) throw corrupt(`${what} is not a kpm file (bad magic)`);
  checkVersion(r.u16(), what);
  if (!bytesEqual(r.bytes(ID_BYTES), vaultId)) throw corrupt(`${what} belongs to another vault`);
}

/**
 * Parses consecutive records. With a `chain`, extends the hash chain over every record and
 * returns the result, for the caller to compare with the committed chain.
 */
/** One record from its raw bytes (as sync carries them); exactly one record or exit 8. */
export function decodeRecord(raw: Uint8Array): LogRecord {
  const { records } = decodeRecords(raw);
  if (records.length !== 1) throw corrupt('sync record is corrupt');
  return records[0];
}

export function decodeRecords(bytes: Uint8Array, chain?: Uint8Array): { records: LogRecord[]; chain?: Uint8Array } {
  const what = 'vault log';
  const r = new ByteReader(bytes, what);
  const records: LogRecord[] = [];
  const c = chain && new Sha256Chain(chain); // (one scratch buffer for the whole log)
  while (r.remaining > 0) {
    const start = r.offset;
    const length = r.u32();
    if (length < RECORD_FIXED_BYTES + 40) throw corrupt(`${what} is corrupt (bad record length)`);
    const entryId = r.bytes(ID_BYTES);
    const version = r.u32();
    const flags = r.u8();
    const nameTag = r.bytes(16);
    const sealed = r.bytes(length - RECORD_FIXED_BYTES);
    const raw = bytes.subarray(start, r.offset);
    c?.step(raw);
    records.push({ entryId, version, flags, nameTag, sealed, raw, offset: start });
  }
  return { records, chain: c?.value() };
}
