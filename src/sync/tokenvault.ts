// Service tokens, the client side (docs/PROTOCOL.md "Service tokens", docs/SECURITY.md).
// A token `kpmt_<id: 32 hex>_<secret: 32 bytes base64url>` carries a secret S; from it
//   authKey = HKDF(S, "kpm/v1/token-auth")  (the server keeps SHA-256 of it, and checks it)
//   wrapKey = HKDF(S, "kpm/v1/token-wrap")  (the vault's read keys, the account's public signing key
//                                             and the vault name are sealed under it)
// The server never sees S, authKey's preimage or wrapKey. TokenVault is the read-only view a token
// gives: the read keys unwrapped (the record AEAD key and the name-tag key, never the vault key or
// the account key), the envelope signature checked with the public key that came sealed with them,
// every record pulled and the chain checked against the signed manifest (pullVerified). So neither
// the server nor the token holder, nor both together, can forge, alter or delete entries: every
// write needs the account's signing key, which only the account's devices hold (docs/SECURITY.md).
import { open, seal, AuthError } from '../crypto/aead.js';
import { bytesEqual, concatBytes, decodeUtf8, fromBase64, fromHex, toBase64, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hkdf, sha256 } from '../crypto/keys.js';
import { accountPublicKey } from '../crypto/sign.js';
import { randomBytes } from '../crypto/random.js';
import type { PullResultT, TokenVaultT } from '../protocol/schemas.js';
import { decodeRecord, FLAG_DELETED, ID_BYTES, type LogRecord } from '../vault/format.js';
import { normalizeName, type EntryPayload, type EntrySummary } from '../vault/entry.js';
import { KpmError, EXIT, notFound, usageError } from '../core/errors.js';
import { collator } from '../vault/listing.js';
import { byIdPrefix, decryptRecord, isIdQuery, isLive, LatestRecords, matchesFilter, nameTagOf, summaryOf, type EntryView, type ListFilter } from '../vault/records.js';
import type { Session } from '../vault/session.js';
import { initialSyncChain, tampered } from './envelope.js';
import { latestOfLog, logOf, recordsOf, type TokenCache } from './tokencache.js';
import { askPage, checkVaultEnvelope, pullVerifiedLog } from './vaultsync.js';
import { compactionLacks } from './compactcheck.js';

export const TOKEN_PREFIX = 'kpmt_';
/** the prefix of a token for a shared vault (docs/SHARING.md "Service tokens on shared vaults"): it reads through the /v1/token/share routes */
export const SHARED_TOKEN_PREFIX = 'kpms_';
const TOKEN_RE = /^kpm([ts])_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;
const KEY_BYTES = 32;
/** record key ‖ name-tag key ‖ account public key, then the vault name */
const FIXED_BYTES = 3 * KEY_BYTES;
export const TOKEN_LABEL = { auth: 'kpm/v1/token-auth', wrap: 'kpm/v1/token-wrap', readKeys: 'kpm/v2/token-read-keys' } as const;

export interface ServiceToken {
  id: string;
  secret: Uint8Array;
  /** a token for a shared vault (`kpms_…`) */
  shared?: boolean;
}

export function newServiceToken(shared = false): ServiceToken {
  return { id: toHex(randomBytes(16)), secret: randomBytes(32), ...(shared ? { shared } : {}) };
}

export const formatServiceToken = (t: ServiceToken): string => `${t.shared ? SHARED_TOKEN_PREFIX : TOKEN_PREFIX}${t.id}_${Buffer.from(t.secret).toString('base64url')}`;

/** Parses KPM_TOKEN; a malformed one is a usage error that never quotes it. */
export function parseServiceToken(text: string): ServiceToken {
  const m = TOKEN_RE.exec(text.trim());
  if (!m) throw usageError('KPM_TOKEN is not a kpm service token', 'it looks like kpmt_<32 hex>_<43 characters> (kpms_… for a shared vault), as `kpm token create` printed it');
  const secret = new Uint8Array(Buffer.from(m[3], 'base64url'));
  if (secret.length !== 32 || Buffer.from(secret).toString('base64url') !== m[3]) throw usageError('KPM_TOKEN is not a kpm service token');
  return { id: m[2], secret, ...(m[1] === 's' ? { shared: true } : {}) };
}

