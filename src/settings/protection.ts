// Protected settings (docs/SETTINGS.md). While protected, config.json carries a record:
//   verifier   Argon2id verifier of the settings password (verifier.ts)
//   publicKey  Ed25519 public key; a copy sits in the marker file <data>/settings.lock
//   signingKey the Ed25519 seed, sealed (XChaCha20-Poly1305) under HKDF(A, settings-signing-key)
//   mac        HMAC-SHA256 under HKDF(A, "kpm/v1/settings-mac") over the canonical settings
//   signature  Ed25519 signature over the same canonical bytes
// where A = Argon2id(settings password). Every reader checks the signature against the marker's
// key without any password; every entry of the password also checks the MAC and that the sealed
// seed opens and belongs to that public key. Only the password holder can produce either tag.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { concatBytes, fromBase64, toBase64, utf8, wipe } from '../crypto/bytes.js';
import { AuthError, openKey, sealKey } from '../crypto/aead.js';
import { KpmError, EXIT } from '../core/errors.js';
import { DEFAULT_KDF, type KdfParams } from '../crypto/kdf.js';
import type { KpmPaths } from '../core/paths.js';
import { problemsOf, type StoredValues } from './schema.js';
import { checkVerifier, createVerifier, parseVerifier, VerifierFormatError } from './verifier.js';
import { generateSigningKey, publicKeyOf, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, signBytes, verifyBytes } from '../crypto/ed25519.js';

export const PROTECTION_KEY = 'protection';
const BODY_LABEL = 'kpm/v1/settings\0';
const SEAL_LABEL = 'kpm/v1/settings-signing-key\0';

export type PasswordSource = 'separate' | 'master';

export interface ProtectionRecord {
  version: 1;
  source: PasswordSource;
  lockedAt: string;
  verifier: string;
  publicKey: string;
  signingKey: string;
  mac: string;
  signature: string;
}

type UnsignedRecord = Omit<ProtectionRecord, 'mac' | 'signature'>;

/** What a correct settings password unlocks: the means to re-sign the settings. The caller wipes it. */
export interface Signer {
  seed: Uint8Array;
  publicKey: Uint8Array;
  macKey: Uint8Array;
}

export function wipeSigner(s: Signer | null | undefined): void {
  if (s) wipe(s.seed, s.macKey);
}

export interface SettingsFiles {
  config: string;
  marker: string;
  throttle: string;
}

export function settingsFiles(paths: KpmPaths): SettingsFiles {
  return {
    config: join(paths.config, 'config.json'),
    marker: join(paths.data, 'settings.lock'),
    throttle: join(paths.data, 'settings.throttle'),
  };
}

export const RECOVER_HINT =
  'if you did not change it yourself, someone else did. `kpm settings recover` (asks for the master password) ' +
  'removes the protection and keeps only valid settings; review them with `kpm config list`, then run `kpm settings lock` again';

export function tampered(file: string, reason: string): KpmError {
  return new KpmError(`the protected settings in ${file} failed verification: ${reason}`, EXIT.corrupt, RECOVER_HINT);
}

// ---------------------------------------------------------------------------------------------
// Canonical bytes

/** JSON with object keys sorted at every level and no whitespace: one byte string per value. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v as object).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: cannot encode ${typeof v}`);
}

/** The bytes the MAC and the signature cover: every setting and the record, minus the two tags. */
export function signedBody(values: StoredValues, record: UnsignedRecord | ProtectionRecord): Uint8Array {
  const { mac: _m, signature: _s, ...unsigned } = record as ProtectionRecord;
  return utf8.encode(BODY_LABEL + canonicalJson({ ...values, [PROTECTION_KEY]: unsigned }));
}

const sealAad = (publicKey: Uint8Array) => concatBytes(utf8.encode(SEAL_LABEL), publicKey);

const hmac = (key: Uint8Array, data: Uint8Array) => new Uint8Array(createHmac('sha256', key).update(data).digest());

function finish(values: StoredValues, unsigned: UnsignedRecord, signer: Signer): ProtectionRecord {
  const body = signedBody(values, unsigned);
  return { ...unsigned, mac: toBase64(hmac(signer.macKey, body)), signature: toBase64(signBytes(signer.seed, body)) };
}

// ---------------------------------------------------------------------------------------------
// Lock, re-sign, open

/** Protects `values` with a new settings password: a new verifier, key pair and tags. */
export async function createProtection(
  values: StoredValues,
  password: string,
  source: PasswordSource,
  params: KdfParams = DEFAULT_KDF,
  now = new Date(),
): Promise<{ record: ProtectionRecord; signer: Signer }> {
  const { phc, keys } = await createVerifier(password, params);
  const { seed, publicKey } = generateSigningKey();
  const sealed = sealKey(keys.wrapKey, seed, sealAad(publicKey));
  wipe(keys.wrapKey);
  const signer: Signer = { seed, publicKey, macKey: keys.macKey };
  const unsigned: UnsignedRecord = {
    version: 1,
    source,
    lockedAt: now.toISOString(),
    verifier: phc,
    publicKey: toBase64(publicKey),
    signingKey: toBase64(sealed),
  };
  return { record: finish(values, unsigned, signer), signer };
}

/** The record for new `values`, signed again by the holder of the settings password. */
export function resign(values: StoredValues, record: ProtectionRecord, signer: Signer): ProtectionRecord {
  const { mac: _m, signature: _s, ...unsigned } = record;
  if (!timingSafeEqual(fromBase64(unsigned.publicKey), signer.publicKey)) throw new KpmError('the settings were locked again by another kpm process; try again', EXIT.conflict);
  return finish(values, unsigned, signer);
}

