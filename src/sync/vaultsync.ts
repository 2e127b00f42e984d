// Syncing one unlocked vault with its copy on the server (docs/PROTOCOL.md "Sync"):
//  1. the vault envelope (key part, name): adopt a newer one, or send a local change;
//  2. pull the records after the last verified revision, extend the hash chain over them and check
//     it against the signed manifest of the head, before anything is written;
//  3. fetch the document files the pulled entries name (no more than each declares);
//  4. under one vault lock (Vault.applyVerifiedPull, src/vault/store.ts): append what was pulled;
//     local changes to the same entries are rebased on top (the later change wins, the other stays in
//     the entry's history); clashing names get renamed; what the server lacks is read;
//  5. push the local records the server lacks, with a new manifest, on top of the head just verified;
//     then under one more vault lock (Vault.settlePush) the sync state's marks collapse.
// Sync works only through the vault's coarse operations: it gets records and results, never the vault key.
import { bytesEqual, fromBase64, fromHex, toBase64, toHex } from '../crypto/bytes.js';
import { AuthError } from '../crypto/aead.js';
import { accountPublicKey, accountSigner } from '../crypto/sign.js';
import { sha256 } from '../crypto/keys.js';
import type { PullResultT, SyncVaultT } from '../protocol/schemas.js';
import { decodeRecord, decodeVaultKeyPart, encodeVaultKeyPart, isPurgeOrCut, LOG_HEADER_BYTES, RECORD_FIXED_BYTES, type LogRecord, type VaultKeyPart } from '../vault/format.js';
import { maintainLocked } from '../vault/session.js';
import type { Retention } from '../settings/retention.js';
import { MAX_SYNC_BODY_BYTES } from '../protocol/schemas.js';
import { LogMovedError, type Vault } from '../vault/store.js';
import type { UnlockedProfile } from '../vault/keyring.js';
import type { KpmPaths } from '../core/paths.js';
import { KpmError, EXIT, corrupt } from '../core/errors.js';
import { checkNotWeaker, initialSyncChain, nextSyncChain, syncChainFrom, parseVaultEnvelope, sealManifest, sealVaultEnvelope, tampered, verifyManifest, verifyVaultEnvelope } from './envelope.js';
import { loadVaultState, saveVaultState, type VaultSyncState } from './state.js';
import { blobIdsOf, blobsOf, downloadBlobs, uploadBlobs } from './blobsync.js';
import { resolveConflict } from './merge.js';
import { compactionLacks } from './compactcheck.js';

import type { SyncTransport } from './transport.js';
export type { SyncTransport } from './transport.js';

export interface VaultReport {
  id: string;
  name: string;
  pulled: number;
  pushed: number;
  /** entries changed on both sides: which side won, or 'merged' (different fields: both changes kept) */
  conflicts: { name: string; kept: 'local' | 'remote' | 'merged' }[];
  renamed: string[];
  /** document files sent / received */
  filesSent?: number;
  filesReceived?: number;
  created?: boolean;
  removed?: boolean;
  skipped?: string;
}

/** A push lost a race with another device: pull again and retry. */
export class StaleError extends Error {}

const hex = (b: Uint8Array) => toHex(b);
const hashHex = (b: Uint8Array) => toHex(sha256(b));
const PUSH_BATCH_CHARS = 8 * 1024 * 1024;
const PUSH_BATCH_RECORDS = 5000;

export function freshState(v: Vault): VaultSyncState {
  return { v: 1, revision: 0, chain: hex(initialSyncChain(fromHex(v.id))), epoch: 0, envelopeHash: '', keyPartHash: '', generation: v.generation, confirmedUpTo: LOG_HEADER_BYTES, confirmedRanges: [], time: 0 };
}

/** The state, adjusted if a log rewrite committed but the state file after it was not written. */
function currentState(v: Vault): VaultSyncState {
  const s = loadVaultState(v.dir) ?? freshState(v);
  if (s.generation !== v.generation) {
    if (s.next && s.next.generation === v.generation) return { ...s, generation: s.next.generation, confirmedUpTo: s.next.confirmedUpTo, confirmedRanges: [], next: undefined };
    throw new KpmError(`vault "${v.name}": its sync state does not match the vault log`, EXIT.corrupt, 'run `kpm sync --reset-state`');
  }
  return s;
}

