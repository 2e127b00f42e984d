// The HTTP API (fastify). Routes, schemas and statuses come from src/protocol/routes.ts; handlers
// call the services. Every failure leaves as `{ error, message, requestId }` with a stable code and a
// 4xx status; anything unexpected is logged and answered with a bare 500 "internal", never a stack.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { ROUTES, type RouteName } from '../protocol/routes.js';
import { MAX_BODY_BYTES, PULL_NEXT_HEADER } from '../protocol/schemas.js';
import type * as T from '../protocol/schemas.js';
import { ERROR_STATUS, type ErrorCode } from '../protocol/errors.js';
import type { RequestInfo, ServerContext } from './context.js';
import { ApiError, apiError } from './errors.js';
import { newId } from './tokens.js';
import * as accounts from './accounts.js';
import * as sessions from './sessions.js';
import * as twofactor from './twofactor.js';
import * as sync from './sync.js';
import * as sso from './sso.js';
import * as tokens from './servicetokens.js';
import * as share from './share.js';
import { captchaImage, newChallenge } from './challenges.js';
import { csrfOk, parseForm, sendPage, type Page } from './pages.js';
import { registerAccountPages } from './web.js';
import { Metrics } from './metrics.js';
import { sql } from 'kysely';

declare module 'fastify' {
  interface FastifyRequest {
    auth?: sessions.AuthInfo;
    tokenAuth?: tokens.TokenAuth;
  }
}

export interface AppOptions {
  /** pino options, or false for no logs */
  logger?: FastifyServerOptions['logger'];
  https?: { cert: Buffer; key: Buffer };
  /** the proxies (addresses/CIDRs, see parseTrustProxy) whose X-Forwarded-For entry names the client */
  trustProxy?: string[];
  /** serve Prometheus metrics at /metrics (off by default) */
  metrics?: boolean;
}

/** The database answers a trivial query: its round trip in seconds, or null when it does not. */
async function dbPing(ctx: ServerContext): Promise<number | null> {
  const t0 = performance.now();
  try {
    await sql`select 1`.execute(ctx.db);
    return (performance.now() - t0) / 1000;
  } catch {
    return null;
  }
}

/** Never logged: headers with credentials, and (defensively) any field that could hold a secret. */
export const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'body',
  'req.body',
  '*.password',
  '*.code',
  '*.otp',
  '*.ticket',
  '*.accessToken',
  '*.refreshToken',
  '*.answer',
  '*.flow',
];

export function loggerOptions(level: string, stream?: NodeJS.WritableStream): FastifyServerOptions['logger'] {
  return {
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: {
      // The query string goes: the activation link carries its code there.
      req: (req: FastifyRequest) => ({ method: req.method, url: req.url.split('?')[0], remoteAddress: req.ip }),
      res: (res: FastifyReply) => ({ statusCode: res.statusCode }),
    },
    ...(stream ? { stream } : {}),
  } as FastifyServerOptions['logger'];
}

/** Request ids: a random per-process prefix and a counter (cheaper than random bytes per request). */
function requestIds(): () => string {
  const prefix = newId(4);
  let n = 0;
  return () => `${prefix}${(++n).toString(16).padStart(8, '0')}`;
}

const info = (req: FastifyRequest): RequestInfo => ({ ip: req.ip, log: req.log });

type Handler = (ctx: ServerContext, req: FastifyRequest) => Promise<unknown>;

function errorBody(req: FastifyRequest, code: ErrorCode, message: string, extra: object = {}): T.ErrorBodyT {
  return { error: code, message, requestId: String(req.id), ...extra };
}

function send(reply: FastifyReply, req: FastifyRequest, code: ErrorCode, message: string, extra: object = {}): FastifyReply {
  const body = errorBody(req, code, message, extra);
  if (code === 'too_many_attempts' && 'retryAfter' in extra) reply.header('retry-after', String(extra.retryAfter));
  return reply.code(ERROR_STATUS[code]).type('application/json; charset=utf-8').send(JSON.stringify(body));
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  validation?: { instancePath?: string; message?: string; keyword?: string; params?: Record<string, unknown> }[];
  validationContext?: string;
  message?: string;
}

function describeValidation(e: FastifyLikeError): string {
  const v = e.validation?.[0];
  if (!v) return 'the request does not match the schema';
  const where = `${e.validationContext ?? 'body'}${v.instancePath ?? ''}`;
  if (v.keyword === 'additionalProperties') return `${where}: unknown field "${String(v.params?.additionalProperty)}"`;
  if (v.keyword === 'required') return `${where}: missing field "${String(v.params?.missingProperty)}"`;
  return `${where} ${v.message ?? 'is invalid'}`;
}

