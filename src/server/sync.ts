// Sync storage: the server keeps, per account, one keyring envelope and per vault a key envelope and
// an append-only log of records, each numbered by a revision. All of it is opaque to the server: it
// cannot read or forge any of it, and every way it could misbehave (drop, reorder, replay, roll back,
// swap) is detected by the client (src/sync/engine.ts, docs/SECURITY.md). What the server enforces is
// ordering: an envelope changes only from the epoch the writer saw, and a push appends only on top of
// the head it was based on, so concurrent writers never interleave and a manifest always describes
// exactly the records before it.
import { sql } from 'kysely';
import type { PullResultT, SyncStateT } from '../protocol/schemas.js';
import type { ServerContext } from './context.js';
import { apiError } from './errors.js';

/** A pull page carries records up to about this many base64 characters (at least one record). */
export const PULL_PAGE_CHARS = 4 * 1024 * 1024;

export async function state(ctx: ServerContext, accountId: string): Promise<SyncStateT> {
  const kr = await ctx.db.selectFrom('sync_keyrings').select(['epoch', 'body']).where('account_id', '=', accountId).executeTakeFirst();
  const vaults = await ctx.db
    .selectFrom('sync_vaults')
    .select(['vault_id', 'epoch', 'body', 'head', 'generation'])
    .where('account_id', '=', accountId)
    .orderBy('vault_id')
    .execute();
  return {
    keyring: kr ? { epoch: Number(kr.epoch), body: kr.body } : null,
    vaults: vaults.map((v) => ({ id: v.vault_id, epoch: Number(v.epoch), body: v.body, head: Number(v.head), generation: Number(v.generation) })),
  };
}

interface PutEnvelope {
  expectedEpoch: number;
  epoch: number;
  body: string;
}

function checkEpochs(b: PutEnvelope): void {
  if (b.epoch <= b.expectedEpoch) throw apiError('bad_request', 'the new epoch must be above the expected one');
}

const stale = (what: string, current: number) => apiError('conflict', `${what} changed meanwhile (epoch ${current}); sync again`);

export async function putKeyring(ctx: ServerContext, accountId: string, b: PutEnvelope): Promise<{ epoch: number }> {
  checkEpochs(b);
  const now = ctx.now();
  return ctx.db.transaction().execute(async (trx) => {
    if (b.expectedEpoch === 0) {
      const cur = await trx.selectFrom('sync_keyrings').select('epoch').where('account_id', '=', accountId).executeTakeFirst();
      if (cur) throw stale('the keyring', Number(cur.epoch));
      await trx.insertInto('sync_keyrings').values({ account_id: accountId, epoch: b.epoch, body: b.body, updated_at: now }).execute();
    } else {
      const r = await trx
        .updateTable('sync_keyrings')
        .set({ epoch: b.epoch, body: b.body, updated_at: now })
        .where('account_id', '=', accountId)
        .where('epoch', '=', b.expectedEpoch)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) {
        const cur = await trx.selectFrom('sync_keyrings').select('epoch').where('account_id', '=', accountId).executeTakeFirst();
        throw stale('the keyring', Number(cur?.epoch ?? 0));
      }
    }
    return { epoch: b.epoch };
  });
}

export async function putVault(ctx: ServerContext, accountId: string, vaultId: string, b: PutEnvelope): Promise<{ epoch: number }> {
  checkEpochs(b);
  const now = ctx.now();
  return ctx.db.transaction().execute(async (trx) => {
    const cur = await trx.selectFrom('sync_vaults').select('epoch').where('account_id', '=', accountId).where('vault_id', '=', vaultId).executeTakeFirst();
    if (b.expectedEpoch === 0) {
      if (cur) throw stale('the vault', Number(cur.epoch));
      await trx.insertInto('sync_vaults').values({ account_id: accountId, vault_id: vaultId, epoch: b.epoch, body: b.body, head: 0, manifest: null, generation: 1, updated_at: now }).execute();
      return { epoch: b.epoch };
    }
    const r = await trx
      .updateTable('sync_vaults')
      .set({ epoch: b.epoch, body: b.body, updated_at: now })
      .where('account_id', '=', accountId)
      .where('vault_id', '=', vaultId)
      .where('epoch', '=', b.expectedEpoch)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      if (!cur) throw apiError('not_found', 'no such vault on the server');
      throw stale('the vault', Number(cur.epoch));
    }
    return { epoch: b.epoch };
  });
}

