// Shared vaults in the ordinary entry commands (docs/SHARING.md "Shared vaults in the entry commands"):
// `kpm list`, `get`, `show`, `read`, `add/edit/rm --vault`, `kpm sync`. The agent (or the in-process
// session) hands over two sharing keys derived from the account key and signs each sharing message
// itself (the signing seed never leaves it); the shared vaults are read with the share client (src/share/client.ts), which verifies every membership, key bundle and record
// exactly as `kpm share get` does. Only a device that has sharing state (share.kpms) pays for this.
import { existsSync } from 'node:fs';
import { fromBase64, toBase64 } from '../crypto/bytes.js';
import { EXIT, isKind, KpmError, notFound, usageError } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';
import type { VaultApi } from '../agent/api.js';
import type { EntryPayload, EntrySummary } from '../vault/entry.js';
import type { EntryView } from '../vault/session.js';
import { summaryOf } from '../vault/records.js';
import { findShared, isSharedVault, live, localLookup, norm, pickOne, sharedView } from '../share/view.js';
import type { ShareClient, OpenedVault, SharedVersion } from '../share/client.js';
import type { AgentShare } from '../share/identity.js';
import type { SharedFile } from '../share/blobs.js';
import { shareStateFile } from '../share/state.js';
import { warn } from './io.js';

export interface Shared {
  client: ShareClient;
  vaults: OpenedVault[];
  /** the server could not be reached (or must not be): the vaults are the copy verified before */
  offline: boolean;
  done(): Promise<void>;
}

/** Whether this device has sharing state at all (a plain file check: no key, no network). */
export const hasShared = (paths: KpmPaths): boolean => (process.env.KPM_TOKEN ?? '') === '' && existsSync(shareStateFile(paths));

/**
 * The shared vaults this account can use here, verified; null when this device has none (no
 * share.kpms, not signed in, or a service token). `refresh`: from the server (else the verified copy);
 * a server that cannot be reached falls back to the copy with a warning.
 */
export async function openShared(paths: KpmPaths, api: VaultApi, o: { refresh: boolean; discover?: boolean }): Promise<Shared | null> {
  const existed = hasShared(paths);
  if (!existed && !(o.discover && o.refresh && (process.env.KPM_TOKEN ?? '') === '')) return null;
  const h = await import('../sync/http.js');
  const session = h.loadSession(paths);
  if (!session) return null;
  const { ShareClient } = await import('../share/client.js');
  const { profileId, share } = await agentShare(api);
  const http = new h.ApiClient(session.server, session.insecure === true);
  const client = new ShareClient(paths, share, profileId, session.account.email, (name, opt = {}) => h.authedCall(paths, http, session, name, opt));
  const done = async () => {
    client.close();
    await http.close();
  };
  try {
    let r: Awaited<ReturnType<ShareClient['usable']>>;
    try {
      r = await client.usable({ online: o.refresh });
    } catch (e) {
      // asking a server for shared vaults this device never saw: only tampering is worth failing for
      if (existed || isKind(e, 'tampered')) throw e;
      await done();
      return null;
    }
    if (!existed && r.vaults.length === 0) {
      await done(); // nothing shared with this account: no share.kpms (the entry commands stay on the fast path)
      return null;
    }
    // a read of the verified copy changes nothing worth writing (and the agent reloads share.kpms when it changes)
    if (!r.offline) client.save();
    if (r.offline && o.refresh) warn('shared vaults: the server could not be reached; using the copy verified at the last sync');
    for (const n of client.notes.splice(0)) warn(n);
    return { client, vaults: r.vaults, offline: r.offline, done };
  } catch (e) {
    await done();
    throw e;
  }
}

/**
 * The account's sharing identity as the agent (or the in-process session) serves it: the key of
 * share.kpms and the public keys; each signature (`shareSign`) and X25519 (`shareDh`) is made there,
 * so neither the signing seed nor the X25519 seed reaches this process.
 */
export async function agentShare(api: Pick<VaultApi, 'shareSecrets' | 'shareSign' | 'shareDh'>): Promise<{ profileId: Uint8Array; share: AgentShare }> {
  const { decodeStateKey } = await import('../share/identity.js');
  const r = await api.shareSecrets();
  const share: AgentShare = {
    stateKey: decodeStateKey(fromBase64(r.secrets)),
    boxPublic: fromBase64(r.boxPublic),
    signer: { publicKey: fromBase64(r.signPublic), sign: async (m) => fromBase64(await api.shareSign(toBase64(m))) },
    dh: async (peer) => {
      const d = fromBase64(await api.shareDh(toBase64(peer)));
      if (d.length !== 32) throw new KpmError('the agent sent an X25519 result of the wrong size', EXIT.corrupt);
      return d;
    },
  };
  return { profileId: fromBase64(r.profileId), share };
}

