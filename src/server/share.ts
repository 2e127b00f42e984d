// Shared vaults on the server (docs/SHARING.md). The server relays signed objects between members;
// it checks what it can (signatures, who owns a vault, who may write) so that honest servers refuse
// nonsense early, but no guarantee rests on these checks: every member verifies everything itself.
import { bytesEqual, fromBase64, toHex } from '../crypto/bytes.js';
import { KpmError } from '../core/errors.js';
import { normalizeEmail } from '../protocol/email.js';
import type { ShareListT, SharePinsT, SharePullT, ShareVaultT } from '../protocol/share.js';
import { decodeIdentity, type PublicIdentity } from '../share/identity.js';
import { canWrite, membershipHash, parseMembership, parseRecord, type Role } from '../share/format.js';
import { parseLeave, parsePins } from '../share/pins.js';
import { parseCompaction, recordHash } from '../share/compact.js';
import { sql } from 'kysely';
import type { ServerContext } from './context.js';
import { apiError } from './errors.js';

export const SHARE_PULL_PAGE = 2000;

/** Decoding errors of the shared formats become 400s (they are the client's fault here). */
function decoded<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KpmError) throw apiError('bad_request', `${what}: ${e.message.replace(/^sharing: /, '')}`);
    throw e;
  }
}

async function identityOf(ctx: ServerContext, accountId: string): Promise<PublicIdentity | null> {
  const row = await ctx.db.selectFrom('share_identities').select('body').where('account_id', '=', accountId).executeTakeFirst();
  return row ? decodeIdentity(fromBase64(row.body)) : null;
}

export async function putIdentity(ctx: ServerContext, accountId: string, body: string): Promise<{ status: 'ok' }> {
  const acct = await ctx.db.selectFrom('accounts').select('email').where('id', '=', accountId).executeTakeFirstOrThrow();
  const id = decoded('the identity record', () => decodeIdentity(fromBase64(body)));
  if (normalizeEmail(id.email) !== acct.email) throw apiError('bad_request', `the identity record names ${id.email}, not this account's email`);
  // New keys replace old ones (an account whose account key changed): contacts who pinned the old
  // ones refuse the new ones until they accept the change (docs/SHARING.md), so nothing rests on the server here.
  const cur = await identityOf(ctx, accountId);
  const now = ctx.now();
  if (cur && !(bytesEqual(cur.signPublic, id.signPublic) && bytesEqual(cur.boxPublic, id.boxPublic))) {
    // the old pin state is sealed and signed under the old account key: no device with the new one can open it
    await ctx.db.deleteFrom('share_pins').where('account_id', '=', accountId).execute();
  }
  if (cur) await ctx.db.updateTable('share_identities').set({ body, updated_at: now }).where('account_id', '=', accountId).execute();
  else await ctx.db.insertInto('share_identities').values({ account_id: accountId, body, updated_at: now }).execute();
  return { status: 'ok' };
}

async function accountByEmail(ctx: ServerContext, email: string): Promise<{ id: string; email: string } | undefined> {
  return ctx.db.selectFrom('accounts').select(['id', 'email']).where('email', '=', normalizeEmail(email)).where('activated_at', 'is not', null).executeTakeFirst();
}

export async function getIdentity(ctx: ServerContext, email: string): Promise<{ email: string; body: string }> {
  const acct = await accountByEmail(ctx, email);
  const row = acct && (await ctx.db.selectFrom('share_identities').select('body').where('account_id', '=', acct.id).executeTakeFirst());
  if (!acct || !row) throw apiError('not_found', `${email} has no sharing keys on this server (they must run a kpm sharing command once, e.g. \`kpm whoami --fingerprint\`)`);
  return { email: acct.email, body: row.body };
}

async function memberRow(ctx: ServerContext, vaultId: string, accountId: string) {
  return ctx.db.selectFrom('share_members').select(['role', 'bundle', 'accept']).where('vault_id', '=', vaultId).where('account_id', '=', accountId).executeTakeFirst();
}

