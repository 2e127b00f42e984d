// "My kpm": the account pages under /account/ (issue 21). Server-rendered HTML with the one inline
// stylesheet of pages.ts, no script, no third-party assets, a strict CSP and no framing; every form
// works without JavaScript. The pages call the same services as the API (sessions, two-step
// verification, the security check, reset, identities), so every rule of the API holds here too.
//
// Browser session: a device session ("Web browser") whose access token is the value of an HttpOnly,
// SameSite=Strict cookie: `__Host-kpm_session` (Secure, Path=/) when the page came over TLS, and
// `kpm_session` over plain http (a browser refuses a `__Host-` cookie without Secure, and Secure
// cookies are not sent over http; use plain http on loopback only). It ends 30 minutes after its last
// request and 12 hours after sign-in at the latest; revoking it on the devices page ends it at once.
//
// CSRF: every state change is a POST. Signed-in forms carry a token derived from the session with the
// server key (HMAC); the sign-in and reset forms carry a random token that must equal a SameSite=Strict
// cookie (double submit). A POST whose Sec-Fetch-Site says cross-site is refused either way. GETs
// change nothing. Vault data never appears on these pages (the server cannot read it anyway).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RequestInfo, ServerContext } from './context.js';
import type { ChallengeT, LoginResultT } from '../protocol/schemas.js';
import { ApiError, apiError } from './errors.js';
import { cookie, parseForm } from './pages.js';
import { newToken, safeEqual, sha256Hex } from './tokens.js';
import { captchaImage } from './challenges.js';
import { describeProblems, passwordProblems, RULE_TEXT, type PasswordRule } from '../protocol/password-policy.js';
import { qrSvg } from './qr.js';
import { plural } from '../core/text.js';
import * as sessions from './sessions.js';
import * as twofactor from './twofactor.js';
import * as accounts from './accounts.js';
import * as sso from './sso.js';
import * as tokens from './servicetokens.js';
import type { Metrics } from './metrics.js';
import * as oidcClient from 'openid-client';
import { decodeUtf8, utf8 } from '../crypto/bytes.js';
import { deviceCallback, registerDevicePages } from './devicepages.js';
import { cookieNames, csrfField, html, noticeHtml, raw, send, sentence, setCookie, when, type Html, type Notice, type Signed } from './webhtml.js';

const whenIso = (iso: string): string => when(Date.parse(iso));

export const WEB_IDLE_MS = 30 * 60_000;
export const WEB_MAX_MS = 12 * 3600_000;
export const WEB_DEVICE_NAME = 'Web browser';
const FORM_CSRF_MAX_AGE_S = 30 * 60;
const SSO_MAX_AGE_S = 10 * 60;

const info = (req: FastifyRequest): RequestInfo => ({ ip: req.ip, log: req.log });

// ------------------------------------------------------------------ the routes