/**
 * A lookup that found nothing on a device without sharing state (a new device, or one that never ran
 * a share command) asks the server once whether shared vaults exist, and runs again with them: the
 * entry commands never answer "not found" for an entry of a shared vault. Without a server to ask
 * (offline, sync=manual, not signed in) the first answer stands.
 */
export async function withDiscovery<T>(paths: KpmPaths, api: VaultApi, shared: Shared | null, mayDiscover: boolean, fn: (s: Shared | null) => Promise<T>): Promise<T> {
  try {
    return await fn(shared);
  } catch (e) {
    if (shared || !mayDiscover || !(e instanceof KpmError) || e.exitCode !== EXIT.notFound || hasShared(paths) || !(await readRefresh(paths))) throw e;
    const found = await openShared(paths, api, { refresh: true, discover: true });
    if (!found) throw e;
    try {
      return await fn(found);
    } finally {
      await found.done();
    }
  }
}

/**
 * The shared vaults for a command (null: this device has none); `write`: always from the server.
 * A read through an agent that holds them (src/agent/sharedhold.ts) takes the verified copy the agent
 * keeps in sync, without asking the server; a misbehaving server the agent's sync found is exit 8.
 */
export async function sharedFor(paths: KpmPaths, a: VaultApi, write = false): Promise<Shared | null> {
  if (!hasShared(paths)) return null;
  if (!write && (await a.sharedHeld())) return openShared(paths, a, { refresh: false });
  return openShared(paths, a, { refresh: write || (await readRefresh(paths)) });
}

/** The same, unless `vault` names a vault of your own (which wins over a shared one of that name). */
export async function sharedUnlessOwn(paths: KpmPaths, a: VaultApi, vault: string | undefined, write = false): Promise<Shared | null> {
  if (!hasShared(paths)) return null;
  if (vault !== undefined && (await a.listVaults()).some((x) => x.name === vault)) return null;
  return sharedFor(paths, a, write);
}

/** A shared entry's files for `kpm export`: how many, and (`fileBytes`) each one's bytes, downloaded and verified. */
export interface SharedExportFiles {
  count: number;
  bytes?: { name: string; bytes: Uint8Array }[];
}

/**
 * Every live entry of `vault` (or of all vaults): the own ones through the agent, then those of the
 * shared vaults this account can read, each in a vault named "NAME (shared)" (kpm audit, kpm export);
 * `sharedVaults` names the shared vaults read. `sharedFiles` has the shared entries that have files;
 * with `fileBytes` each file is downloaded and checked against the writer's signed record, then every
 * chunk opened, as `kpm doc get` does (a file that does not verify is exit 8 before anything is returned).
 */
export async function entriesWithShared(
  paths: KpmPaths,
  a: VaultApi,
  vault: string | undefined,
  o: { fileBytes?: boolean } = {},
): Promise<{ entries: EntryView[]; sharedVaults: string[]; sharedFiles: Map<EntryView, SharedExportFiles> }> {
  const shared = await sharedUnlessOwn(paths, a, vault);
  const sharedVaults: string[] = [];
  const sharedFiles = new Map<EntryView, SharedExportFiles>();
  try {
    const entries = shared !== null && vault !== undefined && isSharedVault(shared, vault) ? [] : await a.entries({ vault });
    for (const v of shared?.vaults ?? []) {
      if (vault !== undefined && v.name !== vault) continue;
      sharedVaults.push(v.name);
      for (const [id, e] of v.entries) {
        if (e.deleted) continue;
        const view = { ...sharedView(v, id), vault: `${v.name} (shared)` };
        entries.push(view);
        if (e.files.length) sharedFiles.set(view, { count: e.files.length, bytes: o.fileBytes ? await sharedFileBytes(paths, shared!, v, e.files) : undefined });
      }
    }
    return { entries, sharedVaults, sharedFiles };
  } finally {
    await shared?.done();
  }
}

/** Downloads each file, checks it against the signed record (size, chunk count, SHA-256), opens every chunk: exit 8 on any difference. */
async function sharedFileBytes(paths: KpmPaths, s: Shared, v: OpenedVault, files: SharedFile[]): Promise<{ name: string; bytes: Uint8Array }[]> {
  const { shareFrame } = await import('../share/blobs.js');
  const { blobsDir, decryptFramedToStream } = await import('../vault/blobs.js');
  const { fromHex } = await import('../crypto/bytes.js');
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const f of files) {
    const got = await s.client.downloadFile(v, blobsDir(paths), f);
    try {
      const parts: Uint8Array[] = [];
      await decryptFramedToStream(got.fd, got.key, shareFrame(fromHex(v.id), f.epoch, fromHex(f.blob)), f, async (b) => void parts.push(Uint8Array.from(b)));
      out.push({ name: f.name, bytes: Buffer.concat(parts) });
    } finally {
      got.remove();
    }
  }
  return out;
}