export async function list(ctx: ServerContext, accountId: string): Promise<ShareListT> {
  const rows = await ctx.db
    .selectFrom('share_members')
    .innerJoin('share_vaults', 'share_vaults.vault_id', 'share_members.vault_id')
    .innerJoin('accounts', 'accounts.id', 'share_vaults.owner_id')
    .select(['share_vaults.vault_id as id', 'accounts.email as owner', 'share_vaults.epoch as epoch', 'share_vaults.head as head'])
    .where('share_members.account_id', '=', accountId)
    .orderBy('share_vaults.vault_id')
    .execute();
  return { vaults: rows.map((r) => ({ id: r.id, owner: r.owner, epoch: Number(r.epoch), head: Number(r.head) })) };
}

export async function vault(ctx: ServerContext, accountId: string, vaultId: string): Promise<ShareVaultT> {
  const v = await ctx.db.selectFrom('share_vaults').innerJoin('accounts', 'accounts.id', 'share_vaults.owner_id').select(['accounts.email as owner', 'share_vaults.head as head', 'share_vaults.generation as generation', 'share_vaults.compaction as compaction']).where('vault_id', '=', vaultId).executeTakeFirst();
  const m = await memberRow(ctx, vaultId, accountId);
  if (!v || !m) throw apiError('not_found', 'no such shared vault for this account');
  const ms = await ctx.db.selectFrom('share_memberships').select('body').where('vault_id', '=', vaultId).orderBy('epoch').execute();
  // the members' leave statements, for the owner to act on (the owner's device verifies each)
  const leaves = m.role === 'owner' ? (await ctx.db.selectFrom('share_leaves').select('body').where('vault_id', '=', vaultId).orderBy('account_id').execute()).map((x) => x.body) : [];
  // after a compaction: the owner's latest signed statement (absent before, so older clients see what they always saw)
  const compacted = Number(v.generation) > 0 && v.compaction ? { generation: Number(v.generation), compaction: v.compaction } : {};
  return { id: vaultId, owner: v.owner, memberships: ms.map((x) => x.body), bundle: m.bundle, accept: m.accept, head: Number(v.head), leaves, ...compacted };
}

export async function putMembership(ctx: ServerContext, accountId: string, vaultId: string, b: { membership: string; bundles: { email: string; body: string }[] }): Promise<{ epoch: number }> {
  const bytes = fromBase64(b.membership);
  const m = decoded('the membership', () => parseMembership(bytes));
  if (toHex(m.vaultId) !== vaultId) throw apiError('bad_request', 'the membership is for another vault');
  const me = await identityOf(ctx, accountId);
  if (!me || !bytesEqual(me.signPublic, m.signer)) throw apiError('forbidden', 'the membership is not signed by this account\'s published key');
  // every member: an account of this server, named with the keys it published
  const rows: { vault_id: string; account_id: string; role: Role; bundle: string; accept: string | null }[] = [];
  for (const x of m.members) {
    const acct = await accountByEmail(ctx, x.email);
    const pub = acct && (await identityOf(ctx, acct.id));
    if (!acct || !pub) throw apiError('not_found', `${x.email} has no sharing keys on this server`);
    if (!bytesEqual(pub.signPublic, x.signPublic) || !bytesEqual(pub.boxPublic, x.boxPublic)) throw apiError('bad_request', `the membership names other keys for ${x.email} than the ones published`);
    if ((x.role === 'owner') !== (acct.id === accountId)) throw apiError('bad_request', 'the owner of a shared vault is the account that signs its membership');
    const bundle = b.bundles.find((y) => normalizeEmail(y.email) === acct.email);
    if (!bundle) throw apiError('bad_request', `no key bundle for ${x.email}`);
    rows.push({ vault_id: vaultId, account_id: acct.id, role: x.role, bundle: bundle.body, accept: null });
  }
  if (b.bundles.length !== rows.length) throw apiError('bad_request', 'key bundles for accounts that are not members');
  const now = ctx.now();
  return ctx.db.transaction().execute(async (trx) => {
    const cur = await trx.selectFrom('share_vaults').select(['owner_id', 'epoch', 'head']).where('vault_id', '=', vaultId).executeTakeFirst();
    if (!cur) {
      if (m.epoch !== 1 || m.head !== 0 || m.prev.some((x) => x !== 0)) throw apiError('bad_request', 'a new shared vault starts at epoch 1');
      const taken = await trx.selectFrom('sync_vaults').select('vault_id').where('vault_id', '=', vaultId).executeTakeFirst();
      if (taken) throw apiError('conflict', 'this vault id is taken');
      await trx.insertInto('share_vaults').values({ vault_id: vaultId, owner_id: accountId, epoch: 1, head: 0, updated_at: now }).execute();
    } else {
      if (cur.owner_id !== accountId) throw apiError('forbidden', 'only the owner of a shared vault changes its members');
      const prev = await trx.selectFrom('share_memberships').select('body').where('vault_id', '=', vaultId).where('epoch', '=', Number(cur.epoch)).executeTakeFirstOrThrow();
      if (m.epoch !== Number(cur.epoch) + 1 || !bytesEqual(m.prev, membershipHash(fromBase64(prev.body)))) throw apiError('conflict', `the shared vault's membership changed meanwhile (epoch ${Number(cur.epoch)}); try again`);
      if (m.head !== Number(cur.head)) throw apiError('conflict', `the shared vault changed meanwhile (revision ${Number(cur.head)}); try again`);
      const upd = await trx.updateTable('share_vaults').set({ epoch: m.epoch, updated_at: now }).where('vault_id', '=', vaultId).where('epoch', '=', cur.epoch).where('head', '=', cur.head).executeTakeFirst();
      if (Number(upd.numUpdatedRows) !== 1) throw apiError('conflict', 'the shared vault changed meanwhile; try again');
    }
    const old = await trx.selectFrom('share_members').select(['account_id', 'accept']).where('vault_id', '=', vaultId).execute();
    for (const row of rows) row.accept = old.find((o) => o.account_id === row.account_id)?.accept ?? null;
    await trx.deleteFrom('share_members').where('vault_id', '=', vaultId).execute();
    await trx.insertInto('share_members').values(rows).execute();
    await trx.insertInto('share_memberships').values({ vault_id: vaultId, epoch: m.epoch, body: b.membership }).execute();
    // a leave statement is done once a membership no longer names its member (one that still does stays for the owner's next command)
    const ids = rows.map((x) => x.account_id);
    await trx.deleteFrom('share_leaves').where('vault_id', '=', vaultId).where('account_id', 'not in', ids).execute();
    return { epoch: m.epoch };
  });
}