function addRange(s: VaultSyncState, a: number, b: number): void {
  if (b > a) s.confirmedRanges.push([a, b]);
}

// ------------------------------------------------------------------ envelope

/** The vault's envelope (key part, epoch, deletion flag), signed with the account's key. */
export function envelopeOf(v: Vault, epoch: number, deleted = false): Uint8Array {
  return sealVaultEnvelope(accountSigner(v.profile.accountKey), { vaultId: fromHex(v.id), epoch, deleted, keyPart: encodeVaultKeyPart(v.keyPart()) });
}

/**
 * Checks a server vault envelope against the ids it must carry, and its signature against the
 * account's public key. `profileId` null: any profile (a service token learns the profile id here,
 * and binds it when it unwraps); `publicKey` null: parse only (the caller verifies later).
 */
export function checkVaultEnvelope(rv: SyncVaultT, profileId: Uint8Array | null, publicKey: Uint8Array | null): { env: ReturnType<typeof parseVaultEnvelope>; kp: VaultKeyPart } {
  const env = parseVaultEnvelope(fromBase64(rv.body));
  if (hex(env.vaultId) !== rv.id || env.epoch !== rv.epoch) throw tampered(`the envelope of vault ${rv.id} belongs elsewhere`);
  const kp = decodeKeyPartSafe(env.keyPart, rv.id);
  if (profileId && !bytesEqual(kp.profileId, profileId)) throw tampered(`vault ${rv.id} belongs to another profile`);
  if (publicKey) verifyVaultEnvelope(publicKey, env);
  return { env, kp };
}

function decodeKeyPartSafe(bytes: Uint8Array, id: string): VaultKeyPart {
  let kp: VaultKeyPart;
  try {
    kp = decodeVaultKeyPart(bytes);
  } catch (e) {
    if (e instanceof KpmError) throw tampered(`the key part of vault ${id} is malformed (${e.message})`);
    throw e;
  }
  if (hex(kp.vaultId) !== id) throw tampered(`the key part of vault ${id} names another vault`);
  return kp;
}

/** An error of unwrapping kp's account-wrapped key (done inside the vault code): one that does not open is tampering (exit 8). */
export const remoteKeyError = (kp: VaultKeyPart, e: unknown): unknown =>
  e instanceof AuthError ? tampered(`the wrapped key of vault ${hex(kp.vaultId)} does not open with this account's key`) : e;

/** Runs `fn`, which unwraps kp's key inside the vault code (src/vault/store.ts), with remoteKeyError. */
export function withRemoteVaultKey<T>(kp: VaultKeyPart, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw remoteKeyError(kp, e);
  }
}

/** Whether the account-wrapped key part holds `v`'s key (compared inside the vault: no key comes out). */
function wrapsOwnKey(v: Vault, kp: VaultKeyPart): boolean {
  return withRemoteVaultKey(kp, () => v.wrapsOwnKey(kp));
}

