// Sign-in, device sessions and bearer tokens. A session is one device: a refresh token (rotated on
// every use) and the current short-lived access token; the database keeps SHA-256 digests only.
import type { AccountT, DeviceT, LoginBodyT, LoginResultT, OtpMethod, TokensT } from '../protocol/schemas.js';
import { normalizeEmail } from '../protocol/email.js';
import { type RequestInfo, type ServerContext, iso } from './context.js';
import { apiError } from './errors.js';
import { verifyDummy, verifyPassword } from './passwords.js';
import { newId, newToken, sha256Hex } from './tokens.js';
import { checkHourlyCap, LOGIN_KINDS, requireSecurityCheck, reserveVerification } from './throttle.js';
import * as twofactor from './twofactor.js';
import { prepared } from './db/prepared.js';

export interface AuthInfo {
  sessionId: string;
  accountId: string;
  email: string;
  deviceName: string;
}

const WRONG = 'wrong email or password';
const DISABLED = 'this account is disabled; contact the administrator of the server';

/** A fresh token pair, its digests and expiry times. */
function newTokens(ctx: ServerContext) {
  const now = ctx.now();
  const accessToken = newToken('a');
  const refreshToken = newToken('r');
  return {
    accessToken,
    refreshToken,
    row: {
      access_hash: sha256Hex(accessToken),
      access_expires_at: now + ctx.settings.accessTtlMs,
      refresh_hash: sha256Hex(refreshToken),
      refresh_expires_at: now + ctx.settings.refreshTtlMs,
    },
  };
}

function tokensView(t: ReturnType<typeof newTokens>, account: { id: string; email: string }, device: { id: string; name: string }): TokensT {
  return {
    accessToken: t.accessToken,
    accessExpiresAt: iso(t.row.access_expires_at),
    refreshToken: t.refreshToken,
    refreshExpiresAt: iso(t.row.refresh_expires_at),
    account: { id: account.id, email: account.email },
    device,
  };
}

async function issueSession(ctx: ServerContext, account: { id: string; email: string }, deviceName: string): Promise<TokensT> {
  const now = ctx.now();
  const t = newTokens(ctx);
  const id = newId(8);
  await ctx.db
    .insertInto('sessions')
    .values({
      id,
      account_id: account.id,
      name: deviceName,
      created_at: now,
      last_seen_at: now,
      ...t.row,
      revoked_at: null,
    })
    .execute();
  return tokensView(t, account, { id, name: deviceName });
}

/** Email + password, then (when the account has it) a second factor, then a device session. */
export async function login(ctx: ServerContext, req: RequestInfo, body: LoginBodyT): Promise<LoginResultT> {
  const email = normalizeEmail(body.email);
  await checkHourlyCap(ctx, email);
  await requireSecurityCheck(ctx, req, { email, kinds: LOGIN_KINDS, threshold: ctx.settings.check.after, solution: body.challenge });
  const reservation = await reserveVerification(ctx, req, email);
  const acct = await ctx.db.selectFrom('accounts').selectAll().where('email', '=', email).executeTakeFirst();
  const ok = acct ? await verifyPassword(acct.password_hash, body.password) : await verifyDummy(body.password);
  if (!acct || !ok) throw apiError('invalid_credentials', WRONG);
  await reservation.succeeded();
  return signIn(ctx, req, acct, body.deviceName, body.otp);
}

/**
 * The account is identified (password, or an identity provider): refuses disabled and unactivated
 * accounts, then a session, or (two-step verification on) a second factor or an `otp_required` ticket.
 */
