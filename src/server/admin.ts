// `kpm-server admin …`: the operator's view, straight on the database (no running server needed).
import type { Kysely } from 'kysely';
import type { Database } from './db/schema.js';
import type { SecurityCheckSettings } from './context.js';
import { normalizeEmail } from '../protocol/email.js';
import { isRegion } from '../protocol/regions.js';
import { HOUR_MS, LOGIN_KINDS } from './throttle.js';

export class AdminError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());

export interface AccountRow {
  id: string;
  email: string;
  region: string;
  marketing: boolean;
  activated: boolean;
  disabled: boolean;
  createdAt: string;
  twoFactor: string[];
  devices: number;
}

export async function listAccounts(db: Kysely<Database>, now: number): Promise<AccountRow[]> {
  const rows = await db.selectFrom('accounts').selectAll().orderBy('created_at').execute();
  const out: AccountRow[] = [];
  for (const a of rows) {
    const totp = await db.selectFrom('totp').select('account_id').where('account_id', '=', a.id).where('confirmed_at', 'is not', null).executeTakeFirst();
    const sms = await db.selectFrom('sms').select('account_id').where('account_id', '=', a.id).where('confirmed_at', 'is not', null).executeTakeFirst();
    const dev = await db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('account_id', '=', a.id)
      .where('revoked_at', 'is', null)
      .where('refresh_expires_at', '>', now)
      .executeTakeFirstOrThrow();
    out.push({
      id: a.id,
      email: a.email,
      region: a.region,
      marketing: a.marketing === 1,
      activated: a.activated_at != null,
      disabled: a.disabled_at != null,
      createdAt: iso(a.created_at)!,
      twoFactor: [...(totp ? ['totp'] : []), ...(sms ? ['sms'] : [])],
      devices: Number(dev.n),
    });
  }
  return out;
}

async function accountId(db: Kysely<Database>, email: string): Promise<string> {
  const a = await db.selectFrom('accounts').select('id').where('email', '=', normalizeEmail(email)).executeTakeFirst();
  if (!a) throw new AdminError(`no account ${normalizeEmail(email)}`, 3);
  return a.id;
}

/** The only way an account's region changes after registration (as in the original product). */
export async function setRegion(db: Kysely<Database>, email: string, region: string): Promise<void> {
  const r = region.toUpperCase();
  if (!isRegion(r)) throw new AdminError(`unknown region "${region}" (an ISO 3166 country code such as DE or US)`, 2);
  await db.updateTable('accounts').set({ region: r }).where('id', '=', await accountId(db, email)).execute();
}

/** Disables (every device signed out, sign-in refused) or re-enables an account. */
export async function setDisabled(db: Kysely<Database>, email: string, disabled: boolean, now: number): Promise<void> {
  const id = await accountId(db, email);
  await db.updateTable('accounts').set({ disabled_at: disabled ? now : null }).where('id', '=', id).execute();
  if (disabled) await db.updateTable('sessions').set({ revoked_at: now }).where('account_id', '=', id).where('revoked_at', 'is', null).execute();
}

export interface ThrottleRow {
  scope: 'acct' | 'ip';
  key: string;
  /** sign-in failures in the security-check window */
  window: number;
  /** failed verifications in the last hour (the hard cap counts these) */
  hour: number;
  /** registration and reset requests in the window */
  requests: number;
  checkRequired: boolean;
  capped: boolean;
}

/** Failure counters per account and per address, busiest first (or for one email / address). */
export async function throttleStatus(db: Kysely<Database>, check: SecurityCheckSettings, now: number, filter: { email?: string; ip?: string } = {}): Promise<ThrottleRow[]> {
  let q = db
    .selectFrom('failures')
    .select(['scope', 'key', 'kind', 'at'])
    .where('at', '>', now - Math.max(HOUR_MS, check.windowMs));
  if (filter.email) q = q.where('scope', '=', 'acct').where('key', '=', normalizeEmail(filter.email));
  if (filter.ip) q = q.where('scope', '=', 'ip').where('key', '=', filter.ip);
  const rows = await q.execute();
  const map = new Map<string, ThrottleRow>();
  for (const r of rows) {
    const id = `${r.scope} ${r.key}`;
    let t = map.get(id);
    if (!t) map.set(id, (t = { scope: r.scope as 'acct' | 'ip', key: r.key, window: 0, hour: 0, requests: 0, checkRequired: false, capped: false }));
    const login = LOGIN_KINDS.includes(r.kind);
    if (r.at > now - check.windowMs) {
      if (login) t.window++;
      else t.requests++;
    }
    if (r.at > now - HOUR_MS && login) t.hour++;
  }
  const out = [...map.values()];
  for (const t of out) {
    t.checkRequired = t.window >= check.after || t.requests >= check.registerAfter;
    t.capped = t.scope === 'acct' && t.hour >= check.hourlyCap;
  }
  return out.sort((a, b) => b.hour - a.hour || b.window - a.window);
}
