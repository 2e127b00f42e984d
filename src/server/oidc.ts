// The kpm server as an OpenID Connect client of identity providers (confidential: it holds the client
// secret), for the device authorization grant (RFC 8628). Providers are configured by name, issuer,
// client id and secret; discovery runs on first use and is cached (a failure is not cached, so a
// provider that was down is tried again). Only openid-client talks to the providers.
import * as oidc from 'openid-client';
import { readFileSync } from 'node:fs';
import { apiError } from './errors.js';

export interface OidcProviderConfig {
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope: string;
}

export const PROVIDER_NAME = /^[a-z][a-z0-9-]{0,31}$/;
export const DEFAULT_SCOPE = 'openid email';
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export class OidcConfigError extends Error {}

const isLoopbackHost = (h: string): boolean => {
  const x = h.replace(/^\[|\]$/g, '').toLowerCase();
  return x === 'localhost' || x === '::1' || /^127(\.\d{1,3}){3}$/.test(x);
};

/** `KPM_OIDC_<NAME>_SECRET` (dashes become underscores). */
export const secretEnvName = (name: string): string => `KPM_OIDC_${name.toUpperCase().replace(/-/g, '_')}_SECRET`;

/**
 * `NAME=ISSUER,CLIENT_ID[,SCOPE]` plus the secret from `KPM_OIDC_<NAME>_SECRET` or the file named by
 * `KPM_OIDC_<NAME>_SECRET_FILE`. Secrets never come from argv.
 */
