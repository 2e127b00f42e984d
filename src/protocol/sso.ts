// Request and response bodies of sign-in with an identity provider (OpenID Connect, device
// authorization grant, RFC 8628): docs/PROTOCOL.md "Sign-in with an identity provider". No I/O.
import { bool, obj, str, type Fits, type FromSchema } from './fromschema.js';
import { LoginResult, S, type TokensT, type OtpMethod } from './schemas.js';

export const providerName = str(1, 32, '^[a-z][a-z0-9-]{0,31}$');
/** The kpm side of one device flow: a bearer secret of the CLI (the server keeps its SHA-256). */
export const flowToken = str(20, 128, '^kpf_[A-Za-z0-9_-]+$');

export const SsoProviders = obj({ providers: { type: 'array', maxItems: 100, items: obj({ name: providerName, issuer: str(1, 500) }) } });
export const SsoStartBody = obj({ provider: providerName, deviceName: S.deviceName });
export const SsoLinkBody = obj({ provider: providerName, password: S.password });
export const SsoStarted = obj(
  {
    flow: flowToken,
    provider: providerName,
    userCode: str(1, 64),
    verificationUri: str(1, 500),
    verificationUriComplete: str(1, 600),
    expiresAt: S.time,
    interval: { type: 'integer', minimum: 1, maximum: 600 },
  },
  ['flow', 'provider', 'userCode', 'verificationUri', 'expiresAt', 'interval'],
);
export const SsoPollBody = obj({ flow: flowToken });
const identity = obj({ provider: providerName, issuer: str(1, 500), subject: str(1, 255), email: { type: ['string', 'null'], maxLength: 254 }, linkedAt: S.time });
export const SsoPollResult = obj(
  {
    ...LoginResult.properties,
    status: { type: 'string', enum: ['pending', 'ok', 'otp_required', 'register', 'linked'] },
    /** pending: seconds to wait before the next poll */
    interval: { type: 'integer', minimum: 1, maximum: 600 },
    /** register: the address the provider vouched for */
    email: S.email,
    emailVerified: bool,
    /** linked: the identity now linked to the signed-in account */
    identity,
  },
  ['status'],
);
export const SsoRegisterBody = obj({ flow: flowToken, region: S.region, marketing: bool });
export const SsoRegisterResult = obj(
  { ...LoginResult.properties, status: { type: 'string', enum: ['ok', 'pending'] }, message: str(1, 300) },
  ['status'],
);
export const SsoIdentities = obj({ identities: { type: 'array', maxItems: 100, items: identity } });
export const SsoUnlinkBody = obj({ provider: providerName });

export type SsoStartedT = FromSchema<typeof SsoStarted>;
export type SsoIdentityT = FromSchema<typeof identity>;
/** The schema's shape, narrowed to its cases (Fits: still assignable to the schema's type). */
export type SsoPollResultT = Fits<
  | { status: 'pending'; interval: number }
  | ({ status: 'ok' } & TokensT)
  | { status: 'otp_required'; ticket: string; methods: OtpMethod[]; smsSentTo?: string }
  | { status: 'register'; email: string; emailVerified: boolean }
  | { status: 'linked'; identity: SsoIdentityT },
  FromSchema<typeof SsoPollResult>
>;
export type SsoRegisterResultT = Fits<({ status: 'ok' } & TokensT) | { status: 'pending'; message: string }, FromSchema<typeof SsoRegisterResult>>;
