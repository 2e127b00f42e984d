// Shared vaults (docs/SHARING.md): request and response bodies, and the routes. Every body the
// server relays is opaque and signed by its author; the client checks all of it.
import type { JsonSchema } from './validate.js';
import type { RouteSpec } from './routespec.js';
import { MAX_EMAIL_LENGTH } from './email.js';
import { BLOB_CHUNK_BYTES, MAX_BLOB_CHUNKS } from './schemas.js';

const obj = (properties: Record<string, JsonSchema>, required: string[] = Object.keys(properties)): JsonSchema => ({ type: 'object', additionalProperties: false, properties, required });
const b64 = (max: number): JsonSchema => ({ type: 'string', minLength: 1, maxLength: max, pattern: '^[A-Za-z0-9+/]+={0,2}$' });
const nb64 = (max: number): JsonSchema => ({ type: ['string', 'null'], maxLength: max, pattern: '^[A-Za-z0-9+/]*={0,2}$' });
const rev: JsonSchema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const email: JsonSchema = { type: 'string', minLength: 1, maxLength: MAX_EMAIL_LENGTH };
const ShareVaultId: JsonSchema = { type: 'string', minLength: 32, maxLength: 32, pattern: '^[0-9a-f]{32}$' };
const Done = obj({ status: { type: 'string', const: 'ok' } });

export const MAX_SHARE_BODY_BYTES = 8 * 1024 * 1024;
const IDENTITY = b64(2048);
const MEMBERSHIP = b64(256 * 1024);
const BUNDLE = b64(64 * 1024);
const ACCEPT = b64(1024);
const RECORD = b64(1 << 20);
const LEAVE = b64(1024);
const PINS = b64(6 * 1024 * 1024);
const COMPACTION = b64(6 * 1024 * 1024);

export const ShareIdentityBody = obj({ body: IDENTITY });
export const ShareLookupBody = obj({ email });
export const ShareIdentity = obj({ email, body: IDENTITY });
export const ShareParams = obj({ id: ShareVaultId });
export const ShareList = obj({
  vaults: { type: 'array', maxItems: 1000, items: obj({ id: ShareVaultId, owner: email, epoch: rev, head: rev }) },
});
export const ShareVault = obj({
  id: ShareVaultId,
  owner: email,
  /** every membership epoch, 1…n */
  memberships: { type: 'array', minItems: 1, maxItems: 10_000, items: MEMBERSHIP },
  /** this account's key bundle of the latest epoch (null: not a member of it) */
  bundle: nb64(64 * 1024),
  accept: nb64(1024),
  head: rev,
  /** for the owner: the members' signed leave statements not yet acted on (docs/SHARING.md "Leaving a shared vault") */
  leaves: { type: 'array', maxItems: 1000, items: LEAVE },
  /** after the owner's first compaction: its count and the latest signed statement (docs/SHARING.md "Purging and compacting a shared vault") */
  generation: rev,
  compaction: COMPACTION,
}, ['id', 'owner', 'memberships', 'bundle', 'accept', 'head']);
export const ShareMembershipBody = obj({
  membership: MEMBERSHIP,
  bundles: { type: 'array', minItems: 1, maxItems: 1000, items: obj({ email, body: BUNDLE }) },
});
export const ShareEpoch = obj({ epoch: rev });
export const ShareAcceptBody = obj({ body: ACCEPT });
export const SharePullBody = obj({ after: rev });
export const SharePull = obj({ head: rev, from: rev, records: { type: 'array', maxItems: 100_000, items: RECORD }, more: { type: 'boolean' }, generation: rev }, ['head', 'from', 'records', 'more']);
/** The owner's signed compaction statement (src/share/compact.ts). */
export const ShareCompactBody = obj({ statement: COMPACTION });
export const ShareCompact = obj({ generation: rev, dropped: rev });
export const SharePushBody = obj({ base: rev, records: { type: 'array', minItems: 1, maxItems: 1000, items: RECORD } });
export const SharePush = obj({ head: rev });
export const ShareLeaveBody = obj({ body: LEAVE });
/** The account's sealed pin state (src/share/pins.ts): version 0 and no body before the first write. */
export const SharePins = obj({ version: rev, body: nb64(6 * 1024 * 1024) });
export const SharePinsBody = obj({ base: rev, body: PINS });
export const SharePinsPut = obj({ version: rev });
/** A shared vault's file, in chunks as an own vault's blob travels (docs/PROTOCOL.md "Shared vaults": files). */
const BlobId: JsonSchema = { type: 'string', minLength: 32, maxLength: 32, pattern: '^[0-9a-f]{32}$' };
const chunkIndex: JsonSchema = { type: 'integer', minimum: 0, maximum: MAX_BLOB_CHUNKS - 1 };
const chunkData: JsonSchema = { type: 'string', minLength: 0, maxLength: Math.ceil(BLOB_CHUNK_BYTES / 3) * 4, pattern: '^[A-Za-z0-9+/]*={0,2}$' };
export const ShareBlobPutBody = obj({ blob: BlobId, index: chunkIndex, data: chunkData, last: { type: 'boolean' } });
export const ShareBlobGetBody = obj({ blob: BlobId, index: chunkIndex });
export const ShareBlobChunk = obj({ data: chunkData, last: { type: 'boolean' } });

