// Service tokens (docs/PROTOCOL.md "Service tokens"): read-only access to one vault for machines.
// The server keeps SHA-256 of the token's auth key and the vault key sealed (by the client) under the
// token's wrap key; it never sees the token's secret. Every token request is checked here: known id,
// matching auth key (constant time), not revoked, not expired, account not disabled. Token auth is
// separate from device sessions (sessions.authenticate): a token never passes as one.
import { createHash, timingSafeEqual } from 'node:crypto';
import { MAX_TOKEN_LIFETIME_MS, MAX_TOKENS_PER_ACCOUNT, type PullResultT, type TokenCreateBodyT, type TokenVaultT, type TokenViewT } from '../protocol/schemas.js';
import { iso, type ServerContext } from './context.js';
import { apiError } from './errors.js';
import * as sync from './sync.js';
import * as share from './share.js';
import type { SharePullT, TokenShareT } from '../protocol/share.js';

export interface TokenAuth {
  tokenId: string;
  accountId: string;
  vaultId: string;
  /** the vault is a shared vault the account is a member of (docs/SHARING.md "Service tokens on shared vaults") */
  shared: boolean;
}

/** What the token of a vault of the account's own may carry sealed (a shared vault's grows with its epochs). */
const OWN_WRAPPED_KEY_CHARS = 2048;

