// Service tokens on shared vaults (docs/SHARING.md "Service tokens on shared vaults"). A member with
// read access (`kpm token create --vault SHARED`) seals for the token, under its wrap key
// (HKDF(S, "kpm/v1/token-wrap"), never seen by the server):
//   the owner's email and keys as the member's device pinned and verified them, the creator's email
//   and signing key, the vault's name, the membership epoch E the creator verified and the hash of
//   its signed bytes, the log revision and chain the creator verified, and the record keys
//   (HKDF(VK_e, "kpm/v1/share/record")) of epochs 1…E: never a vault key, never an account key.
// The token reads through its own routes (GET /v1/token/share, POST /v1/token/share/pull), which the
// server answers only while the creator is still a member, and verifies as a member does: the whole
// membership chain against the owner's sealed key (no older epoch than E, epoch E the one pinned),
// the creator still named in the latest epoch, and every record's place, hash chain, epoch in force,
// writer (a member with write access in that epoch) and signature. A record of an epoch after E
// (written after a `kpm share revoke`, under a key the token never got) is verified but does not
// open: its entry cannot be read with this token (exit 4: a member must create a new token).
import { open, seal, AuthError } from '../crypto/aead.js';
import { bytesEqual, concatBytes, decodeUtf8, fromBase64, fromHex, toHex, utf8, wipe } from '../crypto/bytes.js';
import { KpmError, EXIT, notFound, usageError } from '../core/errors.js';
import { normalizeEmail } from '../protocol/email.js';
import type { SharePullT, TokenShareT } from '../protocol/share.js';
import { ByteReader, ByteWriter } from '../vault/binary.js';
import { normalizeName, type EntryPayload, type EntrySummary } from '../vault/entry.js';
import { collator } from '../vault/listing.js';
import { isIdQuery, matchesFilter, summaryOf, type EntryView, type ListFilter } from '../vault/records.js';
import { canWrite, checkRecordSignature, epochAt, initialChain, membershipHash, nextChain, openRecordContent, ownerOf, parseRecord, recordKey, verifyMembershipChain } from './format.js';
import type { SharedFile } from './blobs.js'; // a type only: the token's fast path (src/cli/tokenfast.ts) does not load the file code
import { shareTampered } from './identity.js';
import { checkCompaction, checkKept, recordHash, type Compaction } from './compact.js';

/** A pull page of another compaction generation than the vault answer's (the owner compacted in between): read again once. */
class GenerationChanged extends Error {}

const LABEL = 'kpm/v1/token-share-keys';
const MAGIC = utf8.encode('KPST');

/** What the creator seals for a token: everything the token needs to read and verify as a member does. */
export interface ShareTokenGrant {
  vaultId: string;
  name: string;
  ownerEmail: string;
  ownerSign: Uint8Array;
  ownerBox: Uint8Array;
  creatorEmail: string;
  creatorSign: Uint8Array;
  /** the latest membership epoch the creator verified, and SHA-256 of its signed bytes */
  epoch: number;
  epochHash: Uint8Array;
  /** the log revision and hash chain the creator verified */
  rev: number;
  chain: Uint8Array;
  /** the record keys of epochs 1…epoch */
  recordKeys: Uint8Array[];
}

const aadOf = (tokenId: string, vaultId: string) => concatBytes(utf8.encode(LABEL), fromHex(tokenId), fromHex(vaultId));

/** The grant of a verified shared vault, from its vault keys of epochs 1…E (record keys derived here). */
export function grantOf(v: { id: string; name: string; owner: { email: string; signPublic: Uint8Array; boxPublic: Uint8Array }; creator: { email: string; signPublic: Uint8Array }; epoch: number; epochBody: Uint8Array; head: number; chainHash: Uint8Array; keys: Uint8Array[] }): ShareTokenGrant {
  return {
    vaultId: v.id,
    name: v.name,
    ownerEmail: normalizeEmail(v.owner.email),
    ownerSign: v.owner.signPublic,
    ownerBox: v.owner.boxPublic,
    creatorEmail: normalizeEmail(v.creator.email),
    creatorSign: v.creator.signPublic,
    epoch: v.epoch,
    epochHash: membershipHash(v.epochBody),
    rev: v.head,
    chain: v.chainHash,
    recordKeys: v.keys.map(recordKey),
  };
}