/** `verified`: the caller already checked rv's signature (src/sync/engine.ts checks every envelope of the state first). */
async function syncEnvelope(v: Vault, rv: SyncVaultT | undefined, s: VaultSyncState, t: SyncTransport, profile: UnlockedProfile, warnings: string[], verified: boolean): Promise<'removed' | void> {
  const localKp = encodeVaultKeyPart(v.keyPart());
  if (!rv) {
    if (s.epoch > 0) throw tampered(`vault "${v.name}" vanished from the server`);
    const body = envelopeOf(v, 1);
    await t.putVault(v.id, 0, 1, toBase64(body));
    Object.assign(s, { epoch: 1, envelopeHash: hashHex(body), keyPartHash: hashHex(localKp) });
    return;
  }
  const { env, kp } = checkVaultEnvelope(rv, profile.profileId, verified ? null : accountPublicKey(profile.accountKey));
  if (env.epoch < s.epoch) throw tampered(`vault "${v.name}" was rolled back to an older key envelope (epoch ${env.epoch} < ${s.epoch})`);
  const bodyHash = hashHex(fromBase64(rv.body));
  if (env.epoch === s.epoch && s.envelopeHash && bodyHash !== s.envelopeHash) throw tampered(`vault "${v.name}" key envelope changed without a new epoch`);
  if (env.deleted) return 'removed';
  if (env.epoch > s.epoch) {
    const remoteKp = env.keyPart; // exactly one key part (decoding refuses trailing bytes)
    if (!bytesEqual(remoteKp, localKp)) {
      if (s.keyPartHash && hashHex(localKp) !== s.keyPartHash) warnings.push(`vault "${v.name}" was also renamed or re-keyed on another device; that change wins`);
      if (kp.wrapKind !== (v.ownPassword ? 2 : 1)) throw tampered(`vault "${v.name}" key wrapping changed kind`);
      if (kp.ownKdf) checkNotWeaker(kp.ownKdf.params, decodeVaultKeyPart(localKp).ownKdf!.params, ` for vault "${v.name}"`);
      else if (!wrapsOwnKey(v, kp)) throw tampered(`vault "${v.name}" key was substituted`);
      await v.adoptKeyPart(kp);
    }
    Object.assign(s, { epoch: env.epoch, envelopeHash: bodyHash, keyPartHash: hashHex(remoteKp) });
    return;
  }
  if (hashHex(localKp) !== s.keyPartHash) {
    const body = envelopeOf(v, s.epoch + 1);
    await putOrStale(() => t.putVault(v.id, s.epoch, s.epoch + 1, toBase64(body)));
    Object.assign(s, { epoch: s.epoch + 1, envelopeHash: hashHex(body), keyPartHash: hashHex(localKp) });
  }
}

async function putOrStale(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof KpmError && e.exitCode === EXIT.conflict) throw new StaleError(e.message);
    throw e;
  }
}

// ------------------------------------------------------------------ pull

export interface Pulled {
  /** the server log generation the records belong to */
  generation: number;
  head: number;
  chain: Uint8Array;
  time: number;
  /** decoded, each with its bytes as sent (`raw`) */
  records: LogRecord[];
}

/** What a verified pull needs: where it starts (revision and chain seen before), the key, the pages. */
export interface PullFrom {
  id: string;
  /** for messages: the vault's name */
  name: string;
  revision: number;
  chain: Uint8Array;
  /** the server log generation `revision` counts in (absent: any, with revision 0) */
  generation?: number;
  time: number;
  profileId: Uint8Array;
  /** the account's public signing key, pinned (the device's own, or the one sealed in a service token) */
  publicKey: Uint8Array;
  /**
   * Asks for the page after `after`. A transport may call `onNext` with the revision the page after
   * it starts after, as soon as the server names it (the token pull's `x-kpm-pull-next` header,
   * docs/PROTOCOL.md), before the page itself is read: a hint, never trusted (see pagesOf).
   */
  pull: (after: number, onNext?: (next: number) => void) => Promise<PullResultT>;
  /** the first page, already asked for (`askPage(pull, revision)` sent before the caller knew it was needed) */
  firstPage?: AskedPage;
}

/** A page asked for, and the next one's start once the server named it (`onNext` of PullFrom.pull). */
export interface AskedPage {
  after: number;
  page: Promise<PullResultT>;
  next?: number;
  /** called when `next` arrives (set while the page is the one being read) */
  onNext?: (next: number) => void;
}

/** Asks for the page after `after` (its failure is seen where it is awaited, or dropped with it). */
export function askPage(pull: PullFrom['pull'], after: number): AskedPage {
  const a: AskedPage = { after, page: undefined as unknown as Promise<PullResultT> };
  a.page = pull(after, (next) => {
    if (a.next !== undefined || !Number.isSafeInteger(next) || next <= after) return;
    a.next = next;
    a.onNext?.(next);
  });
  a.page.catch(() => undefined);
  return a;
}

/**
 * The pages of a pull, each asked for as soon as the one before it arrived (so the server reads the
 * next page while this side verifies the last one), or sooner: when the transport hears where the
 * next page starts before the page being read has arrived (the server's hint). At most one page is
 * asked for ahead of the one being read; a page is used only in order, after the checks of every
 * page before it, and only if it starts where the page before it ended: a page asked for on a wrong
 * hint, or not used, is dropped (its failure too).
 */