export async function signIn(
  ctx: ServerContext,
  req: RequestInfo,
  acct: { id: string; email: string; disabled_at: number | null; activated_at: number | null },
  deviceName: string,
  otp?: string,
): Promise<LoginResultT> {
  if (acct.disabled_at != null) throw apiError('account_disabled', DISABLED);
  if (acct.activated_at == null) throw apiError('account_not_activated', 'the account is not activated yet: run `kpm activate` and enter the code from the activation mail');
  const who = { accountId: acct.id, email: acct.email };
  const tf = await twofactor.status(ctx, acct.id);
  if (!twofactor.isOn(tf)) return { status: 'ok', ...(await issueSession(ctx, acct, deviceName)) };
  if (otp !== undefined) {
    await twofactor.verifySecondFactor(ctx, req, who, otp);
    return { status: 'ok', ...(await issueSession(ctx, acct, deviceName)) };
  }
  const ticket = newToken('t');
  await ctx.db
    .insertInto('tickets')
    .values({ ticket_hash: sha256Hex(ticket), account_id: acct.id, device_name: deviceName, expires_at: ctx.now() + ctx.settings.ticketTtlMs, tries: 0 })
    .execute();
  const methods: OtpMethod[] = [...(tf.totp ? (['totp'] as const) : []), ...(tf.sms ? (['sms'] as const) : []), 'recovery'];
  const result: LoginResultT = { status: 'otp_required', ticket, methods };
  if (tf.sms && !tf.totp) {
    const phone = await ctx.db.selectFrom('sms').select('phone').where('account_id', '=', acct.id).executeTakeFirstOrThrow();
    result.smsSentTo = await twofactor.sendSmsCode(ctx, acct.id, phone.phone, 'login');
  }
  return result;
}

/** The second step of a sign-in: the ticket from `login` and a code. At most 5 tries per ticket. */
export async function loginOtp(ctx: ServerContext, req: RequestInfo, body: { ticket: string; code: string }): Promise<LoginResultT> {
  const hash = sha256Hex(body.ticket);
  const t = await ctx.db.selectFrom('tickets').selectAll().where('ticket_hash', '=', hash).where('expires_at', '>', ctx.now()).executeTakeFirst();
  if (!t) throw apiError('invalid_otp', 'the sign-in has expired; sign in again', { signInAgain: true });
  const acct = await ctx.db.selectFrom('accounts').select(['id', 'email', 'disabled_at']).where('id', '=', t.account_id).executeTakeFirstOrThrow();
  await checkHourlyCap(ctx, acct.email);
  const counted = await ctx.db.updateTable('tickets').set((eb) => ({ tries: eb('tries', '+', 1) })).where('ticket_hash', '=', hash).where('tries', '<', 5).executeTakeFirst();
  if (Number(counted.numUpdatedRows) !== 1) {
    await ctx.db.deleteFrom('tickets').where('ticket_hash', '=', hash).execute();
    throw apiError('invalid_otp', 'too many wrong codes; sign in again', { signInAgain: true });
  }
  await twofactor.verifySecondFactor(ctx, req, { accountId: acct.id, email: acct.email }, body.code);
  const gone = await ctx.db.deleteFrom('tickets').where('ticket_hash', '=', hash).executeTakeFirst();
  if (Number(gone.numDeletedRows) !== 1) throw apiError('invalid_otp', 'the sign-in has expired; sign in again', { signInAgain: true });
  if (acct.disabled_at != null) throw apiError('account_disabled', DISABLED);
  return { status: 'ok', ...(await issueSession(ctx, acct, t.device_name)) };
}

/** New access and refresh tokens for a refresh token; the old refresh token stops working. */
export async function refresh(ctx: ServerContext, refreshToken: string): Promise<TokensT> {
  const now = ctx.now();
  const oldHash = sha256Hex(refreshToken);
  const row = await ctx.db
    .selectFrom('sessions')
    .innerJoin('accounts', 'accounts.id', 'sessions.account_id')
    .select(['sessions.id', 'sessions.name', 'sessions.revoked_at', 'sessions.refresh_expires_at', 'accounts.id as account_id', 'accounts.email', 'accounts.disabled_at'])
    .where('sessions.refresh_hash', '=', oldHash)
    .executeTakeFirst();
  if (!row || row.revoked_at != null || row.refresh_expires_at <= now) throw apiError('unauthorized', 'this device is signed out; sign in again', { signInAgain: true });
  if (row.disabled_at != null) throw apiError('account_disabled', DISABLED);
  const t = newTokens(ctx);
  const res = await ctx.db
    .updateTable('sessions')
    .set({ ...t.row, last_seen_at: now })
    .where('id', '=', row.id)
    .where('refresh_hash', '=', oldHash)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw apiError('unauthorized', 'this device is signed out; sign in again', { signInAgain: true });
  return tokensView(t, { id: row.account_id, email: row.email }, { id: row.id, name: row.name });
}