/**
 * The records of a service-token pull's page (docs/PROTOCOL.md "Service tokens"): at most as many as
 * come before it, and at least this many: the first pages are small, so that the client verifies one
 * while the server reads the next (a whole vault in about log2(head / 500) pages, each page also
 * within PULL_PAGE_CHARS).
 */
export const TOKEN_FIRST_PAGE_RECORDS = 500;
export const tokenPageRecords = (after: number): number => Math.max(TOKEN_FIRST_PAGE_RECORDS, after);

/** A page of the log after `after`: up to PULL_PAGE_CHARS, and up to `maxRecords` records (at least one). */
export async function pull(ctx: ServerContext, accountId: string, vaultId: string, after: number, maxRecords = Infinity): Promise<PullResultT> {
  const v = await ctx.db.selectFrom('sync_vaults').select(['head', 'manifest', 'generation']).where('account_id', '=', accountId).where('vault_id', '=', vaultId).executeTakeFirst();
  if (!v) throw apiError('not_found', 'no such vault on the server');
  const head = Number(v.head);
  const records: string[] = [];
  let next = after + 1;
  let chars = 0;
  const last = Math.min(head, after + Math.max(1, maxRecords));
  // Records above the head read with it belong to a later push (committed meanwhile): not this page's.
  while (next <= last && chars < PULL_PAGE_CHARS) {
    const rows = await ctx.db
      .selectFrom('sync_records')
      .select(['rev', 'body'])
      .where('account_id', '=', accountId)
      .where('vault_id', '=', vaultId)
      .where('rev', '>=', next)
      .where('rev', '<=', last)
      .orderBy('rev')
      .limit(2000)
      .execute();
    if (rows.length === 0) break;
    for (const r of rows) {
      if (Number(r.rev) !== next) throw apiError('internal', `record ${next} of vault ${vaultId} is missing`);
      records.push(r.body);
      chars += r.body.length;
      next++;
      if (chars >= PULL_PAGE_CHARS) break;
    }
  }
  return { head, from: after + 1, records, manifest: v.manifest, more: next <= head, generation: Number(v.generation) };
}

export async function push(ctx: ServerContext, accountId: string, vaultId: string, b: { base: number; records: string[]; manifest: string; generation?: number }): Promise<{ head: number }> {
  const head = b.base + b.records.length;
  const now = ctx.now();
  return ctx.db.transaction().execute(async (trx) => {
    // Moving the head first makes a concurrent push on the same base find nothing to update.
    let q = trx
      .updateTable('sync_vaults')
      .set({ head, manifest: b.manifest, updated_at: now })
      .where('account_id', '=', accountId)
      .where('vault_id', '=', vaultId)
      .where('head', '=', b.base);
    if (b.generation !== undefined) q = q.where('generation', '=', b.generation); // a compaction meanwhile: stale
    const r = await q.executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      const cur = await trx.selectFrom('sync_vaults').select('head').where('account_id', '=', accountId).where('vault_id', '=', vaultId).executeTakeFirst();
      if (!cur) throw apiError('not_found', 'no such vault on the server');
      throw apiError('conflict', `the vault has changed since revision ${b.base} (now ${Number(cur.head)}); pull first`);
    }
    for (let i = 0; i < b.records.length; i += 200) {
      await trx
        .insertInto('sync_records')
        .values(b.records.slice(i, i + 200).map((body, j) => ({ account_id: accountId, vault_id: vaultId, rev: b.base + i + j + 1, body })))
        .execute();
    }
    return { head };
  });
}

/**
 * Compaction (docs/PROTOCOL.md "Compaction"): replaces generation `generation` of a vault's log, at
 * head `base` exactly, with `records` as generation + 1 (revisions from 1) and its signed manifest.
 * The old rows are deleted in the same transaction; SQLite runs with secure_delete and the WAL is
 * truncated afterwards, so the dropped ciphertext is not left in the database files.
 */
