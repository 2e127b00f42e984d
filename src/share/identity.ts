// The account's sharing identity (docs/SHARING.md "Keys"): the existing Ed25519 signing key and an
// X25519 encryption key, both derived from the account key (so every device of the account has
// them and nothing else does). The public parts form a self-signed identity record; its
// fingerprint is what users compare.
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { bytesEqual, concatBytes, decodeUtf8, fromHex, toHex, utf8, wipe } from '../crypto/bytes.js';
import { accountSubkey, sha256 } from '../crypto/keys.js';
import { offHeapCopy } from '../crypto/aead.js';
import { accountSigner, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verifySignature } from '../crypto/sign.js';
import { ByteReader, ByteWriter } from '../vault/binary.js';
import { isKind, KpmError, EXIT } from '../core/errors.js';

const X_PKCS8 = fromHex('302e020100300506032b656e04220420');
const X_SPKI = fromHex('302a300506032b656e032100');
const FP_LABEL = utf8.encode('kpm/v1/share/fingerprint');
export const IDENTITY_MAGIC = utf8.encode('KPID');
const MAGIC = IDENTITY_MAGIC;

/** Exit 8: something about sharing does not verify; nothing was written or sent. */
export const shareTampered = (what: string, hint = 'nothing was changed or sent; do not trust this server (or check the fingerprint with its owner)') => new KpmError(`sharing: ${what}`, EXIT.corrupt, hint, 'tampered');

function xPrivate(seed: Uint8Array): KeyObject {
  const der = Buffer.from(concatBytes(X_PKCS8, seed));
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}
const xPublicObject = (pub: Uint8Array): KeyObject => createPublicKey({ key: Buffer.from(concatBytes(X_SPKI, pub)), format: 'der', type: 'spki' });
const rawX = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ format: 'der', type: 'spki' }).subarray(X_SPKI.length));

export function x25519(seed: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  if (peerPublic.length !== 32) throw shareTampered('an X25519 public key has the wrong length');
  let shared: Uint8Array;
  try {
    shared = new Uint8Array(diffieHellman({ privateKey: xPrivate(seed), publicKey: xPublicObject(peerPublic) }));
  } catch {
    throw shareTampered('an X25519 public key is invalid');
  }
  if (shared.every((b) => b === 0)) throw shareTampered('an X25519 public key is of low order');
  return offHeapCopy(shared);
}

export const xPublicOf = (seed: Uint8Array): Uint8Array => rawX(createPublicKey(xPrivate(seed)));

/** A fresh ephemeral X25519 pair. */
export function xEphemeral(): { seed: Uint8Array; publicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = offHeapCopy(new Uint8Array(der.subarray(X_PKCS8.length)));
  der.fill(0);
  return { seed, publicKey: rawX(publicKey) };
}

export interface PublicIdentity {
  email: string;
  signPublic: Uint8Array;
  boxPublic: Uint8Array;
  /** SHA-256 fingerprint */
  fp: Uint8Array;
}

/**
 * Signs sharing messages as this account: in-process with the account key, or through the agent
 * (`shareSign`, which signs only sharing messages of this account: src/share/format.ts checkSharingMessage).
 */
