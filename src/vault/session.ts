// An unlocked profile: the operations every command uses, over all of the profile's vaults.
// The agent serves exactly these methods over its socket; without an agent the CLI calls them directly.
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { randomBytes } from '../crypto/random.js';
import { toHex, wipe } from '../crypto/bytes.js';
import type { KdfParams } from '../crypto/kdf.js';
import { FLAG_DELETED, FLAG_PURGED, WRAP_BY_ACCOUNT, type LogRecord, type VaultKeyPart } from './format.js';
import { checkName, normalizeName, type EntryPayload, type EntrySummary } from './entry.js';
import { KpmError, EXIT, notFound, usageError } from '../core/errors.js';
import { withVaultLock } from '../core/fsutil.js';
import type { Retention } from '../settings/retention.js';
import { collator, renderList } from './listing.js';
import { byIdPrefix, isIdQuery, matchesFilter, searchOf, summaryOf, type EntryView, type ListFilter } from './records.js';
import { listVaultDirs, openVaultMeta, readVaultHeader, Vault } from './store.js';
import { indexMatches, readSummaryIndex, writeSummaryIndex, type IndexedSummary, type SummaryIndex } from './summaryindex.js';
import type { UnlockedProfile } from './keyring.js';
import type { KpmPaths } from '../core/paths.js';

/** In the trash: deleted, not deleted for good. */
const inTrash = (r: LogRecord) => (r.flags & FLAG_DELETED) !== 0 && !(r.flags & FLAG_PURGED);
const DAY_MS = 86_400_000;
const DEFAULT_KEEP = 20;

/** The payload of a purge record: nothing of the entry (its name, fields and dates are gone). */
const purgedPayload = (at: string): EntryPayload => ({ type: 'note', name: '', fields: {}, tags: [], created: at, updated: at }) as unknown as EntryPayload;

export const DEFAULT_VAULT = 'Personal';

export interface VaultInfo {
  id: string;
  name: string;
  ownPassword: boolean;
  locked: boolean;
  entries: number;
}

export type { EntryView, ListFilter } from './records.js';

export class Session {
  private readonly open = new Map<string, Vault>();
  private readonly summaries = new WeakMap<LogRecord, EntrySummary>();
  /** the last `kpm list` text, with the state it was rendered from (see listText) */
  private lastListText: { key: string; text: string } | undefined;
  /** per vault id: its summary index as read (authentic, maybe stale), or null (none, or it did not open) */
  private readonly indexes = new Map<string, SummaryIndex | null>();
  /** when each vault was last used (for the data vaults' own idle timeout) */
  private readonly lastUsed = new Map<string, number>();

  private constructor(
    readonly paths: KpmPaths,
    readonly profile: UnlockedProfile,
  ) {}

  /** Opens every vault the account key unwraps, plus data vaults whose keys are given. */
  static async open(paths: KpmPaths, profile: UnlockedProfile, dataVaultKeys: Record<string, Uint8Array> = {}): Promise<Session> {
    const s = new Session(paths, profile);
    for (const dir of listVaultDirs(paths.vaults)) {
      const h = readVaultHeader(dir);
      const id = toHex(h.vaultId);
      if (h.wrapKind === WRAP_BY_ACCOUNT || dataVaultKeys[id]) s.open.set(id, await Vault.open(dir, profile, { vaultKey: dataVaultKeys[id], header: h }));
    }
    return s;
  }

  close(): void {
    for (const v of this.open.values()) v.close();
    this.open.clear();
    this.indexes.clear();
    this.lastListText = undefined;
    wipe(this.profile.accountKey);
  }

  /** Picks up commits made by other processes. */
  refresh(): void {
    for (const v of this.open.values()) v.refresh();
  }

  vaultKeys(): Record<string, Uint8Array> {
    const out: Record<string, Uint8Array> = {};
    for (const [id, v] of this.open) if (v.ownPassword) out[id] = v.exportKey();
    return out;
  }