export async function accept(ctx: ServerContext, accountId: string, vaultId: string, body: string): Promise<{ status: 'ok' }> {
  const r = await ctx.db.updateTable('share_members').set({ accept: body }).where('vault_id', '=', vaultId).where('account_id', '=', accountId).executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw apiError('not_found', 'no such shared vault for this account');
  return { status: 'ok' };
}

/**
 * A member leaves: their signed leave statement (vault, the epoch they leave, their fingerprint) is
 * kept for the owner, whose next command signs a membership without them (docs/SHARING.md "Leaving
 * a shared vault"); their member row (bundle, access) goes now.
 */
export async function leave(ctx: ServerContext, accountId: string, vaultId: string, body: string): Promise<{ status: 'ok' }> {
  const m = await memberRow(ctx, vaultId, accountId);
  if (!m) throw apiError('not_found', 'no such shared vault for this account');
  if (m.role === 'owner') throw apiError('forbidden', 'the owner cannot leave a shared vault');
  const st = decoded('the leave statement', () => parseLeave(fromBase64(body)));
  const me = await identityOf(ctx, accountId);
  if (!me || !bytesEqual(me.signPublic, st.signer) || !bytesEqual(me.fp, st.fp)) throw apiError('forbidden', "the leave statement is not signed by this account's published key");
  decoded('the leave statement', () => st.check(me.signPublic));
  const v = await ctx.db.selectFrom('share_vaults').select('epoch').where('vault_id', '=', vaultId).executeTakeFirstOrThrow();
  if (toHex(st.vaultId) !== vaultId || st.epoch < 1 || st.epoch > Number(v.epoch)) throw apiError('bad_request', 'the leave statement is for another vault or epoch');
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('share_leaves').where('vault_id', '=', vaultId).where('account_id', '=', accountId).execute();
    await trx.insertInto('share_leaves').values({ vault_id: vaultId, account_id: accountId, epoch: st.epoch, body, created_at: now }).execute();
    await trx.deleteFrom('share_members').where('vault_id', '=', vaultId).where('account_id', '=', accountId).execute();
  });
  return { status: 'ok' };
}