export interface ShareSigner {
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface Identity extends PublicIdentity {
  signer: ShareSigner;
  /** X25519 with this account's private key (in this process, or in the agent: `shareDh`) and a peer's public key */
  dh(peerPublic: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export function fingerprint(signPublic: Uint8Array, boxPublic: Uint8Array): Uint8Array {
  return sha256(FP_LABEL, signPublic, boxPublic);
}

/** 8 groups of 5 digits (each: 5 bytes of the hash, big-endian, mod 100000). */
export function fingerprintDigits(fp: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) {
    let v = 0n;
    for (const b of fp.subarray(i * 5, i * 5 + 5)) v = (v << 8n) | BigInt(b);
    groups.push((v % 100000n).toString().padStart(5, '0'));
  }
  return groups.join(' ');
}

/** Does what the user typed (digits or hex, spaces optional) name this fingerprint? */
export function fingerprintMatches(fp: Uint8Array, typed: string): boolean {
  const t = typed.replace(/[\s:-]/g, '').toLowerCase();
  if (/^\d{40}$/.test(t)) return t === fingerprintDigits(fp).replace(/ /g, '');
  if (/^[0-9a-f]{64}$/.test(t)) return t === toHex(fp);
  return false;
}

export const isFingerprintText = (typed: string): boolean => /^(\d{40}|[0-9a-f]{64})$/.test(typed.replace(/[\s:-]/g, '').toLowerCase());

export function accountIdentity(accountKey: Uint8Array, email: string): Identity {
  const signer = accountSigner(accountKey);
  const seed = offHeapCopy(accountSubkey(accountKey, 'shareX25519'));
  const boxPublic = xPublicOf(seed);
  wipe(seed);
  return {
    email,
    signer,
    signPublic: signer.publicKey,
    boxPublic,
    fp: fingerprint(signer.publicKey, boxPublic),
    dh: (peer) => {
      const s = offHeapCopy(accountSubkey(accountKey, 'shareX25519'));
      try {
        return x25519(s, peer);
      } finally {
        wipe(s);
      }
    },
  };
}

/**
 * Sharing through the agent (src/agent/api.ts `shareSecrets`, `shareSign`, `shareDh`): the agent
 * hands the CLI the key of share.kpms and the public keys; it signs and does X25519 itself, so
 * neither the signing seed nor the X25519 seed leaves it.
 */
export interface AgentShare {
  stateKey: Uint8Array;
  signer: ShareSigner;
  boxPublic: Uint8Array;
  dh(peerPublic: Uint8Array): Promise<Uint8Array>;
}

export const STATE_KEY_BYTES = 32;

export function decodeStateKey(b: Uint8Array): Uint8Array {
  if (b.length !== STATE_KEY_BYTES) throw new KpmError('the agent sent a sharing key of the wrong size', EXIT.corrupt);
  return offHeapCopy(b.slice());
}

/** The same identity as accountIdentity, through the agent. */
export function agentIdentity(a: AgentShare, email: string): Identity {
  return { email, signer: a.signer, signPublic: a.signer.publicKey, boxPublic: a.boxPublic, fp: fingerprint(a.signer.publicKey, a.boxPublic), dh: (p) => a.dh(p) };
}

/** The identity record: KPID ‖ u16 1 ‖ email ‖ Ed25519 public ‖ X25519 public ‖ signature. */
export async function encodeIdentity(id: Identity): Promise<Uint8Array> {
  const body = new ByteWriter().bytes(MAGIC).u16(1).varBytes(utf8.encode(id.email)).bytes(id.signPublic).bytes(id.boxPublic).finish();
  return concatBytes(body, await id.signer.sign(body));
}

/** Checks the self-signature and, when given, that the record is for `email`. */
export function decodeIdentity(bytes: Uint8Array, email?: string): PublicIdentity {
  const fail = (why: string) => shareTampered(`the identity record${email ? ` of ${email}` : ''} ${why}`);
  if (bytes.length < MAGIC.length + 2 + 4 + 64 + SIGNATURE_BYTES) throw fail('is truncated');
  const body = bytes.subarray(0, bytes.length - SIGNATURE_BYTES);
  const r = new ByteReader(body, 'an identity record');
  let rec: PublicIdentity;
  try {
    if (!bytesEqual(r.bytes(4), MAGIC) || r.u16() !== 1) throw fail('has an unknown format');
    const e = decodeUtf8(r.varBytes(1024));
    const signPublic = r.bytes(PUBLIC_KEY_BYTES).slice();
    const boxPublic = r.bytes(32).slice();
    if (r.offset !== body.length) throw fail('has trailing bytes');
    rec = { email: e, signPublic, boxPublic, fp: fingerprint(signPublic, boxPublic) };
  } catch (e) {
    if (isKind(e, 'tampered')) throw e;
    throw fail('is malformed');
  }
  if (!verifySignature(rec.signPublic, body, bytes.subarray(body.length))) throw fail('fails its signature check');
  if (email !== undefined && rec.email.toLowerCase() !== email.toLowerCase()) throw fail(`names another email (${rec.email})`);
  return rec;
}
