// kpm-server as the device-flow front for identity providers without an RFC 8628 device grant
// (Apple, Facebook, …; issue 21). `kpm login --sso NAME` starts as for any provider (sso.start):
// when the provider's discovery has no device endpoint, the flow gets a short user code of this
// server instead of the provider's, and the URL of the page /account/device. There the user types
// the code, sees which device asked (its name, its address, when), and confirms with a POST (CSRF
// token); the server then runs the provider's authorization-code flow with PKCE in that browser
// (the callback of the browser sign-in, /account/sso/callback) and, when the provider answers,
// marks the flow identified. The CLI's poll then resolves the identity exactly as after a device
// grant (sso.resolveIdentity): the same linking rules (S1) hold.
//
// Codes: 8 letters of an alphabet without vowels (BCDF-GHJK, about 34 bits), stored as an HMAC
// with the server key only; valid for FRONT_TTL_MS (the server's clock, injectable); single-use
// (confirming claims the row once, the callback finishes it once); a wrong or expired code counts
// as a failure of the address, and past MAX_CODE_FAILURES in an hour the page refuses to look
// codes up from there.
import type { RequestInfo, ServerContext } from './context.js';
import { apiError } from './errors.js';
import type { DeviceStart, IdentityOutcome } from './oidc.js';
import { normalizeEmail } from '../protocol/email.js';
import { randomIndex } from '../crypto/random.js';
import { countFailures, HOUR_MS, recordFailure } from './throttle.js';
import type { SsoDeviceCodesTable } from './db/schema.js';

export const FRONT_TTL_MS = 10 * 60_000;
/** How often the CLI polls a fronted flow (nothing is asked of the provider on a poll). */
export const FRONT_INTERVAL_S = 2;
export const MAX_CODE_FAILURES = 10;
const ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const CODE_LEN = 8;
const FAILURE_KIND = 'device_code';
export const DEVICE_PATH = '/account/device';

/** "bcdf ghjk", "BCDF-GHJK" and "bcdfghjk" are the same code; anything else is no code. */
export function normalizeUserCode(s: string): string | undefined {
  const c = s.toUpperCase().replace(/[\s-]/g, '');
  return c.length === CODE_LEN && [...c].every((ch) => ALPHABET.includes(ch)) ? c : undefined;
}

const formatCode = (c: string) => `${c.slice(0, 4)}-${c.slice(4)}`;
const codeHash = (ctx: ServerContext, code: string) => ctx.keys.hmac('sso-user-code', 'v1', code);

/**
 * A user code for the flow `flowHash` (called by sso.start before it stores the flow), in the shape
 * of a provider's device authorization answer. `deviceCode` is empty: there is nothing to redeem at
 * the provider, the flow waits for the page.
 */
export async function beginFront(ctx: ServerContext, req: RequestInfo, o: { flowHash: string; provider: string; deviceName: string }): Promise<DeviceStart> {
  const now = ctx.now();
  await ctx.db.deleteFrom('sso_device_codes').where('expires_at', '<', now - HOUR_MS).execute();
  for (let attempt = 0; ; attempt++) {
    const code = Array.from({ length: CODE_LEN }, () => ALPHABET[randomIndex(ALPHABET.length)]).join('');
    try {
      await ctx.db
        .insertInto('sso_device_codes')
        .values({ code_hash: codeHash(ctx, code), flow_hash: o.flowHash, provider: o.provider, device_name: o.deviceName.slice(0, 64), ip: req.ip.slice(0, 64), state: 'pending', created_at: now, expires_at: now + FRONT_TTL_MS })
        .execute();
    } catch (e) {
      if (attempt < 3 && (/unique/i.test(String((e as Error)?.message)) || (e as { code?: string })?.code === '23505')) continue;
      throw e;
    }
    const base = `${ctx.settings.publicUrl}${DEVICE_PATH}`;
    return { deviceCode: '', userCode: formatCode(code), verificationUri: base, verificationUriComplete: `${base}?code=${formatCode(code)}`, expiresIn: FRONT_TTL_MS / 1000, interval: FRONT_INTERVAL_S };
  }
}

export interface PendingDevice {
  codeHash: string;
  provider: string;
  deviceName: string;
  ip: string;
  createdAt: number;
  expiresAt: number;
  /** link: the account the identity would be linked to (the CLI signed in and gave its password) */
  linkTo?: string;
}