export function tokenKeys(t: ServiceToken): { authKey: Uint8Array; wrapKey: Uint8Array } {
  return { authKey: hkdf(t.secret, TOKEN_LABEL.auth), wrapKey: hkdf(t.secret, TOKEN_LABEL.wrap) };
}

/** The `Authorization` header value of token requests. */
export const tokenAuthHeader = (id: string, authKey: Uint8Array): string => `Token ${id}.${Buffer.from(authKey).toString('base64url')}`;
export const tokenAuthHash = (authKey: Uint8Array): string => toHex(sha256(authKey));

const keyAad = (tokenId: string, vaultId: string, profileId: Uint8Array) => concatBytes(utf8.encode(TOKEN_LABEL.readKeys), fromHex(tokenId), fromHex(vaultId), profileId);

export interface TokenKeys {
  recordKey: Uint8Array;
  tagKey: Uint8Array;
  /** the account's public signing key: the only key the token accepts signatures from */
  publicKey: Uint8Array;
}

/** Seals the read keys, the public key and the vault's name (as of now) for a token: only its wrap key opens them. */
export function wrapForToken(wrapKey: Uint8Array, k: TokenKeys, vaultName: string, tokenId: string, vaultId: string, profileId: Uint8Array): Uint8Array {
  const plain = concatBytes(k.recordKey, k.tagKey, k.publicKey, utf8.encode(vaultName));
  try {
    return seal(wrapKey, plain, keyAad(tokenId, vaultId, profileId));
  } finally {
    wipe(plain);
  }
}

export function unwrapForToken(wrapKey: Uint8Array, sealed: Uint8Array, tokenId: string, vaultId: string, profileId: Uint8Array): TokenKeys & { name: string } {
  let plain: Uint8Array;
  try {
    plain = open(wrapKey, sealed, keyAad(tokenId, vaultId, profileId));
  } catch (e) {
    if (e instanceof AuthError) throw tampered(`the vault key sealed for this service token does not open (vault ${vaultId})`);
    throw e;
  }
  if (plain.length <= FIXED_BYTES) throw tampered('the vault key sealed for this service token is malformed');
  const k = { recordKey: plain.slice(0, KEY_BYTES), tagKey: plain.slice(KEY_BYTES, 2 * KEY_BYTES), publicKey: plain.slice(2 * KEY_BYTES, FIXED_BYTES) };
  const name = decodeUtf8(plain.subarray(FIXED_BYTES));
  wipe(plain);
  return { ...k, name };
}

/** For `kpm token create` (in the agent or in-process): a vault's read keys and name sealed for a token. */
export function sealVaultForToken(s: Session, vault: string, tokenId: string, wrapKeyB64: string): { vaultId: string; vaultName: string; wrappedKey: string } {
  if (!/^[0-9a-f]{32}$/.test(tokenId)) throw usageError('malformed token id');
  const wrapKey = fromBase64(wrapKeyB64);
  if (wrapKey.length !== 32) throw usageError('malformed token wrap key');
  const v = s.vault(vault);
  const { recordKey, tagKey } = v.readKeys();
  try {
    const k = { recordKey, tagKey, publicKey: accountPublicKey(s.profile.accountKey) };
    return { vaultId: v.id, vaultName: v.name, wrappedKey: toBase64(wrapForToken(wrapKey, k, v.name, tokenId, v.id, s.profile.profileId)) };
  } finally {
    wipe(recordKey, tagKey, wrapKey);
  }
}

export interface TokenTransport {
  vault(): Promise<TokenVaultT>;
  /** `onNext`: as PullFrom.pull's (src/sync/vaultsync.ts), optional */
  pull(after: number, onNext?: (next: number) => void): Promise<PullResultT>;
}

/** One vault, read through a service token: verified, in memory only. */
export class TokenVault {
  /** the latest record of each entry (tombstones included); from a cache, decoded on first use (`log`) */
  private decoded: LogRecord[] | undefined = [];
  private log: Uint8Array | undefined;
  /** for stderr: a cache that was discarded or could not be saved */
  readonly warnings: string[] = [];

  private constructor(
    readonly id: string,
    readonly name: string,
    private readonly recordKey: Uint8Array,
    private readonly tagKey: Uint8Array,
    private readonly profileId: Uint8Array,
  ) {}

