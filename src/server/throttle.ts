// The security check (R29, R30). Failures are rows in the database, counted per account (the
// normalised email, whether or not an account has it) and per source address:
//  - past `after` failures within `windowMs`, a solved challenge is required BEFORE the password is
//    looked at;
//  - past `hourlyCap` failed verifications of one account within an hour, attempts are refused
//    without any verification until the oldest failure is an hour old.
// A verification reserves its failure row before the password is checked and drops it on success,
// so concurrent attempts (on any number of instances) can never exceed the cap.
import type { ChallengeSolutionT } from '../protocol/schemas.js';
import type { RequestInfo, ServerContext } from './context.js';
import { apiError } from './errors.js';
import { newChallenge, checkSolution } from './challenges.js';
import { newId } from './tokens.js';
import { plural } from '../core/text.js';

export const HOUR_MS = 3600_000;
export type Scope = 'acct' | 'ip';
/** What counts toward the sign-in check and the hourly cap. */
export const LOGIN_KINDS = ['password', 'otp'];

export async function countFailures(ctx: ServerContext, scope: Scope, key: string, kinds: string[], since: number): Promise<number> {
  const row = await ctx.db
    .selectFrom('failures')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('scope', '=', scope)
    .where('key', '=', key)
    .where('at', '>', since)
    .where('kind', 'in', kinds)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function recordFailure(ctx: ServerContext, scope: Scope, key: string, kind: string): Promise<string> {
  const id = newId();
  await ctx.db.insertInto('failures').values({ id, scope, key, kind, at: ctx.now() }).execute();
  return id;
}

/** Records one failure for the account (if known by email) and one for the address. */
export async function recordFailures(ctx: ServerContext, req: RequestInfo, email: string | undefined, kind: string): Promise<string[]> {
  const ids = [await recordFailure(ctx, 'ip', req.ip, kind)];
  if (email !== undefined) ids.push(await recordFailure(ctx, 'acct', email, kind));
  return ids;
}

/** Failed sign-in verifications of an account in the last hour, and when the oldest of them was. */
async function hourly(ctx: ServerContext, email: string): Promise<{ n: number; oldest: number | null }> {
  const row = await ctx.db
    .selectFrom('failures')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min<number>('at').as('oldest')])
    .where('scope', '=', 'acct')
    .where('key', '=', email)
    .where('at', '>', ctx.now() - HOUR_MS)
    .where('kind', 'in', LOGIN_KINDS)
    .executeTakeFirstOrThrow();
  return { n: Number(row.n), oldest: row.oldest == null ? null : Number(row.oldest) };
}

function tooMany(ctx: ServerContext, oldest: number | null): never {
  const retryAfter = Math.max(1, Math.ceil(((oldest ?? ctx.now()) + HOUR_MS - ctx.now()) / 1000));
  throw apiError('too_many_attempts', `too many failed attempts for this account; try again in ${plural(Math.ceil(retryAfter / 60), 'minute')}`, { retryAfter });
}

/** Refuses at once (429) when the account already used up its hourly failures. */
export async function checkHourlyCap(ctx: ServerContext, email: string): Promise<void> {
  const h = await hourly(ctx, email);
  if (h.n >= ctx.settings.check.hourlyCap) tooMany(ctx, h.oldest);
}

/**
 * Reserves one failed verification for the account and the address before a password is checked.
 * Call `succeeded()` when it turned out right: the reservation is dropped.
 */
export async function reserveVerification(ctx: ServerContext, req: RequestInfo, email: string): Promise<{ succeeded(): Promise<void> }> {
  const ids = await recordFailures(ctx, req, email, 'password');
  const h = await hourly(ctx, email);
  const drop = () => ctx.db.deleteFrom('failures').where('id', 'in', ids).execute().then(() => undefined);
  if (h.n > ctx.settings.check.hourlyCap) {
    await drop();
    tooMany(ctx, h.oldest);
  }
  return { succeeded: drop };
}

/**
 * Throws challenge_required (with a fresh challenge) when the account or the address is past
 * `threshold` failures of `kinds` in the window, unless `solution` solves an open challenge.
 */
export async function requireSecurityCheck(
  ctx: ServerContext,
  req: RequestInfo,
  o: { email?: string; kinds: string[]; threshold: number; solution?: ChallengeSolutionT },
): Promise<void> {
  const since = ctx.now() - ctx.settings.check.windowMs;
  const needed =
    (o.email !== undefined && (await countFailures(ctx, 'acct', o.email, o.kinds, since)) >= o.threshold) ||
    (await countFailures(ctx, 'ip', req.ip, o.kinds, since)) >= o.threshold;
  if (!needed) return;
  if (!o.solution) throw apiError('challenge_required', 'security check: solve the challenge and send the request again', { challenge: await newChallenge(ctx) });
  if (!(await checkSolution(ctx, o.solution))) {
    throw apiError('challenge_failed', 'security check failed: the answer was wrong or the challenge expired', { challenge: await newChallenge(ctx) });
  }
}

/** Deletes what no rule looks at any more: old failures, expired challenges, tickets, codes and sessions. */
export async function prune(ctx: ServerContext): Promise<void> {
  const now = ctx.now();
  const db = ctx.db;
  await db.deleteFrom('failures').where('at', '<', now - Math.max(HOUR_MS, ctx.settings.check.windowMs)).execute();
  await db.deleteFrom('challenges').where('expires_at', '<', now).execute();
  await db.deleteFrom('tickets').where('expires_at', '<', now).execute();
  await db.deleteFrom('activations').where('expires_at', '<', now).execute();
  await db.deleteFrom('resets').where('expires_at', '<', now).execute();
  await db.deleteFrom('sms_codes').where('expires_at', '<', now).execute();
  await db.deleteFrom('sessions').where('refresh_expires_at', '<', now).execute();
  await db.deleteFrom('sso_flows').where('expires_at', '<', now).execute();
}
