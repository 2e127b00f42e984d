// One vault on disk: its header, its append-only log, and the in-memory state built from them.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { AuthError, offHeapCopy, open, openKey, seal, sealKey } from '../crypto/aead.js';
import { bytesEqual, concatBytes, decodeUtf8, toHex, utf8, wipe } from '../crypto/bytes.js';
import { accountSubkey, hmacSha256, vaultSubkey } from '../crypto/keys.js';
import { randomBytes } from '../crypto/random.js';
import { SALT_BYTES, DEFAULT_KDF, type KdfParams } from '../crypto/kdf.js';
import {
  AAD, checkLogHeader, decodeRecords, decodeVaultHeader, encodeLogHeader, encodeRecord, encodeVaultHeader,
  entryAad, FLAG_CUT, FLAG_DELETED, FLAG_PURGED, ID_BYTES, isPurgeOrCut, initialChain, LOG_HEADER_BYTES, nextChain, vaultKeyBoundBytes,
  vaultMacBoundBytes, WRAP_BY_ACCOUNT, WRAP_BY_OWN_PASSWORD, type Commit, type KdfSpec, type LogRecord, type VaultHeader, type VaultKeyPart,
} from './format.js';
import { ensureDir, FILE_MODE, readFileOrNull, readRange, sleepMs, withVaultLock, writeFileAtomic } from '../core/fsutil.js';
import { corrupt, KpmError, EXIT, wrongPassword } from '../core/errors.js';
import { MAX_PAYLOAD_BYTES, type EntryPayload } from './entry.js';
import { decryptRecord, LatestRecords, nameTagOf } from './records.js';
import { addRange, confirmedVersions, isConfirmed, LogMovedError, pendingOf, planAdopt, planPull, type ApplyPullOptions, type LogMarks, type PullApplied, type VerifiedPull } from './synclog.js';
import { deriveKek, unlockKeyring, type UnlockedProfile } from './keyring.js';
import type { KpmPaths } from '../core/paths.js';
import { SUMMARY_INDEX_FILE, summaryIndexGeneration, type IndexOwner } from './summaryindex.js';

export { LogMovedError, type ApplyPullOptions, type LogMarks, type PullApplied, type VerifiedPull } from './synclog.js';

export interface VaultMeta {
  name: string;
  created: string;
}

const HEADER_FILE = 'vault.kpm';
export const logFile = (gen: number) => `entries.${gen}.log`;

/** The log and header disagree; final unless a writer was committing meanwhile. */
class LogRaceError extends Error {
  constructor(
    message: string,
    readonly headerChanged: boolean,
  ) {
    super(message);
  }
}

export function readVaultHeader(dir: string): VaultHeader {
  return decodeVaultHeader(readHeaderFile(dir));
}

function readHeaderFile(dir: string): Uint8Array {
  const file = readFileOrNull(join(dir, HEADER_FILE));
  if (!file) throw corrupt(`vault header missing in ${dir}`);
  return file;
}