function pagesOf(from: PullFrom): (after: number) => Promise<PullResultT> {
  let ahead: AskedPage | undefined = from.firstPage;
  return async (after) => {
    const reading = ahead && ahead.after === after ? ahead : askPage(from.pull, after);
    ahead = undefined;
    const askAhead = (next: number) => {
      if (!ahead) ahead = askPage(from.pull, next);
    };
    reading.onNext = askAhead;
    if (reading.next !== undefined) askAhead(reading.next);
    let page: PullResultT;
    try {
      page = await reading.page;
    } finally {
      reading.onNext = undefined;
    }
    const next = after + page.records.length;
    if (page.more && page.records.length > 0) {
      if ((ahead as AskedPage | undefined)?.after !== next) ahead = askPage(from.pull, next); // none yet, or on a wrong hint
    } else ahead = undefined;
    return page;
  };
}

/** What a pull keeps of each page's records (each one checked well-formed and chained as it is taken). */
interface PageSink {
  /** the pull starts again (a compaction): forget what was taken */
  clear(): void;
  /** takes a page's records (base64, one record each), returns the chain extended over them */
  take(records: readonly string[], chain: Uint8Array): Uint8Array;
}

/** Decoded records (sync). */
class DecodedPages implements PageSink {
  readonly records: LogRecord[] = [];
  clear(): void {
    this.records.length = 0;
  }
  take(page: readonly string[], chain: Uint8Array): Uint8Array {
    for (const b64 of page) {
      const r = decodeRecord(Buffer.from(b64, 'base64')); // well-formed, or exit 8 (the schema checked it is base64; no second copy of it)
      chain = nextSyncChain(chain, r.raw);
      this.records.push(r);
    }
    return chain;
  }
}

/**
 * The records as sent, one after the other in one buffer (the layout of a vault log and of the token
 * cache), never decoded into objects: a token's first read takes tens of thousands at once. Each is
 * checked as decodeRecord checks it: exactly one record, of a valid length.
 */
class RawPages implements PageSink {
  private parts: Uint8Array[] = [];
  count = 0;
  clear(): void {
    this.parts = [];
    this.count = 0;
  }
  take(page: readonly string[], chain: Uint8Array): Uint8Array {
    let size = 0;
    for (const b64 of page) size += base64Bytes(b64);
    const buf = Buffer.alloc(size);
    const steps = syncChainFrom(chain);
    let o = 0;
    for (const b64 of page) {
      const n = buf.write(b64, o, 'base64'); // as Buffer.from(b64, 'base64') decodes it
      if (n < 4 || buf.readUInt32BE(o) < RECORD_FIXED_BYTES + 40 || buf.readUInt32BE(o) + 4 !== n) throw corrupt('sync record is corrupt');
      steps.step(buf.subarray(o, o + n));
      o += n;
    }
    this.parts.push(buf.subarray(0, o));
    this.count += page.length;
    return steps.value();
  }
  /** every record taken, one after the other */
  log(): Uint8Array {
    return this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
  }
}

/** The bytes of a base64 string (at most; exactly for a well-formed one), as node:buffer counts them. */
function base64Bytes(s: string): number {
  let n = s.length;
  if (n > 0 && s.charCodeAt(n - 1) === 61) n--;
  if (n > 1 && s.charCodeAt(n - 1) === 61) n--;
  return (n * 3) >>> 2;
}

/**
 * Pulls every record after `from.revision`, extends the hash chain over them and checks it (and the
 * head) against the signed manifest; exit 8 for anything dropped, altered, reordered or replayed.
 * Used by sync and by the read-only service-token client (src/sync/tokenvault.ts).
 */
export async function pullVerified(from: PullFrom): Promise<Pulled> {
  const sink = new DecodedPages();
  const pulled = await pullInto(from, sink);
  return { ...pulled, records: sink.records };
}

/** What pullVerifiedLog verified: the records as one buffer of raw records (decode with decodeRecords). */
export interface PulledLog extends Omit<Pulled, 'records'> {
  log: Uint8Array;
  count: number;
}

/** pullVerified, with the records kept as sent, one after the other (the token's first read: no record objects). */
export async function pullVerifiedLog(from: PullFrom): Promise<PulledLog> {
  const sink = new RawPages();
  const pulled = await pullInto(from, sink);
  return { ...pulled, log: sink.log(), count: sink.count };
}