/** The account's sealed pin state (src/share/pins.ts): the server cannot open it; every device checks its signature and version. */
export async function getPins(ctx: ServerContext, accountId: string): Promise<SharePinsT> {
  const row = await ctx.db.selectFrom('share_pins').select(['version', 'body']).where('account_id', '=', accountId).executeTakeFirst();
  return row ? { version: Number(row.version), body: row.body } : { version: 0, body: null };
}

/** Writes version base+1 of the pin state if the stored one is still `base` (else 409: the device pulls, merges and tries again). */
export async function putPins(ctx: ServerContext, accountId: string, b: { base: number; body: string }): Promise<{ version: number }> {
  const p = decoded('the pin state', () => parsePins(fromBase64(b.body)));
  if (p.version !== b.base + 1) throw apiError('bad_request', `the pin state is version ${p.version}, not ${b.base + 1}`);
  const me = await identityOf(ctx, accountId);
  if (!me || !bytesEqual(me.signPublic, p.signer)) throw apiError('forbidden', "the pin state is not signed by this account's published key");
  decoded('the pin state', () => p.check(me.signPublic));
  const now = ctx.now();
  const stale = () => apiError('conflict', 'the pin state changed meanwhile (another device of this account); pull it first');
  if (b.base === 0) {
    const r = await ctx.db.insertInto('share_pins').values({ account_id: accountId, version: 1, body: b.body, updated_at: now }).onConflict((oc) => oc.column('account_id').doNothing()).executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0n) !== 1) throw stale();
  } else {
    const r = await ctx.db.updateTable('share_pins').set({ version: p.version, body: b.body, updated_at: now }).where('account_id', '=', accountId).where('version', '=', b.base).executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw stale();
  }
  return { version: p.version };
}

export async function pull(ctx: ServerContext, accountId: string, vaultId: string, after: number): Promise<SharePullT> {
  const v = await ctx.db.selectFrom('share_vaults').select(['head', 'generation']).where('vault_id', '=', vaultId).executeTakeFirst();
  if (!v || !(await memberRow(ctx, vaultId, accountId))) throw apiError('not_found', 'no such shared vault for this account');
  const head = Number(v.head);
  const rows = await ctx.db.selectFrom('share_records').select(['rev', 'body']).where('vault_id', '=', vaultId).where('rev', '>', after).where('rev', '<=', head).orderBy('rev').limit(SHARE_PULL_PAGE).execute();
  const last = rows.length ? Number(rows[rows.length - 1].rev) : after;
  const gen = Number(v.generation);
  // a compacted log has gaps (the records its statement dropped): `more` until the page reaches the head
  return { head, from: after + 1, records: rows.map((r) => r.body), more: last < head && rows.length === SHARE_PULL_PAGE, ...(gen > 0 ? { generation: gen } : {}) };
}

export async function push(ctx: ServerContext, accountId: string, vaultId: string, b: { base: number; records: string[] }): Promise<{ head: number }> {
  const m = await memberRow(ctx, vaultId, accountId);
  if (!m) throw apiError('not_found', 'no such shared vault for this account');
  if (!canWrite(m.role as Role)) throw apiError('forbidden', 'read-only members cannot write to a shared vault');
  const me = await identityOf(ctx, accountId);
  const v = await ctx.db.selectFrom('share_vaults').select(['epoch', 'head']).where('vault_id', '=', vaultId).executeTakeFirstOrThrow();
  b.records.forEach((body, i) => {
    const p = decoded('a shared record', () => parseRecord(fromBase64(body)));
    if (toHex(p.vaultId) !== vaultId || p.rev !== b.base + i + 1) throw apiError('bad_request', `shared record ${i + 1} does not follow the vault's log (revision)`);
    // a membership change since the writer opened the vault (a revoke: a new key): the writer opens it again and seals under the new epoch
    if (p.epoch !== Number(v.epoch)) throw apiError('conflict', `the shared vault's membership changed meanwhile (epoch ${Number(v.epoch)}); try again`);
    if (!me || !bytesEqual(p.writer, me.signPublic)) throw apiError('forbidden', 'a shared record is not signed by this account');
  });
  const head = b.base + b.records.length;
  const now = ctx.now();
  return ctx.db.transaction().execute(async (trx) => {
    const r = await trx.updateTable('share_vaults').set({ head, updated_at: now }).where('vault_id', '=', vaultId).where('head', '=', b.base).where('epoch', '=', v.epoch).executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw apiError('conflict', `the shared vault has changed since revision ${b.base}; pull first`);
    await trx.insertInto('share_records').values(b.records.map((body, i) => ({ vault_id: vaultId, rev: b.base + i + 1, writer_id: accountId, body }))).execute();
    return { head };
  });
}