export async function compact(ctx: ServerContext, accountId: string, vaultId: string, b: { generation: number; base: number; records: string[]; manifest: string }): Promise<{ head: number; generation: number }> {
  const now = ctx.now();
  const generation = b.generation + 1;
  const head = b.records.length;
  const out = await ctx.db.transaction().execute(async (trx) => {
    const r = await trx
      .updateTable('sync_vaults')
      .set({ head, generation, manifest: head > 0 ? b.manifest : null, updated_at: now })
      .where('account_id', '=', accountId)
      .where('vault_id', '=', vaultId)
      .where('head', '=', b.base)
      .where('generation', '=', b.generation)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      const cur = await trx.selectFrom('sync_vaults').select(['head', 'generation']).where('account_id', '=', accountId).where('vault_id', '=', vaultId).executeTakeFirst();
      if (!cur) throw apiError('not_found', 'no such vault on the server');
      throw apiError('conflict', `the vault has changed since generation ${b.generation} revision ${b.base} (now ${Number(cur.generation)} / ${Number(cur.head)}); pull first`);
    }
    await trx.deleteFrom('sync_records').where('account_id', '=', accountId).where('vault_id', '=', vaultId).execute();
    for (let i = 0; i < b.records.length; i += 200) {
      await trx
        .insertInto('sync_records')
        .values(b.records.slice(i, i + 200).map((body, j) => ({ account_id: accountId, vault_id: vaultId, rev: i + j + 1, body })))
        .execute();
    }
    return { head, generation };
  });
  if (ctx.engine === 'sqlite') await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(ctx.db);
  return out;
}

// ------------------------------------------------------------------ blobs (document contents)

export async function blobsHave(ctx: ServerContext, accountId: string, ids: string[]): Promise<{ have: string[] }> {
  if (ids.length === 0) return { have: [] };
  const rows = await ctx.db.selectFrom('sync_blobs').select('blob_id').where('account_id', '=', accountId).where('blob_id', 'in', ids).where('complete', '=', 1).execute();
  return { have: rows.map((r) => r.blob_id) };
}

/** Stores one chunk; the last one completes the blob. A complete blob never changes (idempotent). */
export async function blobPut(ctx: ServerContext, accountId: string, blobId: string, b: { index: number; data: string; last: boolean }): Promise<{ status: 'ok' }> {
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    const cur = await trx.selectFrom('sync_blobs').select(['complete']).where('account_id', '=', accountId).where('blob_id', '=', blobId).executeTakeFirst();
    if (cur?.complete) return;
    if (!cur) await trx.insertInto('sync_blobs').values({ account_id: accountId, blob_id: blobId, chunks: 0, complete: 0, updated_at: now }).execute();
    await trx.deleteFrom('sync_blob_chunks').where('account_id', '=', accountId).where('blob_id', '=', blobId).where('idx', '=', b.index).execute();
    await trx.insertInto('sync_blob_chunks').values({ account_id: accountId, blob_id: blobId, idx: b.index, body: b.data }).execute();
    if (b.last) {
      const n = await trx.selectFrom('sync_blob_chunks').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', accountId).where('blob_id', '=', blobId).where('idx', '<=', b.index).executeTakeFirstOrThrow();
      if (Number(n.n) !== b.index + 1) throw apiError('bad_request', `blob ${blobId}: chunks before ${b.index} are missing`);
      await trx.updateTable('sync_blobs').set({ chunks: b.index + 1, complete: 1, updated_at: now }).where('account_id', '=', accountId).where('blob_id', '=', blobId).execute();
    }
  });
  return { status: 'ok' };
}

export async function blobGet(ctx: ServerContext, accountId: string, blobId: string, index: number): Promise<{ data: string; last: boolean }> {
  const blob = await ctx.db.selectFrom('sync_blobs').select(['chunks', 'complete']).where('account_id', '=', accountId).where('blob_id', '=', blobId).executeTakeFirst();
  if (!blob?.complete || index >= blob.chunks) throw apiError('not_found', `no blob ${blobId} (chunk ${index}) on the server`);
  const c = await ctx.db.selectFrom('sync_blob_chunks').select('body').where('account_id', '=', accountId).where('blob_id', '=', blobId).where('idx', '=', index).executeTakeFirst();
  if (!c) throw apiError('internal', `blob ${blobId} chunk ${index} is missing`);
  return { data: c.body, last: index === blob.chunks - 1 };
}