/**
 * Checks `password` against the record. Null for a wrong password. With the right one, the MAC
 * must verify and the sealed signing key must open and match the public key, or the record was
 * tampered with (exit 8).
 */
export async function openSigner(file: string, values: StoredValues, record: ProtectionRecord, password: string): Promise<Signer | null> {
  const keys = await checkVerifier(record.verifier, password);
  if (!keys) return null;
  const publicKey = fromBase64(record.publicKey);
  try {
    const mac = hmac(keys.macKey, signedBody(values, record));
    if (!timingSafeEqual(mac, fromBase64(record.mac))) throw tampered(file, 'the MAC does not match');
    let seed: Uint8Array;
    try {
      seed = openKey(keys.wrapKey, fromBase64(record.signingKey), sealAad(publicKey));
    } catch (e) {
      if (e instanceof AuthError) throw tampered(file, 'the signing key does not open with this password');
      throw e;
    }
    if (!timingSafeEqual(publicKeyOf(seed), publicKey)) {
      wipe(seed);
      throw tampered(file, 'the signing key does not belong to the public key');
    }
    return { seed, publicKey, macKey: keys.macKey };
  } catch (e) {
    wipe(keys.macKey);
    throw e;
  } finally {
    wipe(keys.wrapKey);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading: the shape of the record, and the checks every reader runs (no password needed)

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;
const RECORD_KEYS = ['version', 'source', 'lockedAt', 'verifier', 'publicKey', 'signingKey', 'mac', 'signature'];

function b64Field(r: Record<string, unknown>, k: string, len: number): boolean {
  return typeof r[k] === 'string' && B64.test(r[k] as string) && fromBase64(r[k] as string).length === len;
}

/** Null if `x` is a well-formed record, else what is wrong with it. */
export function recordProblem(x: unknown): string | null {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return 'the protection record is not an object';
  const r = x as Record<string, unknown>;
  const keys = Object.keys(r);
  if (keys.length !== RECORD_KEYS.length || !RECORD_KEYS.every((k) => keys.includes(k))) return 'the protection record has missing or unknown fields';
  if (r.version !== 1) return 'the protection record has an unknown version';
  if (r.source !== 'separate' && r.source !== 'master') return 'the protection record has an unknown password source';
  if (typeof r.lockedAt !== 'string' || Number.isNaN(Date.parse(r.lockedAt))) return 'the protection record has a bad date';
  if (typeof r.verifier !== 'string') return 'the settings password verifier is missing';
  try {
    parseVerifier(r.verifier);
  } catch (e) {
    if (e instanceof VerifierFormatError) return e.message;
    throw e;
  }
  if (!b64Field(r, 'publicKey', PUBLIC_KEY_BYTES)) return 'the public key is malformed';
  if (!b64Field(r, 'signingKey', 24 + 32 + 16)) return 'the sealed signing key is malformed';
  if (!b64Field(r, 'mac', 32)) return 'the MAC is malformed';
  if (!b64Field(r, 'signature', SIGNATURE_BYTES)) return 'the signature is malformed';
  return null;
}

export interface SettingsState {
  /** config.json exists */
  exists: boolean;
  /** the settings as stored (only the keys the user set) */
  values: StoredValues;
  /** the protection record when protected */
  record: ProtectionRecord | null;
}

/**
 * The checks every reader runs. `file` is the parsed config.json (undefined when it does not
 * exist); `markerKey` the public key from the marker file (undefined when there is none).
 * Protected settings must be signed by the marker's key; an unprotected file must hold only known,
 * valid settings. Anything else ends in exit 8.
 */
export function verifyState(where: string, file: unknown, markerKey: Uint8Array | undefined, checkValues = true): SettingsState {
  if (file === undefined) {
    if (markerKey) throw tampered(where, 'the file is missing, but the protection marker says the settings are protected');
    return { exists: false, values: {}, record: null };
  }
  if (file === null || typeof file !== 'object' || Array.isArray(file)) {
    if (markerKey) throw tampered(where, 'the file is not a JSON object');
    if (!checkValues) return { exists: true, values: {}, record: null };
    throw invalidSettings(where, ['the file is not a JSON object']);
  }
  const { [PROTECTION_KEY]: record, ...values } = file as Record<string, unknown>;
  if (!markerKey) {
    if (record !== undefined) throw tampered(where, 'the protection marker is missing (was it deleted?)');
    const problems = checkValues ? problemsOf(values) : [];
    if (problems.length) throw invalidSettings(where, problems);
    return { exists: true, values, record: null };
  }
  if (record === undefined) throw tampered(where, 'the protection record was removed from the file');
  const problem = recordProblem(record);
  if (problem) throw tampered(where, problem);
  const rec = record as ProtectionRecord;
  if (!timingSafeEqual(fromBase64(rec.publicKey), markerKey)) throw tampered(where, 'the public key does not match the protection marker');
  const problems = problemsOf(values);
  if (!verifyBytes(markerKey, signedBody(values, rec), fromBase64(rec.signature))) {
    throw tampered(where, `the signature does not match the contents (edited by hand?)${problems.length ? `; ${problems.join('; ')}` : ''}`);
  }
  if (problems.length) throw tampered(where, problems.join('; '));
  return { exists: true, values, record: rec };
}

export function invalidSettings(where: string, problems: string[]): KpmError {
  return new KpmError(
    `the settings in ${where} are not valid: ${problems.join('; ')}`,
    EXIT.corrupt,
    'the settings are not protected: fix or remove the listed keys in that file (`kpm config list` shows every setting and its default)',
  );
}