const vaultParam = (req: FastifyRequest): string => (req.params as { id: string }).id;

const handlers: Record<RouteName, Handler> = {
  health: async (ctx) => ({ status: 'ok', version: ctx.settings.version }),
  register: (ctx, req) => accounts.register(ctx, info(req), req.body as T.RegisterBodyT),
  activate: (ctx, req) => accounts.activate(ctx, (req.body as { code: string }).code),
  resetRequest: (ctx, req) => accounts.requestReset(ctx, info(req), req.body as { email: string }),
  resetConfirm: async (ctx, req) => {
    await accounts.confirmReset(ctx, info(req), req.body as { code: string; password: string });
    return { status: 'ok' };
  },
  challenge: (ctx) => newChallenge(ctx),
  login: (ctx, req) => sessions.login(ctx, info(req), req.body as T.LoginBodyT),
  loginOtp: (ctx, req) => sessions.loginOtp(ctx, info(req), req.body as { ticket: string; code: string }),
  refresh: (ctx, req) => sessions.refresh(ctx, (req.body as { refreshToken: string }).refreshToken),
  logout: async (ctx, req) => {
    await sessions.logout(ctx, req.auth!);
    return { status: 'ok' };
  },
  account: (ctx, req) => sessions.account(ctx, req.auth!),
  devices: async (ctx, req) => ({ devices: await sessions.devices(ctx, req.auth!) }),
  renameDevice: (ctx, req) => sessions.renameDevice(ctx, req.auth!, (req.params as { id: string }).id, (req.body as { name: string }).name),
  revokeDevice: async (ctx, req) => {
    await sessions.revokeDevice(ctx, req.auth!, (req.params as { id: string }).id);
    return { status: 'ok' };
  },
  twoFactor: (ctx, req) => twofactor.status(ctx, req.auth!.accountId),
  totpSetup: async (ctx, req) => {
    await sessions.reauthenticate(ctx, info(req), req.auth!, (req.body as { password: string }).password);
    return twofactor.setupTotp(ctx, req.auth!);
  },
  totpConfirm: async (ctx, req) => ({ recoveryCodes: await twofactor.confirmTotp(ctx, info(req), req.auth!, (req.body as { code: string }).code) }),
  smsSetup: async (ctx, req) => {
    const b = req.body as { phone: string; password: string };
    await sessions.reauthenticate(ctx, info(req), req.auth!, b.password);
    return { status: 'sent', sentTo: await twofactor.setupSms(ctx, req.auth!, b.phone) };
  },
  smsConfirm: async (ctx, req) => ({ recoveryCodes: await twofactor.confirmSms(ctx, info(req), req.auth!, (req.body as { code: string }).code) }),
  twoFactorDisable: async (ctx, req) => {
    const b = req.body as { password: string; code: string };
    await sessions.disableTwoFactor(ctx, info(req), req.auth!, b.password, b.code);
    return { status: 'ok' };
  },
  syncState: (ctx, req) => sync.state(ctx, req.auth!.accountId),
  syncKeyring: (ctx, req) => sync.putKeyring(ctx, req.auth!.accountId, req.body as T.PutEnvelopeBodyT),
  syncVault: (ctx, req) => sync.putVault(ctx, req.auth!.accountId, vaultParam(req), req.body as T.PutEnvelopeBodyT),
  syncPull: (ctx, req) => sync.pull(ctx, req.auth!.accountId, vaultParam(req), (req.body as { after: number }).after),
  syncBlobsHave: (ctx, req) => sync.blobsHave(ctx, req.auth!.accountId, (req.body as { ids: string[] }).ids),
  syncBlobPut: (ctx, req) => sync.blobPut(ctx, req.auth!.accountId, vaultParam(req), req.body as { index: number; data: string; last: boolean }),
  syncBlobGet: (ctx, req) => sync.blobGet(ctx, req.auth!.accountId, vaultParam(req), (req.body as { index: number }).index),
  syncPush: (ctx, req) => sync.push(ctx, req.auth!.accountId, vaultParam(req), req.body as { base: number; records: string[]; manifest: string; generation?: number }),
  syncCompact: (ctx, req) => sync.compact(ctx, req.auth!.accountId, vaultParam(req), req.body as { generation: number; base: number; records: string[]; manifest: string }),
  ssoProviders: async (ctx) => sso.providers(ctx),
  ssoStart: (ctx, req) => sso.start(ctx, info(req), req.body as { provider: string; deviceName: string }),
  ssoLinkStart: async (ctx, req) => {
    const b = req.body as { provider: string; password: string };
    await sessions.reauthenticate(ctx, info(req), req.auth!, b.password);
    return sso.start(ctx, info(req), { provider: b.provider }, req.auth!);
  },
  ssoPoll: (ctx, req) => sso.poll(ctx, info(req), (req.body as { flow: string }).flow),
  ssoRegister: (ctx, req) => sso.register(ctx, info(req), req.body as { flow: string; region: string; marketing: boolean }),
  ssoIdentities: (ctx, req) => sso.identities(ctx, req.auth!),
  ssoUnlink: async (ctx, req) => {
    await sso.unlink(ctx, info(req), req.auth!, (req.body as { provider: string }).provider);
    return { status: 'ok' };
  },
  tokenCreate: (ctx, req) => tokens.create(ctx, req.auth!.accountId, req.body as T.TokenCreateBodyT),
  tokenList: async (ctx, req) => ({ tokens: await tokens.list(ctx, req.auth!.accountId) }),
  tokenRevoke: async (ctx, req) => {
    await tokens.revoke(ctx, req.auth!.accountId, (req.params as { id: string }).id);
    return { status: 'ok' };
  },
  tokenVault: (ctx, req) => tokens.vaultInfo(ctx, req.tokenAuth!),
  tokenPull: (ctx, req) => tokens.pull(ctx, req.tokenAuth!, (req.body as { after: number }).after),
  tokenShare: (ctx, req) => tokens.shareInfo(ctx, req.tokenAuth!),
  tokenSharePull: (ctx, req) => tokens.sharePull(ctx, req.tokenAuth!, (req.body as { after: number }).after),
  tokenBlobGet: (ctx, req) => tokens.blobGet(ctx, req.tokenAuth!, req.body as { blob: string; index: number }),
  tokenShareBlobGet: (ctx, req) => tokens.shareBlobGet(ctx, req.tokenAuth!, req.body as { blob: string; index: number }),
  // shared vaults (src/server/share.ts, docs/SHARING.md)
  shareIdentityPut: (ctx, req) => share.putIdentity(ctx, req.auth!.accountId, (req.body as { body: string }).body),
  shareIdentityGet: (ctx, req) => share.getIdentity(ctx, (req.body as { email: string }).email),
  shareList: (ctx, req) => share.list(ctx, req.auth!.accountId),
  shareVault: (ctx, req) => share.vault(ctx, req.auth!.accountId, vaultParam(req)),
  shareMembership: (ctx, req) => share.putMembership(ctx, req.auth!.accountId, vaultParam(req), req.body as { membership: string; bundles: { email: string; body: string }[] }),
  shareAccept: (ctx, req) => share.accept(ctx, req.auth!.accountId, vaultParam(req), (req.body as { body: string }).body),
  shareLeave: (ctx, req) => share.leave(ctx, req.auth!.accountId, vaultParam(req), (req.body as { body: string }).body),
  sharePinsGet: (ctx, req) => share.getPins(ctx, req.auth!.accountId),
  sharePinsPut: (ctx, req) => share.putPins(ctx, req.auth!.accountId, req.body as { base: number; body: string }),
  sharePull: (ctx, req) => share.pull(ctx, req.auth!.accountId, vaultParam(req), (req.body as { after: number }).after),
  sharePush: (ctx, req) => share.push(ctx, req.auth!.accountId, vaultParam(req), req.body as { base: number; records: string[] }),
  shareCompact: (ctx, req) => share.compact(ctx, req.auth!.accountId, vaultParam(req), req.body as { statement: string }),
  shareBlobPut: (ctx, req) => share.blobPut(ctx, req.auth!.accountId, vaultParam(req), req.body as { blob: string; index: number; data: string; last: boolean }),
  shareBlobGet: (ctx, req) => share.blobGet(ctx, req.auth!.accountId, vaultParam(req), req.body as { blob: string; index: number }),
};

