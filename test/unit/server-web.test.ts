// Issue 21: the account pages in process (fake clock): cookies, CSRF, CSP, the security check on
// the sign-in page, session expiry, the state-changing forms, and the operator endpoints.
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { decodeUtf8 } from '../../src/crypto/bytes.js';
import { WEB_IDLE_MS } from '../../src/server/web.js';
import { ACCOUNT_PW, createAccount, loginTokens, testServer, totpCode, type TestServer } from '../helpers/server.js';
import { cookieJar } from '../helpers/webjar.js';

/** A browser in miniature (test/helpers/webjar.ts) that can sign in. */
function browser(s: TestServer, app = s.app, base: Record<string, string> = {}) {
  const b = cookieJar(app, { base });
  return {
    ...b,
    async signIn(email: string, password = ACCOUNT_PW) {
      return b.submit('/account/signin', '/account/signin', { email, password });
    },
  };
}

const h1 = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];
const deviceCount = async (s: TestServer, id: string) =>
  Number((await s.ctx.db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', id).where('revoked_at', 'is', null).executeTakeFirstOrThrow()).n);
const accountId = async (s: TestServer, email: string) => (await s.ctx.db.selectFrom('accounts').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;

describe('issue 21: account pages', () => {
  it('the pages send a strict CSP (no script at all), no framing, no-store; over plain http the session cookie is kpm_session: HttpOnly, SameSite=Strict, Path=/', async () => {
    const s = await testServer();
    await createAccount(s, 'ann@example.org');
    const b = browser(s);
    const page = await b.get('/account/signin');
    expect(page.statusCode).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[^']+'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/);
    expect(csp).not.toMatch(/script-src|unsafe/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).not.toMatch(/<script|\son\w+=|https?:\/\//);
    const r = await b.signIn('ann@example.org');
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/account/');
    const c = b.setCookies.find((x) => x.startsWith('kpm_session='))!;
    expect(c).toMatch(/^kpm_session=kpa_[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(h1((await b.get('/account/')).body)).toBe('Your kpm account');
  });

  it('over TLS (here: behind a trusted proxy that says https) the cookies are __Host- prefixed and Secure', async () => {
    const s = await testServer();
    await createAccount(s, 'ann@example.org');
    const app = buildApp(s.ctx, { trustProxy: ['127.0.0.1'] });
    await app.ready();
    const b = browser(s, app, { 'x-forwarded-proto': 'https' });
    await b.signIn('ann@example.org');
    expect(b.setCookies.find((x) => x.startsWith('__Host-kpm_form='))).toMatch(/; Path=\/; HttpOnly; SameSite=Strict; Max-Age=1800; Secure$/);
    expect(b.setCookies.find((x) => x.startsWith('__Host-kpm_session='))).toMatch(/^__Host-kpm_session=kpa_[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
    expect(b.setCookies.some((x) => x.startsWith('kpm_session='))).toBe(false);
    expect(h1((await b.get('/account/')).body)).toBe('Your kpm account');
    await app.close();
  });

  it('CSRF: a state change without the page token, with the token of another session, or marked cross-site changes nothing (403)', async () => {
    const s = await testServer();
    await createAccount(s, 'ann@example.org');
    await createAccount(s, 'bob@example.org');
    const id = await accountId(s, 'ann@example.org');
    await loginTokens(s, 'ann@example.org');
    const ann = browser(s);
    await ann.signIn('ann@example.org');
    const bob = browser(s);
    await bob.signIn('bob@example.org');
    const bobToken = bob.csrfOf((await bob.get('/account/devices')).body);
    const annToken = ann.csrfOf((await ann.get('/account/devices')).body);
    expect(await deviceCount(s, id)).toBe(2);
    expect((await ann.post('/account/devices/revoke-others', {})).statusCode).toBe(403);
    expect((await ann.post('/account/devices/revoke-others', { csrf: bobToken })).statusCode).toBe(403);
    expect((await ann.post('/account/devices/revoke-others', { csrf: annToken }, { 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    // no cookie (what SameSite=Strict gives a cross-site post): to the sign-in page, nothing done
    const anon = browser(s);
    expect((await anon.post('/account/devices/revoke-others', { csrf: annToken })).statusCode).toBe(303);
    // a form post as JSON or text/plain is not even parsed
    expect((await s.app.inject({ method: 'POST', url: '/account/devices/revoke-others', headers: { 'content-type': 'text/plain', cookie: [...ann.jar].map(([k, v]) => `${k}=${v}`).join('; ') }, payload: `csrf=${annToken}` })).statusCode).toBe(415);
    expect(await deviceCount(s, id)).toBe(2);
    // the sign-in form too: its token must match the form cookie
    const fresh = browser(s);
    await fresh.get('/account/signin');
    expect((await fresh.post('/account/signin', { csrf: 'kpc_wrong', email: 'ann@example.org', password: ACCOUNT_PW })).statusCode).toBe(403);
    expect(await deviceCount(s, id)).toBe(2);
    const ok = await ann.post('/account/devices/revoke-others', { csrf: annToken });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('1 device is signed out.');
    expect(await deviceCount(s, id)).toBe(1);
  });

  it('a GET of every address that changes state changes nothing', async () => {
    const s = await testServer();
    await createAccount(s, 'ann@example.org');
    const id = await accountId(s, 'ann@example.org');
    await loginTokens(s, 'ann@example.org');
    const b = browser(s);
    await b.signIn('ann@example.org');
    const before = JSON.stringify(await s.ctx.db.selectFrom('accounts').selectAll().where('id', '=', id).execute());
    for (const p of ['signin', 'signin/code', 'signout', 'devices/revoke', 'devices/revoke-others', 'tokens/revoke', 'security/totp', 'security/totp/confirm', 'security/disable', 'security/recovery', 'identities/unlink', 'marketing', 'delete', 'reset']) {
      const r = await b.get(`/account/${p}?csrf=x&id=x&confirm=yes&password=${ACCOUNT_PW}`);
      expect([200, 303, 404], p).toContain(r.statusCode);
    }
    expect(await deviceCount(s, id)).toBe(2);
    expect(JSON.stringify(await s.ctx.db.selectFrom('accounts').selectAll().where('id', '=', id).execute())).toBe(before);
    expect(s.mails.filter((m) => /Reset/.test(m.subject))).toHaveLength(0);
    expect(h1((await b.get('/account/')).body)).toBe('Your kpm account');
  });

  it('repeated failed sign-ins on the page bring the same security check as the API: a captcha picture (inline SVG); its answer lets the sign-in through', async () => {
    const s = await testServer({ check: { after: 3 } });
    await createAccount(s, 'ann@example.org');
    const b = browser(s);
    for (let i = 0; i < 3; i++) expect((await b.signIn('ann@example.org', 'Wrong1Password')).statusCode).toBe(401);
    const shown = await b.signIn('ann@example.org');
    expect(shown.statusCode).toBe(428);
    expect(shown.body).toContain('Security check');
    expect(shown.body).toMatch(/<div class="captcha"[^>]*><svg /);
    const challenge = /name="challenge" value="([a-f0-9]+)"/.exec(shown.body)![1];
    // the API asks for the check too (one counter for both)
    expect((await s.call('POST', '/v1/sessions', { email: 'ann@example.org', password: ACCOUNT_PW, deviceName: 'x' })).body.error).toBe('challenge_required');
    const row = await s.ctx.db.selectFrom('challenges').select('answer_enc').where('id', '=', challenge).executeTakeFirstOrThrow();
    const answer = decodeUtf8(s.ctx.keys.open('captcha', challenge, row.answer_enc));
    const wrong = await b.post('/account/signin', { csrf: b.csrfOf(shown.body), email: 'ann@example.org', password: ACCOUNT_PW, challenge, answer: 'ZZZZZ' });
    expect(wrong.body).toMatch(/security check failed/i);
    const next = /name="challenge" value="([a-f0-9]+)"/.exec(wrong.body)![1];
    const nextRow = await s.ctx.db.selectFrom('challenges').select('answer_enc').where('id', '=', next).executeTakeFirstOrThrow();
    const r = await b.post('/account/signin', { csrf: b.csrfOf(wrong.body), email: 'ann@example.org', password: ACCOUNT_PW, challenge: next, answer: decodeUtf8(s.ctx.keys.open('captcha', next, nextRow.answer_enc)).toLowerCase() });
    expect(answer).toMatch(/^[A-Z0-9]+$/);
    expect(r.statusCode).toBe(303);
  });

  it('the browser session ends 30 minutes after its last request, 12 hours after sign-in at the latest, and when it is revoked from another device', async () => {
    const s = await testServer();
    await createAccount(s, 'ann@example.org');
    const b = browser(s);
    await b.signIn('ann@example.org');
    s.clock.advance(WEB_IDLE_MS - 60_000);
    expect((await b.get('/account/')).statusCode).toBe(200); // activity moves the expiry on
    s.clock.advance(WEB_IDLE_MS - 60_000);
    expect((await b.get('/account/')).statusCode).toBe(200);
    s.clock.advance(WEB_IDLE_MS + 1);
    const r = await b.get('/account/');
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/account/signin');
    // the idle session is no longer listed as a device
    const cli = await loginTokens(s, 'ann@example.org');
    expect((await s.call('GET', '/v1/devices', undefined, { token: cli.accessToken })).body.devices.map((d: { name: string }) => d.name)).toEqual(['test']);
    await b.signIn('ann@example.org');
    const web = (await s.call('GET', '/v1/devices', undefined, { token: cli.accessToken })).body.devices.find((d: { name: string }) => d.name === 'Web browser');
    expect((await s.call('DELETE', `/v1/devices/${web.id}`, undefined, { token: cli.accessToken })).status).toBe(200);
    expect((await b.get('/account/devices')).statusCode).toBe(303);
    // busy all day: still out after 12 hours
    await b.signIn('ann@example.org');
    for (let i = 0; i < 25; i++) {
      s.clock.advance(WEB_IDLE_MS - 1000);
      if (i < 23) expect((await b.get('/account/')).statusCode, String(i)).toBe(200);
    }
    expect((await b.get('/account/')).statusCode).toBe(303);
  });

  it('two-step verification from the pages: set-up asks the password, a QR code (SVG) and the key; sign-in then takes the code; new recovery codes; off with password and code', async () => {
    const s = await testServer();
    await createAccount(s, 'ann@example.org');
    const b = browser(s);
    await b.signIn('ann@example.org');
    expect((await b.submit('/account/security', '/account/security/totp', { password: 'Wrong1Password' })).body).toContain('Wrong account password.');
    const setup = await b.submit('/account/security', '/account/security/totp', { password: ACCOUNT_PW });
    expect(setup.body).toMatch(/<div class="qr"><svg [^>]*role="img"[^>]*><rect [^>]*\/><path fill="#000" d="M/);
    const secret = /<code>([A-Z2-7 ]+)<\/code>/.exec(setup.body)![1].replace(/ /g, '');
    const on = await b.post('/account/security/totp/confirm', { csrf: b.csrfOf(setup.body), code: totpCode(secret, s.clock.now) });
    expect(on.body).toContain('Two-step verification is on.');
    const codes = [...on.body.matchAll(/<li>([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})<\/li>/g)].map((m) => m[1]);
    expect(codes).toHaveLength(10);
    // sign in again: the second step
    await b.post('/account/signout', { csrf: b.csrfOf((await b.get('/account/')).body) });
    const step = await b.signIn('ann@example.org');
    expect(h1(step.body)).toBe('Two-step verification');
    const ticket = /name="ticket" value="([^"]+)"/.exec(step.body)![1];
    const bad = await b.post('/account/signin/code', { csrf: b.csrfOf(step.body), ticket, code: '000000' });
    expect(bad.body).toContain('Wrong verification code.');
    expect((await b.post('/account/signin/code', { csrf: b.csrfOf(bad.body), ticket, code: codes[0] })).statusCode).toBe(303);
    // new recovery codes: the old ones stop working
    const fresh = await b.submit('/account/security', '/account/security/recovery', { password: ACCOUNT_PW });
    const codes2 = [...fresh.body.matchAll(/<li>([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})<\/li>/g)].map((m) => m[1]);
    expect(codes2).toHaveLength(10);
    expect((await s.call('POST', '/v1/sessions', { email: 'ann@example.org', password: ACCOUNT_PW, deviceName: 'x', otp: codes[1] })).body.error).toBe('invalid_otp');
    s.clock.advance(60_000);
    expect((await b.submit('/account/security', '/account/security/disable', { password: ACCOUNT_PW, code: '123456' })).body).toContain('Wrong verification code.');
    const off = await b.submit('/account/security', '/account/security/disable', { password: ACCOUNT_PW, code: totpCode(secret, s.clock.now) });
    expect(off.body).toContain('Two-step verification is off.');
  });

  it('settings: marketing consent changes, the region is shown but not changeable; deleting the account needs the password and removes the server data', async () => {
    const s = await testServer();
    await createAccount(s, 'ann@example.org', ACCOUNT_PW, 'FR');
    const id = await accountId(s, 'ann@example.org');
    const b = browser(s);
    await b.signIn('ann@example.org');
    const page = await b.get('/account/settings');
    expect(page.body).toContain('Only an administrator of the server changes it.');
    expect(page.body).toContain('<p>FR</p>');
    expect(page.body).not.toMatch(/name="region"/);
    await b.post('/account/marketing', { csrf: b.csrfOf(page.body), marketing: '1' });
    expect((await s.ctx.db.selectFrom('accounts').select('marketing').where('id', '=', id).executeTakeFirstOrThrow()).marketing).toBe(1);
    await b.post('/account/marketing', { csrf: b.csrfOf(page.body) });
    expect((await s.ctx.db.selectFrom('accounts').select('marketing').where('id', '=', id).executeTakeFirstOrThrow()).marketing).toBe(0);
    expect((await b.post('/account/delete', { csrf: b.csrfOf(page.body), password: 'Wrong1Password', confirm: 'yes' })).body).toContain('Wrong account password.');
    expect((await b.post('/account/delete', { csrf: b.csrfOf(page.body), password: ACCOUNT_PW })).body).toContain('Tick the box');
    const gone = await b.post('/account/delete', { csrf: b.csrfOf(page.body), password: ACCOUNT_PW, confirm: 'yes' });
    expect(h1(gone.body)).toBe('Account deleted');
    expect(gone.body).toContain('The vaults on your devices remain');
    expect(await s.ctx.db.selectFrom('accounts').select('id').where('id', '=', id).execute()).toEqual([]);
    expect(await s.ctx.db.selectFrom('sessions').select('id').where('account_id', '=', id).execute()).toEqual([]);
    expect((await b.get('/account/')).statusCode).toBe(303);
  });

  it('operators: /healthz, /readyz (503 when the database is gone); /metrics only when enabled, with route patterns and counts, no personal data', async () => {
    const s = await testServer();
    expect((await s.app.inject({ method: 'GET', url: '/healthz' })).body).toBe('ok\n');
    expect((await s.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await s.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    await createAccount(s, 'ann@example.org');
    const app = buildApp(s.ctx, { metrics: true });
    await app.ready();
    await app.inject({ method: 'POST', url: '/v1/sessions', payload: { email: 'ann@example.org', password: 'Wrong1Password', deviceName: 'x' } });
    await app.inject({ method: 'GET', url: '/v1/challenges/abcdef/captcha.svg' });
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    expect(m.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(m.body).toContain('kpm_http_requests_total{route="/v1/sessions",method="POST",status="401"} 1');
    expect(m.body).toContain('kpm_http_requests_total{route="/v1/challenges/:id/captcha.:format",method="GET",status="404"} 1');
    expect(m.body).toContain('kpm_signin_failures_total 1');
    expect(m.body).toMatch(/kpm_db_latency_seconds \d+\.\d+/);
    expect(m.body).not.toMatch(/ann|example|abcdef|127\.0\.0\.1/);
    await s.store.db.destroy();
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toContain('kpm_db_up 0');
    await app.close();
  });
});

describe('issue 21: "continue with" an identity provider on the sign-in page (authorization code + PKCE)', () => {
  it('a linked identity signs in through the provider; the callback needs the browser that started it; an unlinked or unverified identity gets no session', async () => {
    const { startIdp, CLIENT_SECRET } = await import('../helpers/oidc.js');
    const { createRegistry } = await import('../../src/server/oidc.js');
    const idp = await startIdp(
      [
        { id: 'alice', email: 'ann@example.org', emailVerified: true },
        { id: 'dave', email: 'dave@example.org', emailVerified: true },
        { id: 'mallory', email: 'ann@example.org', emailVerified: false },
      ],
      { redirectUris: ['http://kpm.test/account/sso/callback'] },
    );
    const s = await testServer();
    s.ctx.oidc = createRegistry([{ name: 'test', issuer: idp.issuer, clientId: 'kpm', clientSecret: CLIENT_SECRET, scope: 'openid email' }]);
    await createAccount(s, 'ann@example.org');
    const id = await accountId(s, 'ann@example.org');
    await s.ctx.db.insertInto('sso_identities').values({ id: 'i1', account_id: id, provider: 'test', issuer: idp.issuer, subject: 'alice', email: 'ann@example.org', created_at: s.clock.now }).execute();

    const b = browser(s);
    expect((await b.get('/account/signin')).body).toContain('<a class="button secondary" href="/account/sso/test">Continue with test</a>');
    const start = await b.get('/account/sso/test');
    expect(start.statusCode).toBe(303);
    const auth = new URL(String(start.headers.location));
    expect(auth.origin).toBe(idp.issuer);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('redirect_uri')).toBe('http://kpm.test/account/sso/callback');
    expect(auth.searchParams.get('state')).toBeTruthy();
    expect(auth.searchParams.get('nonce')).toBeTruthy();
    expect(b.setCookies.at(-1)).toMatch(/^kpm_sso=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/);
    const back = await idp.authorize(auth.href, 'alice');
    expect(back).toMatch(/^http:\/\/kpm\.test\/account\/sso\/callback\?code=/);

    // another browser (no flow cookie) cannot use the code: no session (login CSRF)
    const other = browser(s);
    const stolen = await other.get(back.replace('http://kpm.test', ''));
    expect(stolen.statusCode).toBe(400);
    expect(other.jar.has('kpm_session')).toBe(false);

    const done = await b.get(back.replace('http://kpm.test', ''));
    expect(done.statusCode, done.body).toBe(200);
    expect(h1(done.body)).toBe('Signed in');
    expect(b.jar.get('kpm_session')).toMatch(/^kpa_/);
    expect(b.jar.has('kpm_sso')).toBe(false);
    expect(h1((await b.get('/account/')).body)).toBe('Your kpm account');
    // the code is single-use, the flow cookie gone: the same callback again does nothing
    expect((await b.get(back.replace('http://kpm.test', ''))).statusCode).toBe(400);

    // an identity linked to no account: no session, no account made here
    const c = browser(s);
    const cs = await c.get('/account/sso/test');
    const cb = await idp.authorize(String(cs.headers.location), 'dave');
    const r = await c.get(cb.replace('http://kpm.test', ''));
    expect(r.statusCode).toBe(403);
    expect(r.body).toContain('No kpm account is linked to this test identity.');
    expect(await s.ctx.db.selectFrom('accounts').select('id').where('email', '=', 'dave@example.org').execute()).toEqual([]);
    // an unverified address that is an account's address: refused (S1), not linked
    const m = browser(s);
    const ms = await m.get('/account/sso/test');
    const mb = await idp.authorize(String(ms.headers.location), 'mallory');
    const mr = await m.get(mb.replace('http://kpm.test', ''));
    expect(mr.statusCode).toBe(403);
    expect(mr.body).toContain('does not confirm that ann@example.org is yours');
    expect(m.jar.has('kpm_session')).toBe(false);
    expect(await s.ctx.db.selectFrom('sso_identities').select('subject').where('account_id', '=', id).execute()).toEqual([{ subject: 'alice' }]);
  });
});