/** An upload no kept record names is deleted by a compaction once it is this old (its record may be on its way). */
export const ORPHAN_BLOB_GRACE_MS = 24 * 3600 * 1000;

/**
 * The owner's compaction (docs/SHARING.md "Purging and compacting a shared vault"): a statement
 * signed with the owner's published key, for the next generation, the current epoch and head (409
 * otherwise), whose kept records are rows of the log byte for byte. In one transaction: every record
 * up to its head that it does not keep is deleted, with the files it drops and the uploads no kept
 * record names that are older than ORPHAN_BLOB_GRACE_MS; the statement is stored for the members,
 * who check it (no guarantee rests on these checks). SQLite's WAL is truncated afterwards.
 */
export async function compact(ctx: ServerContext, accountId: string, vaultId: string, b: { statement: string }): Promise<{ generation: number; dropped: number }> {
  const m = await memberRow(ctx, vaultId, accountId);
  if (!m) throw apiError('not_found', 'no such shared vault for this account');
  if (m.role !== 'owner') throw apiError('forbidden', "only the owner compacts a shared vault's log");
  const st = decoded('the compaction statement', () => parseCompaction(fromBase64(b.statement)));
  const me = await identityOf(ctx, accountId);
  if (!me || !bytesEqual(me.signPublic, st.signer)) throw apiError('forbidden', "the compaction statement is not signed by this account's published key");
  if (toHex(st.vaultId) !== vaultId) throw apiError('bad_request', 'the compaction statement is for another vault');
  const now = ctx.now();
  const dropped = await ctx.db.transaction().execute(async (trx) => {
    const v = await trx.selectFrom('share_vaults').select(['epoch', 'head', 'generation']).where('vault_id', '=', vaultId).executeTakeFirstOrThrow();
    if (st.generation !== Number(v.generation) + 1 || st.epoch !== Number(v.epoch) || st.upto !== Number(v.head)) {
      throw apiError('conflict', `the shared vault changed meanwhile (generation ${Number(v.generation)}, epoch ${Number(v.epoch)}, revision ${Number(v.head)}); try again`);
    }
    const rows = await trx.selectFrom('share_records').select(['rev', 'body']).where('vault_id', '=', vaultId).where('rev', '<=', st.upto).orderBy('rev').execute();
    const have = new Map(rows.map((r) => [Number(r.rev), r.body]));
    for (const k of st.kept) {
      const body = have.get(k.rev);
      if (body === undefined || !bytesEqual(recordHash(fromBase64(body)), k.hash)) throw apiError('bad_request', `the compaction statement keeps a record ${k.rev} this server does not have`);
    }
    const keep = new Set(st.kept.map((k) => k.rev));
    const drop = rows.map((r) => Number(r.rev)).filter((rev) => !keep.has(rev));
    for (let i = 0; i < drop.length; i += 500) await trx.deleteFrom('share_records').where('vault_id', '=', vaultId).where('rev', 'in', drop.slice(i, i + 500)).execute();
    const blobs = await trx.selectFrom('share_blobs').select(['blob_id', 'updated_at']).where('vault_id', '=', vaultId).execute();
    const kept = new Set(st.keptBlobs);
    const named = new Set(st.droppedBlobs);
    const gone = blobs.filter((x) => named.has(x.blob_id) || (!kept.has(x.blob_id) && Number(x.updated_at) <= now - ORPHAN_BLOB_GRACE_MS)).map((x) => x.blob_id);
    for (let i = 0; i < gone.length; i += 500) {
      await trx.deleteFrom('share_blob_chunks').where('vault_id', '=', vaultId).where('blob_id', 'in', gone.slice(i, i + 500)).execute();
      await trx.deleteFrom('share_blobs').where('vault_id', '=', vaultId).where('blob_id', 'in', gone.slice(i, i + 500)).execute();
    }
    const upd = await trx.updateTable('share_vaults').set({ generation: st.generation, compaction: b.statement, updated_at: now }).where('vault_id', '=', vaultId).where('generation', '=', v.generation).where('head', '=', v.head).executeTakeFirst();
    if (Number(upd.numUpdatedRows) !== 1) throw apiError('conflict', 'the shared vault changed meanwhile; try again');
    return drop.length;
  });
  // SQLite: secure_delete overwrote the rows; the WAL still holds their pages until a checkpoint truncates it
  if (ctx.engine === 'sqlite') await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(ctx.db);
  return { generation: st.generation, dropped };
}

