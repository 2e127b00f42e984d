// The client side of the kpm server API: HTTPS with undici (plain http only to loopback unless
// --insecure, R20), every response checked against the shared schema, errors turned into KpmErrors
// with documented exit codes, and the device session (tokens) kept 0600 in the data folder.
import { clearSession, saveSession, type StoredSession } from './sessionfile.js';
export { clearSession, loadSession, saveSession, sessionFile, type StoredSession } from './sessionfile.js';
import { Agent, request, type Dispatcher } from 'undici';
import { ROUTES, routePath, type RouteName, type RouteSpec } from '../protocol/routes.js';
import { ErrorBody, type ErrorBodyT, type TokensT } from '../protocol/schemas.js';
import { validate } from '../protocol/validate.js';
import { isErrorCode, type ErrorCode } from '../protocol/errors.js';
import { KpmError, EXIT, type ExitCode } from '../core/errors.js';
import { checkServerUrl } from './serverurl.js';
import type { KpmPaths } from '../core/paths.js';

export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** sync answers carry pages of records (src/server/sync.ts PULL_PAGE_CHARS, or one large entry) */
export const MAX_SYNC_RESPONSE_BYTES = 40 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

const networkError = (msg: string, hint?: string) => new KpmError(msg, EXIT.network, hint);

export { checkServerUrl, isLoopback } from './serverurl.js';

/** An error answer of the server, with its stable code. */
export class ServerError extends KpmError {
  constructor(
    readonly status: number,
    readonly body: ErrorBodyT,
    exitCode: ExitCode,
    hint?: string,
  ) {
    super(body.message, exitCode, hint);
  }
  get code(): string {
    return this.body.error;
  }
}

const EXIT_OF: Partial<Record<ErrorCode, ExitCode>> = {
  bad_request: EXIT.usage,
  invalid_body: EXIT.usage,
  body_too_large: EXIT.usage,
  password_policy: EXIT.usage,
  invalid_email: EXIT.usage,
  invalid_region: EXIT.usage,
  invalid_phone: EXIT.usage,
  not_found: EXIT.notFound,
  unauthorized: EXIT.locked,
  token_expired: EXIT.locked,
  account_not_activated: EXIT.locked,
  challenge_required: EXIT.locked,
  invalid_credentials: EXIT.wrongPassword,
  invalid_otp: EXIT.wrongPassword,
  otp_reused: EXIT.wrongPassword,
  invalid_code: EXIT.wrongPassword,
  challenge_failed: EXIT.wrongPassword,
  account_disabled: EXIT.forbidden,
  forbidden: EXIT.forbidden,
  too_many_attempts: EXIT.forbidden,
  conflict: EXIT.conflict,
  sso_denied: EXIT.forbidden,
  sso_expired: EXIT.locked,
  sso_not_linked: EXIT.locked,
  email_unverified: EXIT.locked,
  provider_unsupported: EXIT.network,
  provider_error: EXIT.network,
  provider_unavailable: EXIT.network,
};

const HINT_OF: Partial<Record<ErrorCode, string>> = {
  unauthorized: 'run `kpm login`',
  token_expired: 'run `kpm login`',
};

export interface CallOptions {
  body?: unknown;
  params?: Record<string, string>;
  token?: string;
  /** a whole Authorization header (service tokens: `Token …`) instead of a bearer token */
  authorization?: string;
}

export class ApiClient {
  private readonly dispatcher: Dispatcher;
  readonly base: URL;