export function sealShareForToken(wrapKey: Uint8Array, tokenId: string, g: ShareTokenGrant): Uint8Array {
  if (g.recordKeys.length !== g.epoch) throw new KpmError(`a shared vault of epoch ${g.epoch} needs ${g.epoch} keys`, EXIT.error);
  const w = new ByteWriter().bytes(MAGIC).u16(1);
  w.varBytes(utf8.encode(g.ownerEmail)).bytes(g.ownerSign).bytes(g.ownerBox);
  w.varBytes(utf8.encode(g.creatorEmail)).bytes(g.creatorSign);
  w.varBytes(utf8.encode(g.name)).u64(g.epoch).bytes(g.epochHash).u64(g.rev).bytes(g.chain).u16(g.recordKeys.length);
  for (const k of g.recordKeys) w.bytes(k);
  const plain = w.finish();
  try {
    return seal(wrapKey, plain, aadOf(tokenId, g.vaultId));
  } finally {
    wipe(plain);
  }
}

export function openShareForToken(wrapKey: Uint8Array, sealed: Uint8Array, tokenId: string, vaultId: string): ShareTokenGrant {
  let plain: Uint8Array;
  try {
    plain = open(wrapKey, sealed, aadOf(tokenId, vaultId));
  } catch (e) {
    if (e instanceof AuthError) throw shareTampered(`the keys sealed for this service token do not open (shared vault ${vaultId.slice(0, 8)}): the server sent another token's or another vault's`);
    throw e;
  }
  try {
    const r = new ByteReader(plain, 'the keys of a service token');
    if (!bytesEqual(r.bytes(4), MAGIC) || r.u16() !== 1) throw new Error('format');
    const ownerEmail = decodeUtf8(r.varBytes(254));
    const ownerSign = r.bytes(32).slice();
    const ownerBox = r.bytes(32).slice();
    const creatorEmail = decodeUtf8(r.varBytes(254));
    const creatorSign = r.bytes(32).slice();
    const name = decodeUtf8(r.varBytes(1024));
    const epoch = r.u64();
    const epochHash = r.bytes(32).slice();
    const rev = r.u64();
    const chain = r.bytes(32).slice();
    const n = r.u16();
    if (n !== epoch || n < 1) throw new Error('keys');
    const recordKeys: Uint8Array[] = [];
    for (let i = 0; i < n; i++) recordKeys.push(r.bytes(32).slice());
    if (r.offset !== plain.length) throw new Error('trailing');
    return { vaultId, name, ownerEmail, ownerSign, ownerBox, creatorEmail, creatorSign, epoch, epochHash, rev, chain, recordKeys };
  } catch {
    throw shareTampered('the keys sealed for this service token are malformed');
  } finally {
    wipe(plain);
  }
}

/**
 * The token cache (src/sync/tokencache.ts TokenCache: sealed under a key of the token's secret): the
 * latest membership epoch and log head this token verified, and a state encoded here (vault id, the
 * hash of that epoch, the chain at the head, the latest record of each entry as the server sent it).
 */
export interface ShareTokenCache {
  readShared(): { epoch: number; head: number; state: Uint8Array } | null;
  saveShared(epoch: number, head: number, state: Uint8Array): void;
  discard(why: string): void;
  readonly discarded?: string;
}

interface CachedShare {
  epoch: number;
  head: number;
  /** the compaction generation the cache was read at (0: none; caches from before compaction have none) */
  generation: number;
  vaultId: Uint8Array;
  epochHash: Uint8Array;
  chain: Uint8Array;
  records: Uint8Array[];
}

function encodeCached(c: CachedShare): Uint8Array {
  const w = new ByteWriter().bytes(c.vaultId).bytes(c.epochHash).bytes(c.chain).u32(c.records.length);
  for (const r of c.records) w.varBytes(r);
  return w.u64(c.generation).finish();
}

