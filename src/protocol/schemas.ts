// Request and response bodies of the kpm server API (/v1), as JSON Schemas shared by the server
// (fastify validates requests and serialises responses with them) and the client (which checks every
// response with ./validate.ts). docs/PROTOCOL.md describes each route. No I/O.
import type { JsonSchema } from './validate.js';
import { bool, int, obj, str, type Fits, type FromSchema } from './fromschema.js';
import { MAX_EMAIL_LENGTH } from './email.js';
import { MAX_PASSWORD_LENGTH } from './password-policy.js';

export const API_VERSION = 'v1';
/** Largest request body the server reads (the account API's bodies are tiny). */
export const MAX_BODY_BYTES = 16 * 1024;

// The helpers keep literal types, so the TypeScript shapes below are derived from the schemas
// themselves (./fromschema.ts) and cannot drift from them.
const time = str(20, 30); // ISO 8601, e.g. 2026-11-24T23:53:00.000Z

export const S = {
  email: str(1, MAX_EMAIL_LENGTH),
  password: str(1, MAX_PASSWORD_LENGTH),
  region: str(2, 2, '^[A-Z]{2}$'),
  /** activation, reset, recovery and 2FA codes: letters, digits and dashes */
  code: str(4, 64, '^[A-Za-z0-9-]+$'),
  token: str(20, 128, '^kp[art]_[A-Za-z0-9_-]+$'),
  id: str(1, 64, '^[a-z0-9]+$'),
  deviceName: str(1, 64, '^[^\\p{Cc}]+$'),
  phone: str(4, 20, '^\\+?[0-9 ()-]+$'),
  time,
};

// ------------------------------------------------------------------ security check

export const ChallengeSolution = obj({ id: S.id, answer: str(1, 32), nonce: str(1, 64) }, ['id']);

export const Challenge = obj(
  {
    id: S.id,
    expiresAt: time,
    /** text-art rows the client draws; the user types the characters back as `answer` */
    captcha: obj({ lines: { type: 'array', maxItems: 64, items: str(0, 400) }, length: int(1, 16) }),
    /** hashcash-style: find `nonce` so that SHA-256(salt ":" nonce) starts with `bits` zero bits */
    pow: obj({ salt: str(8, 64, '^[0-9a-f]+$'), bits: int(1, 32) }),
  },
  ['id', 'expiresAt', 'captcha'],
);

export const ErrorBody = obj(
  {
    error: str(1, 40),
    message: str(0, 500),
    requestId: str(0, 64),
    rules: { type: 'array', maxItems: 10, items: str(1, 20) },
    challenge: Challenge,
    retryAfter: int(0, 86400),
    signInAgain: { type: 'boolean' },
  },
  ['error', 'message', 'requestId'],
);

// ------------------------------------------------------------------ accounts

export const RegisterBody = obj(
  { email: S.email, password: S.password, region: S.region, marketing: bool, challenge: ChallengeSolution },
  ['email', 'password', 'region', 'marketing'],
);
/** The same answer whether the address was free or in use (the mail tells the owner). */
export const Pending = obj({ status: { type: 'string', const: 'pending' }, message: str(1, 300) });
export const ActivateBody = obj({ code: S.code });
export const Activated = obj({ status: { type: 'string', const: 'activated' }, email: S.email });
export const ResetRequestBody = obj({ email: S.email, challenge: ChallengeSolution }, ['email']);
export const ResetConfirmBody = obj({ code: S.code, password: S.password });
export const Done = obj({ status: { type: 'string', const: 'ok' } });

// ------------------------------------------------------------------ sessions

export const LoginBody = obj(
  { email: S.email, password: S.password, deviceName: S.deviceName, otp: S.code, challenge: ChallengeSolution },
  ['email', 'password', 'deviceName'],
);
export const OtpBody = obj({ ticket: S.token, code: S.code });
export const RefreshBody = obj({ refreshToken: S.token });

const Session = {
  accessToken: S.token,
  accessExpiresAt: time,
  refreshToken: S.token,
  refreshExpiresAt: time,
  account: obj({ id: S.id, email: S.email }),
  device: obj({ id: S.id, name: S.deviceName }),
};
export const Tokens = obj(Session);
export const LoginResult = obj(
  {
    status: { type: 'string', enum: ['ok', 'otp_required'] },
    ...Session,
    /** with otp_required: send the code with this ticket to /v1/sessions/otp */
    ticket: S.token,
    methods: { type: 'array', maxItems: 3, items: { type: 'string', enum: ['totp', 'sms', 'recovery'] } },
    smsSentTo: str(1, 24),
  },
  ['status'],
);

// ------------------------------------------------------------------ account, devices

