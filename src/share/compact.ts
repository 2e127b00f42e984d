// Purging and compacting a shared vault's log (docs/SHARING.md "Purging and compacting a shared
// vault"). The owner signs a compaction statement naming exactly what of the records 1…R it keeps;
// the server drops the rest; every member (and service token) checks the statement against what it
// verified before and the kept records against the statement. Pure functions.
//
//   KPSC ‖ u16 1 ‖ vault id (16) ‖ u64 generation ‖ u64 epoch ‖ epoch hash (32) ‖ u64 upto ‖ chain at upto (32)
//   ‖ u32 n ‖ n × (u64 rev ‖ SHA-256 of the record (32)) ‖ u32 m ‖ m × entry id (16)
//   ‖ u32 k ‖ k × kept blob id (16) ‖ u32 d ‖ d × dropped blob id (16) ‖ signer (32) ‖ signature (64)
import { bytesEqual, fromHex, toHex, utf8 } from '../crypto/bytes.js';
import { sha256 } from '../crypto/keys.js';
import { ByteWriter } from '../vault/binary.js';
import { shareTampered, type ShareSigner } from './identity.js';
import { checkSigned, membershipHash, openSigned, parseRecord, parsing, SHARE_MAGIC, signedBytes, VAULT_ID_BYTES, type Membership } from './format.js';
import type { SharedFile } from './blobs.js';

/** The most records, purged entries or blobs one statement names. */
export const MAX_COMPACTION_ITEMS = 100_000;

export interface KeptRecord {
  rev: number;
  /** SHA-256 of the record's bytes */
  hash: Uint8Array;
}

export interface Compaction {
  vaultId: Uint8Array;
  generation: number;
  epoch: number;
  epochHash: Uint8Array;
  upto: number;
  chain: Uint8Array;
  kept: KeptRecord[];
  /** entry ids (hex) of which no record up to `upto` is kept */
  purged: string[];
  /** blob ids (hex) every kept record's files name */
  keptBlobs: string[];
  /** blob ids (hex) only dropped records named: the server deletes them */
  droppedBlobs: string[];
}

export const recordHash = (bytes: Uint8Array): Uint8Array => sha256(bytes);

export function sealCompaction(owner: ShareSigner, c: Compaction): Promise<Uint8Array> {
  const w = new ByteWriter().bytes(utf8.encode(SHARE_MAGIC.compaction)).u16(1).bytes(c.vaultId).u64(c.generation).u64(c.epoch).bytes(c.epochHash).u64(c.upto).bytes(c.chain);
  w.u32(c.kept.length);
  for (const k of c.kept) w.u64(k.rev).bytes(k.hash);
  for (const list of [c.purged, c.keptBlobs, c.droppedBlobs]) {
    w.u32(list.length);
    for (const x of list) w.bytes(fromHex(x));
  }
  return signedBytes(owner, w);
}

/** Reads the statement's fields (after the magic and version) from a reader; throws on anything malformed. */
export function readCompactionBody(r: { bytes(n: number): Uint8Array; u32(): number; u64(): number }): Compaction {
  const vaultId = r.bytes(VAULT_ID_BYTES).slice();
  const generation = r.u64();
  const epoch = r.u64();
  const epochHash = r.bytes(32).slice();
  const upto = r.u64();
  const chain = r.bytes(32).slice();
  const count = () => {
    const n = r.u32();
    if (n > MAX_COMPACTION_ITEMS) throw shareTampered('a compaction statement names too many items');
    return n;
  };
  const kept: KeptRecord[] = [];
  for (let i = 0, n = count(); i < n; i++) kept.push({ rev: r.u64(), hash: r.bytes(32).slice() });
  const ids = () => {
    const out: string[] = [];
    for (let i = 0, n = count(); i < n; i++) out.push(toHex(r.bytes(16)));
    return out;
  };
  const purged = ids();
  const keptBlobs = ids();
  const droppedBlobs = ids();
  if (generation < 1 || epoch < 1) throw shareTampered('a compaction statement names generation or epoch 0');
  let prev = 0;
  for (const k of kept) {
    if (k.rev <= prev || k.rev > upto) throw shareTampered('a compaction statement names its kept records out of order');
    prev = k.rev;
  }
  for (const list of [purged, keptBlobs, droppedBlobs]) if (new Set(list).size !== list.length) throw shareTampered('a compaction statement names an item twice');
  if (droppedBlobs.some((b) => keptBlobs.includes(b))) throw shareTampered('a compaction statement both keeps and drops a file');
  return { vaultId, generation, epoch, epochHash, upto, chain, kept, purged, keptBlobs, droppedBlobs };
}