function decodeCached(epoch: number, head: number, state: Uint8Array): CachedShare {
  const r = new ByteReader(state, 'the token cache');
  const vaultId = r.bytes(16).slice();
  const epochHash = r.bytes(32).slice();
  const chain = r.bytes(32).slice();
  const n = r.u32();
  const records: Uint8Array[] = [];
  for (let i = 0; i < n; i++) records.push(r.varBytes(1 << 24));
  const generation = r.offset < state.length ? r.u64() : 0;
  if (r.offset !== state.length) throw new KpmError('the token cache is malformed', EXIT.corrupt);
  return { epoch, head, generation, vaultId, epochHash, chain, records };
}

export interface ShareTokenTransport {
  vault(): Promise<TokenShareT>;
  pull(after: number): Promise<SharePullT>;
}

interface TokenEntry {
  /** undefined: written under an epoch after the token's (its key is not the token's) */
  entry?: EntryPayload;
  /** its files, as the writer's signed record names them (docs/SHARING.md "Files in shared vaults") */
  files: SharedFile[];
  /** the record as the server sent it (for the cache) */
  raw: Uint8Array;
  deleted: boolean;
  epoch: number;
  rev: number;
}

/** A shared vault read through a service token: verified as a member verifies it, in memory only. */
export class ShareTokenVault {
  readonly warnings: string[] = [];
  private readonly items = new Map<string, TokenEntry>();
  /** the record keys of epochs 1…epoch (a file's key derives from its epoch's): wiped by close() */
  private recordKeys: Uint8Array[] = [];

  private constructor(
    readonly id: string,
    readonly name: string,
    /** the last epoch this token holds a key of */
    readonly epoch: number,
    private readonly creator: string,
  ) {}

  /**
   * Fetches the membership chain and the sealed keys (every read asks the server, which refuses a
   * revoked or expired token, and a token whose creator is no longer a member), verifies them and
   * every record from the first.
   */
  static async load(t: ShareTokenTransport, tokenId: string, wrapKey: Uint8Array, cache?: ShareTokenCache): Promise<ShareTokenVault> {
    try {
      return await ShareTokenVault.loadOnce(t, tokenId, wrapKey, cache);
    } catch (e) {
      if (!(e instanceof GenerationChanged)) throw e;
      try {
        return await ShareTokenVault.loadOnce(t, tokenId, wrapKey, cache);
      } catch (e2) {
        if (e2 instanceof GenerationChanged) throw shareTampered('the server keeps changing the compaction generation of the shared vault between requests');
        throw e2;
      }
    }
  }

