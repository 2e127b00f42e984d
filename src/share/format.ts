// The signed objects of a shared vault (docs/SHARING.md "What is signed by whom"): membership
// epochs (owner), key bundles (owner, wrapped for one member), acceptances (member) and records
// (their writer). Pure functions; every decoder checks the signature against the key it is given.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bytesEqual, concatBytes, decodeUtf8, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hkdf, sha256 } from '../crypto/keys.js';
import { offHeapCopy, open as aeadOpen, seal as aeadSeal, AuthError } from '../crypto/aead.js';
import { randomBytes } from '../crypto/random.js';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verifySignature } from '../crypto/sign.js';
import { ByteReader, ByteWriter } from '../vault/binary.js';
import { EXIT, isKind, KpmError } from '../core/errors.js';
import { validate } from '../protocol/validate.js';
import { MAX_VALUE_BYTES, TYPE_FIELDS, type EntryPayload } from '../vault/entry.js';
import { ENTRY_PAYLOAD_SCHEMA } from '../vault/types/schema.js';
import { sharedFilesProblem, type SharedFile } from './blobs.js';
import { fingerprint, IDENTITY_MAGIC, shareTampered, x25519, xEphemeral, type Identity, type PublicIdentity, type ShareSigner } from './identity.js';

export const VAULT_ID_BYTES = 16;
const M = { membership: 'KPSM', bundle: 'KPSK', accept: 'KPSA', record: 'KPSR', pins: 'KPSP', leave: 'KPSL', compaction: 'KPSC' } as const;
/** The magic of each signed sharing message (src/share/pins.ts makes the account's pin state and leave statements). */
export const SHARE_MAGIC = M;
const LABEL = { wrap: 'kpm/v1/share/key-wrap', record: 'kpm/v1/share/record', chain: 'kpm/v1/share/log' } as const;

export type Role = 'owner' | 'writer' | 'reader';
const ROLE_CODE: Record<Role, number> = { owner: 1, writer: 2, reader: 3 };
const ROLE_OF: Record<number, Role> = { 1: 'owner', 2: 'writer', 3: 'reader' };
export const canWrite = (r: Role | undefined): boolean => r === 'owner' || r === 'writer';

export async function signedBytes(signer: ShareSigner, w: ByteWriter): Promise<Uint8Array> {
  const body = w.bytes(signer.publicKey).finish();
  return concatBytes(body, await signer.sign(body));
}

export interface Opened {
  r: ByteReader;
  body: Uint8Array;
  signer: Uint8Array;
  signature: Uint8Array;
}

export function openSigned(bytes: Uint8Array, magic: string, what: string): Opened {
  if (bytes.length < 6 + PUBLIC_KEY_BYTES + SIGNATURE_BYTES) throw shareTampered(`${what} is truncated`);
  const body = bytes.subarray(0, bytes.length - SIGNATURE_BYTES);
  const r = new ByteReader(body.subarray(0, body.length - PUBLIC_KEY_BYTES), what);
  if (decodeUtf8(r.bytes(4)) !== magic || r.u16() !== 1) throw shareTampered(`${what} has an unknown format`);
  return { r, body, signer: body.subarray(body.length - PUBLIC_KEY_BYTES), signature: bytes.subarray(body.length) };
}

export function checkSigned(o: Opened, key: Uint8Array, what: string, whose: string): void {
  if (!bytesEqual(o.signer, key)) throw shareTampered(`${what} is not signed by ${whose}`);
  if (!verifySignature(key, o.body, o.signature)) throw shareTampered(`${what} fails its signature check`);
}

export const parsing = <T>(what: string, fn: () => T): T => {
  try {
    return fn();
  } catch (e) {
    if (isKind(e, 'tampered')) throw e;
    throw shareTampered(`${what} is malformed`);
  }
};

// ------------------------------------------------------------------ membership

export interface Member {
  email: string;
  signPublic: Uint8Array;
  boxPublic: Uint8Array;
  role: Role;
}

export interface Membership {
  vaultId: Uint8Array;
  epoch: number;
  /** the log revision this epoch takes effect after: records above it are under this epoch */
  head: number;
  /** SHA-256 of the previous epoch's signed bytes (zeros for epoch 1) */
  prev: Uint8Array;
  members: Member[];
}

