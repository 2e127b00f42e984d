// What every part of the server gets: settings, the database, the clock, mail, SMS and the server key.
// Nothing per user lives here (or anywhere in memory): sessions, counters and codes are in the database.
import type { Kysely } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from './db/schema.js';
import type { Engine } from './db/connect.js';
import type { Mailer } from './mail.js';
import type { SmsProvider } from './sms.js';
import type { ServerKeys } from './secrets.js';
import type { OidcRegistry } from './oidc.js';

export interface SecurityCheckSettings {
  /** failures (per account or per address) within `windowMs` after which a challenge is required */
  after: number;
  windowMs: number;
  /** registration and reset requests per address within `windowMs` after which a challenge is required */
  registerAfter: number;
  /** failed verifications per account per hour after which attempts are refused outright */
  hourlyCap: number;
  /** proof-of-work difficulty in leading zero bits; 0 = captcha only */
  powBits: number;
}

export interface ServerSettings {
  version: string;
  /** base URL for links in mails, e.g. https://kpm.example.org */
  publicUrl: string;
  accessTtlMs: number;
  refreshTtlMs: number;
  activationTtlMs: number;
  resetTtlMs: number;
  ticketTtlMs: number;
  challengeTtlMs: number;
  smsTtlMs: number;
  smsMaxTries: number;
  /** registration and reset requests answer no sooner than this, so taken and free addresses look alike */
  pendingFloorMs: number;
  check: SecurityCheckSettings;
}

export const DEFAULT_SETTINGS: Omit<ServerSettings, 'publicUrl' | 'version'> = {
  accessTtlMs: 15 * 60_000,
  refreshTtlMs: 30 * 24 * 3600_000,
  activationTtlMs: 48 * 3600_000,
  resetTtlMs: 3600_000,
  ticketTtlMs: 5 * 60_000,
  challengeTtlMs: 10 * 60_000,
  smsTtlMs: 10 * 60_000,
  smsMaxTries: 5,
  pendingFloorMs: 150,
  check: { after: 5, windowMs: 15 * 60_000, registerAfter: 5, hourlyCap: 100, powBits: 18 },
};

export interface ServerContext {
  db: Kysely<Database>;
  engine: Engine;
  settings: ServerSettings;
  /** milliseconds since the epoch; tests inject a fake clock */
  now: () => number;
  mailer: Mailer;
  sms: SmsProvider;
  keys: ServerKeys;
  /** identity providers for sign-in with OpenID Connect (none when absent) */
  oidc?: OidcRegistry;
}

/** Per-request facts the services need: who asks from where, and where to log. */
export interface RequestInfo {
  ip: string;
  log: FastifyBaseLogger;
}

export const iso = (ms: number): string => new Date(ms).toISOString();
