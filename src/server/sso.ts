// Sign-in with an identity provider (OpenID Connect + device authorization grant, RFC 8628). The
// flow lives in the database (table sso_flows), so any instance sharing it can answer a poll:
//   start    → the provider's user code and URL, and a kpf_ flow token (stored as SHA-256 only);
//   poll     → asks the provider at most once per interval; on approval the ID token (checked by
//              openid-client: signature, issuer, audience, times; nonce here) names (issuer, subject);
//   linked   → sign-in as with a password (2-step verification included);
//   unknown  → `register` (a new, active account) when the provider vouches for the address and no
//              account has it; otherwise the identity must be linked by the account's owner, signed
//              in and re-authenticated with the password (never by email alone, never to an account
//              that is not activated: S1).
import type { LoginResultT } from '../protocol/schemas.js';
import type { SsoIdentityT, SsoPollResultT, SsoRegisterResultT, SsoStartedT } from '../protocol/sso.js';
import { isValidEmail, normalizeEmail } from '../protocol/email.js';
import { isRegion } from '../protocol/regions.js';
import { type RequestInfo, type ServerContext, iso } from './context.js';
import { ApiError, apiError } from './errors.js';
import { beginFront } from './devicefront.js';
import type { OidcRegistry } from './oidc.js';
import { hashPassword } from './passwords.js';
import { newId, newToken, sha256Hex } from './tokens.js';
import type { AuthInfo } from './sessions.js';
import { signIn } from './sessions.js';
import { randomBytes } from '../crypto/random.js';
import { decodeUtf8, toHex, utf8 } from '../crypto/bytes.js';
import type { SsoFlowsTable } from './db/schema.js';

/** Unfinished flows one address may hold, and all of them together: rows cannot grow without bound. */
export const MAX_FLOWS_PER_IP = 20;
export const MAX_FLOWS = 10_000;
/** Device codes are honoured for at most this long, whatever the provider says. */
const MAX_DEVICE_MS = 30 * 60_000;
/** A flow row outlives its device code by this: time to answer the registration questions. */
export const FLOW_GRACE_MS = 10 * 60_000;

const EXPIRED = 'the sign-in request expired or is unknown; start again';

function registry(ctx: ServerContext): OidcRegistry {
  if (!ctx.oidc || ctx.oidc.list().length === 0) throw apiError('not_found', 'this server has no identity providers configured');
  return ctx.oidc;
}

export function providers(ctx: ServerContext): { providers: { name: string; issuer: string }[] } {
  return { providers: ctx.oidc?.list() ?? [] };
}