const sessionByAccessHash = prepared((db) =>
  db
    .selectFrom('sessions')
    .innerJoin('accounts', 'accounts.id', 'sessions.account_id')
    .select(['sessions.id', 'sessions.name', 'sessions.access_expires_at', 'sessions.revoked_at', 'sessions.last_seen_at', 'accounts.id as account_id', 'accounts.email', 'accounts.disabled_at'])
    .where('sessions.access_hash', '=', ''),
);

/** `kpm devices` LAST SEEN: moved by authenticated requests, at most once a minute per device (one write). */
export const LAST_SEEN_EVERY_MS = 60_000;

/** The session behind an `Authorization: Bearer kpa_…` header (one indexed query). */
export async function authenticate(ctx: ServerContext, header: string | undefined): Promise<AuthInfo> {
  const m = /^Bearer (kpa_[A-Za-z0-9_-]{20,100})$/.exec(header ?? '');
  if (!m) throw apiError('unauthorized', header ? 'malformed access token' : 'sign in first: this request needs an access token');
  const [row] = await sessionByAccessHash(ctx.db, sha256Hex(m[1]));
  if (!row || row.revoked_at != null) throw apiError('unauthorized', 'unknown or revoked access token');
  if (row.access_expires_at <= ctx.now()) throw apiError('token_expired', 'the access token has expired; refresh it');
  if (row.disabled_at != null) throw apiError('account_disabled', DISABLED);
  const now = ctx.now();
  if (now - row.last_seen_at >= LAST_SEEN_EVERY_MS) {
    await ctx.db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', row.id).where('last_seen_at', '<=', now - LAST_SEEN_EVERY_MS).execute();
  }
  return { sessionId: row.id, accountId: row.account_id, email: row.email, deviceName: row.name };
}

export async function logout(ctx: ServerContext, auth: AuthInfo): Promise<void> {
  await ctx.db.updateTable('sessions').set({ revoked_at: ctx.now() }).where('id', '=', auth.sessionId).execute();
}

export async function account(ctx: ServerContext, auth: AuthInfo): Promise<AccountT> {
  const a = await ctx.db.selectFrom('accounts').selectAll().where('id', '=', auth.accountId).executeTakeFirstOrThrow();
  return {
    id: a.id,
    email: a.email,
    region: a.region,
    marketing: a.marketing === 1,
    activated: a.activated_at != null,
    createdAt: iso(a.created_at),
    twoFactor: await twofactor.status(ctx, a.id),
    device: { id: auth.sessionId, name: auth.deviceName },
  };
}

const deviceView = (auth: AuthInfo, s: { id: string; name: string; created_at: number; last_seen_at: number }): DeviceT => ({
  id: s.id,
  name: s.name,
  createdAt: iso(s.created_at),
  lastSeenAt: iso(s.last_seen_at),
  current: s.id === auth.sessionId,
});

const devicesOf = prepared((db) =>
  db
    .selectFrom('sessions')
    .select(['id', 'name', 'created_at', 'last_seen_at'])
    .where('account_id', '=', '')
    .where('revoked_at', 'is', null)
    .where('refresh_expires_at', '>', 0)
    .orderBy('created_at'),
);

export async function devices(ctx: ServerContext, auth: AuthInfo): Promise<DeviceT[]> {
  const rows = await devicesOf(ctx.db, auth.accountId, ctx.now());
  return rows.map((r) => deviceView(auth, r));
}

export async function renameDevice(ctx: ServerContext, auth: AuthInfo, id: string, name: string): Promise<DeviceT> {
  const res = await ctx.db.updateTable('sessions').set({ name }).where('id', '=', id).where('account_id', '=', auth.accountId).where('revoked_at', 'is', null).executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw apiError('not_found', `no device ${id}`);
  const row = await ctx.db.selectFrom('sessions').select(['id', 'name', 'created_at', 'last_seen_at']).where('id', '=', id).executeTakeFirstOrThrow();
  return deviceView(auth, row);
}