  listVaults(): VaultInfo[] {
    return listVaultDirs(this.paths.vaults).map((dir) => {
      const h = readVaultHeader(dir);
      const id = toHex(h.vaultId);
      const v = this.open.get(id);
      return { id, name: v?.name ?? openVaultMeta(h, this.profile).name, ownPassword: h.wrapKind === 2, locked: !v, entries: h.commit.liveCount };
    });
  }

  private vaultInfo(name: string): VaultInfo | undefined {
    const n = normalizeName(name);
    return this.listVaults().find((v) => normalizeName(v.name) === n || v.id === name.toLowerCase());
  }

  /** The named vault (default "Personal"), unlocked. */
  vault(name: string = DEFAULT_VAULT): Vault {
    const info = this.vaultInfo(name);
    if (!info) throw notFound(`no vault named "${name}"`, 'see `kpm vault list`');
    const v = this.open.get(info.id);
    if (!v) throw new KpmError(`vault "${info.name}" has its own password and is locked`, EXIT.locked, `run \`kpm vault unlock "${info.name}"\``);
    this.lastUsed.set(v.id, Date.now());
    return v;
  }

  private vaultsFor(name?: string): Vault[] {
    if (name) return [this.vault(name)];
    const now = Date.now();
    for (const id of this.open.keys()) this.lastUsed.set(id, now);
    return [...this.open.values()];
  }

  /** The names of the data vaults (own password) unlocked and unused for longer than `idleMs`. */
  idleDataVaults(idleMs: number, now = Date.now()): string[] {
    return [...this.open].filter(([id, v]) => v.ownPassword && now - (this.lastUsed.get(id) ?? 0) > idleMs).map(([, v]) => v.name);
  }

  /** Locks data vaults (own password) unused for longer than `idleMs`; returns their names. */
  lockIdleDataVaults(idleMs: number, now = Date.now()): string[] {
    const locked: string[] = [];
    for (const [id, v] of this.open) {
      if (v.ownPassword && now - (this.lastUsed.get(id) ?? 0) > idleMs) {
        v.close();
        this.open.delete(id);
        this.indexes.delete(id);
        this.lastListText = undefined;
        locked.push(v.name);
      }
    }
    return locked;
  }

  /** Rewraps a data vault's key under a new own password (the old one is needed to open it). */
  async changeVaultPassword(name: string, oldPassword: Uint8Array | undefined, newPassword: Uint8Array, params?: KdfParams): Promise<void> {
    const info = this.vaultInfo(name);
    if (!info) throw notFound(`no vault named "${name}"`);
    if (!info.ownPassword) throw usageError(`vault "${info.name}" is protected by the master password; use \`kpm passwd\``);
    if (!this.open.has(info.id)) {
      if (!oldPassword) throw new KpmError(`vault "${info.name}" is locked`, EXIT.locked, `run \`kpm vault unlock "${info.name}"\``);
      await this.unlockVault(name, oldPassword);
    }
    await this.open.get(info.id)!.changeOwnPassword(newPassword, params);
  }

  async renameVault(name: string, newName: string): Promise<VaultInfo> {
    const v = this.vault(name);
    const n = checkName(newName, 'vault name');
    const other = this.vaultInfo(n);
    if (other && other.id !== v.id) throw new KpmError(`a vault named "${n}" already exists`, EXIT.conflict, undefined, 'name_taken');
    await v.rename(n);
    return this.listVaults().find((i) => i.id === v.id)!;
  }

  /** Deletes a vault and all its entries from this device. */
  removeVault(name: string): VaultInfo {
    const info = this.vaultInfo(name);
    if (!info) throw notFound(`no vault named "${name}"`);
    if (this.listVaults().length === 1) throw usageError('cannot remove the only vault');
    const v = this.open.get(info.id);
    v?.close();
    this.open.delete(info.id);
    this.indexes.delete(info.id);
    rmSync(join(this.paths.vaults, info.id), { recursive: true, force: true });
    return info;
  }

