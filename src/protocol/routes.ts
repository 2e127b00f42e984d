// The routes of the kpm server API: one table read by the server (to register handlers with their
// schemas) and by the client (to call them and check the answers). No I/O.
import * as S from './schemas.js';
import * as SSO from './sso.js';
import { SHARE_ROUTES, SHARE_TOKEN_ROUTES } from './share.js';
import type { JsonSchema } from './validate.js';
import type { RouteSpec } from './routespec.js';

export type { RouteSpec } from './routespec.js';

const Empty: JsonSchema = { type: 'object', additionalProperties: false, properties: {}, required: [] };

const r = (method: RouteSpec['method'], path: string, auth: boolean, body: JsonSchema | undefined, response: JsonSchema, status = 200): RouteSpec => ({
  method,
  path,
  auth,
  ...(body ? { body } : {}),
  ...(path.includes(':id') ? { params: S.DeviceParams } : {}),
  status,
  response,
});

export const ROUTES = {
  health: r('GET', '/v1/health', false, undefined, S.Health),
  register: r('POST', '/v1/accounts', false, S.RegisterBody, S.Pending, 202),
  activate: r('POST', '/v1/accounts/activate', false, S.ActivateBody, S.Activated),
  resetRequest: r('POST', '/v1/password-reset', false, S.ResetRequestBody, S.Pending, 202),
  resetConfirm: r('POST', '/v1/password-reset/confirm', false, S.ResetConfirmBody, S.Done),
  challenge: r('POST', '/v1/challenges', false, Empty, S.Challenge),
  login: r('POST', '/v1/sessions', false, S.LoginBody, S.LoginResult),
  loginOtp: r('POST', '/v1/sessions/otp', false, S.OtpBody, S.LoginResult),
  refresh: r('POST', '/v1/sessions/refresh', false, S.RefreshBody, S.Tokens),
  logout: r('POST', '/v1/sessions/logout', true, Empty, S.Done),
  account: r('GET', '/v1/account', true, undefined, S.Account),
  devices: r('GET', '/v1/devices', true, undefined, S.DeviceList),
  renameDevice: r('PATCH', '/v1/devices/:id', true, S.RenameDeviceBody, S.Device),
  revokeDevice: r('DELETE', '/v1/devices/:id', true, undefined, S.Done),
  twoFactor: r('GET', '/v1/2fa', true, undefined, S.TwoFactorStatus),
  totpSetup: r('POST', '/v1/2fa/totp', true, S.ReauthBody, S.TotpSetup),
  totpConfirm: r('POST', '/v1/2fa/totp/confirm', true, S.ConfirmBody, S.RecoveryCodes),
  smsSetup: r('POST', '/v1/2fa/sms', true, S.SmsSetupBody, S.SmsSent),
  smsConfirm: r('POST', '/v1/2fa/sms/confirm', true, S.ConfirmBody, S.RecoveryCodes),
  twoFactorDisable: r('POST', '/v1/2fa/disable', true, S.DisableBody, S.Done),
  syncState: { ...r('GET', '/v1/sync', true, undefined, S.SyncState), strict: true },
  syncKeyring: { ...r('POST', '/v1/sync/keyring', true, S.PutEnvelopeBody, S.EpochResult), strict: true },
  syncVault: { ...r('POST', '/v1/sync/vaults/:id', true, S.PutEnvelopeBody, S.EpochResult), params: S.VaultParams, strict: true },
  syncPull: { ...r('POST', '/v1/sync/vaults/:id/pull', true, S.PullBody, S.PullResult), params: S.VaultParams, strict: true },
  syncBlobsHave: { ...r('POST', '/v1/sync/blobs', true, S.BlobsHaveBody, S.BlobsHave), strict: true },
  syncBlobPut: { ...r('POST', '/v1/sync/blobs/:id/put', true, S.BlobPutBody, S.Done), params: S.VaultParams, bodyLimit: 6 * 1024 * 1024, strict: true },
  syncBlobGet: { ...r('POST', '/v1/sync/blobs/:id/get', true, S.BlobGetBody, S.BlobChunk), params: S.VaultParams, strict: true },
  syncPush: { ...r('POST', '/v1/sync/vaults/:id/push', true, S.PushBody, S.PushResult), params: S.VaultParams, bodyLimit: S.MAX_SYNC_BODY_BYTES, strict: true },
  syncCompact: { ...r('POST', '/v1/sync/vaults/:id/compact', true, S.CompactBody, S.CompactResult), params: S.VaultParams, bodyLimit: S.MAX_SYNC_BODY_BYTES, strict: true },
  ssoProviders: r('GET', '/v1/sso/providers', false, undefined, SSO.SsoProviders),
  ssoStart: r('POST', '/v1/sso/start', false, SSO.SsoStartBody, SSO.SsoStarted),
  ssoLinkStart: r('POST', '/v1/sso/link', true, SSO.SsoLinkBody, SSO.SsoStarted),
  ssoPoll: r('POST', '/v1/sso/poll', false, SSO.SsoPollBody, SSO.SsoPollResult),
  ssoRegister: r('POST', '/v1/sso/register', false, SSO.SsoRegisterBody, SSO.SsoRegisterResult),
  ssoIdentities: r('GET', '/v1/sso/identities', true, undefined, SSO.SsoIdentities),
  ssoUnlink: r('POST', '/v1/sso/unlink', true, SSO.SsoUnlinkBody, S.Done),
  tokenCreate: { ...r('POST', '/v1/tokens', true, S.TokenCreateBody, S.TokenView, 201), bodyLimit: 1024 * 1024, strict: true }, // a shared vault's sealed keys grow with its epochs
  tokenList: { ...r('GET', '/v1/tokens', true, undefined, S.TokenList), strict: true },
  tokenRevoke: { ...r('DELETE', '/v1/tokens/:id', true, undefined, S.Done), params: S.TokenParams },
  tokenVault: { ...r('GET', '/v1/token/vault', false, undefined, S.TokenVault), tokenAuth: true, strict: true },
  tokenPull: { ...r('POST', '/v1/token/pull', false, S.PullBody, S.PullResult), tokenAuth: true, strict: true },
  // one chunk of a file (document, attachment) its vault's entries name (docs/PROTOCOL.md "Service tokens": files)
  tokenBlobGet: { ...r('POST', '/v1/token/blobs/get', false, S.TokenBlobGetBody, S.BlobChunk), tokenAuth: true, strict: true },
  ...SHARE_ROUTES, // shared vaults (docs/SHARING.md)
  ...SHARE_TOKEN_ROUTES, // service tokens of shared vaults (docs/SHARING.md "Service tokens on shared vaults")
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;

/** `/v1/devices/:id` with `{ id }` → `/v1/devices/abc` */
export function routePath(spec: RouteSpec, params: Record<string, string> = {}): string {
  return spec.path.replace(/:([a-z]+)/g, (_, k: string) => encodeURIComponent(params[k] ?? ''));
}