export const Device = obj({ id: S.id, name: S.deviceName, createdAt: time, lastSeenAt: time, current: bool });
export const DeviceList = obj({ devices: { type: 'array', maxItems: 1000, items: Device } });
export const RenameDeviceBody = obj({ name: S.deviceName });
export const DeviceParams = obj({ id: S.id });

export const TwoFactorStatus = obj({
  totp: bool,
  /** the phone number, masked, or null */
  sms: { type: ['string', 'null'], maxLength: 24 },
  recoveryCodesLeft: int(0, 100),
});

export const Account = obj({
  id: S.id,
  email: S.email,
  region: S.region,
  marketing: bool,
  activated: bool,
  createdAt: time,
  twoFactor: TwoFactorStatus,
  device: obj({ id: S.id, name: S.deviceName }),
});

// ------------------------------------------------------------------ two-step verification

export const TotpSetup = obj({ secret: str(32, 128, '^[A-Z2-7]+$'), uri: str(10, 500), algorithm: { type: 'string', const: 'SHA1' }, digits: { type: 'integer', const: 6 }, period: { type: 'integer', const: 30 } });
export const ConfirmBody = obj({ code: S.code });
export const RecoveryCodes = obj({ recoveryCodes: { type: 'array', maxItems: 20, items: str(8, 40) } });
export const SmsSetupBody = obj({ phone: S.phone, password: S.password });
/** Re-authentication: the account password with a change a session alone may not make. */
export const ReauthBody = obj({ password: S.password });
export const SmsSent = obj({ status: { type: 'string', const: 'sent' }, sentTo: str(1, 24) });
export const DisableBody = obj({ password: S.password, code: S.code });

export const Health = obj({ status: { type: 'string', const: 'ok' }, version: str(1, 40) });

// ------------------------------------------------------------------ TypeScript shapes (derived from the schemas)

export type ChallengeSolutionT = FromSchema<typeof ChallengeSolution>;
export type ChallengeT = FromSchema<typeof Challenge>;
export type ErrorBodyT = FromSchema<typeof ErrorBody>;
export type RegisterBodyT = FromSchema<typeof RegisterBody>;
export type PendingT = FromSchema<typeof Pending>;
export type ActivatedT = FromSchema<typeof Activated>;
export type LoginBodyT = FromSchema<typeof LoginBody>;
export type TokensT = FromSchema<typeof Tokens>;
export type OtpMethod = NonNullable<FromSchema<typeof LoginResult>['methods']>[number];
/** The schema's shape, narrowed to its two cases (Fits: still assignable to the schema's type). */
export type LoginResultT = Fits<({ status: 'ok' } & TokensT) | { status: 'otp_required'; ticket: string; methods: OtpMethod[]; smsSentTo?: string }, FromSchema<typeof LoginResult>>;
export type DeviceT = FromSchema<typeof Device>;
export type TwoFactorStatusT = FromSchema<typeof TwoFactorStatus>;
export type AccountT = FromSchema<typeof Account>;
export type TotpSetupT = FromSchema<typeof TotpSetup>;

// ------------------------------------------------------------------ sync (docs/PROTOCOL.md "Sync")
// The server stores opaque envelopes and records; every field it could alter is authenticated by the
// client (src/sync/envelope.ts), and responses are checked strictly: an unknown field (a public key,
// an escrow or organisation key …) is refused (R15).

/** Largest sync request body: one push batch (one entry of up to 16 MiB, base64, plus margin). */
export const MAX_SYNC_BODY_BYTES = 24 * 1024 * 1024;
const b64 = (max: number) => ({ type: 'string', minLength: 1, maxLength: max, pattern: '^[A-Za-z0-9+/]+={0,2}$' }) as const satisfies JsonSchema;
const ENVELOPE = b64(16 * 1024);
const RECORD = b64(MAX_SYNC_BODY_BYTES - 4096);
const rev = int(0, Number.MAX_SAFE_INTEGER);

export const VaultId = str(32, 32, '^[0-9a-f]{32}$');
const generation = int(1, 0xffffffff);
export const SyncVault = obj({ id: VaultId, epoch: int(1, Number.MAX_SAFE_INTEGER), body: ENVELOPE, head: rev, generation });
export const SyncState = obj({
  keyring: { type: ['object', 'null'], additionalProperties: false, properties: { epoch: int(1, Number.MAX_SAFE_INTEGER), body: ENVELOPE }, required: ['epoch', 'body'] },
  vaults: { type: 'array', maxItems: 1000, items: SyncVault },
});
export const PutEnvelopeBody = obj({ expectedEpoch: rev, epoch: int(1, Number.MAX_SAFE_INTEGER), body: ENVELOPE });
export const EpochResult = obj({ epoch: int(1, Number.MAX_SAFE_INTEGER) });
export const PullBody = obj({ after: rev });
export const PullResult = obj({
  head: rev,
  /** the revision of the first record sent (after + 1) */
  from: rev,
  records: { type: 'array', maxItems: 100_000, items: RECORD },
  /** the manifest of `head` (null only for an empty vault) */
  manifest: { type: ['string', 'null'], maxLength: 1024, pattern: '^[A-Za-z0-9+/]+={0,2}$' },
  more: bool,
  /** the server log generation these records belong to (a compaction starts a new one) */
  generation,
});
/**
 * On a token pull's answer with `more`: the revision the next page starts after (`from - 1 +
 * records.length`), so that the client asks for it before it has read this one (docs/PROTOCOL.md
 * "Service tokens"). A hint: the client uses the page it gets only where the one before it ended.
 */