// ------------------------------------------------------------------ files (docs/SHARING.md "Files in shared vaults")

/**
 * Stores one chunk of a shared vault's file, sent by a member who may write (a reader: 403, a
 * non-member: 404); the last one completes the blob. Only the account that began an incomplete
 * blob sends the rest of it, and a complete blob never changes (409). Members verify every blob
 * against the SHA-256 and size in the writer's signed record, so none of this is a guarantee.
 */
export async function blobPut(ctx: ServerContext, accountId: string, vaultId: string, b: { blob: string; index: number; data: string; last: boolean }): Promise<{ status: 'ok' }> {
  const m = await memberRow(ctx, vaultId, accountId);
  if (!m) throw apiError('not_found', 'no such shared vault for this account');
  if (!canWrite(m.role as Role)) throw apiError('forbidden', 'read-only members cannot add files to a shared vault');
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    const cur = await trx.selectFrom('share_blobs').select(['complete', 'writer_id']).where('vault_id', '=', vaultId).where('blob_id', '=', b.blob).executeTakeFirst();
    if (cur?.complete) throw apiError('conflict', `file ${b.blob} of this shared vault is complete and never changes`);
    if (cur && cur.writer_id !== accountId) throw apiError('forbidden', `file ${b.blob} of this shared vault is being sent by another member`);
    if (!cur) await trx.insertInto('share_blobs').values({ vault_id: vaultId, blob_id: b.blob, writer_id: accountId, chunks: 0, complete: 0, updated_at: now }).execute();
    await trx.deleteFrom('share_blob_chunks').where('vault_id', '=', vaultId).where('blob_id', '=', b.blob).where('idx', '=', b.index).execute();
    await trx.insertInto('share_blob_chunks').values({ vault_id: vaultId, blob_id: b.blob, idx: b.index, body: b.data }).execute();
    if (b.last) {
      const n = await trx.selectFrom('share_blob_chunks').select((eb) => eb.fn.countAll<number>().as('n')).where('vault_id', '=', vaultId).where('blob_id', '=', b.blob).where('idx', '<=', b.index).executeTakeFirstOrThrow();
      if (Number(n.n) !== b.index + 1) throw apiError('bad_request', `file ${b.blob}: chunks before ${b.index} are missing`);
      await trx.updateTable('share_blobs').set({ chunks: b.index + 1, complete: 1, updated_at: now }).where('vault_id', '=', vaultId).where('blob_id', '=', b.blob).execute();
    }
  });
  return { status: 'ok' };
}

/** One chunk of a complete file of a shared vault, for a member (of the latest epoch: a removed member's row is gone). */
export async function blobGet(ctx: ServerContext, accountId: string, vaultId: string, b: { blob: string; index: number }): Promise<{ data: string; last: boolean }> {
  if (!(await memberRow(ctx, vaultId, accountId))) throw apiError('not_found', 'no such shared vault for this account');
  const blob = await ctx.db.selectFrom('share_blobs').select(['chunks', 'complete']).where('vault_id', '=', vaultId).where('blob_id', '=', b.blob).executeTakeFirst();
  if (!blob?.complete || b.index >= blob.chunks) throw apiError('not_found', `no file ${b.blob} (chunk ${b.index}) in this shared vault on the server`);
  const c = await ctx.db.selectFrom('share_blob_chunks').select('body').where('vault_id', '=', vaultId).where('blob_id', '=', b.blob).where('idx', '=', b.index).executeTakeFirst();
  if (!c) throw apiError('internal', `file ${b.blob} chunk ${b.index} is missing`);
  return { data: c.body, last: b.index === blob.chunks - 1 };
}