  private static async loadOnce(t: ShareTokenTransport, tokenId: string, wrapKey: Uint8Array, cache?: ShareTokenCache): Promise<ShareTokenVault> {
    const info = await t.vault();
    const id = info.vault.id;
    const vid = fromHex(id);
    const g = openShareForToken(wrapKey, fromBase64(info.wrappedKey), tokenId, id);
    try {
      if (normalizeEmail(info.vault.owner) !== g.ownerEmail) throw shareTampered(`the server names ${info.vault.owner} as the owner of shared vault "${g.name}", which ${g.ownerEmail} owns`);
      const bodies = info.vault.memberships.map((b) => fromBase64(b));
      const chain = verifyMembershipChain(vid, g.ownerSign, bodies);
      const latest = chain[chain.length - 1];
      if (latest.epoch < g.epoch) throw shareTampered(`the server sent membership epoch ${latest.epoch} of shared vault "${g.name}", older than epoch ${g.epoch} which this token's creator saw (a replay)`);
      if (!bytesEqual(membershipHash(bodies[g.epoch - 1]), g.epochHash)) throw shareTampered(`membership epoch ${g.epoch} of shared vault "${g.name}" is not the one this token's creator saw`);
      const ow = ownerOf(latest);
      if (!bytesEqual(ow.boxPublic, g.ownerBox) || normalizeEmail(ow.email) !== g.ownerEmail) throw shareTampered(`the membership of shared vault "${g.name}" names another owner than the one this token's creator pinned`);
      if (!latest.members.some((m) => normalizeEmail(m.email) === g.creatorEmail && bytesEqual(m.signPublic, g.creatorSign))) {
        throw new KpmError(`${g.creatorEmail}, who created this service token, is no longer a member of shared vault "${g.name}" (membership epoch ${latest.epoch})`, EXIT.forbidden, 'a member must create a new token (`kpm token create --vault …`)');
      }
      if (info.vault.head < g.rev) throw shareTampered(`the server's log of shared vault "${g.name}" ends at revision ${info.vault.head}, below revision ${g.rev} which this token's creator verified (rolled back)`);
      const v = new ShareTokenVault(id, g.name, g.epoch, g.creatorEmail);
      let head = 0;
      let hash = initialChain(vid);
      // the owner's compaction statement (docs/SHARING.md "Purging and compacting a shared vault"): checked against the sealed owner key
      const gen = info.vault.generation ?? 0;
      if ((gen > 0) !== (info.vault.compaction !== undefined)) throw shareTampered(`the server sent compaction generation ${gen} of shared vault "${g.name}" without its statement, or a statement without a generation`);
      const cinfo = { vaultId: vid, ownerSign: g.ownerSign, chain, bodies, name: g.name };
      const c: Compaction | null = info.vault.compaction ? checkCompaction(fromBase64(info.vault.compaction), cinfo, { generation: 0, head: 0, chainHash: hash, hashes: new Map() }) : null;
      // the creator verified revision g.rev: a statement must cover it (or it lies after the statement's head, in the records that follow)
      if (c && c.upto === g.rev && !bytesEqual(c.chain, g.chain)) throw shareTampered(`the log of shared vault "${g.name}" up to revision ${g.rev} is not the one this token's creator verified`);
      // what this token verified before (the highest epoch and head it saw): never less
      let base: CachedShare | null = null;
      try {
        const cached = cache?.readShared();
        base = cached ? decodeCached(cached.epoch, cached.head, cached.state) : null;
      } catch (e) {
        if (!(e instanceof KpmError)) throw e;
        cache!.discard('it is malformed');
      }
      if (base && !bytesEqual(base.vaultId, vid)) {
        cache!.discard('it is of another vault');
        base = null;
      }
      if (base) {
        if (latest.epoch < base.epoch) throw shareTampered(`the server sent membership epoch ${latest.epoch} of shared vault "${g.name}", older than epoch ${base.epoch} which this token saw (a replay)`);
        if (!bytesEqual(membershipHash(bodies[base.epoch - 1]), base.epochHash)) throw shareTampered(`membership epoch ${base.epoch} of shared vault "${g.name}" is not the one this token saw`);
        if (info.vault.head < base.head) throw shareTampered(`the server's log of shared vault "${g.name}" ends at revision ${info.vault.head}, below revision ${base.head} which this token verified before (rolled back)`);
        if (gen < base.generation) throw shareTampered(`the server sent compaction generation ${gen} of shared vault "${g.name}", older than generation ${base.generation} which this token saw (a replay)`);
      }
      const check = (p: ReturnType<typeof parseRecord>, rev: number) => {
        const what = `shared record ${rev} of "${g.name}"`;
        const inForce = epochAt(chain, rev);
        if (p.epoch !== inForce.epoch) throw shareTampered(`${what} names epoch ${p.epoch}, but epoch ${inForce.epoch} is in force there (a removed member's key?)`);
        const writer = inForce.members.find((m) => bytesEqual(m.signPublic, p.writer));
        if (!writer) throw shareTampered(`${what} is written by a key that is not a member's in epoch ${p.epoch}`);
        if (!canWrite(writer.role)) throw shareTampered(`${what} is written by ${writer.email}, a read-only member: refused`);
        checkRecordSignature(p, writer.signPublic);
      };
      const keep = (p: ReturnType<typeof parseRecord>, bytes: Uint8Array, rev: number) => {
        const key = g.recordKeys[p.epoch - 1];
        const content = key ? openRecordContent(p, key) : undefined;
        v.items.set(toHex(p.entryId), { entry: content?.entry, files: content?.files ?? [], raw: bytes, deleted: p.deleted, epoch: p.epoch, rev });
      };
      if (base) {
        // the latest record of each entry, verified when it was cached: checked again, but for its place in the log
        for (const bytes of base.records) {
          const p = parseRecord(bytes);
          if (!bytesEqual(p.vaultId, vid) || p.rev < 1 || p.rev > base.head) throw new KpmError('the service-token cache is inconsistent', EXIT.corrupt, 'remove it (KPM_CACHE_DIR); it is made again');
          check(p, p.rev);
          keep(p, bytes, p.rev);
        }
        head = base.head;
        hash = base.chain;
      }
      // a cache of an older compaction generation: the statement must cover it (its head, each entry it held), then the vault is read again
      let known: { head: number; latest: Map<string, { rev: number; deleted: boolean }> } | null = null;
      if (base && c && base.generation < c.generation) {
        checkCompaction(fromBase64(info.vault.compaction!), cinfo, { generation: base.generation, head: base.head, chainHash: base.chain, hashes: new Map(base.records.map((r) => [parseRecord(r).rev, recordHash(r)])) });
        known = { head: base.head, latest: new Map([...v.items].map(([eid, x]) => [eid, { rev: x.rev, deleted: x.deleted }])) };
        v.items.clear();
        head = 0;
        hash = initialChain(vid);
        base = null;
        v.warnings.push(`shared vault "${g.name}" was compacted by its owner (generation ${c.generation}) since this token's cache was made; it was read again`);
      }
      // reading a compacted log from its start: the kept records first, each as the statement names it
      let keptNext = base || !c ? Number.MAX_SAFE_INTEGER : 0;
      if (c && !base && c.kept.length === 0) {
        head = c.upto;
        hash = c.chain;
      }
      const apply = (bytes: Uint8Array) => {
        const p = parseRecord(bytes);
        if (c && keptNext < c.kept.length) {
          const k = c.kept[keptNext];
          const what = `shared record ${k.rev} of "${g.name}"`;
          if (!bytesEqual(p.vaultId, vid) || p.rev !== k.rev) throw shareTampered(`${what} is out of place (revision ${p.rev}; the log was compacted: records are missing or added that its statement does not name)`);
          if (!bytesEqual(recordHash(bytes), k.hash)) throw shareTampered(`${what} is not the record the owner's compaction statement keeps`);
          check(p, k.rev);
          keep(p, bytes, k.rev);
          keptNext++;
          head = k.rev;
          if (keptNext === c.kept.length) {
            head = c.upto;
            hash = c.chain;
          }
          return;
        }
        const rev = head + 1;
        const what = `shared record ${rev} of "${g.name}"`;
        if (!bytesEqual(p.vaultId, vid) || p.rev !== rev) throw shareTampered(`${what} is out of place (revision ${p.rev})`);
        if (!bytesEqual(p.prevChain, hash)) throw shareTampered(`${what} does not follow the records before it`);
        check(p, rev);
        keep(p, bytes, rev);
        hash = nextChain(hash, bytes);
        head = rev;
        if (head === g.rev && !bytesEqual(hash, g.chain)) throw shareTampered(`the log of shared vault "${g.name}" up to revision ${g.rev} is not the one this token's creator verified`);
      };
      while (head < info.vault.head) {
        const p = await t.pull(head);
        if ((p.generation ?? 0) !== gen) throw new GenerationChanged();
        if (p.from !== head + 1) throw shareTampered('the server sent records from the wrong revision');
        if (p.records.length === 0) break;
        for (const r of p.records) {
          if (head >= info.vault.head) throw shareTampered(`the server sent records of shared vault "${g.name}" beyond its head`);
          apply(fromBase64(r));
        }
        if (!p.more) break;
      }
      if (head < info.vault.head) throw shareTampered(`the server's log of shared vault "${g.name}" stops before its head`);
      if (c && keptNext < c.kept.length) throw shareTampered(`the server's log of shared vault "${g.name}" lacks records its compaction statement keeps`);
      if (c && known) checkKept(c, g.name, known, { latest: v.items, keptFiles: [] });
      if (cache && (!base || base.head !== head || base.epoch !== latest.epoch || base.generation !== gen)) {
        const state = encodeCached({ epoch: latest.epoch, head, generation: gen, vaultId: vid, epochHash: membershipHash(bodies[latest.epoch - 1]), chain: hash, records: [...v.items.values()].map((x) => x.raw) });
        try {
          cache.saveShared(latest.epoch, head, state);
        } catch (e) {
          if (e instanceof KpmError && e.exitCode === EXIT.forbidden) throw e;
          v.warnings.push(`the service-token cache was not saved (${(e as Error).message})`);
        }
      }
      if (cache?.discarded) v.warnings.push(`the service-token cache was discarded: ${cache.discarded}; the vault was fetched again`);
      const sealedOff = v.unreadable().length;
      if (sealedOff) v.warnings.push(`${sealedOff} entr${sealedOff === 1 ? 'y' : 'ies'} of shared vault "${g.name}" changed after it got a new key (membership epoch ${latest.epoch}; this token holds keys up to epoch ${g.epoch}) and cannot be read with this token: a member must create a new one`);
      v.recordKeys = g.recordKeys.map((k) => k.slice());
      return v;
    } finally {
      for (const k of g.recordKeys) wipe(k);
    }
  }