/** `Authorization: Token <id>.<auth key, base64url>` */
export const TOKEN_AUTH_RE = /^Token ([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$/;

const INVALID = 'the service token is revoked or expired';
/** last_used_at is written at most this often per token (a read is not a write on every request). */
const LAST_USED_GRANULARITY_MS = 60_000;

interface Row {
  id: string;
  vault_id: string;
  name: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

const view = (r: Row): TokenViewT => ({
  id: r.id,
  name: r.name,
  vaultId: r.vault_id,
  createdAt: iso(Number(r.created_at)),
  expiresAt: iso(Number(r.expires_at)),
  lastUsedAt: r.last_used_at == null ? null : iso(Number(r.last_used_at)),
  revoked: r.revoked_at != null,
});

export async function create(ctx: ServerContext, accountId: string, b: TokenCreateBodyT): Promise<TokenViewT> {
  const now = ctx.now();
  const expires = Date.parse(b.expiresAt);
  if (!Number.isFinite(expires)) throw apiError('bad_request', 'expiresAt is not a time');
  if (expires <= now) throw apiError('bad_request', 'expiresAt is in the past');
  if (expires > now + MAX_TOKEN_LIFETIME_MS) throw apiError('bad_request', 'a service token lives at most 366 days');
  const vault = await ctx.db.selectFrom('sync_vaults').select('vault_id').where('account_id', '=', accountId).where('vault_id', '=', b.vaultId).executeTakeFirst();
  // a shared vault: any member (reader, writer, owner) may make a token that reads it
  const member = !vault && (await ctx.db.selectFrom('share_members').select('role').where('vault_id', '=', b.vaultId).where('account_id', '=', accountId).executeTakeFirst());
  if (!vault && !member) throw apiError('not_found', 'no such vault on the server; sync it first');
  if (vault && b.wrappedKey.length > OWN_WRAPPED_KEY_CHARS) throw apiError('bad_request', 'the sealed key of a service token is too large');
  const live = await ctx.db
    .selectFrom('service_tokens')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('account_id', '=', accountId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirstOrThrow();
  if (Number(live.n) >= MAX_TOKENS_PER_ACCOUNT) throw apiError('forbidden', `an account has at most ${MAX_TOKENS_PER_ACCOUNT} live service tokens; revoke some`);
  const exists = await ctx.db.selectFrom('service_tokens').select('id').where('id', '=', b.id).executeTakeFirst();
  if (exists) throw apiError('conflict', 'a service token with this id exists already');
  const row = { id: b.id, account_id: accountId, vault_id: b.vaultId, name: b.name, auth_hash: b.authHash, wrapped_key: b.wrappedKey, created_at: now, expires_at: expires, revoked_at: null, last_used_at: null, shared: vault ? 0 : 1 };
  await ctx.db.insertInto('service_tokens').values(row).execute();
  return view(row);
}

export async function list(ctx: ServerContext, accountId: string): Promise<TokenViewT[]> {
  const rows = await ctx.db
    .selectFrom('service_tokens')
    .select(['id', 'vault_id', 'name', 'created_at', 'expires_at', 'revoked_at', 'last_used_at'])
    .where('account_id', '=', accountId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(view);
}

export async function revoke(ctx: ServerContext, accountId: string, id: string): Promise<void> {
  const row = await ctx.db.selectFrom('service_tokens').select(['revoked_at']).where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
  if (!row) throw apiError('not_found', `no service token ${id}`);
  if (row.revoked_at == null) await ctx.db.updateTable('service_tokens').set({ revoked_at: ctx.now() }).where('id', '=', id).execute();
}

/** Checks a token header on every token request; 401 for anything but a live token. */
export async function authenticateToken(ctx: ServerContext, header: string | undefined): Promise<TokenAuth> {
  const m = TOKEN_AUTH_RE.exec(header ?? '');
  if (!m) throw apiError('unauthorized', header ? 'malformed service token' : 'this request needs a service token (Authorization: Token …)');
  const presented = createHash('sha256').update(Buffer.from(m[2], 'base64url')).digest();
  const row = await ctx.db
    .selectFrom('service_tokens')
    .innerJoin('accounts', 'accounts.id', 'service_tokens.account_id')
    .select(['service_tokens.id', 'service_tokens.account_id', 'service_tokens.vault_id', 'service_tokens.shared', 'service_tokens.auth_hash', 'service_tokens.expires_at', 'service_tokens.revoked_at', 'service_tokens.last_used_at', 'accounts.disabled_at'])
    .where('service_tokens.id', '=', m[1])
    .executeTakeFirst();
  const stored = Buffer.from(row?.auth_hash ?? '0'.repeat(64), 'hex');
  const match = stored.length === presented.length && timingSafeEqual(stored, presented);
  const now = ctx.now();
  if (!row || !match || row.revoked_at != null || Number(row.expires_at) <= now) throw apiError('unauthorized', INVALID);
  if (row.disabled_at != null) throw apiError('account_disabled', 'this account is disabled; contact the administrator of the server');
  if (row.last_used_at == null || Number(row.last_used_at) < now - LAST_USED_GRANULARITY_MS) {
    await ctx.db.updateTable('service_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
  }
  return { tokenId: row.id, accountId: row.account_id, vaultId: row.vault_id, shared: Number(row.shared) === 1 };
}

export async function vaultInfo(ctx: ServerContext, t: TokenAuth): Promise<TokenVaultT> {
  if (t.shared) throw apiError('not_found', 'this service token reads a shared vault (GET /v1/token/share)');
  const v = await ctx.db.selectFrom('sync_vaults').select(['vault_id', 'epoch', 'body', 'head', 'generation']).where('account_id', '=', t.accountId).where('vault_id', '=', t.vaultId).executeTakeFirst();
  if (!v) throw apiError('not_found', 'the vault of this service token is no longer on the server');
  const k = await ctx.db.selectFrom('service_tokens').select('wrapped_key').where('id', '=', t.tokenId).executeTakeFirstOrThrow();
  return { vault: { id: v.vault_id, epoch: Number(v.epoch), body: v.body, head: Number(v.head), generation: Number(v.generation) }, wrappedKey: k.wrapped_key };
}

export async function pull(ctx: ServerContext, t: TokenAuth, after: number): Promise<PullResultT> {
  if (t.shared) throw apiError('not_found', 'this service token reads a shared vault (POST /v1/token/share/pull)');
  return sync.pull(ctx, t.accountId, t.vaultId, after, sync.tokenPageRecords(after));
}

/**
 * One chunk of a file of the token's own vault. The server stores an own vault's blobs per account
 * (sync_blobs: opaque ids, it cannot tell which vault's entry names one), so this serves the blobs of
 * the token's account while its vault is still on the server; the token asks only for blobs its
 * verified entries name, and a blob of another vault does not open under the key the entry holds
 * (docs/SECURITY.md "Service tokens": files). A shared vault's token: 404 (its route is below).
 */
export async function blobGet(ctx: ServerContext, t: TokenAuth, b: { blob: string; index: number }): Promise<{ data: string; last: boolean }> {
  if (t.shared) throw apiError('not_found', 'this service token reads a shared vault (POST /v1/token/share/blobs/get)');
  const v = await ctx.db.selectFrom('sync_vaults').select('vault_id').where('account_id', '=', t.accountId).where('vault_id', '=', t.vaultId).executeTakeFirst();
  if (!v) throw apiError('not_found', 'the vault of this service token is no longer on the server');
  return sync.blobGet(ctx, t.accountId, b.blob, b.index);
}

/**
 * A shared vault's token is served only while the account that created it is still a member (the
 * owner's `kpm share revoke`, or its own `kpm share leave`, ends it: 403); a token of an own vault
 * is not served here (404).
 */
async function sharedMember(ctx: ServerContext, t: TokenAuth): Promise<void> {
  if (!t.shared) throw apiError('not_found', 'this service token reads a vault of its account (GET /v1/token/vault)');
  const m = await ctx.db.selectFrom('share_members').select('role').where('vault_id', '=', t.vaultId).where('account_id', '=', t.accountId).executeTakeFirst();
  if (!m) throw apiError('forbidden', 'the account that created this service token is no longer a member of its shared vault');
}

export async function shareInfo(ctx: ServerContext, t: TokenAuth): Promise<TokenShareT> {
  await sharedMember(ctx, t);
  const v = await share.vault(ctx, t.accountId, t.vaultId);
  const k = await ctx.db.selectFrom('service_tokens').select('wrapped_key').where('id', '=', t.tokenId).executeTakeFirstOrThrow();
  const compacted = v.compaction ? { generation: v.generation, compaction: v.compaction } : {};
  return { vault: { id: v.id, owner: v.owner, memberships: v.memberships, head: v.head, ...compacted }, wrappedKey: k.wrapped_key };
}

export async function sharePull(ctx: ServerContext, t: TokenAuth, after: number): Promise<SharePullT> {
  await sharedMember(ctx, t);
  return share.pull(ctx, t.accountId, t.vaultId, after);
}

/** One chunk of a file of the token's shared vault (share_blobs of that vault only), while its creator is a member. */
export async function shareBlobGet(ctx: ServerContext, t: TokenAuth, b: { blob: string; index: number }): Promise<{ data: string; last: boolean }> {
  await sharedMember(ctx, t);
  return share.blobGet(ctx, t.accountId, t.vaultId, b);
}
