// Registration, activation and password reset. Answers never tell whether an address has an account:
// registering a taken address and asking a reset for an unknown one look exactly like the normal case,
// and a mail goes to the address either way (R28).
import type { ActivatedT, PendingT, RegisterBodyT } from '../protocol/schemas.js';
import { isValidEmail, normalizeEmail } from '../protocol/email.js';
import { isRegion } from '../protocol/regions.js';
import { describeProblems, passwordProblems } from '../protocol/password-policy.js';
import type { Transaction } from 'kysely';
import type { Database } from './db/schema.js';
import type { RequestInfo, ServerContext } from './context.js';
import { apiError } from './errors.js';
import { hashPassword } from './passwords.js';
import { newCode, newId, normalizeCode, sha256Hex } from './tokens.js';
import { recordFailures, requireSecurityCheck } from './throttle.js';
import * as mails from './mails.js';

export const PENDING_REGISTER: PendingT = { status: 'pending', message: 'check your inbox: we sent a message to finish creating the account' };
export const PENDING_RESET: PendingT = { status: 'pending', message: 'check your inbox: if the address has an account, the message holds a reset code' };

/** Waits until `floorMs` have passed since `t0`: the answer then takes as long whatever happened. */
async function padTo(t0: number, floorMs: number): Promise<void> {
  const left = floorMs - (performance.now() - t0);
  if (left > 0) await new Promise((r) => setTimeout(r, left));
}

async function checkPassword(password: string): Promise<void> {
  const problems = await passwordProblems(password);
  if (problems.length > 0) throw apiError('password_policy', describeProblems(problems), { rules: problems });
}

export async function register(ctx: ServerContext, req: RequestInfo, body: RegisterBodyT): Promise<PendingT> {
  const t0 = performance.now();
  const check = ctx.settings.check;
  await requireSecurityCheck(ctx, req, { kinds: ['register'], threshold: check.registerAfter, solution: body.challenge });
  // Every attempt counts, not only visible failures: counting "address in use" alone would reveal it.
  await recordFailures(ctx, req, undefined, 'register');
  const email = normalizeEmail(body.email);
  if (!isValidEmail(email)) throw apiError('invalid_email', 'the email address is not valid');
  if (!isRegion(body.region)) throw apiError('invalid_region', `unknown region "${body.region}" (use an ISO 3166 country code such as DE or US)`);
  await checkPassword(body.password);
  const hash = await hashPassword(body.password);
  for (let attempt = 0; ; attempt++) {
    try {
      const pending = await createOrRenew(ctx, req, email, hash, body);
      await padTo(t0, ctx.settings.pendingFloorMs);
      return pending;
    } catch (e) {
      // Two registrations of one new address at once: the loser sees the winner's row on retry.
      if (attempt > 0 || !isUniqueViolation(e)) throw e;
    }
  }
}

const isUniqueViolation = (e: unknown): boolean => /unique/i.test(String((e as Error)?.message)) || (e as { code?: string })?.code === '23505';

async function createOrRenew(ctx: ServerContext, req: RequestInfo, email: string, hash: string, body: RegisterBodyT): Promise<PendingT> {
  const now = ctx.now();
  const existing = await ctx.db.selectFrom('accounts').select(['id', 'activated_at']).where('email', '=', email).executeTakeFirst();
  if (existing?.activated_at != null) {
    await ctx.mailer.send(mails.alreadyRegistered(ctx, email), req.log);
    return PENDING_REGISTER;
  }
  const accountId = existing?.id ?? newId();
  const code = newCode(15);
  const marketing = body.marketing ? 1 : 0;
  await ctx.db.transaction().execute(async (trx) => {
    if (!existing) {
      await trx
        .insertInto('accounts')
        .values({ id: accountId, email, password_hash: hash, region: body.region, marketing, created_at: now, activated_at: null, disabled_at: null, password_changed_at: now })
        .execute();
    }
    await trx
      .insertInto('activations')
      .values({ code_hash: sha256Hex(normalizeCode(code)), account_id: accountId, password_hash: hash, region: body.region, marketing, expires_at: now + ctx.settings.activationTtlMs })
      .execute();
  });
  await ctx.mailer.send(mails.activation(ctx, email, code), req.log);
  return PENDING_REGISTER;
}