  /**
   * Fetches the vault's envelope and sealed keys (every read asks the server, which refuses a revoked
   * or expired token), verifies them, then the records: with a `cache`, only those after the cached
   * head (none when the head did not move), the chain extended from the cached one and checked
   * against the signed manifest; a server that serves an older head or envelope than the cache holds
   * is refused (exit 8). What was verified is saved back to the cache.
   */
  static async load(t: TokenTransport, token: ServiceToken, cache?: TokenCache): Promise<TokenVault> {
    // Without a cached state the whole log is pulled: its first page is asked for together with the
    // envelope (nothing of it is used before the envelope and the keys are verified).
    // The envelope is asked for first (the server answers it while the cache is read).
    const infoP = t.vault();
    infoP.catch(() => undefined); // awaited below
    let base = cache?.read() ?? null;
    const firstPage = base ? undefined : askPage((after, onNext) => t.pull(after, onNext), 0);
    const info = await infoP;
    const rv = info.vault;
    const { kp } = checkVaultEnvelope(rv, null, null); // ids and shape; the signature once the public key is unwrapped
    const { wrapKey } = tokenKeys(token);
    const { recordKey, tagKey, publicKey, name } = unwrapForToken(wrapKey, fromBase64(info.wrappedKey), token.id, rv.id, kp.profileId);
    wipe(wrapKey);
    const v = new TokenVault(rv.id, name, recordKey, tagKey, kp.profileId);
    try {
      const { env } = checkVaultEnvelope(rv, kp.profileId, publicKey); // signed by the account the token was made for
      if (env.deleted) {
        cache?.remove();
        throw notFound(`vault "${name}" was deleted`);
      }
      const envelopeHash = sha256(fromBase64(rv.body));
      if (base && !(bytesEqual(base.vaultId, env.vaultId) && bytesEqual(base.profileId, kp.profileId) && bytesEqual(base.publicKey, publicKey))) {
        cache!.discard('it is of another vault or account');
        base = null;
      }
      if (base) {
        if (env.epoch < base.epoch) throw tampered(`vault "${name}" was rolled back to an older key envelope (epoch ${env.epoch} < ${base.epoch} seen before)`);
        if (env.epoch === base.epoch && !bytesEqual(envelopeHash, base.envelopeHash)) throw tampered(`vault "${name}" key envelope changed without a new epoch`);
        if (rv.generation < base.generation) throw tampered(`vault "${name}" was rolled back to log generation ${rv.generation}, below ${base.generation} seen before`);
        if (rv.generation === base.generation && rv.head < base.head) throw tampered(`vault "${name}" was rolled back to revision ${rv.head}, below ${base.head} seen before`);
        // one record per entry already (the cache keeps the latest of each), decoded when needed
        v.decoded = undefined;
        v.log = base.log;
      }
      let state = base ? { generation: base.generation, head: base.head, chain: base.chain, time: base.time } : { generation: 0, head: 0, chain: initialSyncChain(env.vaultId), time: 0 };
      if (!base || rv.head !== base.head || rv.generation !== base.generation) {
        // the records stay as sent, one buffer (tens of thousands on a first read), decoded only when needed
        const pulled = await pullVerifiedLog({ id: rv.id, name, revision: state.head, chain: state.chain, generation: base?.generation, time: state.time, profileId: kp.profileId, publicKey, pull: (after, onNext) => t.pull(after, onNext), firstPage: base ? undefined : firstPage });
        if (pulled.head < rv.head) throw tampered(`vault "${name}": fewer records than its head revision`);
        if (base && pulled.generation !== base.generation) {
          // A compaction (signed: the manifest names the generation): its log is the whole vault, and
          // must keep every entry the cache holds at that version or a later one (a purge is later).
          const gap = compactionLacks(v.latest().map((r) => [toHex(r.entryId), r.version] as const), recordsOf(pulled));
          if (gap) throw tampered(`vault "${name}": the compacted log of generation ${pulled.generation} lacks an entry at version ${gap.version} that this token read before`);
          v.useLog(latestOfLog(pulled.log));
        } else if (!base) {
          v.useLog(latestOfLog(pulled.log));
        } else if (pulled.count) {
          // a later version of an entry wins; an earlier one is ignored
          const merged = new LatestRecords();
          for (const r of v.latest()) merged.apply(r);
          for (const r of recordsOf(pulled)) merged.apply(r);
          v.decoded = [...merged.latest.values()];
          v.log = undefined;
        }
        state = { generation: pulled.generation, head: pulled.head, chain: pulled.chain, time: pulled.time };
      }
      if (cache && (!base || state.head !== base.head || state.generation !== base.generation || env.epoch !== base.epoch)) {
        const c = { vaultId: env.vaultId, profileId: kp.profileId, publicKey, epoch: env.epoch, envelopeHash, ...state, log: v.log ?? logOf(v.latest()) };
        try {
          cache.save(c);
        } catch (e) {
          if (e instanceof KpmError && e.exitCode === EXIT.forbidden) throw e;
          v.warnings.push(`the service-token cache was not saved (${(e as Error).message})`);
        }
      }
      if (cache?.discarded) v.warnings.push(`the service-token cache was discarded: ${cache.discarded}; the vault was fetched again`);
    } catch (e) {
      v.close();
      throw e;
    }
    return v;
  }

