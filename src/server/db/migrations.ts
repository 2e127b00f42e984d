// Schema migrations, run at every start (kysely's Migrator records what ran in kysely_migration and
// takes a lock, so two instances starting together on one PostgreSQL do not race).
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const m001: Migration = {
  async up(db: Kysely<unknown>) {
    const s = db.schema;
    await s
      .createTable('accounts')
      .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('email', 'varchar(254)', (c) => c.notNull().unique())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('region', 'varchar(2)', (c) => c.notNull())
      .addColumn('marketing', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('activated_at', 'bigint')
      .addColumn('disabled_at', 'bigint')
      .addColumn('password_changed_at', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('activations')
      .addColumn('code_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('region', 'varchar(2)', (c) => c.notNull())
      .addColumn('marketing', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('resets')
      .addColumn('code_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('sessions')
      .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('name', 'varchar(64)', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
      .addColumn('access_hash', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('access_expires_at', 'bigint', (c) => c.notNull())
      .addColumn('refresh_hash', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('refresh_expires_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
    await s.createIndex('sessions_account').on('sessions').column('account_id').execute();
    await s
      .createTable('tickets')
      .addColumn('ticket_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('device_name', 'varchar(64)', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('tries', 'integer', (c) => c.notNull())
      .execute();
    await s
      .createTable('failures')
      .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('scope', 'varchar(8)', (c) => c.notNull())
      .addColumn('key', 'varchar(300)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await s.createIndex('failures_scope_key_at').on('failures').columns(['scope', 'key', 'at']).execute();
    await s
      .createTable('challenges')
      .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('answer_enc', 'text', (c) => c.notNull())
      .addColumn('pow_salt', 'varchar(64)')
      .addColumn('pow_bits', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute();
    await s
      .createTable('totp')
      .addColumn('account_id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('secret_enc', 'text', (c) => c.notNull())
      .addColumn('confirmed_at', 'bigint')
      .addColumn('last_step', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('sms')
      .addColumn('account_id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('phone', 'varchar(24)', (c) => c.notNull())
      .addColumn('confirmed_at', 'bigint')
      .execute();
    await s
      .createTable('sms_codes')
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('purpose', 'varchar(8)', (c) => c.notNull())
      .addColumn('code_hash', 'varchar(64)', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('tries', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('sms_codes_pk', ['account_id', 'purpose'])
      .execute();
    await s
      .createTable('recovery_codes')
      .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('code_hash', 'text', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute();
    await s.createIndex('recovery_codes_account').on('recovery_codes').column('account_id').execute();
  },
};

/** Sync storage: opaque envelopes (keyring, vault keys) and the append-only record log of each vault. */
const m003sync: Migration = {
  async up(db: Kysely<unknown>) {
    const s = db.schema;
    await s
      .createTable('sync_keyrings')
      .addColumn('account_id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('epoch', 'bigint', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('sync_vaults')
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('vault_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('epoch', 'bigint', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('head', 'bigint', (c) => c.notNull())
      .addColumn('manifest', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sync_vaults_pk', ['account_id', 'vault_id'])
      .execute();
    await s
      .createTable('sync_records')
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('vault_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('rev', 'bigint', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('sync_records_pk', ['account_id', 'vault_id', 'rev'])
      .execute();
    // document contents: encrypted blobs, in chunks so no row (or request) holds a whole large file
    await s
      .createTable('sync_blobs')
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('blob_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('chunks', 'integer', (c) => c.notNull())
      .addColumn('complete', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sync_blobs_pk', ['account_id', 'blob_id'])
      .execute();
    await s
      .createTable('sync_blob_chunks')
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('blob_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('idx', 'integer', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('sync_blob_chunks_pk', ['account_id', 'blob_id', 'idx'])
      .execute();
  },
};

/** Sign-in with identity providers: linked identities, device flows in progress (docs/PROTOCOL.md). */
const m002: Migration = {
  async up(db: Kysely<unknown>) {
    const s = db.schema;
    // 0 for accounts created through a provider until a password is set (reset-password)
    await s.alterTable('accounts').addColumn('password_usable', 'integer', (c) => c.notNull().defaultTo(1)).execute();
    await s
      .createTable('sso_identities')
      .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('provider', 'varchar(32)', (c) => c.notNull())
      .addColumn('issuer', 'varchar(500)', (c) => c.notNull())
      .addColumn('subject', 'varchar(255)', (c) => c.notNull())
      .addColumn('email', 'varchar(254)')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('sso_identities_issuer_subject', ['issuer', 'subject'])
      .execute();
    await s.createIndex('sso_identities_account').on('sso_identities').column('account_id').execute();
    await s
      .createTable('sso_flows')
      .addColumn('flow_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('provider', 'varchar(32)', (c) => c.notNull())
      .addColumn('purpose', 'varchar(8)', (c) => c.notNull())
      .addColumn('account_id', 'varchar(32)')
      .addColumn('device_name', 'varchar(64)', (c) => c.notNull())
      .addColumn('device_code_enc', 'text')
      .addColumn('nonce', 'varchar(64)', (c) => c.notNull())
      .addColumn('interval_s', 'integer', (c) => c.notNull())
      .addColumn('next_poll_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('ip', 'varchar(64)', (c) => c.notNull())
      .addColumn('state', 'varchar(12)', (c) => c.notNull())
      .addColumn('issuer', 'varchar(500)')
      .addColumn('subject', 'varchar(255)')
      .addColumn('email', 'varchar(254)')
      .addColumn('email_verified', 'integer')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await s.createIndex('sso_flows_ip').on('sso_flows').columns(['ip', 'expires_at']).execute();
  },
};

/** Service tokens (docs/PROTOCOL.md "Service tokens"): read-only access to one vault. */
const m004tokens: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('service_tokens')
      .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('vault_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('name', 'varchar(64)', (c) => c.notNull())
      .addColumn('auth_hash', 'varchar(64)', (c) => c.notNull())
      .addColumn('wrapped_key', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .addColumn('last_used_at', 'bigint')
      .execute();
    await db.schema.createIndex('service_tokens_account').on('service_tokens').column('account_id').execute();
  },
};

/** User codes of the sign-ins kpm-server fronts for providers without a device grant (issue 21). */
const m005ssoDevice: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('sso_device_codes')
      .addColumn('code_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('flow_hash', 'varchar(64)', (c) => c.notNull())
      .addColumn('provider', 'varchar(32)', (c) => c.notNull())
      .addColumn('device_name', 'varchar(64)', (c) => c.notNull())
      .addColumn('ip', 'varchar(64)', (c) => c.notNull())
      .addColumn('state', 'varchar(12)', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sso_device_codes_expires').on('sso_device_codes').column('expires_at').execute();
  },
};

/** Shared vaults (docs/SHARING.md): identities, memberships, members' key bundles, the signed record log. */
const m006sharing: Migration = {
  async up(db: Kysely<unknown>) {
    const s = db.schema;
    await s
      .createTable('share_identities')
      .addColumn('account_id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('share_vaults')
      .addColumn('vault_id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('owner_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('epoch', 'bigint', (c) => c.notNull())
      .addColumn('head', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('share_memberships')
      .addColumn('vault_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('epoch', 'bigint', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('share_memberships_pk', ['vault_id', 'epoch'])
      .execute();
    await s
      .createTable('share_members')
      .addColumn('vault_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('role', 'varchar(8)', (c) => c.notNull())
      .addColumn('bundle', 'text', (c) => c.notNull())
      .addColumn('accept', 'text')
      .addPrimaryKeyConstraint('share_members_pk', ['vault_id', 'account_id'])
      .execute();
    await s.createIndex('share_members_account').on('share_members').column('account_id').execute();
    await s
      .createTable('share_records')
      .addColumn('vault_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('rev', 'bigint', (c) => c.notNull())
      .addColumn('writer_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('share_records_pk', ['vault_id', 'rev'])
      .execute();
  },
};

/** Compaction (docs/PROTOCOL.md "Compaction"): each vault's log has a generation, 1 until the first compaction. */
const m007compaction: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('sync_vaults').addColumn('generation', 'integer', (c) => c.notNull().defaultTo(1)).execute();
  },
};

/**
 * Service tokens for shared vaults (docs/SHARING.md "Service tokens on shared vaults"): a token's
 * row says whether its vault is one of its account's own (0) or a shared vault its account is a
 * member of (1); the server serves a shared one only while that account is still a member.
 */
const m008shareTokens: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('service_tokens').addColumn('shared', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  },
};

/**
 * Account-level contact pins and leave statements (docs/SHARING.md "Contact pins across the
 * account's devices", "Leaving a shared vault"): one sealed, account-signed pin state per account
 * (written with an optimistic version check), and the members' signed leave statements the owner
 * has not acted on yet.
 */
const m009sharePins: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('share_pins')
      .addColumn('account_id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('share_leaves')
      .addColumn('vault_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('epoch', 'bigint', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('share_leaves_pk', ['vault_id', 'account_id'])
      .execute();
  },
};

/**
 * Files in shared vaults (docs/SHARING.md "Files in shared vaults"): each file's sealed blob, per
 * shared vault, in chunks (as sync_blobs and sync_blob_chunks hold an own vault's), with the writer
 * that sent it.
 */
const m010shareBlobs: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('share_blobs')
      .addColumn('vault_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('blob_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('writer_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('chunks', 'integer', (c) => c.notNull())
      .addColumn('complete', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('share_blobs_pk', ['vault_id', 'blob_id'])
      .execute();
    await db.schema
      .createTable('share_blob_chunks')
      .addColumn('vault_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('blob_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('idx', 'integer', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('share_blob_chunks_pk', ['vault_id', 'blob_id', 'idx'])
      .execute();
  },
};

/**
 * Compaction of shared vaults (docs/SHARING.md "Purging and compacting a shared vault"): each shared
 * vault's compaction generation (0 until the owner's first) and the owner's latest signed
 * compaction statement, which every member checks.
 */
const m011shareCompaction: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('share_vaults').addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable('share_vaults').addColumn('compaction', 'text').execute();
  },
};

const MIGRATIONS: Record<string, Migration> = {
  '001_accounts': m001,
  '002_sso': m002,
  '003_sync': m003sync,
  '004_tokens': m004tokens,
  '005_sso_device': m005ssoDevice,
  '006_sharing': m006sharing,
  '007_compaction': m007compaction,
  '008_share_tokens': m008shareTokens,
  '009_share_pins': m009sharePins,
  '010_share_blobs': m010shareBlobs,
  '011_share_compaction': m011shareCompaction,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

export async function migrate(db: Kysely<unknown>): Promise<void> {
  const { error } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) throw error;
}