/**
 * What an account that is not activated yet may carry from whoever created it without the mailbox:
 * identity links (older servers linked identities with unverified addresses to such accounts) and,
 * defensively, second factors and sessions. The mailed code activates a clean account (S1).
 */
async function dropForeignState(trx: Transaction<Database>, accountId: string, now: number): Promise<void> {
  for (const t of ['sso_identities', 'totp', 'sms', 'sms_codes', 'recovery_codes', 'tickets'] as const) await trx.deleteFrom(t).where('account_id', '=', accountId).execute();
  await trx.updateTable('sessions').set({ revoked_at: now }).where('account_id', '=', accountId).where('revoked_at', 'is', null).execute();
}

/** The address a live activation code would activate, without changing anything (the page of the mailed link). */
export async function pendingActivation(ctx: ServerContext, code: string): Promise<string | null> {
  const row = await ctx.db
    .selectFrom('activations')
    .innerJoin('accounts', 'accounts.id', 'activations.account_id')
    .select('accounts.email')
    .where('activations.code_hash', '=', sha256Hex(normalizeCode(code)))
    .where('activations.expires_at', '>', ctx.now())
    .where('accounts.activated_at', 'is', null)
    .executeTakeFirst();
  return row?.email ?? null;
}

/** Activates with the settings of the registration that sent this code (not of a later one). */
export async function activate(ctx: ServerContext, code: string): Promise<ActivatedT> {
  const now = ctx.now();
  const codeHash = sha256Hex(normalizeCode(code));
  return ctx.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('activations').selectAll().where('code_hash', '=', codeHash).where('expires_at', '>', now).executeTakeFirst();
    if (!row) throw apiError('invalid_code', 'unknown or expired activation code');
    const res = await trx
      .updateTable('accounts')
      .set({ activated_at: now, password_hash: row.password_hash, region: row.region, marketing: row.marketing, password_changed_at: now, password_usable: 1 })
      .where('id', '=', row.account_id)
      .where('activated_at', 'is', null)
      .executeTakeFirst();
    await trx.deleteFrom('activations').where('account_id', '=', row.account_id).execute();
    if (Number(res.numUpdatedRows) !== 1) throw apiError('invalid_code', 'unknown or expired activation code');
    await dropForeignState(trx, row.account_id, now);
    const acct = await trx.selectFrom('accounts').select('email').where('id', '=', row.account_id).executeTakeFirstOrThrow();
    return { status: 'activated', email: acct.email } as const;
  });
}

export async function requestReset(ctx: ServerContext, req: RequestInfo, body: { email: string; challenge?: RegisterBodyT['challenge'] }): Promise<PendingT> {
  const t0 = performance.now();
  const email = normalizeEmail(body.email);
  await requireSecurityCheck(ctx, req, { email, kinds: ['reset'], threshold: ctx.settings.check.registerAfter, solution: body.challenge });
  await recordFailures(ctx, req, email, 'reset');
  if (!isValidEmail(email)) throw apiError('invalid_email', 'the email address is not valid');
  const acct = await ctx.db.selectFrom('accounts').select(['id', 'disabled_at']).where('email', '=', email).executeTakeFirst();
  if (!acct || acct.disabled_at != null) {
    await ctx.mailer.send(mails.resetUnknown(ctx, email), req.log);
    await padTo(t0, ctx.settings.pendingFloorMs);
    return PENDING_RESET;
  }
  const code = newCode(15);
  await ctx.db
    .insertInto('resets')
    .values({ code_hash: sha256Hex(normalizeCode(code)), account_id: acct.id, expires_at: ctx.now() + ctx.settings.resetTtlMs })
    .execute();
  await ctx.mailer.send(mails.reset(ctx, email, code), req.log);
  await padTo(t0, ctx.settings.pendingFloorMs);
  return PENDING_RESET;
}

