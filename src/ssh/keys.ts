// SSH keys: generation (node:crypto), the OpenSSH private key format "openssh-key-v1"
// (PROTOCOL.key; passphrase-protected ones with bcrypt + aes-ctr/cbc are read), public key blobs
// and authorized_keys lines (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709), SHA256 fingerprints, and
// signatures in SSH's encoding (RFC 8332 for rsa-sha2-256/512, RFC 5656 §3.1.2 for ECDSA).
import { createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign, verify as cryptoVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { usageError, KpmError, EXIT, wrongPassword } from '../core/errors.js';
import { bcryptPbkdf } from './bcrypt.js';
import { b64u, padTo, WireError, WireReader, WireWriter } from './wire.js';

export type SshKeyType = 'ssh-ed25519' | 'ssh-rsa' | 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521';

const CURVES: Record<string, { jwk: string; size: number; hash: string }> = {
  nistp256: { jwk: 'P-256', size: 32, hash: 'sha256' },
  nistp384: { jwk: 'P-384', size: 48, hash: 'sha384' },
  nistp521: { jwk: 'P-521', size: 66, hash: 'sha512' },
};

/** A private SSH key in memory: its type, public blob, comment, and the JWK node:crypto signs with. */
export interface SshPrivateKey {
  type: SshKeyType;
  publicBlob: Buffer;
  comment: string;
  jwk: JsonWebKey;
}

export class SshKeyError extends KpmError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const PEM_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const PEM_END = '-----END OPENSSH PRIVATE KEY-----';

// ---------------------------------------------------------------------------------------------
// Public blobs

function publicBlobFromJwk(type: SshKeyType, jwk: JsonWebKey): Buffer {
  const w = new WireWriter().string(type);
  if (type === 'ssh-ed25519') return w.string(b64u.decode(jwk.x!)).toBuffer();
  if (type === 'ssh-rsa') return w.mpint(b64u.decode(jwk.e!)).mpint(b64u.decode(jwk.n!)).toBuffer();
  const curve = type.slice('ecdsa-sha2-'.length);
  const size = CURVES[curve].size;
  const q = Buffer.concat([Buffer.from([4]), padTo(b64u.decode(jwk.x!), size), padTo(b64u.decode(jwk.y!), size)]);
  return w.string(curve).string(q).toBuffer();
}

/** The public half of a blob as a node:crypto key (to verify signatures: session-bind, tests). */
export function publicKeyFromBlob(blob: Buffer): { type: string; key: KeyObject } {
  const r = new WireReader(blob);
  const type = r.text();
  let jwk: JsonWebKey;
  if (type === 'ssh-ed25519') jwk = { kty: 'OKP', crv: 'Ed25519', x: b64u.encode(r.string()) };
  else if (type === 'ssh-rsa') {
    const e = r.mpint();
    jwk = { kty: 'RSA', e: b64u.encode(e), n: b64u.encode(r.mpint()) };
  } else if (type.startsWith('ecdsa-sha2-') && CURVES[type.slice(11)]) {
    const c = CURVES[type.slice(11)];
    if (r.text() !== type.slice(11)) throw new WireError('ECDSA curve does not match the key type');
    const q = r.string();
    if (q.length !== 1 + 2 * c.size || q[0] !== 4) throw new WireError('bad ECDSA point');
    jwk = { kty: 'EC', crv: c.jwk, x: b64u.encode(q.subarray(1, 1 + c.size)), y: b64u.encode(q.subarray(1 + c.size)) };
  } else throw new WireError(`unsupported key type ${type}`);
  r.end();
  return { type, key: createPublicKey({ key: jwk, format: 'jwk' }) };
}

export function blobType(blob: Buffer): string {
  return new WireReader(blob).text();
}

/** "SHA256:…" as ssh-keygen -l prints it */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** an authorized_keys / .pub line */
export function publicLine(blob: Buffer, comment: string): string {
  return `${blobType(blob)} ${blob.toString('base64')}${comment ? ' ' + comment : ''}`;
}

/** Parses "TYPE BASE64 [comment]" (an authorized_keys or .pub line without options). */
export function parsePublicLine(line: string): { blob: Buffer; comment: string } {
  const m = /^(\S+)\s+([A-Za-z0-9+/=]+)(?:\s+(.*))?$/.exec(line.trim());
  if (!m) throw new SshKeyError('not an SSH public key line');
  const blob = Buffer.from(m[2], 'base64');
  if (blobType(blob) !== m[1]) throw new SshKeyError('the public key line names another key type than its blob');
  return { blob, comment: m[3] ?? '' };
}

export function keyBits(k: SshPrivateKey): number {
  if (k.type === 'ssh-ed25519') return 256;
  if (k.type === 'ssh-rsa') {
    const n = b64u.decode(k.jwk.n!);
    let bits = n.length * 8;
    for (let b = n[0]; b < 0x80 && bits > 0; b <<= 1) bits--;
    return bits;
  }
  return { nistp256: 256, nistp384: 384, nistp521: 521 }[k.type.slice(11)] ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Generation

export function generateKey(kind: string, bits: number | undefined, comment: string): SshPrivateKey {
  let jwk: JsonWebKey;
  let type: SshKeyType;
  if (kind === 'ed25519') {
    if (bits !== undefined && bits !== 256) throw usageError('ed25519 keys have 256 bits; leave out --bits');
    type = 'ssh-ed25519';
    jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  } else if (kind === 'rsa') {
    const b = bits ?? 3072;
    if (b < 2048 || b > 16384) throw usageError('RSA keys need 2048 to 16384 bits (default 3072)');
    type = 'ssh-rsa';
    jwk = generateKeyPairSync('rsa', { modulusLength: b, publicExponent: 65537 }).privateKey.export({ format: 'jwk' });
  } else if (kind === 'ecdsa') {
    const b = bits ?? 256;
    const curve = { 256: 'nistp256', 384: 'nistp384', 521: 'nistp521' }[b];
    if (!curve) throw usageError('ECDSA keys have 256, 384 or 521 bits (default 256)');
    type = `ecdsa-sha2-${curve}` as SshKeyType;
    jwk = generateKeyPairSync('ec', { namedCurve: CURVES[curve].jwk }).privateKey.export({ format: 'jwk' });
  } else throw usageError(`unknown key type "${kind}"`, 'use --type ed25519, rsa or ecdsa');
  return { type, jwk, comment, publicBlob: publicBlobFromJwk(type, jwk) };
}

// ---------------------------------------------------------------------------------------------
// openssh-key-v1

function mod(a: bigint, m: bigint): bigint {
  return ((a % m) + m) % m;
}
const big = (b: Uint8Array) => (b.length ? BigInt('0x' + Buffer.from(b).toString('hex')) : 0n);
const unbig = (v: bigint) => {
  let h = v.toString(16);
  if (h.length % 2) h = '0' + h;
  return Buffer.from(h, 'hex');
};

function readPrivate(r: WireReader): SshPrivateKey {
  const type = r.text();
  let jwk: JsonWebKey;
  if (type === 'ssh-ed25519') {
    const pub = r.string();
    const priv = r.string();
    if (pub.length !== 32 || priv.length !== 64 || !priv.subarray(32).equals(pub)) throw new SshKeyError('malformed ed25519 private key');
    jwk = { kty: 'OKP', crv: 'Ed25519', x: b64u.encode(pub), d: b64u.encode(priv.subarray(0, 32)) };
  } else if (type === 'ssh-rsa') {
    const [n, e, d, iqmp, p, q] = [r.mpint(), r.mpint(), r.mpint(), r.mpint(), r.mpint(), r.mpint()];
    const D = big(d);
    jwk = {
      kty: 'RSA', n: b64u.encode(n), e: b64u.encode(e), d: b64u.encode(d), p: b64u.encode(p), q: b64u.encode(q),
      dp: b64u.encode(unbig(mod(D, big(p) - 1n))), dq: b64u.encode(unbig(mod(D, big(q) - 1n))), qi: b64u.encode(iqmp),
    };
  } else if (type.startsWith('ecdsa-sha2-') && CURVES[type.slice(11)]) {
    const c = CURVES[type.slice(11)];
    if (r.text() !== type.slice(11)) throw new SshKeyError('ECDSA curve does not match the key type');
    const q = r.string();
    const d = r.mpint();
    if (q.length !== 1 + 2 * c.size || q[0] !== 4) throw new SshKeyError('malformed ECDSA public point');
    jwk = { kty: 'EC', crv: c.jwk, x: b64u.encode(q.subarray(1, 1 + c.size)), y: b64u.encode(q.subarray(1 + c.size)), d: b64u.encode(padTo(d, c.size)) };
  } else throw new SshKeyError(`unsupported SSH key type "${type}" (kpm supports ed25519, rsa and ecdsa)`);
  const comment = r.text();
  const key: SshPrivateKey = { type: type as SshKeyType, jwk, comment, publicBlob: publicBlobFromJwk(type as SshKeyType, jwk) };
  // the private half must belong to the public half (a wrong one would sign garbage)
  try {
    checkPair(key);
  } catch {
    throw new SshKeyError('the private key does not match its public key');
  }
  return key;
}

function checkPair(k: SshPrivateKey): void {
  const probe = Buffer.from('kpm key check');
  const sig = signRaw(k, probe, 0);
  if (!verifySignature(k.publicBlob, probe, sig)) throw new Error('mismatch');
}

function writePrivate(w: WireWriter, k: SshPrivateKey): void {
  const j = k.jwk;
  w.string(k.type);
  if (k.type === 'ssh-ed25519') {
    const x = b64u.decode(j.x!);
    w.string(x).string(Buffer.concat([b64u.decode(j.d!), x]));
  } else if (k.type === 'ssh-rsa') {
    for (const f of [j.n, j.e, j.d, j.qi, j.p, j.q]) w.mpint(b64u.decode(f!));
  } else {
    const curve = k.type.slice(11);
    const q = new WireReader(k.publicBlob);
    q.text();
    q.text();
    w.string(curve).string(q.string()).mpint(b64u.decode(j.d!));
  }
  w.string(k.comment);
}

const CIPHERS: Record<string, { node: string; keyLen: number; ivLen: number; block: number }> = {
  'aes256-ctr': { node: 'aes-256-ctr', keyLen: 32, ivLen: 16, block: 16 },
  'aes192-ctr': { node: 'aes-192-ctr', keyLen: 24, ivLen: 16, block: 16 },
  'aes128-ctr': { node: 'aes-128-ctr', keyLen: 16, ivLen: 16, block: 16 },
  'aes256-cbc': { node: 'aes-256-cbc', keyLen: 32, ivLen: 16, block: 16 },
  'aes192-cbc': { node: 'aes-192-cbc', keyLen: 24, ivLen: 16, block: 16 },
  'aes128-cbc': { node: 'aes-128-cbc', keyLen: 16, ivLen: 16, block: 16 },
};

export interface ParsedPrivateFile {
  encrypted: boolean;
  /** decrypts with the passphrase (for unencrypted files the passphrase is ignored) */
  open(passphrase?: string): SshPrivateKey;
}

/** Reads an OpenSSH private key file ("-----BEGIN OPENSSH PRIVATE KEY-----"). */
export function parsePrivateFile(text: string): ParsedPrivateFile {
  const begin = text.indexOf(PEM_BEGIN);
  const end = text.indexOf(PEM_END);
  if (begin < 0 || end < begin) {
    if (/-----BEGIN (RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
      throw new SshKeyError('this is a PEM/PKCS#8 key, not an OpenSSH one', );
    }
    throw new SshKeyError('not an OpenSSH private key (no "BEGIN OPENSSH PRIVATE KEY" line)');
  }
  const body = Buffer.from(text.slice(begin + PEM_BEGIN.length, end).replace(/\s+/g, ''), 'base64');
  try {
    if (!body.subarray(0, MAGIC.length).equals(MAGIC)) throw new SshKeyError('not an openssh-key-v1 private key');
    const r = new WireReader(body.subarray(MAGIC.length));
    const cipher = r.text();
    const kdf = r.text();
    const kdfOptions = r.string();
    const n = r.uint32();
    if (n !== 1) throw new SshKeyError(`the file holds ${n} keys; kpm imports files with one key`);
    const publicBlob = Buffer.from(r.string());
    const sealed = r.string();
    const encrypted = cipher !== 'none';
    if (encrypted && !CIPHERS[cipher]) throw new SshKeyError(`unsupported key file cipher "${cipher}"`);
    if (encrypted && kdf !== 'bcrypt') throw new SshKeyError(`unsupported key file KDF "${kdf}"`);
    if (!encrypted && kdf !== 'none') throw new SshKeyError('malformed key file (a KDF without a cipher)');
    return {
      encrypted,
      open(passphrase?: string): SshPrivateKey {
        try {
          return openSealed(passphrase);
        } catch (e) {
          if (e instanceof WireError) throw new SshKeyError(`malformed OpenSSH private key: ${e.message}`);
          throw e;
        }
      },
    };
    function openSealed(passphrase?: string): SshPrivateKey {
      let plain = sealed;
      if (encrypted) {
        if (passphrase === undefined) throw new SshKeyError('the key file is protected by a passphrase');
        const c = CIPHERS[cipher];
        const o = new WireReader(kdfOptions);
        const salt = o.string();
        const rounds = o.uint32();
        if (rounds < 1 || rounds > 1000) throw new SshKeyError(`unreasonable bcrypt rounds ${rounds} in the key file`);
        if (sealed.length % c.block) throw new SshKeyError('malformed encrypted key');
        const km = bcryptPbkdf(Buffer.from(passphrase, 'utf8'), salt, c.keyLen + c.ivLen, rounds);
        const d = createDecipheriv(c.node, km.subarray(0, c.keyLen), km.subarray(c.keyLen));
        d.setAutoPadding(false);
        plain = Buffer.concat([d.update(sealed), d.final()]);
        km.fill(0);
      }
      try {
        const p = new WireReader(plain);
        if (p.uint32() !== p.uint32()) {
          if (encrypted) throw wrongPassword('wrong passphrase for the key file');
          throw new SshKeyError('malformed private key (check bytes differ)');
        }
        const key = readPrivate(p);
        if (!key.publicBlob.equals(publicBlob)) throw new SshKeyError('the private key does not match the public key in the file');
        const pad = p.rest();
        for (let i = 0; i < pad.length; i++) if (pad[i] !== i + 1) throw new SshKeyError('malformed private key padding');
        return key;
      } finally {
        if (plain !== sealed) plain.fill(0);
      }
    }
  } catch (e) {
    if (e instanceof WireError) throw new SshKeyError(`malformed OpenSSH private key: ${e.message}`);
    throw e;
  }
}

/** Parses a private key stored by kpm (an unencrypted OpenSSH file). */
export function parseStoredKey(text: string): SshPrivateKey {
  const f = parsePrivateFile(text);
  if (f.encrypted) throw new SshKeyError('the stored key is encrypted');
  return f.open();
}

/** An unencrypted OpenSSH private key file (what kpm stores inside the entry, and exports). */
export function serializePrivate(k: SshPrivateKey): string {
  const check = randomBytes(4);
  const w = new WireWriter().raw(check).raw(check);
  writePrivate(w, k);
  let inner = w.toBuffer();
  const padLen = (8 - (inner.length % 8)) % 8;
  inner = Buffer.concat([inner, Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1))]);
  const file = new WireWriter().raw(MAGIC).string('none').string('none').string(Buffer.alloc(0)).uint32(1).string(k.publicBlob).string(inner).toBuffer();
  inner.fill(0);
  const b64 = file.toString('base64');
  file.fill(0);
  return `${PEM_BEGIN}\n${b64.replace(/(.{70})/g, '$1\n').replace(/\n$/, '')}\n${PEM_END}\n`;
}

// ---------------------------------------------------------------------------------------------
// Signatures

export const SSH_AGENT_RSA_SHA2_256 = 2;
export const SSH_AGENT_RSA_SHA2_512 = 4;

export function privateKeyObject(k: SshPrivateKey): KeyObject {
  return createPrivateKey({ key: k.jwk, format: 'jwk' });
}

/** Signs data as SSH does; returns the signature blob (string algorithm, string signature). */
export function signRaw(k: SshPrivateKey, data: Uint8Array, flags: number, keyObject: KeyObject = privateKeyObject(k)): Buffer {
  if (k.type === 'ssh-ed25519') return new WireWriter().string('ssh-ed25519').string(cryptoSign(null, data, keyObject)).toBuffer();
  if (k.type === 'ssh-rsa') {
    const [alg, hash] = flags & SSH_AGENT_RSA_SHA2_512 ? ['rsa-sha2-512', 'sha512'] : flags & SSH_AGENT_RSA_SHA2_256 ? ['rsa-sha2-256', 'sha256'] : ['ssh-rsa', 'sha1'];
    return new WireWriter().string(alg).string(cryptoSign(hash, data, keyObject)).toBuffer();
  }
  const c = CURVES[k.type.slice(11)];
  const rs = cryptoSign(c.hash, data, { key: keyObject, dsaEncoding: 'ieee-p1363' });
  const inner = new WireWriter().mpint(rs.subarray(0, c.size)).mpint(rs.subarray(c.size)).toBuffer();
  return new WireWriter().string(k.type).string(inner).toBuffer();
}

/** Verifies an SSH signature blob over data with a public key blob. */
export function verifySignature(publicBlob: Buffer, data: Uint8Array, signature: Buffer): boolean {
  try {
    const { type, key } = publicKeyFromBlob(publicBlob);
    const r = new WireReader(signature);
    const alg = r.text();
    const sig = r.string();
    r.end();
    if (type === 'ssh-ed25519') return alg === type && cryptoVerify(null, data, key, sig);
    if (type === 'ssh-rsa') {
      const hash = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512', 'ssh-rsa': 'sha1' }[alg];
      return hash !== undefined && cryptoVerify(hash, data, key, sig);
    }
    if (alg !== type) return false;
    const c = CURVES[type.slice(11)];
    const s = new WireReader(sig);
    const rs = Buffer.concat([padTo(s.mpint(), c.size), padTo(s.mpint(), c.size)]);
    s.end();
    return cryptoVerify(c.hash, data, { key, dsaEncoding: 'ieee-p1363' }, rs);
  } catch {
    return false;
  }
}