export async function revokeDevice(ctx: ServerContext, auth: AuthInfo, id: string): Promise<void> {
  const res = await ctx.db.updateTable('sessions').set({ revoked_at: ctx.now() }).where('id', '=', id).where('account_id', '=', auth.accountId).where('revoked_at', 'is', null).executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw apiError('not_found', `no device ${id}`);
}

/**
 * Re-authentication for changes that could lock the owner out or let someone else in (two-step
 * verification on or off, a new second factor, linking an identity): a session alone is not enough,
 * the account password must come with the request. Counts toward the hourly cap like a sign-in.
 * An account without a usable password (made through an identity provider) must set one first.
 */
export async function reauthenticate(ctx: ServerContext, req: RequestInfo, auth: AuthInfo, password: string): Promise<void> {
  await checkHourlyCap(ctx, auth.email);
  const acct = await ctx.db.selectFrom('accounts').select(['password_hash', 'password_usable']).where('id', '=', auth.accountId).executeTakeFirstOrThrow();
  if (acct.password_usable === 0) {
    throw apiError('forbidden', 'this change needs the account password, and this account has none yet: set one with `kpm account reset-password` first');
  }
  const reservation = await reserveVerification(ctx, req, auth.email);
  if (!(await verifyPassword(acct.password_hash, password))) throw apiError('invalid_credentials', 'wrong account password');
  await reservation.succeeded();
}

/** Password and a current code, for turning two-step verification off. */
export async function disableTwoFactor(ctx: ServerContext, req: RequestInfo, auth: AuthInfo, password: string, code: string): Promise<void> {
  await reauthenticate(ctx, req, auth, password);
  const who = { accountId: auth.accountId, email: auth.email };
  if (twofactor.isOn(await twofactor.status(ctx, auth.accountId))) await twofactor.verifySecondFactor(ctx, req, who, code);
  await twofactor.disable(ctx, auth.accountId);
  req.log.info({ account: auth.accountId }, 'two-step verification disabled');
}


/** Signs out every device of the account but the current one; returns how many. */
export async function revokeOtherDevices(ctx: ServerContext, auth: AuthInfo): Promise<number> {
  const res = await ctx.db.updateTable('sessions').set({ revoked_at: ctx.now() }).where('account_id', '=', auth.accountId).where('id', '!=', auth.sessionId).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/**
 * A browser session of the account pages: a device session like any other (listed, revocable),
 * whose access token lives in an HttpOnly cookie. Its refresh token is never handed out, and both
 * expiry times are the idle expiry: `idleMs` after the last request, `maxMs` after sign-in at the
 * latest. An idle session so drops out of the device list by itself.
 */
export async function limitWebSession(ctx: ServerContext, sessionId: string, idleMs: number, maxMs: number): Promise<void> {
  const until = ctx.now() + Math.min(idleMs, maxMs);
  await ctx.db.updateTable('sessions').set({ access_expires_at: until, refresh_expires_at: until }).where('id', '=', sessionId).execute();
}

/** The session of a browser cookie (an access token), its idle expiry moved on; throws like `authenticate`. */
export async function authenticateWeb(ctx: ServerContext, token: string, idleMs: number, maxMs: number): Promise<AuthInfo> {
  const auth = await authenticate(ctx, `Bearer ${token}`);
  const now = ctx.now();
  const row = await ctx.db.selectFrom('sessions').select('created_at').where('id', '=', auth.sessionId).executeTakeFirstOrThrow();
  const until = Math.min(now + idleMs, row.created_at + maxMs);
  if (until <= now) throw apiError('token_expired', 'the browser session has expired; sign in again', { signInAgain: true });
  await ctx.db.updateTable('sessions').set({ access_expires_at: until, refresh_expires_at: until, last_seen_at: now }).where('id', '=', auth.sessionId).execute();
  return auth;
}