  private live(): [string, TokenEntry][] {
    return [...this.items].filter(([, e]) => !e.deleted);
  }

  private unreadable(): [string, TokenEntry][] {
    return this.live().filter(([, e]) => !e.entry);
  }

  private sealedOff(what: string): KpmError {
    return new KpmError(
      `${what} of shared vault "${this.name}" was written after the vault got a new key (a member was removed: membership epoch above ${this.epoch}), which this service token does not hold`,
      EXIT.locked,
      `a member must create a new token: \`kpm token create --vault "${this.name}" …\` (the old one was made by ${this.creator})`,
    );
  }

  private view(id: string, e: EntryPayload, rev: number): EntryView {
    return { id, vault: this.name, version: rev, payload: structuredClone(e) };
  }

  /** --vault or a reference's vault: only this token's vault (by name, case-insensitive, or id). */
  checkScope(vault: string | undefined): void {
    if (vault === undefined) return;
    if (normalizeName(vault) === normalizeName(this.name) || vault.toLowerCase() === this.id) return;
    throw new KpmError(`this service token can only read vault "${this.name}"`, EXIT.forbidden);
  }

  get(query: string, vault?: string): EntryView {
    this.checkScope(vault);
    const q = normalizeName(query);
    const live = this.live();
    let hits = live.filter(([, e]) => e.entry && normalizeName(e.entry.name) === q);
    if (hits.length === 0 && isIdQuery(query)) hits = live.filter(([id]) => id.startsWith(query.toLowerCase()));
    if (hits.length > 1) throw usageError(`"${query}" matches ${hits.length} entries`, 'use an id');
    if (hits.length === 1) {
      const [id, e] = hits[0];
      if (!e.entry) throw this.sealedOff(`entry ${id.slice(0, 8)}`);
      return this.view(id, e.entry, e.rev);
    }
    // an entry changed under a key this token does not hold may be the one asked for: say so
    if (this.unreadable().length) throw this.sealedOff(`no entry named "${query}" that this token can read: ${this.unreadable().length} entr${this.unreadable().length === 1 ? 'y' : 'ies'}`);
    throw notFound(`no entry named "${query}" in vault "${this.name}"`);
  }