async function countFlows(ctx: ServerContext, ip?: string): Promise<number> {
  let q = ctx.db.selectFrom('sso_flows').select((eb) => eb.fn.countAll<number>().as('n')).where('expires_at', '>', ctx.now());
  if (ip !== undefined) q = q.where('ip', '=', ip);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

export async function start(ctx: ServerContext, req: RequestInfo, body: { provider: string; deviceName?: string }, auth?: AuthInfo): Promise<SsoStartedT> {
  const reg = registry(ctx);
  if ((await countFlows(ctx, req.ip)) >= MAX_FLOWS_PER_IP || (await countFlows(ctx)) >= MAX_FLOWS) {
    throw apiError('too_many_attempts', 'too many sign-ins with an identity provider in progress; finish one or wait a few minutes', { retryAfter: 300 });
  }
  const nonce = toHex(randomBytes(16));
  const flow = newToken('f');
  const flowHash = sha256Hex(flow);
  const deviceName = auth?.deviceName ?? body.deviceName ?? 'kpm device';
  // A provider without a device grant: this server is the front (src/server/devicefront.ts).
  const d = await reg.startDevice(body.provider, nonce).catch((e: unknown) => {
    if (e instanceof ApiError && e.code === 'provider_unsupported') return beginFront(ctx, req, { flowHash, provider: body.provider, deviceName });
    throw e;
  });
  const now = ctx.now();
  const interval = Math.min(600, Math.max(1, Math.round(d.interval)));
  const expiresAt = now + Math.min(Math.max(1, d.expiresIn) * 1000, MAX_DEVICE_MS);
  await ctx.db
    .insertInto('sso_flows')
    .values({
      flow_hash: flowHash,
      provider: body.provider,
      purpose: auth ? 'link' : 'login',
      account_id: auth?.accountId ?? null,
      device_name: deviceName,
      device_code_enc: d.deviceCode ? ctx.keys.seal('sso-device-code', flowHash, utf8.encode(d.deviceCode)) : null,
      nonce,
      interval_s: interval,
      next_poll_at: now,
      expires_at: expiresAt + FLOW_GRACE_MS,
      ip: req.ip.slice(0, 64),
      state: 'pending',
      issuer: null,
      subject: null,
      email: null,
      email_verified: null,
      created_at: now,
    })
    .execute();
  return {
    flow,
    provider: body.provider,
    userCode: d.userCode,
    verificationUri: d.verificationUri,
    ...(d.verificationUriComplete ? { verificationUriComplete: d.verificationUriComplete } : {}),
    expiresAt: iso(expiresAt),
    interval,
  };
}

async function liveFlow(ctx: ServerContext, flow: string): Promise<SsoFlowsTable> {
  const row = await ctx.db.selectFrom('sso_flows').selectAll().where('flow_hash', '=', sha256Hex(flow)).where('expires_at', '>', ctx.now()).executeTakeFirst();
  if (!row) throw apiError('sso_expired', EXPIRED);
  return row;
}

const drop = (ctx: ServerContext, flowHash: string) => ctx.db.deleteFrom('sso_flows').where('flow_hash', '=', flowHash).execute();

export async function poll(ctx: ServerContext, req: RequestInfo, flow: string): Promise<SsoPollResultT> {
  const reg = registry(ctx);
  const row = await liveFlow(ctx, flow);
  if (row.state === 'identified') return resolveIdentity(ctx, req, row);
  const now = ctx.now();
  if (now >= row.expires_at - FLOW_GRACE_MS) {
    await drop(ctx, row.flow_hash);
    throw apiError('sso_expired', `the code expired before it was approved at "${row.provider}"; start again`);
  }
  const pending = { status: 'pending', interval: row.interval_s } as const;
  if (now < row.next_poll_at || row.device_code_enc === null) return pending;
  // One instance asks the provider per interval: the others see the moved next_poll_at and wait.
  const claimed = await ctx.db
    .updateTable('sso_flows')
    .set({ next_poll_at: now + row.interval_s * 1000 })
    .where('flow_hash', '=', row.flow_hash)
    .where('next_poll_at', '=', row.next_poll_at)
    .where('state', '=', 'pending')
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) return pending;
  const deviceCode = decodeUtf8(ctx.keys.open('sso-device-code', row.flow_hash, row.device_code_enc));
  const outcome = await reg.pollDevice(row.provider, deviceCode);
  switch (outcome.kind) {
    case 'pending':
      return pending;
    case 'slow_down': {
      const interval = Math.min(600, row.interval_s + 5);
      await ctx.db.updateTable('sso_flows').set({ interval_s: interval, next_poll_at: now + interval * 1000 }).where('flow_hash', '=', row.flow_hash).execute();
      return { status: 'pending', interval };
    }
    case 'denied':
      await drop(ctx, row.flow_hash);
      throw apiError('sso_denied', `the sign-in was denied at the identity provider "${row.provider}"`);
    case 'expired':
      await drop(ctx, row.flow_hash);
      throw apiError('sso_expired', `the code expired before it was approved at "${row.provider}"; start again`);
  }
  if (outcome.nonce !== undefined && outcome.nonce !== row.nonce) {
    await drop(ctx, row.flow_hash);
    throw apiError('provider_error', `the ID token of "${row.provider}" does not carry this sign-in's nonce; refused`);
  }
  const email = outcome.email === null ? null : normalizeEmail(outcome.email).slice(0, 254);
  const identified = { ...row, state: 'identified', device_code_enc: null, issuer: outcome.issuer, subject: outcome.subject, email, email_verified: outcome.emailVerified ? 1 : 0 };
  await ctx.db
    .updateTable('sso_flows')
    .set({ state: 'identified', device_code_enc: null, issuer: outcome.issuer, subject: outcome.subject.slice(0, 255), email, email_verified: identified.email_verified })
    .where('flow_hash', '=', row.flow_hash)
    .execute();
  req.log.info({ provider: row.provider, purpose: row.purpose }, 'identity provider approved a device sign-in');
  return resolveIdentity(ctx, req, identified);
}