  async createVault(name: string, ownPassword?: Uint8Array, params?: KdfParams): Promise<VaultInfo> {
    const n = checkName(name, 'vault name');
    if (this.vaultInfo(n)) throw new KpmError(`a vault named "${n}" already exists`, EXIT.conflict, undefined, 'name_taken');
    const v = await Vault.create(this.paths.vaults, this.profile, n, ownPassword, params);
    this.open.set(v.id, v);
    return { id: v.id, name: v.name, ownPassword: v.ownPassword, locked: false, entries: 0 };
  }

  async unlockVault(name: string, password: Uint8Array): Promise<VaultInfo> {
    const info = this.vaultInfo(name);
    if (!info) throw notFound(`no vault named "${name}"`);
    if (!this.open.has(info.id)) this.open.set(info.id, await Vault.open(join(this.paths.vaults, info.id), this.profile, { ownPassword: password }));
    return { ...info, locked: false };
  }

  lockVault(name: string): void {
    const v = this.vault(name);
    if (!v.ownPassword) throw usageError(`vault "${v.name}" is protected by the master password; use \`kpm lock\``);
    v.close();
    this.open.delete(v.id);
    this.indexes.delete(v.id);
    this.lastListText = undefined;
  }

  private summary(v: Vault, r: LogRecord, payload?: EntryPayload): EntrySummary {
    let s = this.summaries.get(r);
    if (!s) {
      // the summary index (even a stale one) knows this very record: same entry, version and nonce
      const id = toHex(r.entryId);
      const hit = payload ? undefined : this.indexes.get(v.id)?.knows(id, r.version, r.sealed);
      if (hit) s = { ...hit, vault: v.name };
      else s = summaryOf(id, v.name, payload ?? v.decrypt(r));
      this.summaries.set(r, s);
    }
    return s;
  }

  /** The vault's summary index, read once per session (null: none, or it did not open). */
  private summaryIndex(v: Vault): SummaryIndex | null {
    let idx = this.indexes.get(v.id);
    if (idx === undefined) {
      idx = readSummaryIndex(v.summaryIndexOwner());
      this.indexes.set(v.id, idx);
    }
    return idx;
  }

  /**
   * A vault's live summaries straight from its summary index, without loading the log: only while
   * the log is not loaded yet, and only when the index is of exactly the commit in the vault header
   * now on disk (MAC verified). Otherwise undefined (the caller loads the log).
   */
  private indexedSummaries(v: Vault): EntrySummary[] | undefined {
    if (v.recordsReady) return undefined;
    const idx = this.summaryIndex(v);
    if (!idx) return undefined;
    const c = v.headCommit();
    if (!indexMatches(idx, c) || idx.summaries.length !== c.liveCount) return undefined;
    for (const s of idx.summaries) s.vault = v.name;
    return idx.summaries;
  }

  list(filter: ListFilter = {}): EntrySummary[] {
    const q = searchOf(filter);
    const out: EntrySummary[] = [];
    for (const v of this.vaultsFor(filter.vault)) {
      const indexed = this.indexedSummaries(v);
      if (indexed) {
        for (const s of indexed) if (matchesFilter(s, filter, q)) out.push(s);
        continue;
      }
      this.summaryIndex(v); // a stale index still spares decrypting the records it knows
      for (const r of v.liveRecords()) {
        const s = this.summary(v, r);
        if (matchesFilter(s, filter, q)) out.push(s);
      }
    }
    return out.sort((a, b) => collator.compare(a.vault, b.vault) || collator.compare(a.name, b.name));
  }

  /** Whether every unlocked vault's log is loaded (and its chain verified). */
  logsLoaded(): boolean {
    for (const v of this.open.values()) if (!v.recordsReady) return false;
    return true;
  }