/** Sets a new account password and signs every device out. The vault is not involved (R36). */
export async function confirmReset(ctx: ServerContext, req: RequestInfo, body: { code: string; password: string }): Promise<void> {
  const now = ctx.now();
  const codeHash = sha256Hex(normalizeCode(body.code));
  const row = await ctx.db.selectFrom('resets').selectAll().where('code_hash', '=', codeHash).where('expires_at', '>', now).executeTakeFirst();
  if (!row) throw apiError('invalid_code', 'unknown or expired reset code');
  await checkPassword(body.password);
  const hash = await hashPassword(body.password);
  await ctx.db.transaction().execute(async (trx) => {
    const gone = await trx.deleteFrom('resets').where('code_hash', '=', codeHash).executeTakeFirst();
    if (Number(gone.numDeletedRows) !== 1) throw apiError('invalid_code', 'unknown or expired reset code');
    await trx.deleteFrom('resets').where('account_id', '=', row.account_id).execute();
    await trx.updateTable('accounts').set({ password_hash: hash, password_changed_at: now, password_usable: 1 }).where('id', '=', row.account_id).execute();
    // Receiving the code proves the address, so an account not yet activated is activated too,
    // and then carries nothing made before by someone who did not have the address (S1).
    const activated = await trx.updateTable('accounts').set({ activated_at: now }).where('id', '=', row.account_id).where('activated_at', 'is', null).executeTakeFirst();
    if (Number(activated.numUpdatedRows) === 1) await dropForeignState(trx, row.account_id, now);
    await trx.updateTable('sessions').set({ revoked_at: now }).where('account_id', '=', row.account_id).where('revoked_at', 'is', null).execute();
  });
  req.log.info({ account: row.account_id }, 'account password reset; all sessions revoked');
}

/** The marketing consent, as the account owner changes it (the region only an administrator changes). */
export async function setMarketing(ctx: ServerContext, accountId: string, marketing: boolean): Promise<void> {
  await ctx.db.updateTable('accounts').set({ marketing: marketing ? 1 : 0 }).where('id', '=', accountId).execute();
}

/** Every table that holds rows of an account (the account row itself goes last). */
const ACCOUNT_TABLES = [
  'sessions', 'tickets', 'activations', 'resets', 'totp', 'sms', 'sms_codes', 'recovery_codes', 'sso_identities', 'sso_flows',
  'service_tokens', 'sync_blob_chunks', 'sync_blobs', 'sync_records', 'sync_vaults', 'sync_keyrings',
  'share_identities', 'share_pins', 'share_leaves', 'share_members',
] as const;

/** Every table that holds rows of a shared vault (the vault row itself goes last). */
const SHARED_VAULT_TABLES = ['share_blob_chunks', 'share_blobs', 'share_records', 'share_leaves', 'share_members', 'share_memberships', 'service_tokens'] as const;

/**
 * Deletes the account and everything the server holds for it (sessions, second factors, identity
 * links, service tokens, synced vault data; its sharing identity, pin state and memberships, and
 * the shared vaults it owns with all their rows, other members' tokens of them included). Vaults on
 * the devices are not touched. What stays: the records it wrote into other accounts' shared vaults
 * (their signed history, sealed under their keys), and its address in those vaults' signed
 * memberships until their owners remove it. The caller re-authenticated (password and, with
 * two-step verification on, a code). Tested by test/unit/server-account-delete.test.ts.
 */
export async function deleteAccount(ctx: ServerContext, req: RequestInfo, accountId: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const owned = (await trx.selectFrom('share_vaults').select('vault_id').where('owner_id', '=', accountId).execute()).map((r) => r.vault_id);
    if (owned.length) {
      for (const t of SHARED_VAULT_TABLES) await trx.deleteFrom(t).where('vault_id', 'in', owned).execute();
      await trx.deleteFrom('share_vaults').where('vault_id', 'in', owned).execute();
    }
    for (const t of ACCOUNT_TABLES) await trx.deleteFrom(t).where('account_id', '=', accountId).execute();
    await trx.deleteFrom('accounts').where('id', '=', accountId).execute();
  });
  req.log.info({ account: accountId }, 'account deleted by its owner');
}
