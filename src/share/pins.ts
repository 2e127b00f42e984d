// The account's pin state (docs/SHARING.md "Contact pins across the account's devices") and the
// members' leave statements ("Leaving a shared vault"). Pure functions.
//
// Pin state: every contact pin (keys, verified mark, the keys an accepted change replaced), the
// highest membership epoch (and its hash) seen per shared vault, the highest compaction generation
// (and the hash of its statement) accepted per shared vault, and the shared vaults this account
// left. Sealed with XChaCha20-Poly1305 under HKDF(share-state key, `kpm/v1/share/pins`)
// (the share-state key is HKDF(AK, `kpm/v2/account/share-state`): only the account's devices
// hold it), signed with the account's Ed25519 key, with a version that only goes up:
//   KPSP ‖ u16 1 ‖ u64 version ‖ nonce (24) ‖ u32 len ‖ ciphertext ‖ signer (32) ‖ signature (64)
// (associated data of the AEAD: the bytes up to the nonce).
//
// Leave statement, signed by the member who leaves:
//   KPSL ‖ u16 1 ‖ vault id (16) ‖ u64 epoch left ‖ member's fingerprint (32) ‖ signer (32) ‖ signature (64)
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bytesEqual, decodeUtf8, fromHex, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hkdf, sha256 } from '../crypto/keys.js';
import { randomBytes } from '../crypto/random.js';
import { KpmError, EXIT } from '../core/errors.js';
import { ByteWriter } from '../vault/binary.js';
import { fingerprint, shareTampered, type ShareSigner } from './identity.js';
import { checkSigned, openSigned, parsing, SHARE_MAGIC, signedBytes, VAULT_ID_BYTES } from './format.js';

export const MAX_PINS_CIPHERTEXT = 1 << 22;

export interface PinnedContact {
  sign: string;
  box: string;
  verified: boolean;
  pinnedAt: string;
  /** fingerprints (hex) of keys this pin replaced by `kpm contacts accept-change` */
  replaces?: string[];
}

export interface PinContent {
  contacts: Record<string, PinnedContact>;
  /** vault id → the highest membership epoch seen by a device of this account, and SHA-256 of its signed bytes */
  epochs: Record<string, { epoch: number; hash: string }>;
  /** vault id → the membership epoch this account left */
  left: Record<string, number>;
  /** vault id → the highest compaction generation a device of this account accepted, and SHA-256 of its statement (absent while there is none) */
  generations?: Record<string, { generation: number; hash: string }>;
}

export const pinsKey = (stateKey: Uint8Array): Uint8Array => hkdf(stateKey, 'kpm/v1/share/pins');

/** JSON with sorted keys: two devices with the same pins produce the same bytes. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export const contentHash = (c: PinContent): string => toHex(sha256(utf8.encode(canonical(c))));
export const blobHash = (b: Uint8Array): string => toHex(sha256(b));

function pinsHeader(version: number): Uint8Array {
  return new ByteWriter().bytes(utf8.encode(SHARE_MAGIC.pins)).u16(1).u64(version).finish();
}

export async function sealPins(signer: ShareSigner, stateKey: Uint8Array, version: number, content: PinContent): Promise<Uint8Array> {
  const header = pinsHeader(version);
  const key = pinsKey(stateKey);
  const plain = utf8.encode(canonical(content));
  const nonce = randomBytes(24);
  const ct = xchacha20poly1305(key, nonce, header).encrypt(plain);
  wipe(key, plain);
  return signedBytes(signer, new ByteWriter().bytes(header).bytes(nonce).varBytes(ct));
}

/** The version and signer, unchecked (the server: it holds no key to open it). */
export function parsePins(bytes: Uint8Array): { version: number; signer: Uint8Array; check: (key: Uint8Array) => void } {
  return parsing('the pin state', () => {
    const o = openSigned(bytes, SHARE_MAGIC.pins, 'the pin state');
    const version = o.r.u64();
    o.r.bytes(24);
    o.r.varBytes(MAX_PINS_CIPHERTEXT);
    if (o.r.offset !== o.r.buf.length) throw shareTampered('the pin state has trailing bytes');
    return { version, signer: o.signer.slice(), check: (key: Uint8Array) => checkSigned(o, key, 'the pin state', 'this account') };
  });
}