/** Parses a statement and checks its signature against the key it names (the server; callers compare the signer with the owner's pinned key). */
export function parseCompaction(bytes: Uint8Array): Compaction & { signer: Uint8Array } {
  return parsing('a compaction statement', () => {
    const o = openSigned(bytes, SHARE_MAGIC.compaction, 'a compaction statement');
    const c = readCompactionBody(o.r);
    if (o.r.offset !== o.r.buf.length) throw shareTampered('a compaction statement has trailing bytes');
    checkSigned(o, o.signer, 'a compaction statement', 'its signer');
    return { ...c, signer: o.signer.slice() };
  });
}

/**
 * A statement a member (or a token) may accept, before any record is read (docs/SHARING.md "What
 * every member checks", 1–4): signed by the vault's owner key, for this vault, naming an epoch of
 * the verified chain with its hash, a generation above `known.generation`, and covering what was
 * verified (`known`: its head and chain, and its verified records by revision: every kept record up
 * to that head must be one of them, byte for byte).
 */
export function checkCompaction(
  bytes: Uint8Array,
  o: { vaultId: Uint8Array; ownerSign: Uint8Array; chain: Membership[]; bodies: Uint8Array[]; name: string },
  known: { generation: number; head: number; chainHash: Uint8Array; hashes: Map<number, Uint8Array> },
): Compaction {
  const c = parseCompaction(bytes);
  const what = `the compaction statement of shared vault "${o.name}"`;
  if (!bytesEqual(c.signer, o.ownerSign)) throw shareTampered(`${what} is not signed by the vault's owner: refused`);
  if (!bytesEqual(c.vaultId, o.vaultId)) throw shareTampered(`${what} is for another vault`);
  if (c.epoch > o.chain.length || !bytesEqual(membershipHash(o.bodies[c.epoch - 1]), c.epochHash)) throw shareTampered(`${what} names membership epoch ${c.epoch}, which is not the one verified`);
  if (c.generation <= known.generation) throw shareTampered(`${what} is generation ${c.generation}, not above generation ${known.generation} which was accepted before (a replay)`);
  if (c.upto < known.head) throw shareTampered(`${what} compacts up to revision ${c.upto}, below revision ${known.head} which was verified (a rollback)`);
  if (c.upto === known.head && !bytesEqual(c.chain, known.chainHash)) throw shareTampered(`${what} names another log up to revision ${c.upto} than the one verified (a fork)`);
  for (const k of c.kept) {
    if (k.rev > known.head) break;
    const h = known.hashes.get(k.rev);
    if (!h || !bytesEqual(h, k.hash)) throw shareTampered(`${what} keeps a record ${k.rev} that is not the one verified (a fork)`);
  }
  return c;
}

/**
 * After the compacted log was read (docs/SHARING.md check 5 and 6): every entry known before is kept
 * at the version known or a later one, or purged (never one known live at the statement's head);
 * purged entries have no record kept; every file of a kept record is in the kept blobs.
 */
