// Two-step verification: TOTP (preferred), SMS codes, and recovery codes (R32–R35).
import type { RequestInfo, ServerContext } from './context.js';
import type { TotpSetupT, TwoFactorStatusT } from '../protocol/schemas.js';
import { apiError } from './errors.js';
import { plural } from '../core/text.js';
import { randomBytes } from '../crypto/random.js';
import { hashSecret, verifySecret } from './passwords.js';
import { newCode, newDigits, newId, normalizeCode, safeEqual } from './tokens.js';
import { matchingSteps, otpauthUri, secretBase32, TOTP_SECRET_BYTES } from './totp.js';
import { recordFailures } from './throttle.js';

export const RECOVERY_CODES = 10;
export const RECOVERY_CODE_BYTES = 10; // 80 bits (≥ 64: NIST SP 800-63B §5.1.2)
export const SMS_DIGITS = 6;

export interface Who {
  accountId: string;
  email: string;
}

// ------------------------------------------------------------------ status

export async function status(ctx: ServerContext, accountId: string): Promise<TwoFactorStatusT> {
  const totp = await ctx.db.selectFrom('totp').select('account_id').where('account_id', '=', accountId).where('confirmed_at', 'is not', null).executeTakeFirst();
  const sms = await ctx.db.selectFrom('sms').select('phone').where('account_id', '=', accountId).where('confirmed_at', 'is not', null).executeTakeFirst();
  const rc = await ctx.db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('account_id', '=', accountId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return { totp: Boolean(totp), sms: sms ? maskPhone(sms.phone) : null, recoveryCodesLeft: Number(rc.n) };
}

export const isOn = (s: TwoFactorStatusT): boolean => s.totp || s.sms !== null;

// ------------------------------------------------------------------ TOTP

export async function setupTotp(ctx: ServerContext, who: Who): Promise<TotpSetupT> {
  const current = await ctx.db.selectFrom('totp').select('confirmed_at').where('account_id', '=', who.accountId).executeTakeFirst();
  if (current?.confirmed_at != null) throw apiError('conflict', 'an authenticator app is already set up; disable two-step verification first');
  const secret = randomBytes(TOTP_SECRET_BYTES);
  const secretEnc = ctx.keys.seal('totp', who.accountId, secret);
  await ctx.db.deleteFrom('totp').where('account_id', '=', who.accountId).execute();
  await ctx.db.insertInto('totp').values({ account_id: who.accountId, secret_enc: secretEnc, confirmed_at: null, last_step: 0 }).execute();
  return { secret: secretBase32(secret), uri: otpauthUri(secret, who.email), algorithm: 'SHA1', digits: 6, period: 30 };
}

type CodeResult = 'ok' | 'reused' | 'wrong';

/** Checks a TOTP code; on success the step becomes the last accepted one (atomically, across instances). */
async function checkTotp(ctx: ServerContext, accountId: string, code: string, confirmed: boolean): Promise<CodeResult> {
  const row = await ctx.db.selectFrom('totp').selectAll().where('account_id', '=', accountId).executeTakeFirst();
  if (!row || (row.confirmed_at != null) !== confirmed) return 'wrong';
  const secret = ctx.keys.open('totp', accountId, row.secret_enc);
  const steps = matchingSteps(secret, code, ctx.now());
  secret.fill(0);
  if (steps.length === 0) return 'wrong';
  for (const step of steps) {
    const res = await ctx.db
      .updateTable('totp')
      .set({ last_step: step, ...(confirmed ? {} : { confirmed_at: ctx.now() }) })
      .where('account_id', '=', accountId)
      .where('last_step', '<', step)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) return 'ok';
  }
  return 'reused';
}

export async function confirmTotp(ctx: ServerContext, req: RequestInfo, who: Who, code: string): Promise<string[]> {
  const result = await checkTotp(ctx, who.accountId, normalizeCode(code), false);
  if (result !== 'ok') {
    await recordFailures(ctx, req, who.email, 'otp');
    throw apiError('invalid_otp', 'wrong code: check the time on the device with the authenticator app, and start again if it keeps failing');
  }
  return ensureRecoveryCodes(ctx, who.accountId);
}

// ------------------------------------------------------------------ SMS

export function normalizePhone(phone: string): string | null {
  const p = phone.replace(/[\s()-]/g, '');
  return /^\+?[0-9]{6,15}$/.test(p) ? p : null;
}

export const maskPhone = (p: string): string => p.slice(0, p.startsWith('+') ? 3 : 1) + '*'.repeat(Math.max(0, p.length - (p.startsWith('+') ? 5 : 3))) + p.slice(-2);

/** Sends a fresh code; it replaces any earlier one for the same purpose (only the latest is valid). */
export async function sendSmsCode(ctx: ServerContext, accountId: string, phone: string, purpose: 'enrol' | 'login'): Promise<string> {
  const code = newDigits(SMS_DIGITS);
  const values = { code_hash: ctx.keys.hmac('sms', accountId, `${purpose}:${code}`), expires_at: ctx.now() + ctx.settings.smsTtlMs, tries: 0 };
  await ctx.db.deleteFrom('sms_codes').where('account_id', '=', accountId).where('purpose', '=', purpose).execute();
  await ctx.db.insertInto('sms_codes').values({ account_id: accountId, purpose, ...values }).execute();
  await ctx.sms.send(phone, `kpm: your verification code is ${code}. It expires in ${plural(Math.round(ctx.settings.smsTtlMs / 60_000), 'minute')}.`);
  return maskPhone(phone);
}