const isStr = (x: unknown): x is string => typeof x === 'string';
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1;

function checkContent(x: unknown): PinContent {
  const bad = () => shareTampered("the account's pin state is malformed");
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw bad();
  const c = x as Record<string, unknown>;
  for (const k of ['contacts', 'epochs', 'left']) if (c[k] === null || typeof c[k] !== 'object' || Array.isArray(c[k])) throw bad();
  for (const p of Object.values(c.contacts as Record<string, PinnedContact>)) {
    if (!isStr(p?.sign) || !isStr(p.box) || typeof p.verified !== 'boolean' || !isStr(p.pinnedAt)) throw bad();
    if (p.replaces !== undefined && (!Array.isArray(p.replaces) || !p.replaces.every(isStr))) throw bad();
  }
  for (const e of Object.values(c.epochs as Record<string, { epoch: number; hash: string }>)) if (!isCount(e?.epoch) || !isStr(e.hash)) throw bad();
  for (const e of Object.values(c.left as Record<string, number>)) if (!isCount(e)) throw bad();
  if (c.generations !== undefined) {
    if (c.generations === null || typeof c.generations !== 'object' || Array.isArray(c.generations)) throw bad();
    for (const g of Object.values(c.generations as Record<string, { generation: number; hash: string }>)) if (!isCount(g?.generation) || !isStr(g.hash)) throw bad();
  }
  return { contacts: c.contacts, epochs: c.epochs, left: c.left, ...(c.generations ? { generations: c.generations } : {}) } as PinContent;
}

/**
 * Opens a pin state the server sent: signed by this account's key (`signPublic`), sealed under its
 * pins key, of the version the server says. Exit 8 otherwise.
 */
export function openPins(bytes: Uint8Array, signPublic: Uint8Array, stateKey: Uint8Array, version: number): PinContent {
  const p = parsePins(bytes);
  if (!bytesEqual(p.signer, signPublic)) throw shareTampered("the account's pin state (contact pins) is not signed by this account: refused");
  p.check(signPublic);
  if (p.version !== version) throw shareTampered(`the server says the account's pin state is version ${version}, but it holds version ${p.version}`);
  const header = pinsHeader(p.version);
  const nonceAt = header.length;
  const nonce = bytes.subarray(nonceAt, nonceAt + 24);
  const len = new DataView(bytes.buffer, bytes.byteOffset + nonceAt + 24, 4).getUint32(0);
  const ct = bytes.subarray(nonceAt + 28, nonceAt + 28 + len);
  const key = pinsKey(stateKey);
  let plain: Uint8Array;
  try {
    plain = xchacha20poly1305(key, nonce, header).decrypt(ct);
  } catch {
    throw shareTampered("the account's pin state does not open with this account's key");
  } finally {
    wipe(key);
  }
  try {
    return checkContent(JSON.parse(decodeUtf8(plain)));
  } catch (e) {
    if (e instanceof KpmError) throw e;
    throw shareTampered("the account's pin state is malformed");
  }
}

const fpOf = (p: Pick<PinnedContact, 'sign' | 'box'>): string => toHex(fingerprint(fromHex(p.sign), fromHex(p.box)));

/** Two devices of the account pinned different keys for `email`, and neither replaced the other's by accept-change. */
export function pinConflict(email: string, here: PinnedContact, there: PinnedContact): KpmError {
  return new KpmError(
    `sharing: ${email} is pinned with other keys on another device of this account (fingerprint ${fpOf(there).slice(0, 16)}… there, ${fpOf(here).slice(0, 16)}… here): refused`,
    EXIT.corrupt,
    `nothing was changed or sent. Compare fingerprints with ${email} (\`kpm whoami --fingerprint\` on their side), then run \`kpm contacts accept-change ${email}\` on one device of yours to pin the keys the server gives now`,
    'tampered',
  );
}

/** Per vault, the pin with the higher number (`num`) of two devices'; the same number with another hash is exit 8 (`fork`). */
function highestPer<T extends { hash: string }>(here: Record<string, T>, there: Record<string, T>, num: (x: T) => number, fork: (id: string, n: number) => string): Record<string, T> {
  const out = { ...here };
  for (const [id, t] of Object.entries(there)) {
    const h = out[id];
    if (h && num(h) === num(t) && h.hash !== t.hash) throw shareTampered(fork(id, num(t)));
    if (!h || num(t) > num(h)) out[id] = t;
  }
  return out;
}