export const memberFp = (m: Pick<Member, 'signPublic' | 'boxPublic'>): Uint8Array => fingerprint(m.signPublic, m.boxPublic);
export const membershipHash = (bytes: Uint8Array): Uint8Array => sha256(bytes);

export function sealMembership(owner: ShareSigner, m: Membership): Promise<Uint8Array> {
  const w = new ByteWriter().bytes(utf8.encode(M.membership)).u16(1).bytes(m.vaultId).u64(m.epoch).u64(m.head).bytes(m.prev).u16(m.members.length);
  for (const x of m.members) w.varBytes(utf8.encode(x.email)).bytes(x.signPublic).bytes(x.boxPublic).u8(ROLE_CODE[x.role]);
  return signedBytes(owner, w);
}

/** Parses without checking who signed (the server, and a device that learns the owner from it). */
export function parseMembership(bytes: Uint8Array): Membership & { signer: Uint8Array; opened: Opened } {
  return parsing('a membership', () => {
    const o = openSigned(bytes, M.membership, 'a membership');
    const r = o.r;
    const vaultId = r.bytes(VAULT_ID_BYTES).slice();
    const epoch = r.u64();
    const head = r.u64();
    const prev = r.bytes(32).slice();
    const n = r.u16();
    if (n < 1 || n > 1000) throw shareTampered('a membership has no members');
    const members: Member[] = [];
    for (let i = 0; i < n; i++) {
      const email = decodeUtf8(r.varBytes(254));
      const signPublic = r.bytes(32).slice();
      const boxPublic = r.bytes(32).slice();
      const role = ROLE_OF[r.u8()];
      if (!role) throw shareTampered('a membership names an unknown role');
      members.push({ email, signPublic, boxPublic, role });
    }
    if (r.offset !== r.buf.length) throw shareTampered('a membership has trailing bytes');
    const owners = members.filter((x) => x.role === 'owner');
    if (owners.length !== 1) throw shareTampered('a membership must name exactly one owner');
    if (!bytesEqual(owners[0].signPublic, o.signer)) throw shareTampered(`membership epoch ${epoch} is not signed by the vault's owner`);
    if (new Set(members.map((x) => x.email.toLowerCase())).size !== members.length) throw shareTampered('a membership names a member twice');
    if (!verifySignature(o.signer, o.body, o.signature)) throw shareTampered(`membership epoch ${epoch} fails its signature check`);
    return { vaultId, epoch, head, prev, members, signer: o.signer.slice(), opened: o };
  });
}

export const ownerOf = (m: Membership): Member => m.members.find((x) => x.role === 'owner')!;

/**
 * Verifies a whole membership chain (epochs 1…n, in order) against the owner's pinned signing key:
 * same vault, epochs consecutive, each naming the hash of the one before, heads not going back.
 */
export function verifyMembershipChain(vaultId: Uint8Array, ownerSignPublic: Uint8Array, bodies: Uint8Array[]): Membership[] {
  if (bodies.length === 0) throw shareTampered('the server sent no membership for a shared vault');
  const out: Membership[] = [];
  let prevHash: Uint8Array = new Uint8Array(32);
  let prevHead = 0;
  bodies.forEach((b, i) => {
    const m = parseMembership(b);
    if (!bytesEqual(m.signer, ownerSignPublic)) throw shareTampered(`membership epoch ${m.epoch} of vault ${toHex(vaultId).slice(0, 8)} is not signed by the vault's owner`);
    if (!bytesEqual(m.vaultId, vaultId)) throw shareTampered('a membership belongs to another vault');
    if (m.epoch !== i + 1) throw shareTampered(`the membership epochs are not consecutive (got ${m.epoch}, expected ${i + 1})`);
    if (!bytesEqual(m.prev, prevHash)) throw shareTampered(`membership epoch ${m.epoch} does not follow epoch ${m.epoch - 1}`);
    if (m.head < prevHead) throw shareTampered(`membership epoch ${m.epoch} goes back in the log`);
    prevHash = membershipHash(b);
    prevHead = m.head;
    out.push(m);
  });
  return out;
}

/** The epoch in force for a record at revision `rev`: the latest whose head is below it. */
export function epochAt(chain: Membership[], rev: number): Membership {
  let cur = chain[0];
  for (const m of chain) if (m.head < rev) cur = m;
  return cur;
}