async function checkSmsCode(ctx: ServerContext, accountId: string, code: string, purpose: 'enrol' | 'login'): Promise<CodeResult> {
  const now = ctx.now();
  const used = await ctx.db
    .updateTable('sms_codes')
    .set((eb) => ({ tries: eb('tries', '+', 1) }))
    .where('account_id', '=', accountId)
    .where('purpose', '=', purpose)
    .where('expires_at', '>', now)
    .where('tries', '<', ctx.settings.smsMaxTries)
    .executeTakeFirst();
  if (Number(used.numUpdatedRows) !== 1) return 'wrong';
  const row = await ctx.db.selectFrom('sms_codes').select('code_hash').where('account_id', '=', accountId).where('purpose', '=', purpose).executeTakeFirst();
  if (!row || !safeEqual(row.code_hash, ctx.keys.hmac('sms', accountId, `${purpose}:${code}`))) return 'wrong';
  const gone = await ctx.db.deleteFrom('sms_codes').where('account_id', '=', accountId).where('purpose', '=', purpose).where('code_hash', '=', row.code_hash).executeTakeFirst();
  return Number(gone.numDeletedRows) === 1 ? 'ok' : 'wrong';
}

export async function setupSms(ctx: ServerContext, who: Who, phone: string): Promise<string> {
  const p = normalizePhone(phone);
  if (!p) throw apiError('invalid_phone', 'the phone number is not valid: use international format, e.g. +4915112345678');
  const current = await ctx.db.selectFrom('sms').select('confirmed_at').where('account_id', '=', who.accountId).executeTakeFirst();
  if (current?.confirmed_at != null) throw apiError('conflict', 'SMS verification is already set up; disable two-step verification first');
  await ctx.db.deleteFrom('sms').where('account_id', '=', who.accountId).execute();
  await ctx.db.insertInto('sms').values({ account_id: who.accountId, phone: p, confirmed_at: null }).execute();
  return sendSmsCode(ctx, who.accountId, p, 'enrol');
}

export async function confirmSms(ctx: ServerContext, req: RequestInfo, who: Who, code: string): Promise<string[]> {
  const result = await checkSmsCode(ctx, who.accountId, normalizeCode(code), 'enrol');
  if (result !== 'ok') {
    await recordFailures(ctx, req, who.email, 'otp');
    throw apiError('invalid_otp', 'wrong or expired code; run `kpm 2fa enable --sms` again for a new one');
  }
  await ctx.db.updateTable('sms').set({ confirmed_at: ctx.now() }).where('account_id', '=', who.accountId).execute();
  return ensureRecoveryCodes(ctx, who.accountId);
}

// ------------------------------------------------------------------ recovery codes

/** New codes when the account has none left; [] when it still has some (they stay valid). */
async function ensureRecoveryCodes(ctx: ServerContext, accountId: string): Promise<string[]> {
  const { recoveryCodesLeft } = await status(ctx, accountId);
  if (recoveryCodesLeft > 0) return [];
  const codes = Array.from({ length: RECOVERY_CODES }, () => newCode(RECOVERY_CODE_BYTES));
  const rows = await Promise.all(codes.map(async (c) => ({ id: newId(), account_id: accountId, code_hash: await hashSecret(normalizeCode(c)), used_at: null })));
  await ctx.db.deleteFrom('recovery_codes').where('account_id', '=', accountId).execute();
  await ctx.db.insertInto('recovery_codes').values(rows).execute();
  return codes;
}

/** A fresh set of recovery codes; the old ones stop working (the caller re-authenticated). */
export async function replaceRecoveryCodes(ctx: ServerContext, accountId: string): Promise<string[]> {
  if (!isOn(await status(ctx, accountId))) throw apiError('conflict', 'two-step verification is off: there are no recovery codes to replace');
  await ctx.db.deleteFrom('recovery_codes').where('account_id', '=', accountId).execute();
  return ensureRecoveryCodes(ctx, accountId);
}

async function useRecoveryCode(ctx: ServerContext, accountId: string, code: string): Promise<CodeResult> {
  const rows = await ctx.db.selectFrom('recovery_codes').select(['id', 'code_hash']).where('account_id', '=', accountId).where('used_at', 'is', null).execute();
  for (const r of rows) {
    if (await verifySecret(r.code_hash, code)) {
      const res = await ctx.db.updateTable('recovery_codes').set({ used_at: ctx.now() }).where('id', '=', r.id).where('used_at', 'is', null).executeTakeFirst();
      return Number(res.numUpdatedRows) === 1 ? 'ok' : 'reused';
    }
  }
  return 'wrong';
}

// ------------------------------------------------------------------ sign-in and disabling

/**
 * Checks a second-factor code of any kind the account has. Failures count toward the security check;
 * a reused TOTP code is logged and refused (R32).
 */
export async function verifySecondFactor(ctx: ServerContext, req: RequestInfo, who: Who, rawCode: string): Promise<void> {
  const code = normalizeCode(rawCode);
  let result: CodeResult = 'wrong';
  if (new RegExp(`^[0-9]{${SMS_DIGITS}}$`).test(code)) {
    result = await checkTotp(ctx, who.accountId, code, true);
    if (result === 'wrong') result = await checkSmsCode(ctx, who.accountId, code, 'login');
  } else if (/^[A-Z2-7]{16}$/.test(code)) {
    result = await useRecoveryCode(ctx, who.accountId, code);
  }
  if (result === 'ok') return;
  await recordFailures(ctx, req, who.email, 'otp');
  if (result === 'reused') {
    req.log.warn({ account: who.accountId, event: 'otp_reuse' }, 'refused a verification code that was already used');
    throw apiError('otp_reused', 'this code was already used; wait for the next one');
  }
  throw apiError('invalid_otp', 'wrong verification code');
}

export async function disable(ctx: ServerContext, accountId: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    for (const t of ['totp', 'sms', 'sms_codes', 'recovery_codes'] as const) await trx.deleteFrom(t).where('account_id', '=', accountId).execute();
  });
}