const identityView = (r: { provider: string; issuer: string; subject: string; email: string | null; created_at: number }): SsoIdentityT => ({
  provider: r.provider,
  issuer: r.issuer,
  subject: r.subject,
  email: r.email,
  linkedAt: iso(r.created_at),
});

async function resolveIdentity(ctx: ServerContext, req: RequestInfo, row: SsoFlowsTable): Promise<SsoPollResultT> {
  const issuer = row.issuer!;
  const subject = row.subject!;
  const linked = await ctx.db.selectFrom('sso_identities').selectAll().where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
  if (row.purpose === 'link') {
    await drop(ctx, row.flow_hash);
    if (linked && linked.account_id !== row.account_id) throw apiError('conflict', `this ${row.provider} identity is already linked to another kpm account`);
    if (linked) return { status: 'linked', identity: identityView(linked) };
    // Started by a re-authenticated session; the account must still be active and enabled.
    const owner = await ctx.db.selectFrom('accounts').select(['activated_at', 'disabled_at']).where('id', '=', row.account_id!).executeTakeFirst();
    if (!owner || owner.activated_at == null || owner.disabled_at != null) throw apiError('forbidden', 'identities can only be linked to an active account');
    const rec = { id: newId(), account_id: row.account_id!, provider: row.provider, issuer, subject, email: row.email, created_at: ctx.now() };
    await ctx.db.insertInto('sso_identities').values(rec).execute();
    req.log.info({ account: row.account_id, provider: row.provider }, 'identity linked');
    return { status: 'linked', identity: identityView(rec) };
  }
  if (linked) {
    await drop(ctx, row.flow_hash);
    const acct = await ctx.db.selectFrom('accounts').select(['id', 'email', 'disabled_at', 'activated_at']).where('id', '=', linked.account_id).executeTakeFirst();
    if (!acct) throw apiError('sso_expired', EXPIRED);
    return (await signIn(ctx, req, acct, row.device_name)) as LoginResultT & SsoPollResultT;
  }
  if (row.email === null || !isValidEmail(row.email)) {
    await drop(ctx, row.flow_hash);
    throw apiError('invalid_email', `no kpm account is linked to this ${row.provider} identity, and the provider did not share an email address to create one with`);
  }
  if (row.email_verified !== 1) {
    // Creating (or linking to) an account for an address the provider does not vouch for would let
    // whoever controls this identity sit in the account of the address's owner (S1). The check comes
    // before the one for a taken address, so unverified claims cannot probe which addresses have accounts.
    await drop(ctx, row.flow_hash);
    throw apiError('email_unverified', unverifiedMessage(row.provider, row.email));
  }
  const taken = await ctx.db.selectFrom('accounts').select('id').where('email', '=', row.email).executeTakeFirst();
  if (taken) {
    await drop(ctx, row.flow_hash);
    throw apiError('sso_not_linked', `this ${row.provider} identity is not linked to a kpm account; sign in with your password and run \`kpm account link --sso ${row.provider}\``);
  }
  return { status: 'register', email: row.email, emailVerified: row.email_verified === 1 };
}

const unverifiedMessage = (provider: string, email: string) =>
  `${provider} does not confirm that ${email} is yours, so it cannot create a kpm account or sign in to one; create the account with \`kpm register --email ${email}\`, then sign in and run \`kpm account link --sso ${provider}\``;

/**
 * Creates the account of an identified, unknown identity whose provider vouches for its address
 * (email_verified), active at once, and links it. The account gets no usable password (a random
 * one, never shown) until one is set by reset. An identity with an unverified address never gets
 * an account here: it is linked only by its owner, signed in with the account password (S1).
 */