/** Runs a lookup with the shared vaults; one that finds nothing on a device without sharing state asks the server (withDiscovery). */
export async function withShared<T>(paths: KpmPaths, a: VaultApi, vault: string | undefined, write: boolean, fn: (s: Shared | null) => Promise<T>): Promise<T> {
  const shared = await sharedUnlessOwn(paths, a, vault, write);
  try {
    const own = async () => vault !== undefined && (await a.listVaults()).some((x) => x.name === vault);
    return await withDiscovery(paths, a, shared, !shared && !(await own()), fn);
  } finally {
    await shared?.done();
  }
}

/** Reads refresh shared vaults from the server unless told to stay offline (--offline, KPM_OFFLINE=1, sync=manual). */
export async function readRefresh(paths: KpmPaths): Promise<boolean> {
  const { autoSyncWanted } = await import('../sync/auto.js');
  return autoSyncWanted(paths);
}

export { sharedView, sharedSummaries, findShared, isSharedVault, pickOne, localLookup } from '../share/view.js';

/**
 * A payload as a shared vault's entry: every type and field an own vault's entry has (checked with
 * the registry's schema, as every member checks it on open); an own vault's files (with their keys)
 * are refused (exit 2): a shared entry's files are sealed for the vault (`kpm doc add`, `kpm attach`).
 */
export async function toSharedEntry(p: EntryPayload): Promise<EntryPayload> {
  if (p.files?.length) throw usageError("an own vault's files do not go into a shared vault with the entry: nothing was sent", 'add them to the shared vault with `kpm doc add NAME FILE --vault VAULT` or `kpm attach`');
  const e: EntryPayload = { ...structuredClone(p), name: p.name.normalize('NFC').trim() };
  delete e.files;
  const { sharedPayloadProblem } = await import('../share/format.js');
  const problem = sharedPayloadProblem(e);
  if (problem) throw usageError(`this entry cannot be written to a shared vault: ${problem}`);
  return e;
}

export interface Found {
  view: EntryView;
  /** set when the entry is in a shared vault */
  shared?: { v: OpenedVault; id: string };
}

/** `kpm get/show/edit/rm/read`: one entry among the own vaults and (when given) the shared ones. */
export async function entryAnywhere(a: Pick<VaultApi, 'get'>, s: Shared | null, query: string, vault?: string): Promise<Found> {
  if (!s) return { view: await a.get(query, vault) };
  const loc = await localLookup(() => a.get(query, vault));
  const label = loc.hit && `${loc.hit.vault}/${loc.hit.payload.name} (${loc.hit.id.slice(0, 8)})`;
  const p = pickOne(query, { ...loc, label }, findShared(s, query, vault));
  return 'local' in p ? { view: p.local } : { view: sharedView(p.shared.v, p.shared.id), shared: p.shared };
}

/** The shared vault `name` for a write (`add --vault`, when no own vault has that name): null when it is not a shared vault. */
export function sharedTarget(s: Shared | null, name: string | undefined): OpenedVault | null {
  if (!s || name === undefined) return null;
  const hits = s.vaults.filter((v) => v.name === name);
  if (hits.length > 1) throw usageError(`${hits.length} shared vaults are called "${name}"`, 'use `kpm share put VAULT-ID …` with its id (see `kpm shares`)');
  return hits[0] ?? null;
}

/** Writes an entry version (or a deletion) to a shared vault as a signed member write; refused (exit 9) for read-only members before anything is sent. */
export async function writeShared(s: Shared, v: OpenedVault, e: EntryPayload, o: { entryId?: string; deleted?: boolean; files?: SharedVersion['files'] }): Promise<EntryView> {
  const { ShareClient } = await import('../share/client.js');
  ShareClient.checkWritable(v, s.client.me.email);
  if (!o.deleted) {
    const clash = live(v).find(([id, x]) => id !== o.entryId && norm(x.entry.name) === norm(e.name));
    if (clash) throw new KpmError(`an entry named "${e.name}" already exists in shared vault "${v.name}"`, EXIT.conflict, 'choose another name or edit the existing entry', 'name_taken');
  }
  const { randomBytes } = await import('../crypto/random.js');
  const { toHex } = await import('../crypto/bytes.js');
  const entryId = o.entryId ?? toHex(randomBytes(16));
  const r = await s.client.writeEntry(v, e, { entryId, deleted: o.deleted, files: o.files }); // without files: the entry's current ones
  s.client.save();
  return r.vault.entries.has(entryId) ? sharedView(r.vault, entryId) : { id: entryId, vault: v.name, version: r.rev, payload: structuredClone(e) };
}