// ------------------------------------------------------------------ key bundle

export interface BundleContent {
  name: string;
  /** the vault keys of epochs 1…E, index 0 = epoch 1 */
  keys: Uint8Array[];
}

function bundleHeader(vaultId: Uint8Array, epoch: number, recipientFp: Uint8Array, senderFp: Uint8Array, eph: Uint8Array): Uint8Array {
  return new ByteWriter().bytes(utf8.encode(M.bundle)).u16(1).bytes(vaultId).u64(epoch).bytes(recipientFp).bytes(senderFp).bytes(eph).finish();
}

function wrapKey(ikm: Uint8Array, eph: Uint8Array, header: Uint8Array): Uint8Array {
  return hkdf(ikm, concatBytes(utf8.encode(LABEL.wrap), header), 32, eph);
}

/** Wraps the vault's keys for one member: X25519 (ephemeral and the owner's static) + HKDF + XChaCha20-Poly1305, signed by the owner. */
export async function sealBundle(owner: Identity, recipient: Pick<PublicIdentity, 'boxPublic' | 'fp'>, vaultId: Uint8Array, epoch: number, content: BundleContent): Promise<Uint8Array> {
  const e = xEphemeral();
  const s1 = x25519(e.seed, recipient.boxPublic);
  wipe(e.seed);
  const s2 = await owner.dh(recipient.boxPublic);
  const header = bundleHeader(vaultId, epoch, recipient.fp, owner.fp, e.publicKey);
  const ikm = concatBytes(s1, s2);
  const key = wrapKey(ikm, e.publicKey, header);
  wipe(s1, s2, ikm);
  const pw = new ByteWriter().varBytes(utf8.encode(content.name)).u16(content.keys.length);
  for (const k of content.keys) pw.bytes(k);
  const plain = pw.finish();
  const nonce = randomBytes(24);
  const ct = xchacha20poly1305(key, nonce, header).encrypt(plain);
  wipe(key, plain);
  const w = new ByteWriter().bytes(header).bytes(nonce).varBytes(ct);
  return signedBytes(owner.signer, w);
}

/** Opens a bundle meant for `me`, from the owner `ownerSignPublic`/`ownerFp`, for this vault and epoch. */
export async function openBundle(me: Identity, ownerSignPublic: Uint8Array, ownerBoxPublic: Uint8Array, vaultId: Uint8Array, epoch: number, bytes: Uint8Array): Promise<BundleContent> {
  const b = parsing('a key bundle', () => {
    const o = openSigned(bytes, M.bundle, 'the key bundle');
    checkSigned(o, ownerSignPublic, 'the key bundle', "the vault's owner");
    const r = o.r;
    const vid = r.bytes(VAULT_ID_BYTES);
    const ep = r.u64();
    const recipientFp = r.bytes(32);
    const senderFp = r.bytes(32);
    const eph = r.bytes(32);
    const nonce = r.bytes(24);
    const ct = r.varBytes(1 << 20);
    if (r.offset !== r.buf.length) throw shareTampered('the key bundle has trailing bytes');
    if (!bytesEqual(vid, vaultId) || ep !== epoch) throw shareTampered(`the key bundle is for another vault or epoch (epoch ${ep}, expected ${epoch})`);
    if (!bytesEqual(recipientFp, me.fp)) throw shareTampered('the vault key was wrapped for a key that is not this account\'s');
    if (!bytesEqual(senderFp, fingerprint(ownerSignPublic, ownerBoxPublic))) throw shareTampered('the key bundle names another sender than the owner');
    return { header: bundleHeader(vid, ep, recipientFp, senderFp, eph), eph, nonce, ct };
  });
  // the X25519 private key may be elsewhere (the agent): only these two shared secrets come back
  const s1 = await me.dh(b.eph);
  const s2 = await me.dh(ownerBoxPublic);
  return parsing('a key bundle', () => {
    const { header, eph, nonce, ct } = b;
    const ikm = concatBytes(s1, s2);
    const key = wrapKey(ikm, eph, header);
    wipe(s1, s2, ikm);
    let plain: Uint8Array;
    try {
      plain = xchacha20poly1305(key, nonce, header).decrypt(ct);
    } catch {
      throw shareTampered('the vault key was wrapped for a key that is not this account\'s (it does not open)');
    } finally {
      wipe(key);
    }
    const pr = new ByteReader(plain, 'a key bundle');
    const name = decodeUtf8(pr.varBytes(1024));
    const n = pr.u16();
    if (n !== epoch) throw shareTampered(`the key bundle of epoch ${epoch} holds ${n} keys`);
    const keys: Uint8Array[] = [];
    for (let i = 0; i < n; i++) keys.push(offHeapCopy(pr.bytes(32).slice()));
    wipe(plain);
    return { name, keys };
  });
}