async function pullInto(from: PullFrom, sink: PageSink): Promise<Omit<Pulled, 'records'>> {
  const name = from.name;
  const known = from.generation ?? 1;
  let revision = from.revision;
  let after = revision;
  let chain = from.chain;
  let generation = 0; // of the first page; every page must be of it
  let restarts = 0;
  const pull = pagesOf(from);
  for (let pages = 0; ; pages++) {
    const page = await pull(after);
    if (generation === 0) {
      // A lower generation than seen before is a rollback; a higher one a compaction: its log is
      // pulled whole, from revision 1 (docs/PROTOCOL.md "Compaction").
      if (page.generation < known && (revision > 0 || from.generation !== undefined)) throw tampered(`vault "${name}" was rolled back to log generation ${page.generation}, below ${known} seen before`);
      if (page.generation !== known && revision > 0) {
        revision = after = 0;
        chain = initialSyncChain(fromHex(from.id));
        generation = page.generation;
        continue;
      }
      generation = page.generation;
    } else if (page.generation !== generation) {
      // compacted while we pulled: start again in the new generation
      if (++restarts > 3) throw new KpmError(`vault "${name}" keeps being compacted on the server; try again`, EXIT.conflict);
      sink.clear();
      revision = after = 0;
      chain = initialSyncChain(fromHex(from.id));
      generation = page.generation;
      continue;
    }
    if (page.head < revision) throw tampered(`vault "${name}" was rolled back to revision ${page.head}, below ${revision} seen before`);
    if (page.from !== after + 1) throw tampered(`vault "${name}": the server skipped records`);
    const end = after + page.records.length;
    if (page.more ? page.records.length === 0 || end >= page.head : end !== page.head) throw tampered(`vault "${name}": the record count does not match the head revision`);
    chain = sink.take(page.records, chain);
    after = end;
    if (page.more) {
      if (pages > 100_000) throw tampered('endless pull');
      continue;
    }
    if (page.head === 0) {
      if (page.manifest !== null) throw tampered(`vault "${name}": a manifest for an empty vault`);
      if (generation !== known) throw tampered(`vault "${name}": an empty log of generation ${generation} without a manifest`);
      return { generation, head: 0, chain, time: from.time };
    }
    if (page.manifest === null) throw tampered(`vault "${name}" has records but no manifest`);
    const m = verifyManifest(from.publicKey, fromBase64(page.manifest));
    if (hex(m.vaultId) !== from.id || !bytesEqual(m.profileId, from.profileId)) throw tampered(`vault "${name}": the manifest belongs to another vault`);
    if (m.revision !== page.head) throw tampered(`vault "${name}": the manifest is for revision ${m.revision}, the server says ${page.head}`);
    if (m.generation !== generation) throw tampered(`vault "${name}": the manifest is for log generation ${m.generation}, the server says ${generation}`);
    if (!bytesEqual(m.chain, chain)) throw tampered(`vault "${name}": the records do not match the manifest (dropped, altered, reordered or replayed)`);
    return { generation, head: page.head, chain, time: m.time };
  }
}

const pullAll = (v: Vault, s: VaultSyncState, t: SyncTransport, profile: UnlockedProfile): Promise<Pulled> =>
  pullVerified({ id: v.id, name: v.name, revision: s.revision, chain: fromHex(s.chain), generation: s.serverGeneration ?? 1, time: s.time, profileId: profile.profileId, publicKey: accountPublicKey(profile.accountKey), pull: (after) => t.pull(v.id, after) });

// ------------------------------------------------------------------ push

/**
 * Sends `pending` (read under the lock that applied the pull: one lock for pull and push). The state
 * is saved after every batch but the last: the caller saves it once with the settled marks (a crash
 * before that leaves the last batch unconfirmed here; the next sync pulls it back as an echo of its own push).
 */