  constructor(serverUrl: string, readonly insecure = false) {
    this.base = checkServerUrl(serverUrl, insecure);
    this.dispatcher = new Agent({ connect: { rejectUnauthorized: !insecure, timeout: 10_000 }, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** Calls a route and returns its checked answer; throws ServerError / KpmError(6) otherwise. */
  async call<T>(name: RouteName, o: CallOptions = {}): Promise<T> {
    const spec: RouteSpec = ROUTES[name];
    const strict = 'strict' in spec && spec.strict === true;
    const { status, json } = await this.raw(spec.method, routePath(spec, o.params), o.body, o.authorization ?? (o.token ? `Bearer ${o.token}` : undefined), strict ? MAX_SYNC_RESPONSE_BYTES : MAX_RESPONSE_BYTES);
    if (status === spec.status) {
      const problem = validate(spec.response, json, { allowExtra: !strict });
      // A sync answer off the schema (an unknown key field, a forged count …) is treated as tampering.
      if (problem && strict) throw new KpmError(`the server's data was tampered with: a malformed sync answer (${problem}); nothing was changed on this device`, EXIT.corrupt, undefined, 'tampered');
      if (problem) throw networkError(`the server sent an unexpected answer (${problem})`);
      return json as T;
    }
    throw toServerError(status, json);
  }

  /** A GET of binary content (captcha images). */
  async download(path: string): Promise<Buffer> {
    const res = await this.send('GET', path);
    const body = await readLimited(res.body);
    if (res.statusCode !== 200) throw networkError(`the server answered HTTP ${res.statusCode}`);
    return body;
  }

  private async send(method: string, path: string, body?: unknown, authorization?: string): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'kpm' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (authorization) headers.authorization = authorization;
    const prefix = this.base.pathname === '/' ? '' : this.base.pathname;
    const url = new URL(prefix + path, this.base);
    try {
      return await request(url, { method: method as Dispatcher.HttpMethod, headers, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: this.dispatcher });
    } catch (e) {
      throw describeNetworkError(e, this.base);
    }
  }

  private async raw(method: string, path: string, body?: unknown, authorization?: string, limit = MAX_RESPONSE_BYTES): Promise<{ status: number; json: unknown }> {
    const res = await this.send(method, path, body, authorization);
    let text: string;
    try {
      text = (await readLimited(res.body, limit)).toString('utf8');
    } catch (e) {
      throw e instanceof KpmError ? e : describeNetworkError(e, this.base);
    }
    // 502 with a provider_* code: an identity provider failed, and the server says which (exit 6)
    const upstream = res.statusCode === 502 && /"error":"provider_[a-z]+"/.test(text);
    if (res.statusCode >= 500 && !upstream) throw networkError(`the server failed (HTTP ${res.statusCode}); try again later`);
    try {
      return { status: res.statusCode, json: JSON.parse(text) };
    } catch {
      throw networkError(`the server sent a non-JSON answer (HTTP ${res.statusCode}); is ${this.base.origin} a kpm server?`);
    }
  }
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit = MAX_RESPONSE_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += (c as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw networkError(`the server sent an answer larger than ${limit >> 20} MiB`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export function toServerError(status: number, json: unknown): KpmError {
  if (validate(ErrorBody, json, { allowExtra: true }) !== null) return networkError(`the server sent an unexpected answer (HTTP ${status})`);
  const body = json as ErrorBodyT;
  const code = isErrorCode(body.error) ? body.error : undefined;
  const exit = (code && EXIT_OF[code]) ?? EXIT.network;
  return new ServerError(status, { ...body, message: oneLine(body.message) }, exit, code ? HINT_OF[code] : undefined);
}

const oneLine = (s: string): string => s.replace(/[\p{Cc}\p{Cf}]+/gu, ' ').slice(0, 300);

function describeNetworkError(e: unknown, base: URL): KpmError {
  const err = e as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.code ?? err.cause?.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME|ALTNAME/i.test(code + ' ' + (err.message ?? ''))) {
    return networkError(`the TLS certificate of ${base.host} is not trusted (${code || err.message})`, 'install its CA (NODE_EXTRA_CA_CERTS=ca.pem), or use --insecure for testing only');
  }
  if (code === 'ECONNREFUSED') return networkError(`cannot connect to ${base.origin}: connection refused`, 'is kpm-server running there?');
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return networkError(`cannot resolve ${base.hostname}`);
  if (/TIMEOUT/i.test(code)) return networkError(`${base.origin} did not answer in time`);
  return networkError(`cannot reach ${base.origin}: ${code || err.message || String(e)}`);
}



export const notSignedIn = () => new KpmError('not signed in', EXIT.locked, 'run `kpm login`');

/**
 * Calls an authenticated route with the stored session: refreshes the access token when it is about
 * to expire or the server says it has, and saves the new tokens.
 */
export async function authedCall<T>(paths: KpmPaths, client: ApiClient, session: StoredSession, name: RouteName, o: Omit<CallOptions, 'token'> = {}): Promise<T> {
  const refresh = async () => {
    try {
      const t = await client.call<TokensT>('refresh', { body: { refreshToken: session.refreshToken } });
      Object.assign(session, t);
      saveSession(paths, session);
    } catch (e) {
      if (e instanceof ServerError && (e.code === 'unauthorized' || e.code === 'account_disabled')) {
        clearSession(paths);
        throw e.code === 'unauthorized' ? new KpmError('this device was signed out', EXIT.locked, 'run `kpm login`') : e;
      }
      throw e;
    }
  };
  if (Date.parse(session.accessExpiresAt) - Date.now() < 30_000) await refresh();
  try {
    return await client.call<T>(name, { ...o, token: session.accessToken });
  } catch (e) {
    // expired, or revoked (then the refresh fails too, and says this device was signed out)
    if (!(e instanceof ServerError && (e.code === 'token_expired' || e.code === 'unauthorized'))) throw e;
  }
  await refresh();
  return client.call<T>(name, { ...o, token: session.accessToken });
}