  /** the latest record of each entry, as one buffer of raw records (decoded on first use) */
  private useLog(log: Uint8Array): void {
    this.decoded = undefined;
    this.log = log;
  }

  private latest(): LogRecord[] {
    return (this.decoded ??= recordsOf({ log: this.log! }));
  }

  private live(): LogRecord[] {
    return this.latest().filter(isLive);
  }

  /** The live records with this name tag: from a cached log, only those are decoded. */
  private named(tag: Uint8Array): LogRecord[] {
    if (this.decoded) return this.live().filter((r) => bytesEqual(r.nameTag, tag));
    const log = this.log!;
    const view = new DataView(log.buffer, log.byteOffset, log.byteLength);
    const hits: LogRecord[] = [];
    // a record: u32 length ‖ entry id (16) ‖ version (4) ‖ flags (1) ‖ name tag (16) ‖ sealed (docs/FORMAT.md)
    for (let o = 0; o + 4 <= log.length; ) {
      const end = o + 4 + view.getUint32(o);
      const at = o + 4 + ID_BYTES + 4;
      if (end > log.length || end < at + 17) return this.live().filter((r) => bytesEqual(r.nameTag, tag)); // decodeRecords reports it
      let same = !(log[at] & FLAG_DELETED);
      for (let i = 0; same && i < 16; i++) same = log[at + 1 + i] === tag[i];
      if (same) hits.push(decodeRecord(log.subarray(o, end)));
      o = end;
    }
    return hits;
  }

  private decrypt(r: LogRecord): EntryPayload {
    return decryptRecord({ recordKey: this.recordKey, profileId: this.profileId, vaultId: fromHex(this.id) }, r, () => tampered(`entry ${toHex(r.entryId)} of vault "${this.name}" does not open`));
  }

  private view(r: LogRecord): EntryView {
    return { id: toHex(r.entryId), vault: this.name, version: r.version, payload: this.decrypt(r) };
  }

  /** --vault or a reference's vault: only this token's vault (by name, case-insensitive, or id). */
  checkScope(vault: string | undefined): void {
    if (vault === undefined) return;
    if (normalizeName(vault) === normalizeName(this.name) || vault.toLowerCase() === this.id) return;
    throw new KpmError(`this service token can only read vault "${this.name}"`, EXIT.forbidden);
  }

  get(query: string, vault?: string): EntryView {
    this.checkScope(vault);
    const tag = nameTagOf(this.tagKey, query);
    let hits = this.named(tag); // all of them: two live entries of one name are reported
    if (hits.length === 0 && isIdQuery(query)) hits = byIdPrefix(this.live(), query);
    if (hits.length > 1) throw usageError(`"${query}" matches ${hits.length} entries`, 'use an id');
    if (hits.length === 0) throw notFound(`no entry named "${query}" in vault "${this.name}"`);
    return this.view(hits[0]);
  }

  entries(filter: ListFilter = {}): EntryView[] {
    this.checkScope(filter.vault);
    const out = this.live().map((r) => this.view(r)).filter((v) => matchesFilter(summaryOfView(v), filter));
    return out.sort((a, b) => collator.compare(a.payload.name, b.payload.name));
  }

  list(filter: ListFilter = {}): EntrySummary[] {
    return this.entries(filter).map(summaryOfView);
  }

  close(): void {
    wipe(this.recordKey, this.tagKey);
  }
}

const summaryOfView = (v: EntryView): EntrySummary => summaryOf(v.id, v.vault, v.payload);