export interface ShareVaultT {
  id: string;
  owner: string;
  memberships: string[];
  bundle: string | null;
  accept: string | null;
  head: number;
  leaves?: string[];
  generation?: number;
  compaction?: string;
}
export interface SharePinsT {
  version: number;
  body: string | null;
}
export interface SharePullT {
  head: number;
  from: number;
  records: string[];
  more: boolean;
  /** the vault's compaction generation (absent: 0) */
  generation?: number;
}
export interface ShareListT {
  vaults: { id: string; owner: string; epoch: number; head: number }[];
}

/**
 * What a service token of a shared vault reads first (docs/SHARING.md "Service tokens on shared
 * vaults"): every signed membership epoch, the log's head, and what its creator sealed for it
 * (the owner's pinned keys, the epochs' record keys: only the token's wrap key opens it).
 */
export const MAX_SHARE_TOKEN_KEY_B64 = 512 * 1024;
export const TokenShare = obj({
  vault: obj({ id: ShareVaultId, owner: email, memberships: { type: 'array', minItems: 1, maxItems: 10_000, items: MEMBERSHIP }, head: rev, generation: rev, compaction: COMPACTION }, ['id', 'owner', 'memberships', 'head']),
  wrappedKey: b64(MAX_SHARE_TOKEN_KEY_B64),
});
export interface TokenShareT {
  vault: { id: string; owner: string; memberships: string[]; head: number; generation?: number; compaction?: string };
  wrappedKey: string;
}

const r = (method: RouteSpec['method'], path: string, body: JsonSchema | undefined, response: JsonSchema, extra: { bodyLimit?: number } = {}): RouteSpec & { strict: true } => ({
  method,
  path,
  auth: true,
  ...(body ? { body } : {}),
  ...(path.includes(':id') ? { params: ShareParams } : {}),
  status: 200,
  response,
  ...extra,
  strict: true,
});

export const SHARE_ROUTES = {
  shareIdentityPut: r('POST', '/v1/share/identity', ShareIdentityBody, Done),
  shareIdentityGet: r('POST', '/v1/share/identity/lookup', ShareLookupBody, ShareIdentity),
  shareList: r('GET', '/v1/share', undefined, ShareList),
  shareVault: r('GET', '/v1/share/vaults/:id', undefined, ShareVault),
  shareMembership: r('POST', '/v1/share/vaults/:id/membership', ShareMembershipBody, ShareEpoch, { bodyLimit: MAX_SHARE_BODY_BYTES }),
  shareAccept: r('POST', '/v1/share/vaults/:id/accept', ShareAcceptBody, Done),
  shareLeave: r('POST', '/v1/share/vaults/:id/leave', ShareLeaveBody, Done),
  sharePinsGet: r('GET', '/v1/share/pins', undefined, SharePins),
  sharePinsPut: r('POST', '/v1/share/pins', SharePinsBody, SharePinsPut, { bodyLimit: MAX_SHARE_BODY_BYTES }),
  sharePull: r('POST', '/v1/share/vaults/:id/pull', SharePullBody, SharePull),
  sharePush: r('POST', '/v1/share/vaults/:id/push', SharePushBody, SharePush, { bodyLimit: MAX_SHARE_BODY_BYTES }),
  shareCompact: r('POST', '/v1/share/vaults/:id/compact', ShareCompactBody, ShareCompact, { bodyLimit: MAX_SHARE_BODY_BYTES }),
  shareBlobPut: r('POST', '/v1/share/vaults/:id/blobs/put', ShareBlobPutBody, Done, { bodyLimit: 6 * 1024 * 1024 }),
  shareBlobGet: r('POST', '/v1/share/vaults/:id/blobs/get', ShareBlobGetBody, ShareBlobChunk),
} as const;

/** The routes a service token of a shared vault reads with (`Authorization: Token …`, never a device session). */
export const SHARE_TOKEN_ROUTES = {
  tokenShare: { method: 'GET', path: '/v1/token/share', auth: false, status: 200, response: TokenShare, tokenAuth: true, strict: true },
  tokenSharePull: { method: 'POST', path: '/v1/token/share/pull', auth: false, body: SharePullBody, status: 200, response: SharePull, tokenAuth: true, strict: true },
  tokenShareBlobGet: { method: 'POST', path: '/v1/token/share/blobs/get', auth: false, body: ShareBlobGetBody, status: 200, response: ShareBlobChunk, tokenAuth: true, strict: true },
} as const satisfies Record<string, RouteSpec>;