  /**
   * The text of `kpm list` (src/vault/listing.ts). The last one is kept and given again while no
   * vault in scope committed since (same generation and sequence: a write, a rename, a sync all
   * move the sequence), the same vaults are unlocked and the filter is the same.
   */
  listText(filter: ListFilter = {}, json = false): string {
    const vaults = this.vaultsFor(filter.vault);
    // a loaded vault's commit is current (the agent refreshes before each request); else the header on disk now
    const commits = vaults.map((v) => (v.recordsReady ? v.commit : v.headCommit()));
    const key = JSON.stringify([filter.vault ?? null, filter.search ?? null, filter.type ?? null, json, vaults.map((v, i) => [v.id, v.name, commits[i].generation, commits[i].sequence])]);
    if (this.lastListText?.key === key) return this.lastListText.text;
    const text = renderList(this.list(filter), json);
    this.lastListText = { key, text };
    return text;
  }

  /**
   * When every unlocked vault's summary index is of its current commit: reads them and renders the
   * plain `kpm list` text from them (kept, see listText). Otherwise nothing (no log is loaded here).
   * The agent does this right after it starts, while the next command is still starting up.
   */
  prefetchList(): void {
    for (const v of this.open.values()) if (!this.indexedSummaries(v)) return;
    this.listText();
  }

  /** Decrypts every entry's summary ahead of use, a slice at a time (the agent does this when idle). */
  warmUp(budgetMs = 20): boolean {
    const deadline = Date.now() + budgetMs;
    for (const v of this.open.values()) {
      if (!this.indexes.has(v.id)) {
        this.summaryIndex(v);
        if (Date.now() > deadline) return false;
      }
      for (const r of v.liveRecords()) {
        if (this.summaries.has(r)) continue;
        this.summary(v, r);
        if (Date.now() > deadline) return false;
      }
    }
    return true;
  }

