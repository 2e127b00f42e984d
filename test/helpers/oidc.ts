// A real OpenID provider for the SSO tests: `oidc-provider` on a loopback port (plain http), with the
// device flow on, two confidential clients (`kpm`, and `kpm-short` whose device codes live 3 s), an
// RS256 key, and test users. The user's side of the device flow is driven over HTTP like a browser
// would: GET /device (xsrf), POST the user code, confirm (or abort = deny), then our minimal login +
// consent interaction, then the provider's resume and success page.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';
import { afterAll } from 'vitest';

export const CLIENT_SECRET = 'test-client-secret-0123456789';
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export interface TestUser {
  id: string;
  email?: string;
  emailVerified?: boolean;
}

export interface TestIdp {
  issuer: string;
  provider: Provider;
  users: Map<string, TestUser>;
  /** approves the user code as `userId` (login + consent); returns the final page's text */
  approve(userCode: string, userId: string): Promise<string>;
  /** the user presses "abort" on the confirmation page: the device code becomes access_denied */
  deny(userCode: string): Promise<string>;
  /** token requests seen, by client id (to check polling rates) */
  tokenRequests: string[];
  /** every user code the provider issued, oldest first (a terminal test cannot read kpm's output live) */
  userCodes: string[];
  /** a browser at the provider: follows the authorization URL as `userId` (login + consent); returns where the provider sends the browser back */
  authorize(url: string, userId: string): Promise<string>;
  /** answer the next N device-code token requests with slow_down */
  slowDownNext: number;
  close(): Promise<void>;
}

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(() => r(undefined)));
});

export async function startIdp(users: TestUser[], opts: { deviceFlow?: boolean; redirectUris?: string[] } = {}): Promise<TestIdp> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  servers.push(server);
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };
  const byId = new Map(users.map((u) => [u.id, u]));
  const client = (id: string) => ({
    client_id: id,
    client_secret: CLIENT_SECRET,
    // with redirect URIs also the authorization-code flow of the account pages
    // (a provider without the device flow, such as Apple's, knows no device grant at all)
    grant_types: [...(opts.deviceFlow === false ? [] : [DEVICE_GRANT]), ...(opts.redirectUris ? ['authorization_code'] : [])],
    response_types: opts.redirectUris ? ['code'] : [],
    redirect_uris: opts.redirectUris ?? [],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  const provider = new Provider(issuer, {
    clients: [client('kpm'), client('kpm-short')],
    features: {
      deviceFlow: {
        enabled: opts.deviceFlow ?? true,
        userCodeInputSource: async (ctx: { body: string }, form: string) => void (ctx.body = `<!doctype html><body>${form}</body>`),
        userCodeConfirmSource: async (ctx: { body: string }, form: string, _c: unknown, _d: unknown, code: string) => void (ctx.body = `<!doctype html><body><p>${code}</p>${form}</body>`),
        successSource: async (ctx: { body: string }) => void (ctx.body = '<!doctype html><body>Sign-in success</body>'),
      }, devInteractions: { enabled: false } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    conformIdTokenClaims: false,
    jwks: { keys: [jwk as never] },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: 600,
      ClientCredentials: 600,
      DeviceCode: ((_ctx: unknown, _token: unknown, c: { clientId: string }) => (c.clientId === 'kpm-short' ? 3 : 600)) as never,
      BackchannelAuthenticationRequest: 600,
      IdToken: 600,
      RefreshToken: 600,
      Interaction: 600,
      Session: 600,
      Grant: 600,
    },
    async findAccount(_ctx: unknown, id: string) {
      const u = byId.get(id);
      if (!u) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...(u.email !== undefined ? { email: u.email, email_verified: u.emailVerified ?? false } : {}) };
        },
      };
    },
  } as never);
  const tokenRequests: string[] = [];
  const idp = { slowDownNext: 0 } as TestIdp;
  // a 5-second default polling interval would make every test slow: advertise 1 s
  const userCodes: string[] = [];
  provider.on('device_authorization.success', (_ctx: unknown, body: Record<string, unknown>) => {
    body.interval = 1;
    userCodes.push(String(body.user_code));
  });
  provider.use(async (ctx, next) => {
    if (ctx.path === '/token' && ctx.method === 'POST') {
      tokenRequests.push(String(ctx.headers.authorization ?? ''));
      if (idp.slowDownNext > 0) {
        idp.slowDownNext--;
        ctx.status = 400;
        ctx.body = { error: 'slow_down', error_description: 'you are polling too quickly' };
        return;
      }
    }
    await next();
  });
  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res);
    (async () => {
      const details = await provider.interactionDetails(req, res);
      // the "browser" says who signs in with a cookie of its own, so concurrent approvals never mix
      const accountId = /(?:^|;\s*)test_user=([^;]+)/.exec(req.headers.cookie ?? '')?.[1] ?? '';
      const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
      grant.addOIDCScope('openid email');
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
    })().catch((e) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });

  const browse = async (userCode: string, decision: 'confirm' | 'abort', userId = ''): Promise<string> => {
    const jar = new Map<string, string>([['test_user', userId]]);
    const request = async (url: string, form?: Record<string, string>): Promise<{ status: number; text: string; location?: string }> => {
      const headers: Record<string, string> = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
      if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
      const res = await fetch(new URL(url, issuer), { method: form ? 'POST' : 'GET', headers, body: form ? new URLSearchParams(form).toString() : undefined, redirect: 'manual' });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        const value = pair.slice(i + 1);
        if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(pair.slice(0, i));
        else jar.set(pair.slice(0, i), value);
      }
      return { status: res.status, text: await res.text(), location: res.headers.get('location') ?? undefined };
    };
    const page = await request('/device');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)?.[1];
    if (!xsrf) throw new Error(`no xsrf on the device page: ${page.status} ${page.text.slice(0, 300)}`);
    const confirmPage = await request('/device', { xsrf, user_code: userCode });
    if (!/op.deviceConfirmForm/.test(confirmPage.text)) throw new Error(`user code not accepted: ${confirmPage.status} ${confirmPage.text.slice(0, 500)}`);
    let r = await request('/device', { xsrf, user_code: userCode, [decision]: 'yes' });
    for (let hops = 0; r.location && hops < 10; hops++) r = await request(r.location);
    return r.text;
  };

  const authorize = async (url: string, userId: string): Promise<string> => {
    const jar = new Map<string, string>([['test_user', userId]]);
    let next: string | undefined = url;
    for (let hops = 0; next && hops < 10; hops++) {
      if (!next.startsWith(issuer)) return next; // back to the client
      const res: Response = await fetch(next, { headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') }, redirect: 'manual' });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        if (pair.slice(i + 1) === '' || /expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(pair.slice(0, i));
        else jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
      const loc = res.headers.get('location');
      if (!loc) throw new Error(`the provider stopped at ${next}: ${res.status} ${(await res.text()).slice(0, 300)}`);
      next = new URL(loc, next).href;
    }
    throw new Error('too many redirects at the provider');
  };

  Object.assign(idp, {
    authorize,
    issuer,
    provider,
    users: byId,
    tokenRequests,
    userCodes,
    approve: (userCode: string, userId: string) => browse(userCode, 'confirm', userId),
    deny: (userCode: string) => browse(userCode, 'abort'),
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
  return idp;
}