async function pushPending(v: Vault, s: VaultSyncState, t: SyncTransport, profile: UnlockedProfile, report: VaultReport, persist: () => void, warnings: string[], paths: KpmPaths, pending: LogRecord[]): Promise<void> {
  if (pending.length > 0) report.filesSent = await uploadBlobs(paths, t, blobIdsOf(v, pending), warnings);
  let i = 0;
  while (i < pending.length) {
    const batch: LogRecord[] = [];
    let chars = 0;
    while (i < pending.length && batch.length < PUSH_BATCH_RECORDS && (batch.length === 0 || chars + pending[i].raw.length * 1.34 < PUSH_BATCH_CHARS)) {
      chars += pending[i].raw.length * 1.34;
      batch.push(pending[i++]);
    }
    let chain = fromHex(s.chain);
    for (const r of batch) chain = nextSyncChain(chain, r.raw);
    const revision = s.revision + batch.length;
    const generation = s.serverGeneration ?? 1;
    const time = Date.now();
    const manifest = sealManifest(accountSigner(profile.accountKey), { vaultId: fromHex(v.id), profileId: profile.profileId, generation, revision, chain, time });
    await putOrStale(() => t.push(v.id, s.revision, batch.map((r) => toBase64(r.raw)), toBase64(manifest), generation));
    if (batch.some((r) => isPurgeOrCut(r.flags))) s.serverPurge = true;
    s.revision = revision;
    s.chain = hex(chain);
    s.time = time; // the manifest's, as a pull of this head gives it
    for (const r of batch) addRange(s, r.offset!, r.offset! + r.raw.length);
    if (i < pending.length) persist();
    report.pushed += batch.length;
  }
}

// ------------------------------------------------------------------ compaction (docs/PROTOCOL.md "Compaction")

/**
 * A new server generation must keep, of every entry this device saw confirmed, that version or a
 * later one (a purge is a later version): a server that dropped a live entry while compacting, or
 * serves a compaction made without records it had accepted, is refused before anything is written.
 */
function checkCompactionKeeps(v: Vault, confirmed: Map<string, number>, pulled: Pulled): void {
  const gap = compactionLacks(confirmed, pulled.records);
  if (gap) throw tampered(`vault "${v.name}": the compacted log of generation ${pulled.generation} lacks entry ${gap.id} at version ${gap.version} (it has ${gap.have ? `version ${gap.have}` : 'nothing of it'})`);
}

/** The server's copy keeps records gone here (a purge or history cut), or a dead part past the threshold, against `local` records here. */
function serverCompactionDue(s: VaultSyncState, local: number): boolean {
  const dead = s.revision - local;
  return s.serverPurge === true || (dead >= 64 && dead * 4 >= local);
}

const DEFAULT_RETENTION: Retention = { keep: 20, trashDays: 30 };

/**
 * Replaces the server's log with this device's compacted one when the server keeps records that
 * are gone here (a purge or history cut, or a dead part past the threshold). Everything must be
 * confirmed (just synced); the new generation's manifest is signed like a push's.
 */
async function compactServer(v: Vault, s: VaultSyncState, t: SyncTransport, profile: UnlockedProfile, persist: () => void, warnings: string[], local: LogRecord[] | null): Promise<boolean> {
  if (!local || !serverCompactionDue(s, local.length)) return false; // something is still to send, or nothing to drop
  const plan = local;
  const records = plan.map((r) => toBase64(r.raw));
  if (records.reduce((n, r) => n + r.length + 3, 0) > MAX_SYNC_BODY_BYTES - 64 * 1024) {
    warnings.push(`vault "${v.name}" is too large to compact on the server in one request; its server copy keeps old versions`);
    return false;
  }
  let chain = initialSyncChain(fromHex(v.id));
  for (const r of plan) chain = nextSyncChain(chain, r.raw);
  const generation = (s.serverGeneration ?? 1) + 1;
  const time = Date.now();
  const manifest = sealManifest(accountSigner(profile.accountKey), { vaultId: fromHex(v.id), profileId: profile.profileId, generation, revision: plan.length, chain, time });
  try {
    await t.compact(v.id, generation - 1, s.revision, records, toBase64(manifest));
  } catch (e) {
    if (e instanceof KpmError && e.exitCode === EXIT.conflict) return false; // another device pushed: the next sync compacts
    throw e;
  }
  Object.assign(s, { serverGeneration: generation, revision: plan.length, chain: hex(chain), time, serverPurge: false });
  persist();
  return true;
}