  entries(filter: ListFilter = {}): EntryView[] {
    this.checkScope(filter.vault);
    const out = this.live()
      .filter(([, e]) => e.entry)
      .map(([id, e]) => this.view(id, e.entry!, e.rev))
      .filter((x) => matchesFilter(summaryOf(x.id, x.vault, x.payload), filter));
    return out.sort((a, b) => collator.compare(a.payload.name, b.payload.name));
  }

  list(filter: ListFilter = {}): EntrySummary[] {
    return this.entries(filter).map((x) => summaryOf(x.id, x.vault, x.payload));
  }

  /** The files of entry `id` (a live one this token reads: from get() or entries()), as its signed record names them. */
  filesOf(id: string): SharedFile[] {
    const e = this.items.get(id);
    return e?.entry && !e.deleted ? e.files.map((f) => ({ ...f })) : [];
  }

  /**
   * A copy of the record key of the epoch of a file filesOf() returned (the file's key derives from
   * it: src/share/blobs.ts shareBlobKey); the caller wipes it. An epoch this token holds no key of: exit 4.
   */
  fileRecordKey(f: Pick<SharedFile, 'epoch' | 'name'>): Uint8Array {
    const rk = this.recordKeys[f.epoch - 1];
    if (!rk) throw this.sealedOff(`file "${f.name}"`);
    return rk.slice();
  }

  close(): void {
    this.items.clear();
    for (const k of this.recordKeys) wipe(k);
    this.recordKeys = [];
  }
}