// ------------------------------------------------------------------ acceptance

export function sealAcceptance(member: ShareSigner, vaultId: Uint8Array, epoch: number): Promise<Uint8Array> {
  return signedBytes(member, new ByteWriter().bytes(utf8.encode(M.accept)).u16(1).bytes(vaultId).u64(epoch));
}

/** The epoch accepted, if the acceptance is this account's and this vault's; else null. */
export function checkAcceptance(memberSignPublic: Uint8Array, vaultId: Uint8Array, bytes: Uint8Array): number | null {
  try {
    const o = openSigned(bytes, M.accept, 'an acceptance');
    checkSigned(o, memberSignPublic, 'an acceptance', 'this account');
    const vid = o.r.bytes(VAULT_ID_BYTES);
    const ep = o.r.u64();
    return bytesEqual(vid, vaultId) ? ep : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ records

/**
 * What a shared record seals (docs/SHARING.md "Record plaintext"): `{"v": 2, "entry": EntryPayload}`,
 * the same entry payload as an own vault's (every type of src/vault/types/, custom fields, tags,
 * TOTP), checked with the registry's schema on every open. Records written before (version 1, no
 * `v`) are the login-only {@link LegacySharedEntry} and still open, as a login.
 */
export const RECORD_PLAINTEXT_VERSION = 2;
/**
 * A record whose entry has files (documents, attachments: docs/SHARING.md "Files in shared vaults")
 * seals `{"v": 3, "entry": EntryPayload, "files": [SharedFile, …]}`: the entry as in version 2 (no
 * `files` of its own) and its files as src/share/blobs.ts names them. A record without files is
 * still written as version 2, which kpm before files reads.
 */
export const RECORD_FILES_VERSION = 3;

/** What a record holds: the entry, and its files (none before version 3). */
export interface RecordContent {
  entry: EntryPayload;
  files: SharedFile[];
}

/** The plaintext of a version-1 record (logins only): still read, never written. */
export interface LegacySharedEntry {
  name: string;
  username?: string;
  password?: string;
  url?: string;
  notes?: string;
  updated: string;
}

const LEGACY_FIELDS = ['username', 'password', 'url', 'notes'] as const;

/**
 * Why `p` cannot be a shared vault's entry (null: it can): the registry's payload schema
 * (src/vault/types/schema.ts, as the agent checks it), every field a string of at most 1 MiB and a
 * field of its type, a name, and no `files` (a shared entry's files are beside it in the record: version 3).
 */
export function sharedPayloadProblem(p: unknown): string | null {
  const problem = validate(ENTRY_PAYLOAD_SCHEMA, p, {}, 'entry');
  if (problem) return problem;
  const e = p as EntryPayload;
  if (e.name.trim() === '') return 'entry: an empty name';
  const allowed = new Set<string>([...TYPE_FIELDS[e.type], 'password']);
  for (const [k, v] of Object.entries(e.fields)) {
    if (!allowed.has(k)) return `entry.fields.${k.slice(0, 64)}: not a field of a ${e.type}`;
    if (typeof v !== 'string') return `entry.fields.${k}: expected string`;
    if (v.length > MAX_VALUE_BYTES) return `entry.fields.${k}: too long`;
  }
  // a shared entry's files are the record's (version 3, src/share/blobs.ts), never the own vaults' form with a key
  if (e.files !== undefined && e.files.length > 0) return "entry.files: a shared vault's files are not an own vault's (with keys); add them with `kpm doc add` or `kpm attach`";
  return null;
}

/** A version-1 (login-only) record's plaintext as the payload it stands for. */
function fromLegacy(e: Record<string, unknown>): EntryPayload | null {
  const ok = typeof e.name === 'string' && typeof e.updated === 'string' && LEGACY_FIELDS.every((k) => e[k] === undefined || typeof e[k] === 'string') && Object.keys(e).every((k) => ['name', 'updated', ...LEGACY_FIELDS].includes(k));
  if (!ok) return null;
  const fields: Record<string, string> = {};
  for (const k of LEGACY_FIELDS) if (typeof e[k] === 'string') fields[k] = e[k] as string;
  return { type: 'login', name: e.name as string, fields, custom: [], tags: [], created: e.updated as string, updated: e.updated as string };
}

/** The entry a record's plaintext holds: version 2 checked with the registry, version 1 (no `v`) as a login; null for anything else. */
export function decodeRecordPlaintext(plain: Uint8Array, epoch = Number.MAX_SAFE_INTEGER): EntryPayload | null {
  return decodeRecordContent(plain, epoch)?.entry ?? null;
}

/**
 * The entry and files a record of epoch `epoch` holds: version 1 (a login), 2 (an entry), 3 (an
 * entry and its files, each checked by sharedFilesProblem: an epoch up to the record's); null for
 * anything else.
 */
export function decodeRecordContent(plain: Uint8Array, epoch: number): RecordContent | null {
  const o = JSON.parse(decodeUtf8(plain)) as unknown;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return null;
  const r = o as Record<string, unknown>;
  if (!Object.hasOwn(r, 'v')) {
    const entry = fromLegacy(r);
    return entry && { entry, files: [] };
  }
  if (r.v === RECORD_FILES_VERSION) {
    if (Object.keys(r).length !== 3 || !Object.hasOwn(r, 'entry') || !Object.hasOwn(r, 'files')) return null;
    if (sharedPayloadProblem(r.entry) !== null || sharedFilesProblem(r.files, epoch) !== null) return null;
    return { entry: r.entry as EntryPayload, files: r.files as SharedFile[] };
  }
  if (r.v !== RECORD_PLAINTEXT_VERSION || Object.keys(r).length !== 2 || !Object.hasOwn(r, 'entry')) return null;
  return sharedPayloadProblem(r.entry) === null ? { entry: r.entry as EntryPayload, files: [] } : null;
}

export interface RecordHeader {
  vaultId: Uint8Array;
  rev: number;
  epoch: number;
  prevChain: Uint8Array;
  entryId: Uint8Array;
  deleted: boolean;
}

export const initialChain = (vaultId: Uint8Array): Uint8Array => sha256(utf8.encode(LABEL.chain), vaultId);
export const nextChain = (chain: Uint8Array, record: Uint8Array): Uint8Array => sha256(chain, sha256(record));

function recordHeader(h: RecordHeader): Uint8Array {
  return new ByteWriter().bytes(utf8.encode(M.record)).u16(1).bytes(h.vaultId).u64(h.rev).u64(h.epoch).bytes(h.prevChain).bytes(h.entryId).u8(h.deleted ? 1 : 0).finish();
}

/** The AEAD key of a vault key's records (what a service token holds: docs/SHARING.md "Service tokens on shared vaults"). */
export const recordKey = (vaultKey: Uint8Array): Uint8Array => hkdf(vaultKey, LABEL.record);

/** Seals an entry version (the payload must pass sharedPayloadProblem, the files sharedFilesProblem: the writer checks before); version 3 with files, else 2. */
export function sealRecord(writer: ShareSigner, vaultKey: Uint8Array, h: RecordHeader, entry: EntryPayload, files: SharedFile[] = []): Promise<Uint8Array> {
  const content = files.length ? { v: RECORD_FILES_VERSION, entry, files } : { v: RECORD_PLAINTEXT_VERSION, entry };
  return sealRecordPlaintext(writer, vaultKey, h, utf8.encode(JSON.stringify(content)));
}

/** Seals and signs any plaintext (tests write version-1 records and malformed ones with it). */
export function sealRecordPlaintext(writer: ShareSigner, vaultKey: Uint8Array, h: RecordHeader, plain: Uint8Array): Promise<Uint8Array> {
  const header = recordHeader(h);
  const key = recordKey(vaultKey);
  const sealed = aeadSeal(key, plain, header);
  wipe(key, plain);
  return signedBytes(writer, new ByteWriter().bytes(header).varBytes(sealed));
}

export interface ParsedRecord extends RecordHeader {
  writer: Uint8Array;
  sealed: Uint8Array;
  header: Uint8Array;
  opened: Opened;
}

export function parseRecord(bytes: Uint8Array): ParsedRecord {
  return parsing('a shared record', () => {
    const o = openSigned(bytes, M.record, 'a shared record');
    const r = o.r;
    const vaultId = r.bytes(VAULT_ID_BYTES).slice();
    const rev = r.u64();
    const epoch = r.u64();
    const prevChain = r.bytes(32).slice();
    const entryId = r.bytes(16).slice();
    const del = r.u8();
    if (del > 1) throw shareTampered('a shared record is malformed');
    const headerEnd = r.offset;
    const sealed = r.varBytes(1 << 24);
    if (r.offset !== r.buf.length) throw shareTampered('a shared record has trailing bytes');
    return { vaultId, rev, epoch, prevChain, entryId, deleted: del === 1, writer: o.signer.slice(), sealed, header: r.buf.subarray(0, headerEnd), opened: o };
  });
}

/** Checks the writer's signature (the writer's key must be `writerSignPublic`). */
export function checkRecordSignature(p: ParsedRecord, writerSignPublic: Uint8Array): void {
  checkSigned(p.opened, writerSignPublic, `shared record ${p.rev}`, 'a member with write access');
}

export function openRecord(p: ParsedRecord, vaultKey: Uint8Array): RecordContent {
  const key = recordKey(vaultKey);
  try {
    return openRecordContent(p, key);
  } finally {
    wipe(key);
  }
}

/** Opens a record with its epoch's record key (recordKey of the vault key); exit 8 when it does not open or parse. */
export function openRecordWith(p: ParsedRecord, key: Uint8Array): EntryPayload {
  return openRecordContent(p, key).entry;
}

/** The same, with the record's files. */
export function openRecordContent(p: ParsedRecord, key: Uint8Array): RecordContent {
  try {
    const plain = aeadOpen(key, p.sealed, p.header);
    const e = decodeRecordContent(plain, p.epoch);
    wipe(plain);
    if (!e) throw new SyntaxError('shape');
    return e;
  } catch (e) {
    if (e instanceof AuthError) throw shareTampered(`shared record ${p.rev} does not open with the vault key of epoch ${p.epoch}`);
    throw shareTampered(`shared record ${p.rev} is malformed`);
  }
}

// ------------------------------------------------------------------ what the agent signs

/** The kinds of sharing message the account's key signs (each with its own magic: none is a sync envelope's `KPMS`). */
export type SharingKind = 'identity' | 'membership' | 'bundle' | 'acceptance' | 'record' | 'pins' | 'leave' | 'compaction';

const refusedSign = (why: string) => new KpmError(`the agent signs only this account's sharing messages: ${why}; refused, nothing was signed`, EXIT.forbidden);

/**
 * What the agent checks before it signs for the CLI (src/agent/local.ts `shareSign`): `body` must
 * be, byte for byte, the signed part of one of the sharing messages above (its magic, version 1,
 * every field well-formed, no trailing bytes), made by this account (`me`): its signing key at the
 * end (for the identity record: its own two keys), the owner of a membership, the sender of a key
 * bundle. Anything else (a sync envelope or manifest, arbitrary bytes) is refused (exit 9).
 */
export function checkSharingMessage(body: Uint8Array, me: Pick<PublicIdentity, 'signPublic' | 'boxPublic'>): SharingKind {
  const r = new ByteReader(body, 'a sharing message');
  let kind: SharingKind;
  try {
    if (body.length < 6) throw refusedSign('it is not a sharing message');
    const magic = decodeUtf8(body.subarray(0, 4));
    const known: Record<string, SharingKind> = { [decodeUtf8(IDENTITY_MAGIC)]: 'identity', [M.membership]: 'membership', [M.bundle]: 'bundle', [M.accept]: 'acceptance', [M.record]: 'record', [M.pins]: 'pins', [M.leave]: 'leave', [M.compaction]: 'compaction' };
    if (!Object.hasOwn(known, magic)) throw refusedSign('it is not a sharing message');
    kind = known[magic];
    r.bytes(4);
    if (r.u16() !== 1) throw refusedSign(`the ${kind} has an unknown format`);
    const mine = (k: Uint8Array, what: string) => {
      if (!bytesEqual(k, me.signPublic)) throw refusedSign(`${what} is not this account's key`);
    };
    switch (kind) {
      case 'identity': {
        r.varBytes(1024);
        mine(r.bytes(PUBLIC_KEY_BYTES), 'the identity record\'s signing key');
        if (!bytesEqual(r.bytes(32), me.boxPublic)) throw refusedSign("the identity record's encryption key is not this account's");
        break;
      }
      case 'membership': {
        r.bytes(VAULT_ID_BYTES);
        if (r.u64() < 1) throw refusedSign('a membership epoch starts at 1');
        r.u64();
        r.bytes(32);
        const n = r.u16();
        if (n < 1 || n > 1000) throw refusedSign('a membership has no members');
        const emails = new Set<string>();
        let owners = 0;
        for (let i = 0; i < n; i++) {
          const email = decodeUtf8(r.varBytes(254)).toLowerCase();
          const signPublic = r.bytes(32);
          const boxPublic = r.bytes(32);
          const role = ROLE_OF[r.u8()];
          if (!role) throw refusedSign('a membership names an unknown role');
          if (emails.has(email)) throw refusedSign('a membership names a member twice');
          emails.add(email);
          if (role === 'owner') {
            owners++;
            mine(signPublic, "the owner's signing key");
            if (!bytesEqual(boxPublic, me.boxPublic)) throw refusedSign("the owner's encryption key is not this account's");
          }
        }
        if (owners !== 1) throw refusedSign('a membership must name exactly one owner');
        mine(r.bytes(PUBLIC_KEY_BYTES), "the membership's signer");
        break;
      }
      case 'bundle': {
        r.bytes(VAULT_ID_BYTES);
        r.u64();
        r.bytes(32);
        if (!bytesEqual(r.bytes(32), fingerprint(me.signPublic, me.boxPublic))) throw refusedSign("the key bundle's sender is not this account");
        r.bytes(32);
        r.bytes(24);
        r.varBytes(1 << 20);
        mine(r.bytes(PUBLIC_KEY_BYTES), "the key bundle's signer");
        break;
      }
      case 'acceptance': {
        r.bytes(VAULT_ID_BYTES);
        r.u64();
        mine(r.bytes(PUBLIC_KEY_BYTES), "the acceptance's signer");
        break;
      }
      case 'pins': {
        // the account's pin state (src/share/pins.ts): version, nonce, ciphertext; only this account's devices hold its key
        r.u64();
        r.bytes(24);
        r.varBytes(1 << 22);
        mine(r.bytes(PUBLIC_KEY_BYTES), "the pin state's signer");
        break;
      }
      case 'leave': {
        r.bytes(VAULT_ID_BYTES);
        r.u64();
        if (!bytesEqual(r.bytes(32), fingerprint(me.signPublic, me.boxPublic))) throw refusedSign("the leave statement's fingerprint is not this account's");
        mine(r.bytes(PUBLIC_KEY_BYTES), "the leave statement's signer");
        break;
      }
      case 'compaction': {
        // the owner's compaction statement (src/share/compact.ts): vault, generation, epoch and its hash, upto and its chain, then four lists
        r.bytes(VAULT_ID_BYTES);
        if (r.u64() < 1) throw refusedSign('a compaction generation starts at 1');
        if (r.u64() < 1) throw refusedSign('a membership epoch starts at 1');
        r.bytes(32);
        r.u64();
        r.bytes(32);
        for (const size of [40, 16, 16, 16]) {
          const n = r.u32();
          if (n > 100_000) throw refusedSign('a compaction statement names too many items');
          r.bytes(n * size);
        }
        mine(r.bytes(PUBLIC_KEY_BYTES), "the compaction statement's signer");
        break;
      }
      case 'record': {
        r.bytes(VAULT_ID_BYTES);
        r.u64();
        r.u64();
        r.bytes(32);
        r.bytes(16);
        if (r.u8() > 1) throw refusedSign('a shared record is malformed');
        r.varBytes(1 << 24);
        mine(r.bytes(PUBLIC_KEY_BYTES), "the record's writer");
        break;
      }
    }
  } catch (e) {
    if (e instanceof KpmError && e.exitCode === EXIT.forbidden) throw e;
    throw refusedSign('it is not a well-formed sharing message');
  }
  if (r.offset !== body.length) throw refusedSign(`the ${kind} has trailing bytes`);
  return kind;
}