const UNKNOWN = 'this code is unknown, already used or expired: start again with `kpm login --sso` and type the code it shows';

/** The pending request of a typed code, for the confirmation page; a wrong code is a failure of the address. */
export async function lookUp(ctx: ServerContext, req: RequestInfo, typed: string): Promise<PendingDevice> {
  const since = ctx.now() - HOUR_MS;
  if ((await countFailures(ctx, 'ip', req.ip, [FAILURE_KIND], since)) >= MAX_CODE_FAILURES) {
    throw apiError('too_many_attempts', 'too many wrong codes from this address; wait an hour, or start again with `kpm login --sso`', { retryAfter: 3600 });
  }
  const code = normalizeUserCode(typed);
  const row = code === undefined ? undefined : await ctx.db.selectFrom('sso_device_codes').selectAll().where('code_hash', '=', codeHash(ctx, code)).executeTakeFirst();
  if (!row || row.state !== 'pending' || ctx.now() >= row.expires_at) {
    await recordFailure(ctx, 'ip', req.ip, FAILURE_KIND);
    throw apiError('invalid_code', UNKNOWN);
  }
  return pending(ctx, row);
}

async function pending(ctx: ServerContext, row: SsoDeviceCodesTable): Promise<PendingDevice> {
  const flow = await ctx.db.selectFrom('sso_flows').select(['purpose', 'account_id']).where('flow_hash', '=', row.flow_hash).executeTakeFirst();
  if (!flow) throw apiError('invalid_code', UNKNOWN);
  let linkTo: string | undefined;
  if (flow.purpose === 'link' && flow.account_id) {
    linkTo = (await ctx.db.selectFrom('accounts').select('email').where('id', '=', flow.account_id).executeTakeFirst())?.email;
  }
  return { codeHash: row.code_hash, provider: row.provider, deviceName: row.device_name, ip: row.ip, createdAt: row.created_at, expiresAt: row.expires_at, ...(linkTo ? { linkTo } : {}) };
}

/** The user confirmed on the page: the code is used up here (once), the browser goes to the provider. */
export async function confirm(ctx: ServerContext, req: RequestInfo, typed: string): Promise<PendingDevice> {
  const p = await lookUp(ctx, req, typed);
  const claimed = await ctx.db
    .updateTable('sso_device_codes')
    .set({ state: 'confirmed' })
    .where('code_hash', '=', p.codeHash)
    .where('state', '=', 'pending')
    .where('expires_at', '>', ctx.now())
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) throw apiError('invalid_code', UNKNOWN);
  return p;
}

/**
 * The provider's answer came back to the browser that confirmed: the flow the CLI polls becomes
 * identified (its next poll resolves the identity with the rules of sso.ts). Once per code.
 */
export async function complete(ctx: ServerContext, req: RequestInfo, hash: string, id: IdentityOutcome): Promise<{ deviceName: string; provider: string }> {
  const row = await ctx.db.selectFrom('sso_device_codes').selectAll().where('code_hash', '=', hash).executeTakeFirst();
  const now = ctx.now();
  if (!row || row.state !== 'confirmed' || now >= row.expires_at) throw apiError('sso_expired', 'this sign-in expired or was already finished; start again with `kpm login --sso`');
  const done = await ctx.db.updateTable('sso_device_codes').set({ state: 'done' }).where('code_hash', '=', hash).where('state', '=', 'confirmed').executeTakeFirst();
  if (Number(done.numUpdatedRows) !== 1) throw apiError('sso_expired', 'this sign-in was already finished');
  const email = id.email === null ? null : normalizeEmail(id.email).slice(0, 254);
  const r = await ctx.db
    .updateTable('sso_flows')
    .set({ state: 'identified', issuer: id.issuer, subject: id.subject.slice(0, 255), email, email_verified: id.emailVerified ? 1 : 0 })
    .where('flow_hash', '=', row.flow_hash)
    .where('state', '=', 'pending')
    .where('expires_at', '>', now)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw apiError('sso_expired', 'the device that asked is no longer waiting; start again with `kpm login --sso`');
  req.log.info({ provider: row.provider }, 'identity provider approved a sign-in fronted by this server');
  return { deviceName: row.device_name, provider: row.provider };
}