const HTML = (title: string, text: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>\n`;

/** "check your inbox" from a server whose mail goes to the development outbox says so (the start-up line names the folder). */
const OUTBOX_HINT = " (development server: nothing is mailed; the message is an .eml file in the server's outbox folder)";
/**
 * A pull page as JSON, by JSON.stringify (native: a page is megabytes of base64 strings, which the
 * schema serializer walks one by one), with exactly the fields of the PullResult schema.
 */
function pullJson(r: T.PullResultT): string {
  return JSON.stringify({ head: r.head, from: r.from, records: r.records, manifest: r.manifest, more: r.more, generation: r.generation });
}

function outboxHint(ctx: ServerContext, result: unknown): unknown {
  const r = result as { status?: unknown; message?: unknown } | null;
  if (ctx.mailer.kind !== 'outbox' || !r || r.status !== 'pending' || typeof r.message !== 'string' || !r.message.startsWith('check your inbox')) return result;
  return r.message.length + OUTBOX_HINT.length <= 300 ? { ...r, message: r.message + OUTBOX_HINT } : result; // Pending: message ≤ 300
}

export function buildApp(ctx: ServerContext, opts: AppOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: MAX_BODY_BYTES,
    genReqId: requestIds(),
    requestIdHeader: false,
    trustProxy: opts.trustProxy ?? false,
    return503OnClosing: true,
    ...(opts.https ? { https: opts.https } : {}),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  } as FastifyServerOptions) as unknown as FastifyInstance;

  app.removeContentTypeParser('text/plain'); // JSON only: anything else is 415
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', String(req.id));
    reply.header('cache-control', 'no-store');
  });

  const metrics = opts.metrics ? new Metrics() : undefined;
  if (metrics) {
    app.addHook('onResponse', async (req, reply) => {
      // the route pattern (never the URL: it may carry ids or codes); unknown routes share one label
      const route = req.routeOptions.url ?? 'unmatched';
      metrics.inc('kpm_http_requests_total', { route, method: req.method, status: String(reply.statusCode) });
      if (route === ROUTES.syncPush.path && reply.statusCode === ROUTES.syncPush.status) metrics.inc('kpm_sync_pushes_total');
    });
  }

  app.setErrorHandler((err: FastifyLikeError, req, reply) => {
    if (err instanceof ApiError) {
      if (metrics) {
        if (err.extra.challenge) metrics.inc('kpm_security_checks_shown_total');
        const route = req.routeOptions.url;
        if ((route === ROUTES.login.path || route === ROUTES.loginOtp.path) && ['invalid_credentials', 'invalid_otp', 'otp_reused', 'challenge_failed'].includes(err.code)) {
          metrics.inc('kpm_signin_failures_total');
        }
      }
      if (err.status >= 500) req.log.error({ code: err.code }, err.message);
      return send(reply, req, err.code, err.message, err.extra);
    }
    if (err.validation) return send(reply, req, 'invalid_body', describeValidation(err));
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(reply, req, 'body_too_large', `the request body is larger than ${req.routeOptions.bodyLimit ?? MAX_BODY_BYTES} bytes`);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(reply, req, 'unsupported_media_type', 'send JSON with content-type application/json');
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return send(reply, req, 'bad_request', 'the JSON body is empty');
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return send(reply, req, 'bad_request', 'the body is not valid JSON');
    }
    // A parse error's own message may quote the body (which may hold a password): never echo it.
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return send(reply, req, 'bad_request', err.statusCode === 400 ? 'the body is not valid JSON' : 'bad request');
    }
    req.log.error({ err: { code: err.code, message: err.message } }, 'unexpected error');
    return send(reply, req, 'internal', 'internal server error');
  });

  app.setNotFoundHandler((req, reply) => send(reply, req, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`));

  // A service token is refused (403) wherever a device session is needed, and a token route takes
  // nothing but a service token: the two never stand in for each other.
  const authenticate = async (req: FastifyRequest) => {
    if (/^Token /.test(req.headers.authorization ?? '')) throw apiError('forbidden', 'a service token can only read its own vault');
    req.auth = await sessions.authenticate(ctx, req.headers.authorization);
  };
  const authenticateToken = async (req: FastifyRequest) => {
    req.tokenAuth = await tokens.authenticateToken(ctx, req.headers.authorization);
  };

  for (const [name, spec] of Object.entries(ROUTES) as [RouteName, (typeof ROUTES)[RouteName]][]) {
    const schema: Record<string, unknown> = { response: { [spec.status]: spec.response } };
    if ('body' in spec && spec.body) schema.body = spec.body;
    if ('params' in spec && spec.params) schema.params = spec.params;
    app.route({
      method: spec.method,
      url: spec.path,
      schema,
      ...('bodyLimit' in spec && spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
      ...(spec.auth ? { preHandler: authenticate } : 'tokenAuth' in spec && spec.tokenAuth ? { preHandler: authenticateToken } : {}),
      handler: async (req, reply) => {
        const result = outboxHint(ctx, await handlers[name](ctx, req));
        if (name === 'tokenPull') {
          // where the next page starts, in a header the client reads before the page: it asks for that one at once
          const page = result as T.PullResultT;
          if (page.more) reply.header(PULL_NEXT_HEADER, String(page.from - 1 + page.records.length));
          return reply.code(spec.status).type('application/json; charset=utf-8').send(pullJson(page));
        }
        return reply.code(spec.status).send(result);
      },
    });
  }

  // The root (someone opens the server's address in a browser): a short page naming the server.
  app.get('/', async (_req, reply) => {
    reply.type('text/html; charset=utf-8');
    return HTML(`kpm-server ${ctx.settings.version}`, `This is kpm-server ${ctx.settings.version}, the sync server of the kpm password manager. Point kpm at it with <code>kpm login --server URL</code> or <code>KPM_SERVER=URL</code>; the API is under <code>/v1/</code> (docs/PROTOCOL.md).`);
  });

  // The activation link of the mail. A GET only shows what would happen (mail scanners follow
  // links); the page's form POSTs back with its CSRF token, and only that activates (S8).
  const ACTIVATE_FAILED: Page = { title: 'Activation failed', text: ['The link is unknown, already used or expired.'] };
  const activateQuery = { type: 'object', properties: { code: { type: 'string', maxLength: 64 } }, required: ['code'] };
  app.get('/v1/activate', { schema: { querystring: activateQuery } }, async (req, reply) => {
    const code = (req.query as { code: string }).code;
    const email = await accounts.pendingActivation(ctx, code);
    if (email === null) return sendPage(req, reply, 400, ACTIVATE_FAILED);
    return sendPage(req, reply, 200, {
      title: 'Activate your kpm account',
      text: [`This activates the kpm account ${email} with the password chosen when it was registered.`, 'Activate it only if you asked for this account. Nothing happens until you press the button.'],
      form: { action: 'activate', fields: { code }, button: 'Activate the account' },
    });
  });
  app.register(async (pages) => {
    pages.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => done(null, parseForm(String(body))));
    pages.post('/v1/activate', async (req, reply) => {
      const form = (req.body ?? {}) as Record<string, string>;
      if (!csrfOk(req, form.csrf)) {
        return sendPage(req, reply, 403, { title: 'Not activated', text: ['This confirmation did not come from the page of the link, or it expired. Open the link from the mail again.'] });
      }
      try {
        const r = await accounts.activate(ctx, String(form.code ?? '').slice(0, 64));
        return sendPage(req, reply, 200, { title: 'Account activated', text: [`The kpm account ${r.email} is active. You can sign in with kpm login.`] });
      } catch (e) {
        if (e instanceof ApiError) return sendPage(req, reply, e.status, ACTIVATE_FAILED);
        throw e;
      }
    });
  });

  // The account pages in a browser (issue 21), in their own scope (form bodies are parsed there only).
  app.register(async (scope) => registerAccountPages(scope, ctx, metrics));

  // For operators: liveness, readiness (the database answers), and metrics when enabled.
  app.get('/healthz', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('ok\n'));
  app.get('/readyz', async (_req, reply) => {
    const up = (await dbPing(ctx)) !== null;
    return reply.code(up ? 200 : 503).type('text/plain; charset=utf-8').send(up ? 'ready\n' : 'database unreachable\n');
  });
  if (metrics) {
    app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render(await dbPing(ctx))));
  }

  // The captcha of an open challenge as an image, for people who prefer it to text art.
  app.get('/v1/challenges/:id/captcha.:format', { schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z0-9]{1,64}$' }, format: { type: 'string', enum: ['svg', 'png'] } }, required: ['id', 'format'] } } }, async (req, reply) => {
    const { id, format } = req.params as { id: string; format: 'svg' | 'png' };
    const image = await captchaImage(ctx, id, format);
    if (image === null) throw apiError('not_found', 'unknown, used or expired challenge');
    return reply.type(format === 'svg' ? 'image/svg+xml' : 'image/png').send(image);
  });

  return app;
}