export function checkKept(
  c: Compaction,
  name: string,
  known: { head: number; latest: Map<string, { rev: number; deleted: boolean }> },
  now: { latest: Map<string, { rev: number }>; keptFiles: SharedFile[][] },
): void {
  const what = `the compaction statement of shared vault "${name}"`;
  const purged = new Set(c.purged);
  for (const [eid, k] of known.latest) {
    const n = now.latest.get(eid);
    if (n && n.rev >= k.rev && !(purged.has(eid) && n.rev <= c.upto)) continue;
    if (purged.has(eid) && !n) {
      if (!k.deleted && c.upto === known.head) throw shareTampered(`${what} purges entry ${eid.slice(0, 8)}, which is not in the trash: refused`);
      continue;
    }
    throw shareTampered(`${what} drops the latest version of entry ${eid.slice(0, 8)} (revision ${k.rev}): refused`);
  }
  for (const eid of purged) {
    const n = now.latest.get(eid);
    if (n && n.rev <= c.upto) throw shareTampered(`${what} both purges and keeps entry ${eid.slice(0, 8)}`);
  }
  const kb = new Set(c.keptBlobs);
  for (const files of now.keptFiles) for (const f of files) if (!kb.has(f.blob)) throw shareTampered(`${what} would let the server delete file "${f.name}", which a kept record names`);
}

/** What the owner keeps (docs/SHARING.md "What the owner's device keeps"). */
export interface PurgePolicy {
  /** versions kept per entry (the latest included), `history.keep` */
  historyKeep: number;
  /** deleted entries older than this many days are purged (0: never), `trash.days` */
  trashDays: number;
  now: Date;
  /** `kpm history purge NAME`: only this entry's latest version is kept */
  cutHistory?: string;
  /** `kpm trash purge [NAME]`: these deleted entries are purged ('all': every one) */
  purgeTrash?: string[] | 'all';
}

export interface LogRecordInfo {
  rev: number;
  entryId: string;
  deleted: boolean;
  hash: Uint8Array;
  files: SharedFile[];
  /** the entry's `updated` (a deletion's: when it was deleted) */
  updated?: string;
}

/** Parses a verified record's place (revision, entry id, deletion flag) and hash; the files and time come from its verified version. */
export function recordInfo(bytes: Uint8Array, files: SharedFile[], updated?: string): LogRecordInfo {
  const p = parseRecord(bytes);
  return { rev: p.rev, entryId: toHex(p.entryId), deleted: p.deleted, hash: recordHash(bytes), files, updated };
}

/**
 * The statement's content for a verified log (every record up to `upto`, oldest first): per entry its
 * latest record and up to historyKeep − 1 before it (only the latest for `cutHistory`); a deleted
 * entry named by purgeTrash, or deleted longer than trashDays ago, loses every record.
 */
export function planCompaction(records: LogRecordInfo[], p: PurgePolicy): Pick<Compaction, 'kept' | 'purged' | 'keptBlobs' | 'droppedBlobs'> & { dropped: number } {
  const byEntry = new Map<string, LogRecordInfo[]>();
  for (const r of records) {
    const l = byEntry.get(r.entryId);
    if (l) l.push(r);
    else byEntry.set(r.entryId, [r]);
  }
  const keep = new Set<number>();
  const purged: string[] = [];
  const cutoff = p.now.getTime() - p.trashDays * 86_400_000;
  for (const [eid, l] of byEntry) {
    const last = l[l.length - 1];
    if (last.deleted) {
      const named = p.purgeTrash === 'all' || (p.purgeTrash?.includes(eid) ?? false);
      const expired = p.trashDays > 0 && last.updated !== undefined && Date.parse(last.updated) < cutoff;
      if (named || expired) {
        purged.push(eid);
        continue;
      }
    }
    const n = p.cutHistory === eid ? 1 : Math.max(1, p.historyKeep);
    for (const r of l.slice(-n)) keep.add(r.rev);
  }
  const kept = records.filter((r) => keep.has(r.rev));
  const keptBlobs = [...new Set(kept.flatMap((r) => r.files.map((f) => f.blob)))];
  const kb = new Set(keptBlobs);
  const droppedBlobs = [...new Set(records.filter((r) => !keep.has(r.rev)).flatMap((r) => r.files.map((f) => f.blob)))].filter((b) => !kb.has(b));
  return { kept: kept.map((r) => ({ rev: r.rev, hash: r.hash })), purged: purged.sort(), keptBlobs: keptBlobs.sort(), droppedBlobs: droppedBlobs.sort(), dropped: records.length - kept.length };
}