/**
 * Entries of the shared vaults named `query` (else with an id starting with it), live ones first, else
 * deleted ones (their latest record is a deletion: `kpm history`, `kpm restore` from the trash).
 */
export function findSharedAny(s: Shared, query: string, vault?: string): { v: OpenedVault; id: string }[] {
  const hits = findShared(s, query, vault);
  if (hits.length) return hits;
  const q = norm(query);
  const vaults = s.vaults.filter((v) => vault === undefined || v.name === vault);
  const gone = (v: OpenedVault) => [...v.entries].filter(([, e]) => e.deleted);
  let out = vaults.flatMap((v) => gone(v).filter(([, e]) => norm(e.entry.name) === q).map(([id]) => ({ v, id })));
  if (out.length === 0 && /^[0-9a-f]{8,32}$/i.test(query)) out = vaults.flatMap((v) => gone(v).filter(([id]) => id.startsWith(query.toLowerCase())).map(([id]) => ({ v, id })));
  if (out.length > 1) throw usageError(`"${query}" matches ${out.length} deleted entries of shared vaults`, 'use an id from `kpm trash`');
  return out;
}

/** Every version of a shared entry, oldest first: each is a record of the vault's signed log (its revision is the version), with its writer. */
export function sharedHistory(v: OpenedVault, id: string): (EntryView & { writer: string })[] {
  return (v.versions.get(id) ?? []).map((x) => ({ id, vault: v.name, version: x.rev, deleted: x.deleted, payload: structuredClone(x.entry), writer: x.writer }));
}

/** The deleted entries of the shared vaults (only `vault` when given), as summaries. */
export function sharedTrash(s: Shared, vault?: string): EntrySummary[] {
  const out: EntrySummary[] = [];
  for (const v of s.vaults) {
    if (vault !== undefined && v.name !== vault) continue;
    for (const [id, e] of v.entries) if (e.deleted) out.push(summaryOf(id, v.name, e.entry));
  }
  return out;
}

/**
 * `kpm restore` of a shared entry: a deleted one comes back as it was before its deletion, or version
 * `version` (a revision of the log, `kpm history`) becomes the newest, under the current name unless
 * `oldName`. A new record signed by this account: refused (exit 9) for a read-only member before anything is sent.
 */
export async function restoreShared(s: Shared, v: OpenedVault, id: string, version: number | undefined, oldName: boolean): Promise<EntryView> {
  const { ShareClient } = await import('../share/client.js');
  ShareClient.checkWritable(v, s.client.me.email);
  const cur = v.entries.get(id)!;
  const all = v.versions.get(id) ?? [];
  let from;
  if (version !== undefined) {
    from = all.find((x) => x.rev === version);
    if (!from) throw notFound(`entry has no version ${version}`, 'see `kpm history`');
  } else {
    if (!cur.deleted) throw usageError('the entry is not deleted', 'to bring back an earlier version, pass --rev N (see `kpm history`)');
    // the last version before the deletion (a deletion written before record version 2 carries only the name)
    from = [...all].reverse().find((x) => !x.deleted) ?? cur;
  }
  const payload: EntryPayload = { ...structuredClone(from.entry), updated: new Date().toISOString() };
  if (version !== undefined && !oldName) payload.name = cur.entry.name;
  return writeShared(s, v, await toSharedEntry(payload), { entryId: id, files: from.files });
}

/**
 * `kpm history purge NAME` / `kpm trash purge [NAME]` on a shared vault (docs/SHARING.md "Purging and
 * compacting a shared vault"): the owner signs a compaction statement with this device's
 * `history.keep` and `trash.days`; anyone else is refused (exit 9) before anything is sent. An entry
 * named for the trash must be in it (exit 2).
 */
export async function purgeShared(paths: KpmPaths, s: Shared, v: OpenedVault, what: { cutHistory?: string; purgeTrash?: string[] | 'all' }): Promise<{ vault: OpenedVault; dropped: number; purged: EntrySummary[] }> {
  const { ShareClient } = await import('../share/client.js');
  ShareClient.checkPurge(v, s.client.me.email);
  if (Array.isArray(what.purgeTrash)) {
    for (const id of what.purgeTrash) if (!v.entries.get(id)!.deleted) throw usageError(`"${v.entries.get(id)!.entry.name}" is not in the trash`, 'delete it first with `kpm rm`');
  }
  const before = new Map([...v.entries].map(([id, e]) => [id, summaryOf(id, v.name, e.entry)]));
  const { loadRetention } = await import('../settings/retention.js');
  const r = await s.client.purge(v, what, await loadRetention(paths));
  s.client.save();
  const gone = [...before].filter(([id]) => !r.vault.entries.has(id)).map(([, x]) => x);
  return { vault: r.vault, dropped: r.dropped, purged: gone };
}
