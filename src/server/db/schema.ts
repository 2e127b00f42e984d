// Table types for kysely. Times are milliseconds since the epoch (bigint columns); flags are 0/1
// integers, so the same queries run on SQLite and PostgreSQL.
import type { ColumnType } from 'kysely';

export interface AccountsTable {
  id: string;
  email: string; // normalised (src/protocol/email.ts)
  password_hash: string; // Argon2id PHC string
  region: string;
  marketing: number;
  created_at: number;
  activated_at: number | null;
  disabled_at: number | null;
  password_changed_at: number;
  /** 0: created through an identity provider, no password chosen yet (migration 002; default 1) */
  password_usable: ColumnType<number, number | undefined, number>;
}

/** One row per registration attempt of an address: activating sets the account to what it asked for. */
export interface ActivationsTable {
  code_hash: string; // SHA-256 of the code
  account_id: string;
  password_hash: string;
  region: string;
  marketing: number;
  expires_at: number;
}

export interface ResetsTable {
  code_hash: string;
  account_id: string;
  expires_at: number;
}

/** A device session: a refresh token and its current access token. */
export interface SessionsTable {
  id: string;
  account_id: string;
  name: string;
  created_at: number;
  last_seen_at: number;
  access_hash: string;
  access_expires_at: number;
  refresh_hash: string;
  refresh_expires_at: number;
  revoked_at: number | null;
}

/** Password checked, second factor outstanding. */
export interface TicketsTable {
  ticket_hash: string;
  account_id: string;
  device_name: string;
  expires_at: number;
  tries: number;
}

/** Failures counted by the security check: scope 'acct' (key = email) or 'ip' (key = address). */
export interface FailuresTable {
  id: string;
  scope: string;
  key: string;
  kind: string; // password | otp | register | reset | verify (a password check in progress)
  at: number;
}

export interface ChallengesTable {
  id: string;
  answer_enc: string; // the captcha answer, sealed with the server key (images are drawn on request)
  pow_salt: string | null;
  pow_bits: number;
  expires_at: number;
  used_at: number | null;
}

export interface TotpTable {
  account_id: string;
  secret_enc: string; // base64 of XChaCha20-Poly1305(server key) over the secret
  confirmed_at: number | null;
  last_step: number; // highest accepted time step; any step ≤ it is refused
}

export interface SmsTable {
  account_id: string;
  phone: string;
  confirmed_at: number | null;
}

/** The latest SMS code per account and purpose; a new code replaces the old one. */
export interface SmsCodesTable {
  account_id: string;
  purpose: string; // enrol | login
  code_hash: string; // HMAC-SHA256(server key, code)
  expires_at: number;
  tries: number;
}

export interface RecoveryCodesTable {
  id: string;
  account_id: string;
  code_hash: string; // Argon2id PHC string
  used_at: number | null;
}

/** Sync: the account's keyring envelope (opaque to the server; authenticated by the client). */
export interface SyncKeyringsTable {
  account_id: string;
  epoch: number;
  body: string; // base64
  updated_at: number;
}

/** Sync: one row per vault: its key envelope and the head of its record log. */
export interface SyncVaultsTable {
  account_id: string;
  vault_id: string;
  epoch: number;
  body: string; // base64 envelope
  head: number; // revision of the last record
  manifest: string | null; // base64, signed by the client
  /** the log generation: +1 at every compaction (its records numbered from 1 again) */
  generation: number;
  updated_at: number;
}

export interface SyncRecordsTable {
  account_id: string;
  vault_id: string;
  rev: number;
  body: string; // base64 of one encrypted log record
}

/** Sync: a document's encrypted blob, stored in chunks; `complete` once the last chunk arrived. */
export interface SyncBlobsTable {
  account_id: string;
  blob_id: string;
  chunks: number;
  complete: number;
  updated_at: number;
}

export interface SyncBlobChunksTable {
  account_id: string;
  blob_id: string;
  idx: number;
  body: string; // base64, at most BLOB_CHUNK_BYTES before encoding
}

/** An identity of a provider linked to an account: (issuer, subject) is what identifies it. */
export interface SsoIdentitiesTable {
  id: string;
  account_id: string;
  provider: string; // the configured name at link time
  issuer: string;
  subject: string;
  email: string | null; // as the provider said at link time (informational)
  created_at: number;
}