/** Syncs one unlocked vault; retries when another device pushed meanwhile. Inside the profile's sync lock. */
export async function syncVault(paths: KpmPaths, v: Vault, rv: SyncVaultT | undefined, t: SyncTransport, profile: UnlockedProfile, warnings: string[], retention: Retention = DEFAULT_RETENTION): Promise<VaultReport> {
  const report: VaultReport = { id: v.id, name: v.name, pulled: 0, pushed: 0, conflicts: [], renamed: [] };
  // trash past trash.days purged, the local log compacted when due (before the state is read: it notes a new generation)
  if (loadVaultState(v.dir)) currentState(v); // a state that does not match is reported before anything changes
  await maintainLocked(v, retention);
  for (let attempt = 0; ; attempt++) {
    try {
      const s = currentState(v);
      // the state file is written (and fsynced) only when it changed: a sync with nothing to do writes nothing
      let saved = loadVaultState(v.dir) ? JSON.stringify(s) : '';
      const persist = () => {
        const j = JSON.stringify(s);
        if (j !== saved) saveVaultState(v.dir, s);
        saved = j;
      };
      if ((await syncEnvelope(v, rv, s, t, profile, warnings, attempt === 0)) === 'removed') return { ...report, removed: true };
      persist();
      // Sending a change when the server's head is the revision verified last time, in the same log
      // generation: no pull first (it would bring no record, and the manifest already verified for
      // that head); the push goes on top of that head, and the server refuses it if that is not its
      // head (then the state is fetched again and everything pulled and verified). Any other head, or
      // nothing to send, is pulled and verified.
      const upToDate = rv !== undefined && s.revision > 0 && rv.head === s.revision && rv.generation === (s.serverGeneration ?? 1) && v.hasPending(s);
      const pulled: Pulled =
        (rv || s.revision > 0) && !upToDate ? await pullAll(v, s, t, profile) : { generation: s.serverGeneration ?? 1, head: s.revision, chain: fromHex(s.chain), time: s.time, records: [] };
      const newGeneration = pulled.generation !== (s.serverGeneration ?? 1) && s.revision > 0;
      if (newGeneration) checkCompactionKeeps(v, v.confirmedVersions(s), pulled); // before the files are fetched: a refused pull writes nothing
      // the files first: a download the server cuts short or inflates (S10) leaves the vault as it was,
      // so the next sync fetches them again
      if (pulled.records.length > 0) report.filesReceived = await downloadBlobs(paths, t, blobsOf(v, pulled.records));
      // one vault lock for the pull: the state named before each rewrite, and saved after the last write
      const head = { serverGeneration: pulled.generation, revision: pulled.head, chain: hex(pulled.chain), time: pulled.time };
      const { pending } = await v.applyVerifiedPull({ records: pulled.records, newGeneration }, s, {
        resolve: resolveConflict,
        keep: retention.keep,
        checkKept: (confirmed) => checkCompactionKeeps(v, confirmed, pulled),
        noteRewrite: (next, step, now) => {
          // `adopt` and `rebase` happen before the pulled records are in: the state keeps the revision it had
          if (step === 'rebase' && newGeneration) Object.assign(s, { serverGeneration: pulled.generation, serverPurge: false });
          if (step === 'compact') Object.assign(s, head, { serverPurge: newGeneration ? false : true });
          saveVaultState(v.dir, { ...s, generation: now.generation, confirmedUpTo: now.confirmedUpTo, confirmedRanges: now.confirmedRanges, next });
        },
        applied: (r) => {
          if (newGeneration) s.serverPurge = false;
          else if (r.purgeArrived) s.serverPurge = true;
          Object.assign(s, r.marks, head, { next: undefined });
          report.pulled = r.pulled;
          report.conflicts.push(...r.conflicts);
          report.renamed.push(...r.renamed);
          persist();
        },
      });
      await pushPending(v, s, t, profile, report, persist, warnings, paths, pending);
      // one vault lock after the push: the marks collapse when everything is on the server
      const settled = await v.settlePush(s, (count) => serverCompactionDue(s, count)).catch((e: unknown) => {
        persist(); // what was pushed
        throw e;
      });
      Object.assign(s, settled.marks);
      persist();
      await compactServer(v, s, t, profile, persist, warnings, settled.log);
      report.name = v.name;
      return report;
    } catch (e) {
      if (!(e instanceof StaleError || e instanceof LogMovedError) || attempt >= 5) throw e instanceof StaleError || e instanceof LogMovedError ? new KpmError(`vault "${v.name}" keeps changing on the server; try again`, EXIT.conflict) : e;
      rv = (await t.state()).vaults.find((x) => x.id === v.id);
    }
  }
}