/**
 * Merges the pin state of another device (`there`) into this one's (`here`): the union of contacts
 * (the same keys: verified if either says so; other keys: the pin that replaced the other's by
 * accept-change wins, else a conflict, exit 8 naming the contact, unless `resolve(email)` gives the
 * pin to keep), the highest epoch per vault (the same epoch with another hash: exit 8, the server
 * showed two devices different memberships), the highest epoch left per vault, the highest
 * compaction generation per vault (the same generation with another statement: exit 8, a forked log).
 */
export function mergePins(here: PinContent, there: PinContent, resolve?: (email: string, here: PinnedContact, there: PinnedContact) => PinnedContact | undefined): PinContent {
  const contacts: Record<string, PinnedContact> = { ...here.contacts };
  for (const [email, t] of Object.entries(there.contacts)) {
    const h = contacts[email];
    if (!h) {
      contacts[email] = t;
      continue;
    }
    const replaces = [...new Set([...(h.replaces ?? []), ...(t.replaces ?? [])])].sort();
    if (h.sign === t.sign && h.box === t.box) {
      contacts[email] = { sign: h.sign, box: h.box, verified: h.verified || t.verified, pinnedAt: h.pinnedAt < t.pinnedAt ? h.pinnedAt : t.pinnedAt, ...(replaces.length ? { replaces: replaces.filter((f) => f !== fpOf(h)) } : {}) };
      continue;
    }
    const tWins = (t.replaces ?? []).includes(fpOf(h));
    const hWins = (h.replaces ?? []).includes(fpOf(t));
    if (tWins !== hWins) {
      const w = tWins ? t : h;
      contacts[email] = { ...w, replaces: [...new Set([...replaces, fpOf(tWins ? h : t)])].filter((f) => f !== fpOf(w)).sort() };
      continue;
    }
    const r = resolve?.(email, h, t);
    if (!r) throw pinConflict(email, h, t);
    contacts[email] = r;
  }
  const epochs = highestPer(here.epochs, there.epochs, (x) => x.epoch, (id, n) => `the server showed devices of this account two different membership epochs ${n} of shared vault ${id.slice(0, 8)} (a forked membership)`);
  const left = { ...here.left };
  for (const [id, e] of Object.entries(there.left)) if (!(left[id] >= e)) left[id] = e;
  const generations = highestPer(here.generations ?? {}, there.generations ?? {}, (x) => x.generation, (id, n) => `the server showed devices of this account two different compaction statements of generation ${n} of shared vault ${id.slice(0, 8)} (a forked log)`);
  return { contacts, epochs, left, ...(Object.keys(generations).length ? { generations } : {}) };
}

// ------------------------------------------------------------------ leave statements

export interface LeaveStatement {
  vaultId: Uint8Array;
  epoch: number;
  fp: Uint8Array;
  signer: Uint8Array;
}

export function sealLeave(member: ShareSigner, memberFp: Uint8Array, vaultId: Uint8Array, epoch: number): Promise<Uint8Array> {
  return signedBytes(member, new ByteWriter().bytes(utf8.encode(SHARE_MAGIC.leave)).u16(1).bytes(vaultId).u64(epoch).bytes(memberFp));
}

/** Parses a leave statement and checks its self-consistency (its signature is checked by checkLeave against the member's key). */
export function parseLeave(bytes: Uint8Array): LeaveStatement & { check: (key: Uint8Array) => void } {
  return parsing('a leave statement', () => {
    const o = openSigned(bytes, SHARE_MAGIC.leave, 'a leave statement');
    const vaultId = o.r.bytes(VAULT_ID_BYTES).slice();
    const epoch = o.r.u64();
    const fp = o.r.bytes(32).slice();
    if (o.r.offset !== o.r.buf.length) throw shareTampered('a leave statement has trailing bytes');
    return { vaultId, epoch, fp, signer: o.signer.slice(), check: (key: Uint8Array) => checkSigned(o, key, 'a leave statement', 'the member it names') };
  });
}