/** A device flow in progress; rows expire with the device code and are pruned. */
export interface SsoFlowsTable {
  flow_hash: string; // SHA-256 of the kpf_ token the CLI holds
  provider: string;
  purpose: string; // login | link
  account_id: string | null; // link: the signed-in account
  device_name: string;
  device_code_enc: string | null; // sealed with the server key; null once used
  nonce: string;
  interval_s: number;
  next_poll_at: number; // the provider is not asked again before this
  expires_at: number;
  ip: string;
  state: string; // pending | identified (waiting for registration)
  issuer: string | null;
  subject: string | null;
  email: string | null;
  email_verified: number | null;
  created_at: number;
}

/** A sign-in the server fronts for a provider without a device grant (src/server/devicefront.ts). */
export interface SsoDeviceCodesTable {
  code_hash: string; // HMAC (server key) of the normalised user code
  flow_hash: string; // the sso_flows row the CLI polls
  provider: string;
  device_name: string; // what the CLI called itself: shown before the user confirms
  ip: string; // where the CLI asked from: shown too
  state: string; // pending | confirmed (at the provider) | done
  created_at: number;
  expires_at: number;
}

/** A read-only service token for one vault: SHA-256 of its auth key, the vault key sealed for it. */
export interface ServiceTokensTable {
  id: string;
  account_id: string;
  vault_id: string;
  name: string;
  auth_hash: string;
  wrapped_key: string; // base64, sealed by the client under the token's wrap key
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
  /** 1: the vault is a shared vault the account is a member of (migration 008), 0: one of its own */
  shared: number;
}

/** Shared vaults (docs/SHARING.md): all bodies are base64 of objects signed by their author. */
export interface ShareIdentitiesTable {
  account_id: string;
  body: string;
  updated_at: number;
}
export interface ShareVaultsTable {
  vault_id: string;
  owner_id: string;
  epoch: number;
  head: number;
  updated_at: number;
  /** compactions of the log so far (migration 011), and the owner's latest signed statement (base64) */
  generation: ColumnType<number, number | undefined, number>;
  compaction: ColumnType<string | null, string | null | undefined, string | null>;
}
export interface ShareMembershipsTable {
  vault_id: string;
  epoch: number;
  body: string;
}
export interface ShareMembersTable {
  vault_id: string;
  account_id: string;
  role: string;
  bundle: string;
  accept: string | null;
}
/** The account's pin state (migration 009): sealed and signed by the account's devices (src/share/pins.ts). */
export interface SharePinsTable {
  account_id: string;
  version: number;
  body: string;
  updated_at: number;
}
/** A member's signed leave statement, kept for the vault's owner until a membership without them (migration 009). */
export interface ShareLeavesTable {
  vault_id: string;
  account_id: string;
  epoch: number;
  body: string;
  created_at: number;
}
/** A shared vault's file (migration 010): sealed by a writer (src/share/blobs.ts), stored in chunks; `complete` once the last chunk arrived. */
export interface ShareBlobsTable {
  vault_id: string;
  blob_id: string;
  /** the account that sent it (only it may send the rest of an incomplete blob) */
  writer_id: string;
  chunks: number;
  complete: number;
  updated_at: number;
}
export interface ShareBlobChunksTable {
  vault_id: string;
  blob_id: string;
  idx: number;
  body: string; // base64, at most BLOB_CHUNK_BYTES before encoding
}
export interface ShareRecordsTable {
  vault_id: string;
  rev: number;
  writer_id: string;
  body: string;
}

export interface Database {
  share_identities: ShareIdentitiesTable;
  share_vaults: ShareVaultsTable;
  share_memberships: ShareMembershipsTable;
  share_members: ShareMembersTable;
  share_records: ShareRecordsTable;
  share_pins: SharePinsTable;
  share_leaves: ShareLeavesTable;
  share_blobs: ShareBlobsTable;
  share_blob_chunks: ShareBlobChunksTable;
  service_tokens: ServiceTokensTable;
  sync_blobs: SyncBlobsTable;
  sync_blob_chunks: SyncBlobChunksTable;
  sync_keyrings: SyncKeyringsTable;
  sync_vaults: SyncVaultsTable;
  sync_records: SyncRecordsTable;
  accounts: AccountsTable;
  activations: ActivationsTable;
  resets: ResetsTable;
  sessions: SessionsTable;
  tickets: TicketsTable;
  failures: FailuresTable;
  challenges: ChallengesTable;
  totp: TotpTable;
  sms: SmsTable;
  sms_codes: SmsCodesTable;
  recovery_codes: RecoveryCodesTable;
  sso_identities: SsoIdentitiesTable;
  sso_flows: SsoFlowsTable;
  sso_device_codes: SsoDeviceCodesTable;
}