/** The header file's identity (inode, mtime, size): a writer's commit changes it. */
function headerStamp(dir: string): string {
  try {
    const st = fs.statSync(join(dir, HEADER_FILE));
    return `${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return '';
  }
}

/**
 * A vault log read and hashed before its key is known (prefetchLog): the bytes a full load reads
 * and the hash chain over them. Taken once, by the next full load of the same folder, and only when
 * the header file is byte for byte the one read with it (and its stamp is unchanged): that load then
 * verifies this header's MAC and compares the chain with its commit, as if it had read the log itself.
 */
interface PrefetchedLog {
  stamp: string;
  header: Uint8Array;
  logHead: Uint8Array;
  decoded: { records: LogRecord[]; chain?: Uint8Array };
  /** what a full load builds from these records (none when a version went backwards: the load says so) */
  built?: { index: LatestRecords; counts: Map<string, number>; purgePending: boolean };
}

/**
 * Takes `records` (in log order) into the latest-record index and the per-entry record counts;
 * returns true when one of them is a purge or history cut that compaction must still carry out.
 */
function applyRecords(records: readonly LogRecord[], index: LatestRecords, counts: Map<string, number>, onBackwards: (r: LogRecord) => Error): boolean {
  let purgePending = false;
  for (const r of records) {
    const id = toHex(r.entryId);
    const prev = index.latest.get(id);
    index.apply(r, onBackwards, id);
    counts.set(id, (counts.get(id) ?? 0) + 1);
    if (isPurgeOrCut(r.flags) && (prev || (r.flags & FLAG_CUT))) purgePending = true;
  }
  return purgePending;
}
const prefetched = new Map<string, PrefetchedLog>();

/**
 * Reads and hashes the committed log of the vault in `dir` ahead of its first load. The hash chain
 * needs no key, so this runs while the key derivation (Argon2id, on other threads) does: the no-agent
 * `kpm get` (src/cli/fastget.ts). Nothing is trusted here: any failure leaves the load to read (and
 * report) for itself.
 */
export function prefetchLog(dir: string): void {
  try {
    const stamp = headerStamp(dir);
    const header = readFileOrNull(join(dir, HEADER_FILE));
    if (!header || !stamp) return;
    const h = decodeVaultHeader(header);
    if (h.commit.logLength < LOG_HEADER_BYTES) return;
    const all = readRange(join(dir, logFile(h.commit.generation)), 0, h.commit.logLength);
    const decoded = decodeRecords(all.subarray(LOG_HEADER_BYTES), initialChain(h.vaultId));
    if (headerStamp(dir) !== stamp) return; // a writer committed meanwhile
    let built: PrefetchedLog['built'];
    try {
      const index = new LatestRecords();
      const counts = new Map<string, number>();
      const purgePending = applyRecords(decoded.records, index, counts, () => new Error('version went backwards'));
      built = { index, counts, purgePending };
    } catch {
      built = undefined; // the load builds it again and reports the corrupt log with the vault's name
    }
    prefetched.set(dir, { stamp, header, logHead: all.subarray(0, LOG_HEADER_BYTES), decoded, built });
  } catch {
    /* the load reads for itself */
  }
}

/**
 * unlockKeyring, with every vault's log read and hashed (prefetchLog) while Argon2id runs on its
 * threads: for a command that opens the session and loads its vaults right after (the no-agent
 * commands). The key derivation is under way when unlockKeyring returns its promise.
 */
export async function unlockKeyringAhead(paths: KpmPaths, password: Uint8Array): Promise<UnlockedProfile> {
  const unlocking = unlockKeyring(paths, password);
  for (const dir of listVaultDirs(paths.vaults)) prefetchLog(dir);
  return unlocking;
}

/** The prefetched log of `dir` if it was read with exactly this header file; dropped either way. */
function takePrefetched(dir: string, stamp: string, header: Uint8Array): PrefetchedLog | undefined {
  const pf = prefetched.get(dir);
  if (!pf) return undefined;
  prefetched.delete(dir);
  return pf.stamp === stamp && bytesEqual(pf.header, header) ? pf : undefined;
}

export function listVaultDirs(vaultsDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(vaultsDir);
  } catch {
    return [];
  }
  return names.filter((n) => /^[0-9a-f]{32}$/.test(n)).sort().map((n) => join(vaultsDir, n));
}

/** Opens a vault's sealed metadata (name) with the account key. */
export function openVaultMeta(h: Pick<VaultHeader, 'vaultId' | 'profileId' | 'sealedMeta'>, profile: UnlockedProfile): VaultMeta {
  if (!bytesEqual(h.profileId, profile.profileId)) throw corrupt('vault belongs to another profile');
  const key = accountSubkey(profile.accountKey, 'vaultMeta');
  try {
    return JSON.parse(decodeUtf8(open(key, h.sealedMeta, concatBytes(AAD.vaultMeta, h.vaultId, h.profileId))));
  } catch (e) {
    if (e instanceof AuthError || e instanceof SyntaxError) throw corrupt('vault metadata is corrupt or was tampered with');
    throw e;
  } finally {
    wipe(key);
  }
}

export function sealMeta(profile: UnlockedProfile, vaultId: Uint8Array, meta: VaultMeta): Uint8Array {
  const key = accountSubkey(profile.accountKey, 'vaultMeta');
  try {
    return seal(key, utf8.encode(JSON.stringify(meta)), concatBytes(AAD.vaultMeta, vaultId, profile.profileId));
  } finally {
    wipe(key);
  }
}

/** Opens an account-wrapped vault key (AuthError if it does not open). */
export function unwrapAccountVaultKey(profile: UnlockedProfile, wrappedKey: Uint8Array, keyBoundBytes: Uint8Array): Uint8Array {
  const key = accountSubkey(profile.accountKey, 'vaultKeyWrap');
  try {
    return openKey(key, wrappedKey, concatBytes(AAD.vaultKey, keyBoundBytes));
  } finally {
    wipe(key);
  }
}

/** Whether an account-wrapped key part opens with the profile's account key: the key is unwrapped and wiped here (AuthError when it does not open). */
export function checkAccountVaultKey(profile: UnlockedProfile, k: { wrappedKey: Uint8Array; keyBoundBytes: Uint8Array }): void {
  wipe(unwrapAccountVaultKey(profile, k.wrappedKey, k.keyBoundBytes));
}

export interface NewRecord {
  entryId: Uint8Array;
  payload: EntryPayload;
  deleted?: boolean;
  /** with deleted: delete for good (`kpm trash purge`): the record carries an empty payload */
  purged?: boolean;
  /** `kpm history purge`: every older version of the entry goes at the next compaction */
  cut?: boolean;
  /** the version the caller based its change on (0 for a new entry); mismatch → conflict */
  baseVersion: number;
}

/** sync.json's confirmation marks, as compaction reads them and notes its new generation. */
interface SyncMarks {
  has(offset: number): boolean;
  note(next: { generation: number; confirmedUpTo: number }): void;
}

export class Vault {
  /** latest record per entry id (hex) and live entries by name tag (src/vault/records.ts); loaded on first use */
  private index = new LatestRecords();
  private get records(): Map<string, LogRecord> {
    return this.index.latest;
  }
  private get liveByTag(): Map<string, string> {
    return this.index.liveByTag;
  }
  /** records per entry id (hex) in the current log: what compaction would drop follows from it */
  private counts = new Map<string, number>();
  /** the log holds a purge or history-cut record not yet compacted away */
  private purgePending = false;
  private recordsLoaded = false;
  private chainVerified = false;
  private header!: VaultHeader;
  private loadedLength = 0;
  private loadedChain!: Uint8Array;
  private headerStamp = '';
  private readonly macKey: Uint8Array;
  private readonly tagKey: Uint8Array;
  private readonly recordKey: Uint8Array;
  private readonly indexKey: Uint8Array;

  private constructor(
    readonly dir: string,
    readonly profile: UnlockedProfile,
    private readonly vk: Uint8Array,
    public meta: VaultMeta,
  ) {
    this.macKey = offHeapCopy(vaultSubkey(vk, 'headerMac'));
    this.tagKey = offHeapCopy(vaultSubkey(vk, 'nameTag'));
    this.recordKey = offHeapCopy(vaultSubkey(vk, 'record'));
    this.indexKey = offHeapCopy(vaultSubkey(vk, 'summaryIndex'));
  }

  get id(): string {
    return toHex(this.header.vaultId);
  }
  get name(): string {
    return this.meta.name;
  }
  get ownPassword(): boolean {
    return this.header.wrapKind === WRAP_BY_OWN_PASSWORD;
  }

  static async create(vaultsDir: string, profile: UnlockedProfile, name: string, ownPassword?: Uint8Array, params: KdfParams = DEFAULT_KDF): Promise<Vault> {
    const vaultId = randomBytes(ID_BYTES);
    const vk = randomBytes(32);
    let wrapKind = WRAP_BY_ACCOUNT, ownKdf: KdfSpec | undefined, wrapKey: Uint8Array;
    if (ownPassword) {
      wrapKind = WRAP_BY_OWN_PASSWORD;
      ownKdf = { params, salt: randomBytes(SALT_BYTES) };
      wrapKey = await deriveKek(ownPassword, ownKdf);
    } else wrapKey = accountSubkey(profile.accountKey, 'vaultKeyWrap');
    const keyBound = vaultKeyBoundBytes(vaultId, profile.profileId, wrapKind, ownKdf);
    const wrappedKey = sealKey(wrapKey, vk, concatBytes(AAD.vaultKey, keyBound));
    wipe(wrapKey);
    const meta = { name, created: new Date().toISOString() };
    return Vault.materialize(vaultsDir, profile, { vaultId, keyBoundBytes: keyBound, wrappedKey, sealedMeta: sealMeta(profile, vaultId, meta) }, vk, meta);
  }

  /** Writes a new vault folder (empty log) for a key part, new or synced from another device. */
  static async materialize(
    vaultsDir: string,
    profile: UnlockedProfile,
    k: { vaultId: Uint8Array; keyBoundBytes: Uint8Array; wrappedKey: Uint8Array; sealedMeta: Uint8Array },
    vk: Uint8Array,
    meta: VaultMeta,
  ): Promise<Vault> {
    const dir = join(vaultsDir, toHex(k.vaultId));
    ensureDir(vaultsDir);
    ensureDir(dir);
    const logHead = encodeLogHeader(k.vaultId);
    writeFileAtomic(join(dir, logFile(1)), logHead);
    const commit: Commit = { generation: 1, sequence: 1, logLength: logHead.length, pendingLength: 0, recordCount: 0, liveCount: 0, chain: initialChain(k.vaultId) };
    const macBound = vaultMacBoundBytes(k.keyBoundBytes, k.wrappedKey, k.sealedMeta, commit);
    const macKey = vaultSubkey(vk, 'headerMac');
    writeFileAtomic(join(dir, HEADER_FILE), encodeVaultHeader(macBound, hmacSha256(macKey, macBound)));
    wipe(macKey);
    return Vault.open(dir, profile, { vaultKey: vk, meta });
  }

  /**
   * Writes the local copy of an account-wrapped vault synced from another device (src/sync/engine.ts):
   * its key is unwrapped here (AuthError when it does not open with the account key) and its name
   * opened from the key part; the key goes nowhere but into the new vault.
   */
  static async adoptAccountWrapped(vaultsDir: string, profile: UnlockedProfile, k: VaultKeyPart): Promise<Vault> {
    const vk = unwrapAccountVaultKey(profile, k.wrappedKey, k.keyBoundBytes);
    let meta: VaultMeta;
    try {
      meta = openVaultMeta(k, profile);
    } catch (e) {
      wipe(vk);
      throw e;
    }
    return Vault.materialize(vaultsDir, profile, k, vk, meta);
  }

  /**
   * Opens a vault: unwraps its key (with the account key, or with `ownPassword` for a data vault,
   * or takes an already unwrapped `vaultKey`), verifies the commit MAC, loads its records.
   */
  static async open(dir: string, profile: UnlockedProfile, opts: { ownPassword?: Uint8Array; vaultKey?: Uint8Array; meta?: VaultMeta; header?: VaultHeader } = {}): Promise<Vault> {
    const h = opts.header ?? readVaultHeader(dir);
    const meta = opts.meta ?? openVaultMeta(h, profile);
    let vk = opts.vaultKey;
    if (!vk) {
      let wrapKey: Uint8Array;
      if (h.wrapKind === WRAP_BY_OWN_PASSWORD) {
        if (!opts.ownPassword) throw new KpmError(`vault "${meta.name}" has its own password and is locked`, EXIT.locked, `run \`kpm vault unlock "${meta.name}"\``);
        wrapKey = await deriveKek(opts.ownPassword, h.ownKdf!);
      } else wrapKey = accountSubkey(profile.accountKey, 'vaultKeyWrap');
      try {
        vk = openKey(wrapKey, h.wrappedKey, concatBytes(AAD.vaultKey, h.keyBoundBytes));
      } catch (e) {
        if (!(e instanceof AuthError)) throw e;
        if (h.wrapKind === WRAP_BY_OWN_PASSWORD) throw wrongPassword(`wrong password for vault "${meta.name}"`);
        throw corrupt(`vault "${meta.name}" key is corrupt or was tampered with`);
      } finally {
        wipe(wrapKey);
      }
    }
    if (!bytesEqual(h.profileId, profile.profileId)) throw corrupt('vault belongs to another profile');
    const v = new Vault(dir, profile, vk, meta);
    v.verifyMac(h);
    v.header = h;
    return v;
  }

  /**
   * What a service token gets (src/sync/tokenvault.ts): the record AEAD key and the name-tag key,
   * copies. Not the vault key: nothing here makes a header MAC, and sync writes need the account's
   * signing key, which a token never has.
   */
  readKeys(): { recordKey: Uint8Array; tagKey: Uint8Array } {
    return { recordKey: this.recordKey.slice(), tagKey: this.tagKey.slice() };
  }

  /** The raw vault key, for handing to the agent. */
  exportKey(): Uint8Array {
    return this.vk.slice();
  }

  private stamp(): string {
    return headerStamp(this.dir);
  }

  /** Latest record per entry id, loaded (and its hash chain verified) on first use. */
  get latest(): Map<string, LogRecord> {
    this.ensureLoaded(true);
    return this.records;
  }

  /** Whether the records are loaded and their chain verified (no I/O). */
  get recordsReady(): boolean {
    return this.recordsLoaded && this.chainVerified;
  }

  /** The committed state on disk now: the header re-read, its MAC verified; nothing else loaded. */
  headCommit(): Commit {
    const h = readVaultHeader(this.dir);
    this.verifyMac(h);
    if (h.commit.generation !== this.header.commit.generation) dropSummaryIndex(this.dir, h.commit.generation);
    return h.commit;
  }

  /** Where and under which key this vault's summary index lives (src/vault/summaryindex.ts). */
  summaryIndexOwner(): IndexOwner {
    return { dir: this.dir, key: this.indexKey, profileId: this.profile.profileId, vaultId: this.header.vaultId };
  }

  private ensureLoaded(verifyChain: boolean): void {
    if (!this.recordsLoaded || (verifyChain && !this.chainVerified)) this.load(verifyChain);
  }

  private verifyMac(h: VaultHeader): void {
    if (!bytesEqual(hmacSha256(this.macKey, h.macBoundBytes), h.mac)) throw corrupt(`vault "${this.meta.name}" header was tampered with (bad MAC)`);
    if (!bytesEqual(h.vaultId, this.header?.vaultId ?? h.vaultId)) throw corrupt('vault header belongs to another vault');
  }

  /**
   * Brings the in-memory state up to the committed state on disk: reads only new records when the
   * log has grown, everything otherwise. With verifyChain, the hash chain must equal the commit's.
   */
  load(verifyChain = true, underLock = false): void {
    for (let attempt = 0; ; attempt++) {
      try {
        return this.loadOnce(verifyChain);
      } catch (e) {
        if (!(e instanceof LogRaceError)) throw e;
        // A reader takes no lock. A writer rewrites the header (announcing the append) before it
        // touches the log, so a log that changed under us always comes with a changed header.
        if (underLock || !e.headerChanged || attempt >= 100) throw corrupt(e.message);
        sleepMs(10);
      }
    }
  }

  private loadOnce(verifyChain: boolean): void {
    const stamp = this.stamp();
    const headerFile = readHeaderFile(this.dir);
    const h = decodeVaultHeader(headerFile);
    this.verifyMac(h);
    const c = h.commit;
    const path = join(this.dir, logFile(c.generation));
    // A new generation (compaction, a log rewrite by sync): the summary index of the old one may
    // hold summaries of entries deleted for good since; it goes with the old log (shredded).
    if (this.header && c.generation !== this.header.commit.generation) dropSummaryIndex(this.dir, c.generation);
    // Read only the new records when the log grew, unless the part already read must now be verified.
    const incremental =
      this.recordsLoaded && this.header.commit.generation === c.generation && c.logLength >= this.loadedLength && (!verifyChain || this.chainVerified);
    // read (and hashed) ahead, before the key was known: the same bytes this header commits to
    const pf = takePrefetched(this.dir, stamp, headerFile);
    const ahead = pf && !incremental && verifyChain ? pf : undefined;
    if (!incremental) {
      this.index.clear();
      this.counts.clear();
      this.purgePending = false;
      this.recordsLoaded = false; // until this load succeeds, nothing is loaded
      if (c.logLength < LOG_HEADER_BYTES) throw corrupt('vault log is truncated or corrupt');
      checkLogHeader(ahead ? ahead.logHead : readRange(path, 0, LOG_HEADER_BYTES), h.vaultId);
      this.loadedLength = LOG_HEADER_BYTES;
      this.loadedChain = initialChain(h.vaultId);
    }
    let size: number;
    try {
      size = fs.statSync(path).size;
    } catch {
      throw corrupt('vault log is missing');
    }
    if (size < c.logLength) throw new LogRaceError('vault log is truncated or corrupt', this.stamp() !== stamp);
    if (size > c.logLength && !(c.pendingLength && size <= c.pendingLength)) {
      // Bytes beyond the commit that no writer announced: appended by someone else, unless a
      // writer committed since we read the header.
      throw new LogRaceError(`vault "${this.meta.name}" log has bytes that were never committed (tampered or corrupt)`, this.stamp() !== stamp);
    }
    const { records, chain } = ahead ? ahead.decoded : decodeRecords(readRange(path, this.loadedLength, c.logLength), verifyChain ? this.loadedChain : undefined);
    if (chain && !bytesEqual(chain, c.chain)) throw corrupt(`vault "${this.meta.name}" log is corrupt or was tampered with (hash chain mismatch)`);
    if (ahead?.built) {
      // built from the same records, in the same order, by the same code (applyRecords)
      this.index = ahead.built.index;
      this.counts = ahead.built.counts;
      this.purgePending = ahead.built.purgePending;
    } else {
      const backwards = () => corrupt(`vault "${this.meta.name}" log is corrupt (version went backwards)`);
      if (applyRecords(records, this.index, this.counts, backwards)) this.purgePending = true;
    }
    this.recordsLoaded = true;
    this.chainVerified = verifyChain && (incremental ? this.chainVerified : true);
    this.header = h;
    this.loadedLength = c.logLength;
    this.loadedChain = c.chain;
    this.headerStamp = stamp;
  }

  /** Reloads if another process committed since the last load. Cheap: one stat when nothing changed. */
  refresh(): void {
    if (this.recordsLoaded && this.stamp() !== this.headerStamp) this.load(true);
  }

  get commit(): Commit {
    return this.header.commit;
  }

  nameTag(name: string): Uint8Array {
    return nameTagOf(this.tagKey, name);
  }

  liveRecords(): LogRecord[] {
    this.ensureLoaded(true);
    return this.index.live();
  }

  findByName(name: string): LogRecord | undefined {
    this.ensureLoaded(true);
    return this.index.byTag(this.nameTag(name));
  }

  decrypt(r: LogRecord): EntryPayload {
    return decryptRecord({ recordKey: this.recordKey, profileId: this.profile.profileId, vaultId: this.header.vaultId }, r, () =>
      corrupt(`entry ${toHex(r.entryId)} in vault "${this.meta.name}" is corrupt or was tampered with`),
    );
  }

  /**
   * Commits records atomically under the vault lock (docs/FORMAT.md "Writing"). Checks, against the
   * latest committed state, that each change is based on the current version and that live names stay
   * unique in the vault.
   */
  async write(changes: NewRecord[]): Promise<void> {
    await withVaultLock(this.dir, () => {
      // The log is verified before anything is appended to it (a tampered log is refused, not
      // extended); once loaded and verified, only what another process appended is read. The
      // compaction check after the write then needs no second read (and takes a prefetched log).
      this.load(true, true);
      const c = this.header.commit;
      const encoded: Uint8Array[] = [];
      let live = c.liveCount;
      const changed = new Map<string, LogRecord>(); // this batch's records by entry id
      const tagOwner = new Map<string, string | undefined>(); // this batch's view of liveByTag
      const ownerOf = (tag: string) => (tagOwner.has(tag) ? tagOwner.get(tag) : this.liveByTag.get(tag));
      for (const ch of changes) {
        const id = toHex(ch.entryId);
        const cur = changed.get(id) ?? this.records.get(id);
        const curVersion = cur?.version ?? 0;
        if (curVersion !== ch.baseVersion) throw new KpmError(`entry "${ch.payload.name}" was changed by another process; try again`, EXIT.conflict);
        const flags = (ch.deleted ? FLAG_DELETED : 0) | (ch.deleted && ch.purged ? FLAG_PURGED : 0) | (ch.cut ? FLAG_CUT : 0);
        const tag = this.nameTag(ch.payload.name);
        const tagHex = toHex(tag);
        if (!ch.deleted) {
          const owner = ownerOf(tagHex);
          if (owner !== undefined && owner !== id) {
            throw new KpmError(`an entry named "${ch.payload.name}" already exists in vault "${this.meta.name}"`, EXIT.conflict, 'choose another name or edit the existing entry', 'name_taken');
          }
        }
        if (cur && !(cur.flags & FLAG_DELETED) && ownerOf(toHex(cur.nameTag)) === id) tagOwner.set(toHex(cur.nameTag), undefined);
        if (!ch.deleted) tagOwner.set(tagHex, id);
        const wasLive = cur && !(cur.flags & FLAG_DELETED) ? 1 : 0;
        live += (ch.deleted ? 0 : 1) - wasLive;
        const version = curVersion + 1;
        const rec = this.sealed(ch.entryId, version, flags, tag, ch.payload);
        encoded.push(rec.raw);
        changed.set(id, rec);
      }
      this.appendLocked(encoded, live);
    });
  }

  /** Appends encoded records and commits them (docs/FORMAT.md "Writing"); the caller holds the lock. */
  private appendLocked(encoded: Uint8Array[], live: number): [number, number] {
    const c = this.header.commit;
    const path = join(this.dir, logFile(c.generation));
    let chain = c.chain;
    for (const raw of encoded) chain = nextChain(chain, raw);
    const appended = concatBytes(...encoded);
    const newLength = c.logLength + appended.length;
    // Announce the append first, so a crash remnant is told apart from bytes appended by others.
    this.writeHeader(this.header, { ...c, sequence: c.sequence + 1, pendingLength: newLength });
    const fd = fs.openSync(path, 'r+', FILE_MODE);
    try {
      fs.ftruncateSync(fd, c.logLength); // drop the tail of a crashed writer, if any
      fs.writeSync(fd, appended, 0, appended.length, c.logLength);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const next: Commit = { ...c, sequence: c.sequence + 2, logLength: newLength, pendingLength: 0, recordCount: c.recordCount + encoded.length, liveCount: live, chain };
    this.writeHeader(this.header, next);
    this.load(this.chainVerified, true);
    return [c.logLength, newLength];
  }

  // ---------------------------------------------------------------- for sync (src/sync/vaultsync.ts)
  // Coarse operations: each takes the vault lock once, reads the header once, and checks that the
  // sync state's marks are about the log on disk (LogMovedError otherwise: nothing was written).
  // Sync gets records and results, never the vault key.

  get generation(): number {
    return this.header.commit.generation;
  }

  /** The header's key part: what another device needs to open this vault. */
  keyPart(): { keyBoundBytes: Uint8Array; wrappedKey: Uint8Array; sealedMeta: Uint8Array } {
    const h = this.header;
    return { keyBoundBytes: h.keyBoundBytes, wrappedKey: h.wrappedKey, sealedMeta: h.sealedMeta };
  }

  /** Every committed record from byte `from` of the current log, with absolute offsets. */
  private recordsFrom(from: number): LogRecord[] {
    const c = this.header.commit;
    if (from >= c.logLength) return [];
    const { records } = decodeRecords(readRange(join(this.dir, logFile(c.generation)), from, c.logLength));
    for (const r of records) r.offset = (r.offset ?? 0) + from;
    return records;
  }

  /** Every committed record of one entry, oldest first (history); nothing before its last history cut. */
  historyOf(entryId: Uint8Array): LogRecord[] {
    this.ensureLoaded(true);
    const all = this.recordsFrom(LOG_HEADER_BYTES).filter((r) => bytesEqual(r.entryId, entryId));
    let cut = all.length - 1;
    while (cut > 0 && !(all[cut].flags & FLAG_CUT)) cut--;
    return cut > 0 ? all.slice(cut) : all;
  }

  // ---------------------------------------------------------------- compaction (docs/FORMAT.md "Compaction")

  /** Records compaction would drop with `keep` versions per entry (purges and cuts not counted). */
  private deadByKeep(keep: number): number {
    let dead = 0;
    for (const n of this.counts.values()) if (n > keep) dead += n - keep;
    return dead;
  }

  /**
   * True when the log should be compacted: a purge or history cut waits (always), or the records
   * beyond `keep` versions per entry are at least 64 and a quarter of the rest. Cheap (no I/O).
   */
  needsCompaction(keep: number): boolean {
    this.ensureLoaded(true);
    if (this.purgePending) return true;
    const c = this.header.commit;
    if (c.recordCount - this.records.size < 64) return false;
    const dead = this.deadByKeep(keep);
    return dead >= 64 && dead * 4 >= c.recordCount - dead;
  }

  /**
   * Compacts the log into a new generation (the caller holds the vault lock): per entry its last `keep` versions,
   * nothing before its last history cut, and of an entry deleted for good only its purge record.
   * Records are kept byte for byte, in log order; those the server already has first (so sync.json
   * stays a prefix), noted in sync.json before the commit as a log rewrite by sync does. Returns how
   * many records were dropped (0: nothing written).
   */
  private compactLocked(keep: number, syncMarks?: SyncMarks): number {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new KpmError('history.keep must be at least 1', EXIT.usage);
    const all = this.recordsFrom(LOG_HEADER_BYTES);
    const kept = keptByRetention(all, keep);
    if (kept.length === all.length) {
      this.purgePending = false;
      return 0;
    }
    const marks = syncMarks ?? readSyncMarks(this.dir, this.generation);
    if (marks === 'mismatch') throw new KpmError(`vault "${this.meta.name}": its sync state does not match the vault log`, EXIT.corrupt, 'run `kpm sync --reset-state`');
    let ordered = kept;
    if (marks) {
      const confirmed = kept.filter((r) => marks.has(r.offset!));
      ordered = [...confirmed, ...kept.filter((r) => !marks.has(r.offset!))];
      const confirmedUpTo = LOG_HEADER_BYTES + confirmed.reduce((n, r) => n + r.raw.length, 0);
      marks.note({ generation: this.generation + 1, confirmedUpTo });
    }
    this.rewriteLocked(ordered, true);
    return all.length - kept.length;
  }

  /** Compacts under the vault lock when needsCompaction(keep) (or always, with force); returns records dropped. */
  async compact(keep: number, force = false): Promise<number> {
    // not due by the committed state (one stat when nothing changed): no lock taken (every sync asks)
    if (!force && this.recordsLoaded && Number.isSafeInteger(keep) && keep >= 1) {
      this.refresh();
      if (!this.needsCompaction(keep)) return 0;
    }
    return withVaultLock(this.dir, () => {
      this.load(true, true);
      return force || this.needsCompaction(keep) ? this.compactLocked(keep) : 0;
    });
  }

  /** Seals one record with its name tag (sync's rebase and renames, a key rotation's copy); `flags`: deleted, purged, cut. */
  private seal(entryId: Uint8Array, version: number, flags: number, payload: EntryPayload): LogRecord {
    return this.sealed(entryId, version, flags & (FLAG_DELETED | FLAG_PURGED | FLAG_CUT), this.nameTag(payload.name), payload);
  }

  /** The one place a record is sealed: payload JSON under the record key, bound by its AAD. */
  private sealed(entryId: Uint8Array, version: number, flags: number, tag: Uint8Array, payload: EntryPayload): LogRecord {
    const plaintext = utf8.encode(JSON.stringify(payload));
    if (plaintext.length > MAX_PAYLOAD_BYTES) throw new KpmError('entry is larger than 16 MiB', EXIT.usage);
    const sealed = seal(this.recordKey, plaintext, entryAad(this.profile.profileId, this.header.vaultId, entryId, version, flags, tag));
    return { entryId, version, flags, nameTag: tag, sealed, raw: encodeRecord(entryId, version, flags, tag, sealed) };
  }

  /**
   * Whether an account-wrapped key part (as another device sent it) holds this vault's key. The key
   * it unwraps is compared here and wiped: neither key leaves the vault. AuthError when it does not
   * open with the account's key.
   */
  wrapsOwnKey(k: { wrappedKey: Uint8Array; keyBoundBytes: Uint8Array }): boolean {
    const other = unwrapAccountVaultKey(this.profile, k.wrappedKey, k.keyBoundBytes);
    try {
      return bytesEqual(other, this.vk);
    } finally {
      wipe(other);
    }
  }

  /** Live-entry count after `records` were applied on top of `base` (latest record per entry). */
  private liveAfter(records: readonly LogRecord[], base: Map<string, LogRecord>, live: number): number {
    const seen = new Map<string, number>();
    for (const r of records) {
      const id = toHex(r.entryId);
      const prevFlags = seen.has(id) ? seen.get(id)! : base.has(id) ? base.get(id)!.flags : undefined;
      const prevVersion = base.get(id)?.version ?? 0;
      if (!seen.has(id) && r.version <= prevVersion) throw corrupt(`vault "${this.meta.name}": a synced record goes back to version ${r.version} of entry ${id}`);
      const wasLive = prevFlags !== undefined && !(prevFlags & FLAG_DELETED) ? 1 : 0;
      live += (r.flags & FLAG_DELETED ? 0 : 1) - wasLive;
      seen.set(id, r.flags);
    }
    return live;
  }

  /** Appends sealed records (pulled, or re-sealed here) and commits; the caller holds the lock. Returns their byte range. */
  private appendRecordsLocked(records: readonly LogRecord[]): [number, number] {
    if (records.length === 0) return [this.header.commit.logLength, this.header.commit.logLength];
    return this.appendLocked(records.map((r) => r.raw), this.liveAfter(records, this.records, this.header.commit.liveCount));
  }

  /**
   * Replaces the log with a new generation holding exactly `records` in order, then commits it; the
   * caller holds the lock. The new log is complete and synced before the header names it; the old one
   * is removed after.
   */
  private rewriteLocked(records: readonly LogRecord[], shred = false): void {
    const raws = records.map((r) => r.raw);
    const c = this.header.commit;
    const generation = c.generation + 1;
    const head = encodeLogHeader(this.header.vaultId);
    let chain = initialChain(this.header.vaultId);
    for (const raw of raws) chain = nextChain(chain, raw);
    const body = concatBytes(head, ...raws);
    writeFileAtomic(join(this.dir, logFile(generation)), body);
    const live = this.liveAfter(records, new Map(), 0);
    this.writeHeader(this.header, { generation, sequence: c.sequence + 1, logLength: body.length, pendingLength: 0, recordCount: raws.length, liveCount: live, chain });
    const old = join(this.dir, logFile(c.generation));
    if (shred) shredFile(old); // compaction: the dropped ciphertext is overwritten, not only unlinked
    fs.rmSync(old, { force: true });
    this.load(true, true);
  }

  /** Takes a key part another device synced (rename, new own password), under the vault lock. */
  async adoptKeyPart(k: Pick<VaultKeyPart, 'vaultId' | 'profileId' | 'keyBoundBytes' | 'wrappedKey' | 'sealedMeta'>): Promise<void> {
    if (!bytesEqual(k.vaultId, this.header.vaultId)) throw corrupt('the key part belongs to another vault');
    const meta = openVaultMeta(k, this.profile);
    await withVaultLock(this.dir, () => {
      this.load(true, true);
      this.writeHeader(this.header, { ...this.header.commit, sequence: this.header.commit.sequence + 1 }, k.sealedMeta, k.keyBoundBytes, k.wrappedKey);
      this.meta = meta;
      this.load(true, true);
    });
  }

  /** The marks must be about the log on disk (the caller holds the lock, the header just read). */
  private checkMarks(m: LogMarks): void {
    if (m.generation !== this.header.commit.generation) throw new LogMovedError(this.meta.name);
  }

  /**
   * Per entry (hex id), the highest version the server confirmed, by `marks` (read without the lock,
   * as readers do). For the check of a compacted server log before anything is fetched or written.
   */
  confirmedVersions(marks: LogMarks): Map<string, number> {
    this.ensureLoaded(true);
    this.refresh();
    this.checkMarks(marks);
    return confirmedVersions(marks, this.recordsFrom(LOG_HEADER_BYTES));
  }

  /**
   * Whether the log holds records the server lacks by `marks` (read without the lock, as readers do;
   * only the records after marks.confirmedUpTo are read). Sync asks before it decides whether a pull
   * is needed at all.
   */
  hasPending(marks: LogMarks): boolean {
    this.ensureLoaded(true);
    this.refresh();
    this.checkMarks(marks);
    return pendingOf(marks, this.recordsFrom(marks.confirmedUpTo)).length > 0;
  }

  /**
   * Applies a verified pull under one vault lock (one header read): for a new server generation the
   * log is first rewritten to the records of it this device knew, then its pending ones; pulled
   * records are appended, or, when a pending local change touches the same entry, the log is
   * rebased (src/vault/synclog.ts planPull, with the caller's merge policy); pending entries whose
   * name a pulled one took are renamed; a pulled purge or history cut compacts the log when due.
   * `expected`: the marks of the caller's sync state; if the log moved to another generation since
   * (a compaction by another process), LogMovedError before anything is written.
   */
  async applyVerifiedPull(pull: VerifiedPull, expected: LogMarks, opts: ApplyPullOptions): Promise<PullApplied> {
    return withVaultLock(this.dir, () => {
      this.load(true, true);
      this.checkMarks(expected);
      const marks: LogMarks = { generation: expected.generation, confirmedUpTo: expected.confirmedUpTo, confirmedRanges: expected.confirmedRanges.map(([a, b]) => [a, b]) };
      const rewrite = (log: LogRecord[], confirmedUpTo: number, step: 'adopt' | 'rebase', shred: boolean) => {
        opts.noteRewrite({ generation: this.generation + 1, confirmedUpTo }, step, marks);
        this.rewriteLocked(log, shred);
        Object.assign(marks, { generation: this.generation, confirmedUpTo, confirmedRanges: [] });
      };
      // The whole log is read only when a plan needs it (a new server generation, a rebase); every
      // record before marks.confirmedUpTo is confirmed, so what is pending is in the tail after it.
      let all: LogRecord[] | undefined;
      const whole = () => (all ??= this.recordsFrom(LOG_HEADER_BYTES));
      let fresh = pull.records;
      if (pull.newGeneration) {
        opts.checkKept?.(confirmedVersions(marks, whole()));
        const plan = planAdopt(marks, whole(), pull.records);
        rewrite(plan.log, plan.confirmedUpTo, 'adopt', true);
        fresh = plan.fresh;
        all = undefined;
      }
      const out: PullApplied = { marks, pulled: 0, conflicts: [], renamed: [], purgeArrived: fresh.some((r) => isPurgeOrCut(r.flags)), pending: [] };
      if (fresh.length > 0) {
        const plan = planPull(marks, { tail: this.recordsFrom(marks.confirmedUpTo), all: whole }, fresh, { decrypt: (r) => this.decrypt(r), seal: (id, version, flags, payload) => this.seal(id, version, flags, payload), resolve: opts.resolve });
        out.pulled = plan.pulled;
        out.conflicts = plan.conflicts;
        if (plan.kind === 'append') {
          const [a, b] = this.appendRecordsLocked(plan.records);
          addRange(marks, a, b);
        } else rewrite(plan.log, plan.confirmedUpTo, 'rebase', false);
        out.renamed = this.renameClashesLocked(marks);
      }
      // a purge or history cut that arrived: its old versions go from this device now
      if (out.purgeArrived && this.needsCompaction(opts.keep)) {
        let next: { generation: number; confirmedUpTo: number } | undefined;
        const sync: SyncMarks = {
          has: (o) => isConfirmed(marks, { offset: o } as LogRecord),
          note: (n) => {
            next = n;
            opts.noteRewrite(n, 'compact', marks);
          },
        };
        if (this.compactLocked(opts.keep, sync) > 0 && next) Object.assign(marks, { generation: next.generation, confirmedUpTo: next.confirmedUpTo, confirmedRanges: [] });
      }
      out.pending = pendingOf(marks, this.recordsFrom(marks.confirmedUpTo));
      // nothing left to send: the marks collapse now, as settlePush would after an empty push
      if (out.pending.length === 0) Object.assign(marks, { confirmedUpTo: this.header.commit.logLength, confirmedRanges: [] });
      opts.applied?.(out);
      return out;
    });
  }

  /** Two live entries with one name after a pull: the local one (not yet pushed) is renamed "NAME (2)"; inside the lock. */
  private renameClashesLocked(marks: LogMarks): string[] {
    const pendingIds = new Set(pendingOf(marks, this.recordsFrom(marks.confirmedUpTo)).map((r) => toHex(r.entryId)));
    if (pendingIds.size === 0) return [];
    const byTag = new Map<string, LogRecord[]>();
    for (const r of this.liveRecords()) {
      const k = toHex(r.nameTag);
      byTag.set(k, [...(byTag.get(k) ?? []), r]);
    }
    const fixes: LogRecord[] = [];
    const renamed: string[] = [];
    const taken = (name: string) => this.findByName(name) !== undefined;
    for (const group of byTag.values()) {
      if (group.length < 2) continue;
      for (const r of group.filter((x) => pendingIds.has(toHex(x.entryId)))) {
        const p = this.decrypt(r);
        let n = 2;
        while (taken(`${p.name} (${n})`)) n++;
        const name = `${p.name} (${n})`;
        fixes.push(this.seal(r.entryId, r.version + 1, 0, { ...p, name }));
        renamed.push(`${p.name} → ${name}`);
      }
    }
    this.appendRecordsLocked(fixes); // local changes: pending, pushed next
    return renamed;
  }

  /**
   * After a push, under one vault lock: when nothing after the marks is left to send, the marks
   * collapse (everything up to the end of the log is confirmed) and, if `wantLog(records in the log)`,
   * the whole log comes back (what a compaction of the server's copy would send; it is read only
   * then); otherwise the marks as they were and null.
   */
  async settlePush(marks: LogMarks, wantLog: (recordCount: number) => boolean = () => true): Promise<{ marks: LogMarks; log: LogRecord[] | null }> {
    return withVaultLock(this.dir, () => {
      this.load(true, true);
      this.checkMarks(marks);
      if (pendingOf(marks, this.recordsFrom(marks.confirmedUpTo)).length > 0) return { marks, log: null };
      const c = this.header.commit;
      // the whole log is read only when the caller will send it (a compaction of the server's copy is due)
      return { marks: { generation: marks.generation, confirmedUpTo: c.logLength, confirmedRanges: [] }, log: wantLog(c.recordCount) ? this.recordsFrom(LOG_HEADER_BYTES) : null };
    });
  }

  /**
   * `kpm vault rotate-key` (src/sync/rotate.ts): every record of `from` (every version, the trash,
   * history) re-sealed under this vault's key with the same entry ids and versions, appended here,
   * under both vaults' locks. Returns how many.
   */
  async resealFrom(from: Vault): Promise<number> {
    return withVaultLock(from.dir, () =>
      withVaultLock(this.dir, () => {
        from.load(true, true);
        this.load(true, true);
        const records = from.recordsFrom(LOG_HEADER_BYTES).map((r) => this.seal(r.entryId, r.version, r.flags & FLAG_DELETED, from.decrypt(r)));
        this.appendRecordsLocked(records);
        return records.length;
      }),
    );
  }

  private writeHeader(h: VaultHeader, c: Commit, sealedMeta = h.sealedMeta, keyBound = h.keyBoundBytes, wrappedKey = h.wrappedKey): void {
    const macBound = vaultMacBoundBytes(keyBound, wrappedKey, sealedMeta, c);
    writeFileAtomic(join(this.dir, HEADER_FILE), encodeVaultHeader(macBound, hmacSha256(this.macKey, macBound)));
  }

  async rename(newName: string): Promise<void> {
    await withVaultLock(this.dir, () => {
      this.load(false, true);
      const meta = { ...this.meta, name: newName };
      this.writeHeader(this.header, { ...this.header.commit, sequence: this.header.commit.sequence + 1 }, sealMeta(this.profile, this.header.vaultId, meta));
      this.meta = meta;
      this.load(false, true);
    });
  }

  /** Rewraps this data vault's key under a new own password; entries are untouched. */
  async changeOwnPassword(newPassword: Uint8Array, params: KdfParams = DEFAULT_KDF): Promise<void> {
    const ownKdf = { params, salt: randomBytes(SALT_BYTES) };
    const kek = await deriveKek(newPassword, ownKdf);
    await withVaultLock(this.dir, () => {
      this.load(false, true);
      const keyBound = vaultKeyBoundBytes(this.header.vaultId, this.profile.profileId, WRAP_BY_OWN_PASSWORD, ownKdf);
      const wrapped = sealKey(kek, this.vk, concatBytes(AAD.vaultKey, keyBound));
      this.writeHeader(this.header, { ...this.header.commit, sequence: this.header.commit.sequence + 1 }, this.header.sealedMeta, keyBound, wrapped);
      this.load(false, true);
    });
    wipe(kek);
  }

  close(): void {
    wipe(this.vk, this.macKey, this.tagKey, this.recordKey, this.indexKey);
  }
}