export function registerAccountPages(app: FastifyInstance, ctx: ServerContext, metrics?: Metrics): void {
  /** The form token of the pages before sign-in: the cookie's when it has one, else a new one. */
  function formToken(req: FastifyRequest, reply: FastifyReply): string {
    const name = cookieNames(req).form;
    const have = cookie(req, name);
    const token = have && /^kpc_[A-Za-z0-9_-]{43}$/.test(have) ? have : newToken('c');
    setCookie(reply, req, name, token, FORM_CSRF_MAX_AGE_S);
    return token;
  }
  const crossSite = (req: FastifyRequest) => req.headers['sec-fetch-site'] === 'cross-site';
  function formTokenOk(req: FastifyRequest, form: Record<string, string>): boolean {
    if (crossSite(req)) return false;
    const c = cookie(req, cookieNames(req).form);
    return Boolean(c && form.csrf && safeEqual(c, form.csrf));
  }
  const sessionCsrf = (auth: sessions.AuthInfo) => ctx.keys.hmac('web-csrf', auth.sessionId, 'v1');

  async function signedIn(req: FastifyRequest): Promise<Signed | undefined> {
    const token = cookie(req, cookieNames(req).session);
    if (!token) return undefined;
    try {
      const auth = await sessions.authenticateWeb(ctx, token, WEB_IDLE_MS, WEB_MAX_MS);
      return { auth, csrf: sessionCsrf(auth) };
    } catch (e) {
      if (e instanceof ApiError) return undefined;
      throw e;
    }
  }

  const refused = (reply: FastifyReply) =>
    send(reply, 403, {
      title: 'Not done',
      narrow: true,
      body: html`<h1>Not done</h1><div class="card"><p>This request did not come from a kpm page, or the page was open too long. Nothing was changed.</p><p><a href="/account/">Open the account pages again</a></p></div>`,
    });
  const toSignIn = (reply: FastifyReply) => reply.code(303).header('location', '/account/signin').send();

  /** A GET page for signed-in users; anyone else goes to the sign-in page. */
  function page(path: string, render: (req: FastifyRequest, reply: FastifyReply, s: Signed) => Promise<FastifyReply>): void {
    app.get(path, async (req, reply) => {
      const s = await signedIn(req);
      if (!s) return toSignIn(reply);
      return render(req, reply, s);
    });
  }
  /** A POST of a signed-in form: session, CSRF token, then the action; an ApiError becomes a notice on `back`. */
  function action(
    path: string,
    run: (req: FastifyRequest, reply: FastifyReply, s: Signed, form: Record<string, string>) => Promise<FastifyReply>,
    back: (req: FastifyRequest, reply: FastifyReply, s: Signed, n: Notice, status: number) => Promise<FastifyReply>,
  ): void {
    app.post(path, async (req, reply) => {
      const form = (req.body ?? {}) as Record<string, string>;
      if (crossSite(req)) return refused(reply);
      const s = await signedIn(req);
      if (!s) return toSignIn(reply);
      if (!form.csrf || !safeEqual(form.csrf, s.csrf)) return refused(reply);
      try {
        return await run(req, reply, s, form);
      } catch (e) {
        if (e instanceof ApiError) return back(req, reply, s, { kind: 'error', text: sentence(e.message) }, e.status);
        throw e;
      }
    });
  }

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_req, body, done) => done(null, parseForm(String(body))));

  // ---------------------------------------------------------------- sign-in

  async function captchaBlock(challenge: ChallengeT | undefined): Promise<Html> {
    if (!challenge) return raw('');
    const svg = await captchaImage(ctx, challenge.id, 'svg');
    if (svg === null) return raw('');
    metrics?.inc('kpm_security_checks_shown_total');
    return html`<fieldset class="card"><legend>Security check</legend><p class="muted">There were several failed attempts. Type the ${challenge.captcha.length} characters of the picture.</p><div class="captcha" role="img" aria-label="security check picture">${raw(String(svg).replace(/<\?xml[^>]*>/, ''))}</div><input type="hidden" name="challenge" value="${challenge.id}"><label for="answer">Characters in the picture</label><input id="answer" name="answer" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required></fieldset>`;
  }

  async function signInPage(req: FastifyRequest, reply: FastifyReply, o: { status?: number; notice?: Notice; email?: string; challenge?: ChallengeT } = {}): Promise<FastifyReply> {
    const csrf = formToken(req, reply);
    const providers = ctx.oidc?.list() ?? [];
    return send(reply, o.status ?? 200, {
      title: 'Sign in',
      narrow: true,
      body: html`<h1>Sign in to your kpm account</h1>${noticeHtml(o.notice)}
<form method="post" action="/account/signin" class="card">${csrfField(csrf)}
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" value="${o.email ?? ''}" required>
<label for="password">Account password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
${await captchaBlock(o.challenge)}
<button type="submit">Sign in</button>
<p class="muted">This is the account password, not the master password of your vault: that one never leaves your devices.</p>
</form>
<p><a href="/account/reset">Forgot the account password?</a></p>
${providers.length > 0 ? html`<div class="card"><h2>Or continue with</h2><div class="row">${providers.map((p) => html`<a class="button secondary" href="/account/sso/${p.name}">Continue with ${p.name}</a>`)}</div><p class="muted">Only for identities already linked to a kpm account. A new account through a provider is made with <code>kpm login --sso NAME</code>.</p></div>` : ''}`,
    });
  }

  function secondStepPage(req: FastifyRequest, reply: FastifyReply, r: Extract<LoginResultT, { status: 'otp_required' }>, o: { status?: number; notice?: Notice } = {}): FastifyReply {
    const csrf = formToken(req, reply);
    const how = [r.methods.includes('totp') ? 'the code of your authenticator app' : '', r.smsSentTo ? `the code sent by SMS to ${r.smsSentTo}` : '', 'or one of your recovery codes'].filter(Boolean).join(', ');
    return send(reply, o.status ?? 200, {
      title: 'Two-step verification',
      narrow: true,
      body: html`<h1>Two-step verification</h1>${noticeHtml(o.notice)}
<form method="post" action="/account/signin/code" class="card">${csrfField(csrf)}<input type="hidden" name="ticket" value="${r.ticket}">
<label for="code">Verification code</label><input id="code" name="code" type="text" inputmode="text" autocomplete="one-time-code" spellcheck="false" required>
<p class="muted">Enter ${how}.</p>
<button type="submit">Continue</button></form>`,
    });
  }

  async function signedInAs(req: FastifyRequest, reply: FastifyReply, r: LoginResultT): Promise<FastifyReply> {
    if (r.status !== 'ok') throw new Error('unreachable');
    await sessions.limitWebSession(ctx, r.device.id, WEB_IDLE_MS, WEB_MAX_MS);
    setCookie(reply, req, cookieNames(req).session, r.accessToken);
    return reply.code(303).header('location', '/account/').send();
  }

  app.get('/account/signin', async (req, reply) => ((await signedIn(req)) ? reply.code(303).header('location', '/account/').send() : signInPage(req, reply)));

  app.post('/account/signin', async (req, reply) => {
    const form = (req.body ?? {}) as Record<string, string>;
    const email = String(form.email ?? '').slice(0, 254);
    if (!formTokenOk(req, form)) return signInPage(req, reply, { status: 403, email, notice: { kind: 'error', text: 'The page was open too long or did not come from this server. Please try again.' } });
    const challenge = form.challenge ? { id: String(form.challenge).slice(0, 64), answer: String(form.answer ?? '').slice(0, 32) } : undefined;
    try {
      const r = await sessions.login(ctx, info(req), { email, password: String(form.password ?? '').slice(0, 1024), deviceName: WEB_DEVICE_NAME, ...(challenge ? { challenge } : {}) });
      if (r.status === 'otp_required') return secondStepPage(req, reply, r);
      return await signedInAs(req, reply, r);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.code === 'invalid_credentials' || e.code === 'challenge_failed') metrics?.inc('kpm_signin_failures_total');
      return signInPage(req, reply, { status: e.status, email, notice: { kind: 'error', text: sentence(e.code === 'account_not_activated' ? 'the account is not activated yet: open the link in the activation mail' : e.message) }, challenge: e.extra.challenge });
    }
  });

  app.post('/account/signin/code', async (req, reply) => {
    const form = (req.body ?? {}) as Record<string, string>;
    if (!formTokenOk(req, form)) return signInPage(req, reply, { status: 403, notice: { kind: 'error', text: 'The page was open too long or did not come from this server. Please sign in again.' } });
    const ticket = String(form.ticket ?? '').slice(0, 100);
    try {
      return await signedInAs(req, reply, await sessions.loginOtp(ctx, info(req), { ticket, code: String(form.code ?? '').slice(0, 64) }));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      metrics?.inc('kpm_signin_failures_total');
      if (e.extra.signInAgain || e.code === 'too_many_attempts') return signInPage(req, reply, { status: e.status, notice: { kind: 'error', text: sentence(e.message) } });
      // The ticket still holds: the same step again (its own tries are counted by loginOtp).
      const t = await ctx.db.selectFrom('tickets').select('account_id').where('ticket_hash', '=', sha256Hex(ticket)).executeTakeFirst();
      const tf = t ? await twofactor.status(ctx, t.account_id) : undefined;
      const methods = [...(tf?.totp ? (['totp'] as const) : []), ...(tf?.sms ? (['sms'] as const) : []), 'recovery' as const];
      return secondStepPage(req, reply, { status: 'otp_required', ticket, methods, ...(tf?.sms && !tf.totp ? { smsSentTo: tf.sms } : {}) }, { status: e.status, notice: { kind: 'error', text: sentence(e.message) } });
    }
  });

  // ---------------------------------------------------------------- identity providers (browser)
  // The authorization-code flow with PKCE (S256), state and nonce. What the callback must match
  // travels sealed with the server key in an HttpOnly cookie that is SameSite=Lax (the provider's
  // redirect back is a cross-site navigation, which a Strict cookie would not survive), 10 minutes.
  const callbackUrl = () => `${ctx.settings.publicUrl}/account/sso/callback`;
  app.get('/account/sso/callback', async (req, reply) => {
    const sealed = cookie(req, cookieNames(req).sso);
    setCookie(reply, req, cookieNames(req).sso, '', 0, 'Lax');
    let flow: { provider: string; state: string; nonce: string; verifier: string; device?: string } | undefined;
    try {
      flow = sealed ? JSON.parse(decodeUtf8(ctx.keys.open('web-sso', 'v1', decodeURIComponent(sealed)))) : undefined;
    } catch {
      flow = undefined;
    }
    const q = req.query as Record<string, string>;
    if (!flow || typeof q.state !== 'string' || !safeEqual(q.state, flow.state)) {
      return signInPage(req, reply, { status: 400, notice: { kind: 'error', text: 'This sign-in with an identity provider was not started in this browser, or took longer than 10 minutes. Please start again.' } });
    }
    try {
      const url = new URL(callbackUrl());
      url.search = new URL(req.url, 'http://x').search;
      if (flow.device) return await deviceCallback(ctx, req, reply, { ...flow, device: flow.device }, url); // kpm login --sso through this server (devicepages.ts)
      const id = await ctx.oidc!.exchangeCode(flow.provider, url, { state: flow.state, nonce: flow.nonce, codeVerifier: flow.verifier });
      const r = await sso.browserSignIn(ctx, info(req), flow.provider, id, WEB_DEVICE_NAME);
      if (r.status === 'register') {
        return signInPage(req, reply, { status: 403, notice: { kind: 'error', text: `No kpm account is linked to this ${flow.provider} identity. Create one with kpm login --sso ${flow.provider}, or sign in with your password and link it with kpm account link.` } });
      }
      if (r.status === 'otp_required') return secondStepPage(req, reply, r);
      if (r.status !== 'ok') throw new Error('unreachable');
      await sessions.limitWebSession(ctx, r.device.id, WEB_IDLE_MS, WEB_MAX_MS);
      setCookie(reply, req, cookieNames(req).session, r.accessToken);
      // A page, not a redirect: after the provider's cross-site redirect, Chromium would withhold the
      // new SameSite=Strict cookie from a redirect in the same chain; a same-site link carries it.
      return send(reply, 200, { title: 'Signed in', narrow: true, body: html`<h1>Signed in</h1><div class="card"><p>You are signed in with ${flow.provider}.</p><p><a class="button" href="/account/">Continue to your account</a></p></div>` });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      metrics?.inc('kpm_signin_failures_total');
      return signInPage(req, reply, { status: e.status, notice: { kind: 'error', text: sentence(e.message) } });
    }
  });
  app.get('/account/sso/:name', { schema: { params: { type: 'object', properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,31}$' } }, required: ['name'] } } }, async (req, reply) => {
    const name = (req.params as { name: string }).name;
    if (!ctx.oidc?.get(name)) return signInPage(req, reply, { status: 404, notice: { kind: 'error', text: `This server has no identity provider "${name}".` } });
    const flow = { provider: name, state: oidcClient.randomState(), nonce: oidcClient.randomNonce(), verifier: oidcClient.randomPKCECodeVerifier() };
    try {
      const url = await ctx.oidc.authorizationUrl(name, { redirectUri: callbackUrl(), state: flow.state, nonce: flow.nonce, codeChallenge: await oidcClient.calculatePKCECodeChallenge(flow.verifier) });
      setCookie(reply, req, cookieNames(req).sso, encodeURIComponent(ctx.keys.seal('web-sso', 'v1', utf8.encode(JSON.stringify(flow)))), SSO_MAX_AGE_S, 'Lax');
      return reply.code(303).header('location', url.href).send();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return signInPage(req, reply, { status: e.status, notice: { kind: 'error', text: sentence(e.message) } });
    }
  });

  registerDevicePages(app, ctx, { formToken, formTokenOk });

  app.post('/account/signout', async (req, reply) => {
    const form = (req.body ?? {}) as Record<string, string>;
    if (crossSite(req)) return refused(reply);
    const s = await signedIn(req);
    if (s) {
      if (!form.csrf || !safeEqual(form.csrf, s.csrf)) return refused(reply);
      await sessions.logout(ctx, s.auth);
    }
    setCookie(reply, req, cookieNames(req).session, '', 0);
    return reply.code(303).header('location', '/account/signin').send();
  });

  // ---------------------------------------------------------------- overview

  async function overview(_req: FastifyRequest, reply: FastifyReply, s: Signed, n?: Notice, status = 200): Promise<FastifyReply> {
    const a = await sessions.account(ctx, s.auth);
    const devices = await sessions.devices(ctx, s.auth);
    const tf = a.twoFactor;
    return send(reply, status, {
      title: 'Your kpm account',
      section: 'overview',
      signed: s,
      body: html`<h1>Your kpm account</h1>${noticeHtml(n)}
<section class="card"><h2>Account</h2><dl>
<dt>Email</dt><dd>${a.email}</dd>
<dt>Region</dt><dd>${a.region} <span class="muted">(only an administrator of the server changes it)</span></dd>
<dt>Created</dt><dd>${whenIso(a.createdAt)}</dd>
<dt>Two-step verification</dt><dd>${twofactor.isOn(tf) ? html`on${tf.totp ? ' (authenticator app)' : ''}${tf.sms ? ` (SMS to ${tf.sms})` : ''}` : 'off'} · <a href="/account/security">manage</a></dd>
<dt>Signed-in devices</dt><dd>${devices.length} · <a href="/account/devices">manage</a></dd>
</dl></section>
<section class="card"><h2>Your vault</h2><p>Your passwords are encrypted on your devices with your master password before they are synced. This server stores them encrypted and cannot read them, so they are not shown here. Use <code>kpm</code> on your devices to open the vault.</p></section>`,
    });
  }
  page('/account/', overview);
  app.get('/account', async (_req, reply) => reply.code(308).header('location', '/account/').send());

  // ---------------------------------------------------------------- devices and service tokens

  async function devicesPage(_req: FastifyRequest, reply: FastifyReply, s: Signed, n?: Notice, status = 200): Promise<FastifyReply> {
    const devices = await sessions.devices(ctx, s.auth);
    const toks = (await tokens.list(ctx, s.auth.accountId)).filter((t) => !t.revoked && Date.parse(t.expiresAt) > ctx.now());
    const others = devices.filter((d) => !d.current).length;
    const revokeForm = (path: string, id: string, label: string) =>
      html`<form method="post" action="${path}">${csrfField(s.csrf)}<input type="hidden" name="id" value="${id}"><button class="secondary small" type="submit" aria-label="${label}">Sign out</button></form>`;
    return send(reply, status, {
      title: 'Devices',
      section: 'devices',
      signed: s,
      body: html`<h1>Devices</h1>${noticeHtml(n)}
<section class="card"><h2>Signed-in devices</h2>
<table class="stack"><thead><tr><th>Name</th><th>Last seen</th><th>Signed in since</th><th></th></tr></thead><tbody>
${devices.map(
  (d) =>
    html`<tr><td data-label="Name">${d.name}${d.current ? html`<span class="tag">this browser</span>` : ''}</td><td data-label="Last seen">${whenIso(d.lastSeenAt)}</td><td data-label="Signed in since">${whenIso(d.createdAt)}</td><td class="act">${d.current ? '' : revokeForm('/account/devices/revoke', d.id, `Sign out ${d.name}`)}</td></tr>`,
)}
</tbody></table>
${others > 0 ? html`<form method="post" action="/account/devices/revoke-others">${csrfField(s.csrf)}<button class="danger" type="submit">Sign out all other devices (${others})</button></form>` : html`<p class="muted">No other device is signed in.</p>`}
<p class="muted">A signed-out device keeps its local vault; it needs the account password to sync again.</p></section>
<section class="card"><h2>Service tokens</h2>
${
  toks.length === 0
    ? html`<p class="muted">No service tokens. <code>kpm token create</code> makes one for a script or server that reads one vault.</p>`
    : html`<table class="stack"><thead><tr><th>Name</th><th>Vault</th><th>Created</th><th>Expires</th><th>Last used</th><th></th></tr></thead><tbody>${toks.map(
        (t) =>
          html`<tr><td data-label="Name">${t.name}</td><td data-label="Vault"><span class="mono">${t.vaultId.slice(0, 12)}</span></td><td data-label="Created">${whenIso(t.createdAt)}</td><td data-label="Expires">${whenIso(t.expiresAt)}</td><td data-label="Last used">${t.lastUsedAt ? whenIso(t.lastUsedAt) : 'never'}</td><td class="act"><form method="post" action="/account/tokens/revoke">${csrfField(s.csrf)}<input type="hidden" name="id" value="${t.id}"><button class="secondary small" type="submit" aria-label="Revoke ${t.name}">Revoke</button></form></td></tr>`,
      )}</tbody></table>`
}</section>`,
    });
  }
  page('/account/devices', devicesPage);
  action(
    '/account/devices/revoke',
    async (_req, reply, s, f) => {
      const id = String(f.id ?? '').slice(0, 64);
      if (id === s.auth.sessionId) throw apiError('bad_request', 'use "Sign out" at the top to sign this browser out');
      const name = (await sessions.devices(ctx, s.auth)).find((d) => d.id === id)?.name;
      await sessions.revokeDevice(ctx, s.auth, id);
      return devicesPage(_req, reply, s, { kind: 'ok', text: `${name ?? 'The device'} is signed out.` });
    },
    devicesPage,
  );
  action(
    '/account/devices/revoke-others',
    async (_req, reply, s) => {
      const n = await sessions.revokeOtherDevices(ctx, s.auth);
      return devicesPage(_req, reply, s, { kind: 'ok', text: `${n} ${n === 1 ? 'device is' : 'devices are'} signed out.` });
    },
    devicesPage,
  );
  action(
    '/account/tokens/revoke',
    async (_req, reply, s, f) => {
      await tokens.revoke(ctx, s.auth.accountId, String(f.id ?? '').slice(0, 64));
      return devicesPage(_req, reply, s, { kind: 'ok', text: 'The service token is revoked.' });
    },
    devicesPage,
  );

  // ---------------------------------------------------------------- two-step verification

  const passwordField = (id = 'password') =>
    html`<label for="${id}">Account password</label><input id="${id}" name="password" type="password" autocomplete="current-password" required>`;
  const codeField = (id: string) =>
    html`<label for="${id}">Current verification code</label><input id="${id}" name="code" type="text" autocomplete="one-time-code" spellcheck="false" required><p class="muted">From your authenticator app, by SMS, or a recovery code.</p>`;
  const recoveryList = (codes: string[]) =>
    html`<section class="card"><h2>Your recovery codes</h2><p>Each code signs you in once when you have no access to your second factor. Keep them somewhere safe, away from this device: they are shown only now.</p><ul class="codes">${codes.map((c) => html`<li>${c}</li>`)}</ul></section>`;

  async function securityPage(_req: FastifyRequest, reply: FastifyReply, s: Signed, n?: Notice, status = 200, extra?: Html): Promise<FastifyReply> {
    const tf = await twofactor.status(ctx, s.auth.accountId);
    const on = twofactor.isOn(tf);
    return send(reply, status, {
      title: 'Two-step verification',
      section: 'security',
      signed: s,
      body: html`<h1>Two-step verification</h1>${noticeHtml(n)}${extra ?? ''}
<section class="card"><h2>Status</h2><dl>
<dt>Authenticator app</dt><dd>${tf.totp ? 'on' : 'off'}</dd>
<dt>SMS</dt><dd>${tf.sms ? `on (${tf.sms})` : 'off'}</dd>
<dt>Recovery codes left</dt><dd>${on ? String(tf.recoveryCodesLeft) : '–'}</dd>
</dl></section>
${
  on
    ? html`<section class="card"><h2>New recovery codes</h2><p>Replaces every recovery code you have with ten new ones.</p><form method="post" action="/account/security/recovery">${csrfField(s.csrf)}${passwordField('rc-password')}<button type="submit">Make new recovery codes</button></form></section>
<section class="card"><h2>Turn two-step verification off</h2><p>Sign-in then needs only the account password.</p><form method="post" action="/account/security/disable">${csrfField(s.csrf)}${passwordField('off-password')}${codeField('off-code')}<button class="danger" type="submit">Turn off</button></form></section>`
    : html`<section class="card"><h2>Set up an authenticator app</h2><p>Sign-in will then also ask for a six-digit code from an app such as KeePassXC, Aegis or Google Authenticator.</p><form method="post" action="/account/security/totp">${csrfField(s.csrf)}${passwordField()}<button type="submit">Set up</button></form><p class="muted">SMS codes are set up with <code>kpm 2fa enable --sms</code>.</p></section>`
}`,
    });
  }
  page('/account/security', (req, reply, s) => securityPage(req, reply, s));

  function totpConfirmPage(reply: FastifyReply, s: Signed, setup: { secret: string; uri: string }, n?: Notice, status = 200): FastifyReply {
    return send(reply, status, {
      title: 'Set up an authenticator app',
      section: 'security',
      signed: s,
      body: html`<h1>Set up an authenticator app</h1>${noticeHtml(n)}
<section class="card"><h2>1. Scan the code</h2><div class="row"><div class="qr">${raw(qrSvg(setup.uri, 'QR code of the authenticator set-up'))}</div>
<div><p>Scan it with the app, or enter this key by hand:</p><p><code>${setup.secret.match(/.{1,4}/g)!.join(' ')}</code></p><p class="muted">Time-based, SHA-1, 6 digits, 30 seconds.</p></div></div></section>
<section class="card"><h2>2. Enter the code the app shows</h2><form method="post" action="/account/security/totp/confirm">${csrfField(s.csrf)}<label for="code">Six-digit code</label><input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required><button type="submit">Turn on</button></form></section>`,
    });
  }
  action(
    '/account/security/totp',
    async (req, reply, s, f) => {
      await sessions.reauthenticate(ctx, info(req), s.auth, String(f.password ?? '').slice(0, 1024));
      const setup = await twofactor.setupTotp(ctx, s.auth);
      return totpConfirmPage(reply, s, setup);
    },
    (req, reply, s, n, st) => securityPage(req, reply, s, n, st),
  );
  action(
    '/account/security/totp/confirm',
    async (req, reply, s, f) => {
      const codes = await twofactor.confirmTotp(ctx, info(req), s.auth, String(f.code ?? '').slice(0, 16));
      return securityPage(req, reply, s, { kind: 'ok', text: 'Two-step verification is on.' }, 200, codes.length > 0 ? recoveryList(codes) : undefined);
    },
    // A wrong code: the set-up stays; start again for a fresh QR code (the secret is never shown twice).
    (req, reply, s, n, st) => securityPage(req, reply, s, { kind: 'error', text: `${n.text} Press "Set up" to start again.` }, st),
  );
  action(
    '/account/security/disable',
    async (req, reply, s, f) => {
      await sessions.disableTwoFactor(ctx, info(req), s.auth, String(f.password ?? '').slice(0, 1024), String(f.code ?? '').slice(0, 64));
      return securityPage(req, reply, s, { kind: 'ok', text: 'Two-step verification is off.' });
    },
    (req, reply, s, n, st) => securityPage(req, reply, s, n, st),
  );
  action(
    '/account/security/recovery',
    async (req, reply, s, f) => {
      await sessions.reauthenticate(ctx, info(req), s.auth, String(f.password ?? '').slice(0, 1024));
      const codes = await twofactor.replaceRecoveryCodes(ctx, s.auth.accountId);
      return securityPage(req, reply, s, { kind: 'ok', text: 'New recovery codes: the old ones no longer work.' }, 200, recoveryList(codes));
    },
    (req, reply, s, n, st) => securityPage(req, reply, s, n, st),
  );

  // ---------------------------------------------------------------- settings: identities, consent, deletion

  async function settingsPage(_req: FastifyRequest, reply: FastifyReply, s: Signed, n?: Notice, status = 200): Promise<FastifyReply> {
    const a = await sessions.account(ctx, s.auth);
    const ids = (await sso.identities(ctx, s.auth)).identities;
    const on = twofactor.isOn(a.twoFactor);
    return send(reply, status, {
      title: 'Settings',
      section: 'settings',
      signed: s,
      body: html`<h1>Settings</h1>${noticeHtml(n)}
<section class="card"><h2>Linked identity providers</h2>
${
  ids.length === 0
    ? html`<p class="muted">None. <code>kpm account link NAME</code> links one.</p>`
    : html`<table class="stack"><thead><tr><th>Provider</th><th>Email at the provider</th><th>Linked</th><th></th></tr></thead><tbody>${ids.map(
        (i) =>
          html`<tr><td data-label="Provider">${i.provider}</td><td data-label="Email">${i.email ?? '–'}</td><td data-label="Linked">${whenIso(i.linkedAt)}</td><td class="act"><form method="post" action="/account/identities/unlink">${csrfField(s.csrf)}<input type="hidden" name="provider" value="${i.provider}"><button class="secondary small" type="submit" aria-label="Unlink ${i.provider}">Unlink</button></form></td></tr>`,
      )}</tbody></table>`
}</section>
<section class="card"><h2>Region</h2><p>${a.region}</p><p class="muted">Where the account's data is kept by law. Only an administrator of the server changes it.</p></section>
<section class="card"><h2>News and offers</h2><form method="post" action="/account/marketing">${csrfField(s.csrf)}<label class="check"><input type="checkbox" name="marketing" value="1"${raw(a.marketing ? ' checked' : '')}> <span>Send me news and offers about kpm by email</span></label><button type="submit">Save</button></form></section>
<section class="card"><h2>Delete the account</h2><p>Deletes the account and everything this server holds for it: sessions, two-step verification, linked identities, service tokens and the synced (encrypted) vault data.</p><p><strong>Vaults on your devices stay</strong> and keep working offline; delete them there if you want them gone.</p>
<form method="post" action="/account/delete">${csrfField(s.csrf)}${passwordField('del-password')}${on ? codeField('del-code') : ''}<label class="check"><input type="checkbox" name="confirm" value="yes" required> <span>I understand that this cannot be undone</span></label><button class="danger" type="submit">Delete the account</button></form></section>`,
    });
  }
  page('/account/settings', settingsPage);
  action(
    '/account/identities/unlink',
    async (req, reply, s, f) => {
      const provider = String(f.provider ?? '').slice(0, 64);
      await sso.unlink(ctx, info(req), s.auth, provider);
      return settingsPage(req, reply, s, { kind: 'ok', text: `${provider} is unlinked.` });
    },
    settingsPage,
  );
  action(
    '/account/marketing',
    async (req, reply, s, f) => {
      await accounts.setMarketing(ctx, s.auth.accountId, f.marketing === '1');
      return settingsPage(req, reply, s, { kind: 'ok', text: f.marketing === '1' ? 'You will get news and offers by email.' : 'You will get no news or offers.' });
    },
    settingsPage,
  );
  action(
    '/account/delete',
    async (req, reply, s, f) => {
      if (f.confirm !== 'yes') throw apiError('bad_request', 'tick the box to confirm the deletion');
      await sessions.reauthenticate(ctx, info(req), s.auth, String(f.password ?? '').slice(0, 1024));
      if (twofactor.isOn(await twofactor.status(ctx, s.auth.accountId))) await twofactor.verifySecondFactor(ctx, info(req), s.auth, String(f.code ?? '').slice(0, 64));
      await accounts.deleteAccount(ctx, info(req), s.auth.accountId);
      setCookie(reply, req, cookieNames(req).session, '', 0);
      return send(reply, 200, {
        title: 'Account deleted',
        narrow: true,
        body: html`<h1>Account deleted</h1><div class="card"><p>The account ${s.auth.email} and everything this server held for it are deleted.</p><p>The vaults on your devices remain: they still open with your master password, and no longer sync.</p></div>`,
      });
    },
    settingsPage,
  );

  // ---------------------------------------------------------------- password reset

  async function resetRequestPage(req: FastifyRequest, reply: FastifyReply, o: { status?: number; notice?: Notice; email?: string; challenge?: ChallengeT } = {}): Promise<FastifyReply> {
    const csrf = formToken(req, reply);
    return send(reply, o.status ?? 200, {
      title: 'Reset the account password',
      narrow: true,
      body: html`<h1>Reset the account password</h1>${noticeHtml(o.notice)}
<form method="post" action="/account/reset" class="card">${csrfField(csrf)}<p>We send a link to choose a new account password to the address of the account.</p>
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" value="${o.email ?? ''}" required>
${await captchaBlock(o.challenge)}<button type="submit">Send the link</button>
<p class="muted">Your master password is not involved: nobody can reset it, and the vault stays encrypted with it.</p></form>
<p><a href="/account/signin">Back to sign-in</a></p>`,
    });
  }
  app.get('/account/reset', (req, reply) => resetRequestPage(req, reply));
  app.post('/account/reset', async (req, reply) => {
    const form = (req.body ?? {}) as Record<string, string>;
    const email = String(form.email ?? '').slice(0, 254);
    if (!formTokenOk(req, form)) return resetRequestPage(req, reply, { status: 403, email, notice: { kind: 'error', text: 'The page was open too long or did not come from this server. Please try again.' } });
    const challenge = form.challenge ? { id: String(form.challenge).slice(0, 64), answer: String(form.answer ?? '').slice(0, 32) } : undefined;
    try {
      await accounts.requestReset(ctx, info(req), { email, ...(challenge ? { challenge } : {}) });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return resetRequestPage(req, reply, { status: e.status, email, notice: { kind: 'error', text: sentence(e.message) }, challenge: e.extra.challenge });
    }
    return send(reply, 200, {
      title: 'Check your inbox',
      narrow: true,
      body: html`<h1>Check your inbox</h1><div class="card"><p>If ${email} has a kpm account, a message with a link to choose a new password is on its way. The link is valid for ${plural(Math.round(ctx.settings.resetTtlMs / 60_000), 'minute')}.</p></div>`,
    });
  });

  const rulesList = (broken: PasswordRule[] = []) =>
    html`<ul class="rules">${(['length', 'digit', 'lowercase', 'uppercase', 'spaces', 'common'] as PasswordRule[]).map((r) => html`<li>${broken.includes(r) ? html`<strong>${RULE_TEXT[r]}</strong>` : RULE_TEXT[r]}</li>`)}</ul>`;

  function newPasswordPage(req: FastifyRequest, reply: FastifyReply, code: string, o: { status?: number; notice?: Notice; broken?: PasswordRule[] } = {}): FastifyReply {
    const csrf = formToken(req, reply);
    return send(reply, o.status ?? 200, {
      title: 'Choose a new account password',
      narrow: true,
      body: html`<h1>Choose a new account password</h1>${noticeHtml(o.notice)}
<form method="post" action="/account/reset/new" class="card">${csrfField(csrf)}<input type="hidden" name="code" value="${code}">
<p>The account password must have:</p>${rulesList(o.broken)}
<label for="password">New account password</label><input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required>
<label for="password2">The new password again</label><input id="password2" name="password2" type="password" autocomplete="new-password" minlength="8" required>
<button type="submit">Change the password</button>
<p class="muted">Every device is signed out when the password changes. Your master password and your vault stay as they are.</p></form>`,
    });
  }
  const codeQuery = { type: 'object', properties: { code: { type: 'string', maxLength: 64 } }, required: ['code'] };
  // A GET only shows the form (mail scanners follow links); the POST changes the password.
  app.get('/account/reset/new', { schema: { querystring: codeQuery } }, (req, reply) => newPasswordPage(req, reply, (req.query as { code: string }).code));
  app.post('/account/reset/new', async (req, reply) => {
    const form = (req.body ?? {}) as Record<string, string>;
    const code = String(form.code ?? '').slice(0, 64);
    if (!formTokenOk(req, form)) return newPasswordPage(req, reply, code, { status: 403, notice: { kind: 'error', text: 'The page was open too long or did not come from this server. Nothing was changed; please try again.' } });
    const password = String(form.password ?? '').slice(0, 2048);
    if (password !== String(form.password2 ?? '')) return newPasswordPage(req, reply, code, { status: 400, notice: { kind: 'error', text: 'The two passwords differ. Nothing was changed.' } });
    const broken = await passwordProblems(password);
    if (broken.length > 0) return newPasswordPage(req, reply, code, { status: 400, broken, notice: { kind: 'error', text: sentence(describeProblems(broken)) } });
    try {
      await accounts.confirmReset(ctx, info(req), { code, password });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return newPasswordPage(req, reply, code, { status: e.status, notice: { kind: 'error', text: sentence(e.code === 'invalid_code' ? 'this link is unknown, already used or expired: ask for a new one' : e.message) } });
    }
    return send(reply, 200, {
      title: 'Password changed',
      narrow: true,
      body: html`<h1>Password changed</h1><div class="card"><p>The account password is changed and every device is signed out. Sign in again with the new password, here or with <code>kpm login</code>.</p><p><a href="/account/signin">Sign in</a></p></div>`,
    });
  });
}