  /**
   * Writes the summary index (src/vault/summaryindex.ts) of every vault whose live summaries are
   * all decrypted and whose index is not of its current commit. Under the vault lock, and only when
   * the header on disk still has the commit the summaries were made from. An index is optional:
   * a failure to write one changes nothing (it is rebuilt another time).
   */
  async saveSummaryIndexes(): Promise<void> {
    for (const v of [...this.open.values()]) {
      if (!v.recordsReady) continue;
      const cur = this.indexes.get(v.id);
      if (cur && indexMatches(cur, v.commit)) continue;
      const rows: IndexedSummary[] = [];
      let complete = true;
      for (const r of v.liveRecords()) {
        const s = this.summaries.get(r);
        if (!s) {
          complete = false;
          break;
        }
        rows.push({ version: r.version, sealed: r.sealed, summary: s });
      }
      if (!complete) continue;
      const state = v.commit;
      try {
        await withVaultLock(v.dir, () => {
          if (!this.open.has(v.id) || !indexMatches(state, v.headCommit())) return; // the log moved on meanwhile
          this.indexes.set(v.id, writeSummaryIndex(v.summaryIndexOwner(), state, rows));
        });
      } catch (e) {
        if (!(e instanceof KpmError) && typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
      }
    }
  }

  /** Full entries (secrets included) matching a filter; for audit and export. */
  entries(filter: ListFilter = {}): EntryView[] {
    const q = searchOf(filter);
    const all = !filter.type && !q; // (then no summary is needed to tell)
    const out: EntryView[] = [];
    for (const v of this.vaultsFor(filter.vault)) {
      for (const r of v.liveRecords()) {
        const payload = v.decrypt(r);
        if (all || matchesFilter(this.summary(v, r, payload), filter, q)) out.push({ id: toHex(r.entryId), vault: v.name, version: r.version, payload });
      }
    }
    return out.sort((a, b) => collator.compare(a.vault, b.vault) || collator.compare(a.payload.name, b.payload.name));
  }

  /** Finds one live entry by exact name (case-insensitive) or by id / id prefix of ≥ 8 hex digits. */
  private find(query: string, vaultName?: string): { v: Vault; r: LogRecord } {
    const vaults = this.vaultsFor(vaultName);
    let hits = vaults.flatMap((v) => {
      const r = v.findByName(query);
      return r ? [{ v, r }] : [];
    });
    if (hits.length === 0 && isIdQuery(query)) hits = vaults.flatMap((v) => byIdPrefix(v.liveRecords(), query).map((r) => ({ v, r })));
    if (hits.length === 1) return hits[0];
    if (hits.length > 1) {
      const names = hits.map(({ v, r }) => `${v.name}/${this.summary(v, r).name} (${toHex(r.entryId).slice(0, 8)})`);
      throw usageError(`"${query}" matches ${hits.length} entries: ${names.join(', ')}`, 'name the vault with --vault, or use an id');
    }
    const similar = this.list({ vault: vaultName, search: query }).slice(0, 5).map((s) => s.name);
    const lockedVaults = vaultName ? [] : this.listVaults().filter((v) => v.locked).map((v) => v.name);
    const hint = similar.length ? `did you mean: ${similar.join(', ')}` : lockedVaults.length ? `locked vaults are not searched: ${lockedVaults.join(', ')}` : 'see `kpm list`';
    throw notFound(`no entry named "${query}"${vaultName ? ` in vault "${vaultName}"` : ''}`, hint);
  }

  get(query: string, vaultName?: string): EntryView {
    const { v, r } = this.find(query, vaultName);
    return { id: toHex(r.entryId), vault: v.name, version: r.version, payload: v.decrypt(r) };
  }

  async add(vaultName: string | undefined, payload: EntryPayload): Promise<EntryView> {
    const v = this.vault(vaultName);
    payload.name = checkName(payload.name);
    const entryId = randomBytes(16);
    await v.write([{ entryId, payload, baseVersion: 0 }]);
    await this.afterWrite(v);
    return { id: toHex(entryId), vault: v.name, version: 1, payload };
  }

  /** Adds many entries in one commit (import): all or none are written. Names must be unique. */
  async addMany(vaultName: string | undefined, payloads: EntryPayload[]): Promise<{ vault: string; ids: string[] }> {
    const v = this.vault(vaultName);
    const records = payloads.map((payload) => {
      payload.name = checkName(payload.name);
      return { entryId: randomBytes(16), payload, baseVersion: 0 };
    });
    if (records.length) await v.write(records);
    await this.afterWrite(v);
    return { vault: v.name, ids: records.map((r) => toHex(r.entryId)) };
  }

  /** Replaces an entry's payload; `baseVersion` guards against overwriting a concurrent change. */
  async update(vaultName: string, id: string, baseVersion: number, payload: EntryPayload): Promise<EntryView> {
    const v = this.vault(vaultName);
    payload.name = checkName(payload.name);
    const entryId = Buffer.from(id, 'hex');
    await v.write([{ entryId, payload, baseVersion }]);
    await this.afterWrite(v);
    return { id, vault: v.name, version: baseVersion + 1, payload };
  }

  async remove(query: string, vaultName?: string): Promise<EntryView> {
    const { v, r } = this.find(query, vaultName);
    // The deletion time goes in `updated`: sync's "later change wins" compares it.
    const payload = { ...v.decrypt(r), updated: new Date().toISOString() };
    await v.write([{ entryId: r.entryId, payload, baseVersion: r.version, deleted: true }]);
    await this.afterWrite(v, true);
    return { id: toHex(r.entryId), vault: v.name, version: r.version + 1, payload };
  }

  /** Deleted entries (latest version is a tombstone). */
  trash(vaultName?: string): EntrySummary[] {
    const out: EntrySummary[] = [];
    for (const v of this.vaultsFor(vaultName)) {
      for (const r of v.latest.values()) if (inTrash(r)) out.push(this.summary(v, r));
    }
    return out;
  }

  // ---------------------------------------------------------------- sync and history

  /** An unlocked vault by id, or undefined (locked data vault, or not on this device). */
  openVault(id: string): Vault | undefined {
    return this.open.get(id);
  }

  /** Creates the local copy of a vault synced from another device. */
  async adoptVault(k: { vaultId: Uint8Array; keyBoundBytes: Uint8Array; wrappedKey: Uint8Array; sealedMeta: Uint8Array }, vk: Uint8Array, meta: { name: string; created: string }): Promise<Vault> {
    const v = await Vault.materialize(this.paths.vaults, this.profile, k, vk, meta);
    this.open.set(v.id, v);
    return v;
  }

  /** Creates the local copy of an account-wrapped vault synced from another device; its key is unwrapped inside the vault (AuthError when it does not open). */
  async adoptAccountVault(k: VaultKeyPart): Promise<Vault> {
    const v = await Vault.adoptAccountWrapped(this.paths.vaults, this.profile, k);
    this.open.set(v.id, v);
    return v;
  }

  /** Removes a vault's local copy (deleted on another device). */
  dropVault(id: string): void {
    this.open.get(id)?.close();
    this.open.delete(id);
    rmSync(join(this.paths.vaults, id), { recursive: true, force: true });
  }

  /** A live entry, or else a deleted one (trash), by name or id prefix. */
  private findAny(query: string, vaultName?: string): { v: Vault; r: LogRecord } {
    try {
      return this.find(query, vaultName);
    } catch (e) {
      if (!(e instanceof KpmError) || e.exitCode !== EXIT.notFound) throw e;
      const q = normalizeName(query);
      const hits: { v: Vault; r: LogRecord }[] = [];
      for (const v of this.vaultsFor(vaultName)) {
        for (const r of v.latest.values()) {
          if (!inTrash(r)) continue;
          const id = toHex(r.entryId);
          if (normalizeName(this.summary(v, r).name) === q || (isIdQuery(query) && id.startsWith(query.toLowerCase()))) hits.push({ v, r });
        }
      }
      if (hits.length === 1) return hits[0];
      if (hits.length > 1) throw usageError(`"${query}" matches ${hits.length} deleted entries`, 'use an id from `kpm trash`');
      throw e;
    }
  }

  /** Every version of an entry, oldest first (tombstones included). */
  history(query: string, vaultName?: string): EntryView[] {
    const { v, r } = this.findAny(query, vaultName);
    return v.historyOf(r.entryId).map((h) => ({ id: toHex(h.entryId), vault: v.name, version: h.version, deleted: (h.flags & FLAG_DELETED) !== 0, payload: v.decrypt(h) }));
  }

  /** Brings back a deleted entry, or an earlier version (`version`), as the entry's newest version. */
  /** Brings back a deleted entry or version `version`; the entry keeps its current name unless `oldName`. */
  async restore(query: string, vaultName?: string, version?: number, oldName = false): Promise<EntryView> {
    const { v, r } = this.findAny(query, vaultName);
    let from = r;
    if (version !== undefined) {
      const h = v.historyOf(r.entryId).find((x) => x.version === version);
      if (!h) throw notFound(`entry has no version ${version}`, 'see `kpm history`');
      from = h;
    } else if (!(r.flags & FLAG_DELETED)) throw usageError('the entry is not deleted', 'to bring back an earlier version, pass --rev N (see `kpm history`)');
    const payload = { ...v.decrypt(from), updated: new Date().toISOString() };
    if (from !== r && !oldName) payload.name = v.decrypt(r).name;
    await v.write([{ entryId: r.entryId, payload, baseVersion: r.version }]);
    await this.afterWrite(v);
    return { id: toHex(r.entryId), vault: v.name, version: r.version + 1, payload };
  }

  // ---------------------------------------------------------------- retention (docs/FORMAT.md "Compaction")

  /**
   * After a write: compacts the vault when its dead part passed the threshold. Vault.needsCompaction
   * with the default `history.keep` is checked first (no I/O); the settings are read only then, so
   * with a smaller `history.keep` the write path compacts a little later (sync and the purge commands
   * use the setting itself).
   */
  private async afterWrite(v: Vault, deleted = false): Promise<void> {
    // a deletion also checks the trash for entries past trash.days (at least a day old: cheap, from the summaries)
    const stale = deleted && [...v.latest.values()].some((r) => inTrash(r) && Date.now() - Date.parse(this.summary(v, r).updated ?? '') > DAY_MS);
    if (!stale && !v.needsCompaction(DEFAULT_KEEP)) return;
    const ret = await this.retention();
    if (stale || v.needsCompaction(ret.keep)) await this.maintainVault(v, ret);
  }

  private async retention(): Promise<Retention> {
    return (await import('../settings/retention.js')).loadRetention(this.paths);
  }

  /**
   * Under the profile's sync lock (so no sync of this profile is half done): deletes for good the
   * trash older than `trash.days`, then compacts when due (always with `force`). Returns the records
   * dropped. Sync calls maintainLocked itself, inside its lock.
   */
  private async maintainVault(v: Vault, ret: Retention, force = false): Promise<number> {
    return withVaultLock(this.paths.data, () => maintainLocked(v, ret, force));
  }

  /**
   * `kpm trash purge [NAME]`: deletes one entry in the trash, or every one, for good; compacts at once
   * (without NAME every vault in scope, with `history.keep`, trash or not).
   */
  async purgeTrash(query?: string, vaultName?: string): Promise<{ purged: EntrySummary[]; dropped: number }> {
    const ret = await this.retention();
    const purged: EntrySummary[] = [];
    let dropped = 0;
    const targets: { v: Vault; r: LogRecord }[] = [];
    if (query !== undefined) {
      const hit = this.findAny(query, vaultName);
      if (!inTrash(hit.r)) throw usageError(`"${this.summary(hit.v, hit.r).name}" is not in the trash`, 'delete it first with `kpm rm`');
      targets.push(hit);
    } else for (const v of this.vaultsFor(vaultName)) for (const r of v.latest.values()) if (inTrash(r)) targets.push({ v, r });
    for (const v of query === undefined ? this.vaultsFor(vaultName) : [targets[0].v]) {
      const mine = targets.filter((t) => t.v === v);
      dropped += await withVaultLock(this.paths.data, async () => {
        for (const t of mine) purged.push(this.summary(v, t.r));
        await purgeRecords(v, mine.map((t) => t.r));
        return maintainLocked(v, ret, true);
      });
    }
    return { purged, dropped };
  }

  /** `kpm history purge NAME`: drops every version of an entry but the current one, for good. */
  async purgeHistory(query: string, vaultName?: string): Promise<{ entry: EntryView; dropped: number }> {
    const ret = await this.retention();
    const { v, r } = this.findAny(query, vaultName);
    const payload = v.decrypt(r);
    const dropped = await withVaultLock(this.paths.data, async () => {
      await v.write([{ entryId: r.entryId, payload, baseVersion: r.version, deleted: (r.flags & FLAG_DELETED) !== 0, cut: true }]);
      return maintainLocked(v, ret, true);
    });
    return { entry: { id: toHex(r.entryId), vault: v.name, version: r.version + 1, payload }, dropped };
  }

  entryCount(): number {
    let n = 0;
    for (const v of this.open.values()) n += v.commit.liveCount;
    return n;
  }
}

/** Writes a purge record for each record (the latest version of an entry in the trash). */
async function purgeRecords(v: Vault, records: LogRecord[]): Promise<void> {
  if (records.length === 0) return;
  const at = new Date().toISOString();
  await v.write(records.map((r) => ({ entryId: r.entryId, payload: purgedPayload(at), baseVersion: r.version, deleted: true, purged: true })));
}

/**
 * Retention for one vault; the caller holds the profile's sync lock. Entries in the trash for longer
 * than `trashDays` (their deletion time is the tombstone's `updated`) are purged, then the log is
 * compacted if due (or `force`). Returns the records compaction dropped.
 */
export async function maintainLocked(v: Vault, ret: Retention, force = false, now = Date.now()): Promise<number> {
  if (ret.trashDays > 0) {
    const expired: LogRecord[] = [];
    for (const r of v.latest.values()) {
      if (!inTrash(r)) continue;
      const at = Date.parse(v.decrypt(r).updated ?? '');
      if (Number.isFinite(at) && now - at > ret.trashDays * DAY_MS) expired.push(r);
    }
    await purgeRecords(v, expired);
    if (expired.length) force = true;
  }
  return v.compact(ret.keep, force);
}