export const PULL_NEXT_HEADER = 'x-kpm-pull-next';
/** `generation`: the log generation `base` counts in (absent: whichever is current, as before compaction) */
export const PushBody = {
  ...obj({ base: rev, records: { type: 'array', minItems: 1, maxItems: 100_000, items: RECORD }, manifest: b64(1024), generation }),
  required: ['base', 'records', 'manifest'],
};
export const PushResult = obj({ head: rev });
/** A compaction: every record of the new generation `generation + 1`, replacing generation `generation` at head `base`. */
export const CompactBody = obj({ generation, base: rev, records: { type: 'array', maxItems: 100_000, items: RECORD }, manifest: b64(1024) });
export const CompactResult = obj({ head: rev, generation });

export type SyncVaultT = FromSchema<typeof SyncVault>;
export type SyncStateT = FromSchema<typeof SyncState>;
export type PullResultT = FromSchema<typeof PullResult>;
export const VaultParams = obj({ id: VaultId });
export type PutEnvelopeBodyT = FromSchema<typeof PutEnvelopeBody>;

/** Blob (document) chunks travel at most this many bytes each (before base64). */
export const BLOB_CHUNK_BYTES = 4 * 1024 * 1024;
export const MAX_BLOB_CHUNKS = 1024; // 4 GiB per file
export const BlobsHaveBody = obj({ ids: { type: 'array', maxItems: 1000, items: VaultId } });
export const BlobsHave = obj({ have: { type: 'array', maxItems: 1000, items: VaultId } });
export const BlobPutBody = obj({ index: int(0, MAX_BLOB_CHUNKS - 1), data: { type: 'string', minLength: 0, maxLength: Math.ceil(BLOB_CHUNK_BYTES / 3) * 4, pattern: '^[A-Za-z0-9+/]*={0,2}$' }, last: bool });
export const BlobGetBody = obj({ index: int(0, MAX_BLOB_CHUNKS - 1) });
export const BlobChunk = obj({ data: { type: 'string', minLength: 0, maxLength: Math.ceil(BLOB_CHUNK_BYTES / 3) * 4, pattern: '^[A-Za-z0-9+/]*={0,2}$' }, last: bool });
export type BlobChunkT = FromSchema<typeof BlobChunk>;
/** A service token asks for one chunk of a blob by id (no :id in the path: the token names its vault). */
export const TokenBlobGetBody = obj({ blob: VaultId, index: int(0, MAX_BLOB_CHUNKS - 1) });

// ------------------------------------------------------------------ service tokens (docs/PROTOCOL.md "Service tokens")
// A read-only token for one vault. The server keeps SHA-256 of the token's auth key and the vault key
// sealed under the token's wrap key; it never sees the token's secret, auth key or wrap key.

export const TokenId = VaultId;
/** the longest a service token may live */
export const MAX_TOKEN_LIFETIME_MS = 366 * 24 * 3600 * 1000;
export const MAX_TOKENS_PER_ACCOUNT = 200;
export const TokenName = str(1, 64, '^[^\\p{Cc}]+$');
export const TokenCreateBody = obj({
  id: TokenId,
  vaultId: VaultId,
  name: TokenName,
  expiresAt: time,
  authHash: str(64, 64, '^[0-9a-f]{64}$'),
  /** at most 2048 characters for a vault of the account's own; a shared vault's holds one key per membership epoch (the server checks) */
  wrappedKey: b64(512 * 1024),
});
export const TokenView = obj({
  id: TokenId,
  name: TokenName,
  vaultId: VaultId,
  createdAt: time,
  expiresAt: time,
  lastUsedAt: { type: ['string', 'null'], minLength: 20, maxLength: 30 },
  revoked: bool,
});
export const TokenList = obj({ tokens: { type: 'array', maxItems: 10_000, items: TokenView } });
export const TokenParams = obj({ id: TokenId });
/** What a token reads first: its vault's envelope and head, and the vault key sealed for it. */
export const TokenVault = obj({ vault: SyncVault, wrappedKey: b64(2048) });

export type TokenCreateBodyT = FromSchema<typeof TokenCreateBody>;
export type TokenViewT = FromSchema<typeof TokenView>;
export type TokenVaultT = FromSchema<typeof TokenVault>;