/** The records a compaction keeps (see compactLocked), in their order. */
export function keptByRetention(all: LogRecord[], keep: number): LogRecord[] {
  const byId = new Map<string, number[]>();
  all.forEach((r, i) => {
    const id = toHex(r.entryId);
    const list = byId.get(id);
    if (list) list.push(i);
    else byId.set(id, [i]);
  });
  const keepIdx = new Set<number>();
  for (const idx of byId.values()) {
    const last = idx[idx.length - 1];
    if (all[last].flags & FLAG_PURGED) {
      keepIdx.add(last);
      continue;
    }
    let from = Math.max(0, idx.length - keep);
    for (let j = idx.length - 1; j >= 0; j--) {
      if (all[idx[j]].flags & FLAG_CUT) {
        from = Math.max(from, j);
        break;
      }
    }
    for (let j = from; j < idx.length; j++) keepIdx.add(idx[j]);
  }
  return all.filter((_, i) => keepIdx.has(i));
}

/**
 * Removes a vault's summary index of a generation before `generation` (any index, without it),
 * overwritten first like a compacted log (docs/FORMAT.md "Summary index").
 */
export function dropSummaryIndex(dir: string, generation = Infinity): void {
  const path = join(dir, SUMMARY_INDEX_FILE);
  const g = summaryIndexGeneration(path);
  if (g === undefined || g >= generation) return;
  shredFile(path);
  fs.rmSync(path, { force: true });
}