export async function register(ctx: ServerContext, req: RequestInfo, body: { flow: string; region: string; marketing: boolean }): Promise<SsoRegisterResultT> {
  const row = await liveFlow(ctx, body.flow);
  if (row.state !== 'identified' || row.purpose !== 'login' || row.email === null) throw apiError('sso_expired', 'this sign-in has not reached the registration step; poll it first');
  if (row.email_verified !== 1) {
    await drop(ctx, row.flow_hash);
    throw apiError('email_unverified', unverifiedMessage(row.provider, row.email));
  }
  if (!isRegion(body.region)) throw apiError('invalid_region', `unknown region "${body.region}" (use an ISO 3166 country code such as DE or US)`);
  const claimed = await ctx.db.deleteFrom('sso_flows').where('flow_hash', '=', row.flow_hash).executeTakeFirst();
  if (Number(claimed.numDeletedRows) !== 1) throw apiError('sso_expired', EXPIRED);
  const now = ctx.now();
  const email = row.email;
  const hash = await hashPassword(toHex(randomBytes(32)));
  const accountId = newId();
  const marketing = body.marketing ? 1 : 0;
  try {
    await ctx.db.transaction().execute(async (trx) => {
      // An account with the address (even one that is not activated) is never taken over: the insert fails.
      await trx
        .insertInto('accounts')
        .values({ id: accountId, email, password_hash: hash, region: body.region, marketing, created_at: now, activated_at: now, disabled_at: null, password_changed_at: now, password_usable: 0 })
        .execute();
      await trx.insertInto('sso_identities').values({ id: newId(), account_id: accountId, provider: row.provider, issuer: row.issuer!, subject: row.subject!, email, created_at: now }).execute();
    });
  } catch (e) {
    if (/unique/i.test(String((e as Error)?.message)) || (e as { code?: string })?.code === '23505') {
      throw apiError('sso_not_linked', `this ${row.provider} identity is not linked to a kpm account; sign in with your password and run \`kpm account link --sso ${row.provider}\``);
    }
    throw e;
  }
  req.log.info({ account: accountId, provider: row.provider }, 'account created through an identity provider');
  const r = await signIn(ctx, req, { id: accountId, email, disabled_at: null, activated_at: now }, row.device_name);
  if (r.status !== 'ok') throw apiError('internal', 'a new account asked for a second factor');
  return r;
}

export async function identities(ctx: ServerContext, auth: AuthInfo): Promise<{ identities: SsoIdentityT[] }> {
  const rows = await ctx.db.selectFrom('sso_identities').selectAll().where('account_id', '=', auth.accountId).orderBy('created_at').execute();
  return { identities: rows.map(identityView) };
}

/** Removes the identities of a provider from the account; never the last way to sign in. */
export async function unlink(ctx: ServerContext, req: RequestInfo, auth: AuthInfo, provider: string): Promise<void> {
  const rows = await ctx.db.selectFrom('sso_identities').select(['id', 'provider']).where('account_id', '=', auth.accountId).execute();
  const mine = rows.filter((r) => r.provider === provider);
  if (mine.length === 0) throw apiError('not_found', `no ${provider} identity is linked to this account`);
  const acct = await ctx.db.selectFrom('accounts').select('password_usable').where('id', '=', auth.accountId).executeTakeFirstOrThrow();
  if (acct.password_usable === 0 && mine.length === rows.length) {
    throw apiError('conflict', `${provider} is the only way to sign in to this account; set an account password first (\`kpm account reset-password\`)`);
  }
  await ctx.db.deleteFrom('sso_identities').where('account_id', '=', auth.accountId).where('provider', '=', provider).execute();
  req.log.info({ account: auth.accountId, provider }, 'identity unlinked');
}

/**
 * A browser sign-in (the account pages): the identity the provider returned to the callback goes
 * through the same rules as the device flow's (`resolveIdentity`): a linked identity signs in (with
 * the second step when the account has two-step verification); an unlinked one never links by email
 * here, an unverified address gets no account. A new account is made only by `kpm login --sso`.
 */
export async function browserSignIn(
  ctx: ServerContext,
  req: RequestInfo,
  provider: string,
  id: { issuer: string; subject: string; email: string | null; emailVerified: boolean },
  deviceName: string,
): Promise<SsoPollResultT> {
  const now = ctx.now();
  const email = id.email === null ? null : normalizeEmail(id.email).slice(0, 254);
  const row: SsoFlowsTable = {
    flow_hash: '', // no stored flow: nothing to drop
    provider,
    purpose: 'login',
    account_id: null,
    device_name: deviceName,
    device_code_enc: null,
    nonce: '',
    interval_s: 0,
    next_poll_at: now,
    expires_at: now,
    ip: req.ip,
    state: 'identified',
    issuer: id.issuer,
    subject: id.subject.slice(0, 255),
    email,
    email_verified: id.emailVerified ? 1 : 0,
    created_at: now,
  };
  return resolveIdentity(ctx, req, row);
}