export function parseProviderSpec(spec: string, env: NodeJS.ProcessEnv, allowInsecureHttp = false): OidcProviderConfig {
  const m = /^([^=]+)=([^,]+),([^,]+)(?:,(.+))?$/.exec(spec.trim());
  if (!m) throw new OidcConfigError(`--oidc expects NAME=ISSUER,CLIENT_ID[,SCOPE], got "${spec}"`);
  const [, name, issuer, clientId, scope] = m;
  if (!PROVIDER_NAME.test(name)) throw new OidcConfigError(`provider name "${name}": use lower-case letters, digits and dashes (at most 32)`);
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new OidcConfigError(`provider ${name}: "${issuer}" is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (isLoopbackHost(url.hostname) || allowInsecureHttp))) {
    throw new OidcConfigError(`provider ${name}: the issuer must be https:// (plain http only on loopback, or with --oidc-allow-http)`);
  }
  const envName = secretEnvName(name);
  let clientSecret = env[envName];
  if (!clientSecret && env[`${envName}_FILE`]) {
    try {
      clientSecret = readFileSync(env[`${envName}_FILE`]!, 'utf8').trim();
    } catch (e) {
      throw new OidcConfigError(`provider ${name}: cannot read ${envName}_FILE (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (!clientSecret) throw new OidcConfigError(`provider ${name}: set its client secret in ${envName} (or a file named by ${envName}_FILE)`);
  return { name, issuer, clientId, clientSecret, scope: scope?.trim() || DEFAULT_SCOPE };
}

/** Some providers (Google) answer `verification_url`; RFC 8628 says `verification_uri`. */
const fixDeviceResponse: oidc.CustomFetch = async (url, options) => {
  const res = await fetch(url, options as RequestInit);
  if (options.method !== 'POST' || !res.ok || !/json/.test(res.headers.get('content-type') ?? '')) return res;
  const body = (await res.json()) as Record<string, unknown>;
  if (typeof body.device_code === 'string' && body.verification_uri === undefined && typeof body.verification_url === 'string') body.verification_uri = body.verification_url;
  return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
};

export interface DeviceStart {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  expiresIn: number;
  interval: number;
}

export type PollOutcome =
  | { kind: 'pending' }
  | { kind: 'slow_down' }
  | { kind: 'denied' }
  | { kind: 'expired' }
  | { kind: 'identity'; issuer: string; subject: string; email: string | null; emailVerified: boolean; nonce: string | undefined };

export type IdentityOutcome = Extract<PollOutcome, { kind: 'identity' }>;

export interface OidcRegistry {
  list(): { name: string; issuer: string }[];
  get(name: string): OidcProviderConfig | undefined;
  startDevice(name: string, nonce: string): Promise<DeviceStart>;
  pollDevice(name: string, deviceCode: string): Promise<PollOutcome>;
  /** The provider's authorization URL of a browser sign-in (authorization code with PKCE S256). */
  authorizationUrl(name: string, o: { redirectUri: string; state: string; nonce: string; codeChallenge: string }): Promise<URL>;
  /** Redeems the code of the browser's return to `callbackUrl` (state, nonce and PKCE checked). */
  exchangeCode(name: string, callbackUrl: URL, o: { state: string; nonce: string; codeVerifier: string }): Promise<IdentityOutcome>;
}

const unavailable = (p: OidcProviderConfig, why: string) =>
  apiError('provider_unavailable', `the identity provider "${p.name}" cannot be reached or answered badly (${why.slice(0, 160)}); try again later`);

function describe(e: unknown): string {
  const err = e as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  return [err.message, err.cause?.code ?? err.cause?.message].filter(Boolean).join(': ') || String(e);
}

/** The identity in a token response (the ID token's claims, the userinfo endpoint for a missing email). */
async function identityOf(p: OidcProviderConfig, cfg: oidc.Configuration, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): Promise<IdentityOutcome> {
  const claims = tokens.claims();
  if (!claims) throw apiError('provider_error', `the identity provider "${p.name}" sent no ID token (is the "openid" scope allowed for this client?)`);
  let email = typeof claims.email === 'string' ? claims.email : null;
  let verified = claims.email_verified === true || claims.email_verified === 'true';
  if (email === null && cfg.serverMetadata().userinfo_endpoint) {
    try {
      const info = await oidc.fetchUserInfo(cfg, tokens.access_token, claims.sub);
      if (typeof info.email === 'string') {
        email = info.email;
        verified = info.email_verified === true;
      }
    } catch {
      /* no email then */
    }
  }
  return { kind: 'identity', issuer: claims.iss, subject: claims.sub, email, emailVerified: verified, nonce: typeof claims.nonce === 'string' ? claims.nonce : undefined };
}

export function createRegistry(providers: OidcProviderConfig[], opts: { timeoutS?: number } = {}): OidcRegistry {
  const byName = new Map(providers.map((p) => [p.name, p]));
  const configs = new Map<string, Promise<oidc.Configuration>>();

  const configuration = (p: OidcProviderConfig): Promise<oidc.Configuration> => {
    let c = configs.get(p.name);
    if (!c) {
      const insecure = new URL(p.issuer).protocol === 'http:';
      c = oidc
        .discovery(new URL(p.issuer), p.clientId, undefined, oidc.ClientSecretBasic(p.clientSecret), {
          execute: [...(insecure ? [oidc.allowInsecureRequests] : []), oidc.enableNonRepudiationChecks],
          timeout: opts.timeoutS ?? 15,
          [oidc.customFetch]: fixDeviceResponse,
        });
      configs.set(p.name, c);
      c.catch(() => configs.delete(p.name));
    }
    return c.catch((e) => {
      throw unavailable(p, `discovery failed: ${describe(e)}`);
    });
  };

  const provider = (name: string): OidcProviderConfig => {
    const p = byName.get(name);
    if (!p) throw apiError('not_found', byName.size ? `unknown identity provider "${name}" (this server has: ${[...byName.keys()].join(', ')})` : 'this server has no identity providers configured');
    return p;
  };

  return {
    list: () => providers.map((p) => ({ name: p.name, issuer: p.issuer })),
    get: (name) => byName.get(name),

    async startDevice(name, nonce) {
      const p = provider(name);
      const cfg = await configuration(p);
      if (!cfg.serverMetadata().device_authorization_endpoint) {
        throw apiError('provider_unsupported', `the identity provider "${p.name}" does not support the device authorization grant (RFC 8628), which terminal sign-in needs`);
      }
      try {
        const r = await oidc.initiateDeviceAuthorization(cfg, { scope: p.scope, nonce });
        return {
          deviceCode: r.device_code,
          userCode: r.user_code,
          verificationUri: r.verification_uri,
          ...(typeof r.verification_uri_complete === 'string' ? { verificationUriComplete: r.verification_uri_complete } : {}),
          expiresIn: r.expires_in,
          interval: r.interval ?? 5,
        };
      } catch (e) {
        if (e instanceof oidc.ResponseBodyError) throw apiError('provider_error', `the identity provider "${p.name}" refused to start the sign-in: ${e.error}${e.error_description ? ` (${e.error_description.slice(0, 120)})` : ''}`);
        throw unavailable(p, describe(e));
      }
    },

    async pollDevice(name, deviceCode) {
      const p = provider(name);
      const cfg = await configuration(p);
      let tokens: Awaited<ReturnType<typeof oidc.genericGrantRequest>>;
      try {
        tokens = await oidc.genericGrantRequest(cfg, DEVICE_GRANT, { device_code: deviceCode });
      } catch (e) {
        if (e instanceof oidc.ResponseBodyError) {
          if (e.error === 'authorization_pending') return { kind: 'pending' };
          if (e.error === 'slow_down') return { kind: 'slow_down' };
          if (e.error === 'access_denied') return { kind: 'denied' };
          if (e.error === 'expired_token') return { kind: 'expired' };
          throw apiError('provider_error', `the identity provider "${p.name}" refused the sign-in: ${e.error}${e.error_description ? ` (${e.error_description.slice(0, 120)})` : ''}`);
        }
        // a token whose signature, issuer, audience or times do not check out lands here too
        throw unavailable(p, describe(e));
      }
      return identityOf(p, cfg, tokens);
    },

    async authorizationUrl(name, o) {
      const p = provider(name);
      const cfg = await configuration(p);
      return oidc.buildAuthorizationUrl(cfg, { redirect_uri: o.redirectUri, scope: p.scope, state: o.state, nonce: o.nonce, code_challenge: o.codeChallenge, code_challenge_method: 'S256' });
    },

    async exchangeCode(name, callbackUrl, o) {
      const p = provider(name);
      const cfg = await configuration(p);
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(cfg, callbackUrl, { pkceCodeVerifier: o.codeVerifier, expectedState: o.state, expectedNonce: o.nonce, idTokenExpected: true });
      } catch (e) {
        if (e instanceof oidc.AuthorizationResponseError || e instanceof oidc.ResponseBodyError) {
          throw apiError(e.error === 'access_denied' ? 'sso_denied' : 'provider_error', `the identity provider "${p.name}" refused the sign-in: ${e.error}${e.error_description ? ` (${e.error_description.slice(0, 120)})` : ''}`);
        }
        throw unavailable(p, describe(e));
      }
      return identityOf(p, cfg, tokens);
    },
  };
}