/** Overwrites a file with zeros and syncs it (before it is unlinked). */
function shredFile(path: string): void {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r+');
  } catch {
    return;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const zeros = Buffer.alloc(Math.min(size, 1 << 20));
    for (let pos = 0; pos < size; pos += zeros.length) fs.writeSync(fd, zeros, 0, Math.min(zeros.length, size - pos), pos);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Which records of the current log the server already has, from the vault's sync.json (written by
 * src/sync/state.ts; this reads only its confirmation fields): null when the vault has never synced,
 * 'mismatch' when the file is about another log generation.
 */
function readSyncMarks(dir: string, generation: number): SyncMarks | null | 'mismatch' {
  const path = join(dir, 'sync.json');
  const file = readFileOrNull(path);
  if (!file) return null;
  let st: { generation: number; confirmedUpTo: number; confirmedRanges: [number, number][]; next?: { generation: number; confirmedUpTo: number } };
  try {
    st = JSON.parse(decodeUtf8(file));
  } catch {
    throw corrupt(`${path} is corrupt`);
  }
  let upTo = st.confirmedUpTo;
  let ranges = st.confirmedRanges ?? [];
  if (st.generation !== generation) {
    if (st.next?.generation !== generation) return 'mismatch';
    upTo = st.next.confirmedUpTo;
    ranges = [];
  }
  return {
    has: (o) => o < upTo || ranges.some(([a, b]) => o >= a && o < b),
    note: (next) => writeFileAtomic(path, utf8.encode(JSON.stringify({ ...st, generation, confirmedUpTo: upTo, confirmedRanges: ranges, next }))),
  };
}
