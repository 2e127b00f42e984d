// Issue 21: kpm-server as the device-flow front for a provider without a device grant, in process
// (fake clock, SQLite or PostgreSQL) against the real oidc-provider configured WITHOUT a device
// endpoint, its browser side driven over HTTP: the code page, the confirmation that names the device,
// PKCE at the provider, the CLI's poll; codes that expire, are single-use and rate-limited; CSRF;
// and the linking rules of S1. The same through the built binaries and chromium:
// test/e2e/sso-device.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_PW, createAccount, ENGINES, loginTokens, testServer, type TestServer } from '../helpers/server.js';
import { CLIENT_SECRET, startIdp, type TestIdp } from '../helpers/oidc.js';
import { cookieJar, csrfOf } from '../helpers/webjar.js';
import { createRegistry } from '../../src/server/oidc.js';
import { FRONT_TTL_MS, MAX_CODE_FAILURES, normalizeUserCode } from '../../src/server/devicefront.js';

const CALLBACK = 'http://kpm.test/account/sso/callback';

let idp: TestIdp;
beforeAll(async () => {
  idp = await startIdp(
    [
      { id: 'alice', email: 'alice@example.org', emailVerified: true },
      { id: 'bob-idp', email: 'bob@example.org', emailVerified: true },
      { id: 'mallory', email: 'victim@example.org', emailVerified: false },
    ],
    { deviceFlow: false, redirectUris: [CALLBACK] },
  );
});

function withIdp(s: TestServer): void {
  s.ctx.oidc = createRegistry([{ name: 'apple', issuer: idp.issuer, clientId: 'kpm', clientSecret: CLIENT_SECRET, scope: 'openid email' }]);
}

/** A browser in miniature (test/helpers/webjar.ts), from one address. */
function browser(s: TestServer, ip = '198.51.100.7') {
  const b = cookieJar(s.app, { ip });
  const { req } = b;
  return {
    ...b,
    /** Opens the link the CLI prints and presses "Continue": the confirmation page (or the error). */
    async enter(code: string) {
      const page = await req('GET', `/account/device?code=${encodeURIComponent(code)}`);
      return req('POST', '/account/device', { csrf: csrfOf(page.body), code });
    },
    /** Presses "Continue with …" on the confirmation page. */
    async confirm(confirmation: string) {
      return req('POST', '/account/device/confirm', { csrf: csrfOf(confirmation), code: /name="code" value="([^"]+)"/.exec(confirmation)![1] });
    },
  };
}

const h1 = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];
type Started = { flow: string; userCode: string; verificationUri: string; verificationUriComplete?: string; interval: number; expiresAt: string };

async function startFlow(s: TestServer, deviceName = 'laptop', ip = '203.0.113.9'): Promise<Started> {
  const r = await s.call('POST', '/v1/sso/start', { provider: 'apple', deviceName }, { ip });
  expect(r.status, r.text).toBe(200);
  return r.body;
}

/** The whole browser side: code page, confirmation, the provider (as `userId`), back to the callback. */
async function approve(s: TestServer, f: Started, userId: string, b = browser(s)) {
  const c = await b.enter(f.userCode);
  expect(c.statusCode, c.body).toBe(200);
  const go = await b.confirm(c.body);
  expect(go.statusCode, go.body).toBe(303);
  const back = await idp.authorize(String(go.headers.location), userId);
  expect(back.startsWith(`${CALLBACK}?`)).toBe(true);
  return { b, back: back.replace('http://kpm.test', ''), done: await b.get(back.replace('http://kpm.test', '')) };
}

const poll = (s: TestServer, flow: string) => s.call('POST', '/v1/sso/poll', { flow });

describe('normalizeUserCode', () => {
  it('accepts the code with or without its dash, in any case; nothing else', () => {
    expect(normalizeUserCode('bcdf-ghjk')).toBe('BCDFGHJK');
    expect(normalizeUserCode(' BCDF GHJK ')).toBe('BCDFGHJK');
    expect(normalizeUserCode('BCDF-GHJ')).toBeUndefined();
    expect(normalizeUserCode('ABCD-EFGH')).toBeUndefined(); // vowels are not in the alphabet
  });
});

describe.each(ENGINES)('issue 21: the server fronts a provider without a device grant (%s)', (engine) => {
  it('kpm login --sso: the server\'s URL and code; the page names the device; PKCE at the provider; the poll registers, the next sign-in signs in', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    expect(f.verificationUri).toBe('http://kpm.test/account/device');
    expect(f.userCode).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(f.verificationUriComplete).toBe(`http://kpm.test/account/device?code=${f.userCode}`);
    expect(Date.parse(f.expiresAt) - s.clock.now).toBe(FRONT_TTL_MS);
    // the code is kept only as a keyed digest
    const rows = await s.ctx.db.selectFrom('sso_device_codes').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(f.userCode.replace('-', ''));
    // nothing to ask the provider while the page is not done
    const before = idp.tokenRequests.length;
    expect((await poll(s, f.flow)).body).toEqual({ status: 'pending', interval: 2 });
    expect(idp.tokenRequests.length).toBe(before);

    const b = browser(s);
    // the link only fills the form in: a GET looks nothing up
    const form = await b.get(`/account/device?code=${f.userCode}`);
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain(`value="${f.userCode}"`);
    expect(form.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    const c = await b.post('/account/device', { csrf: b.csrfOf(form.body), code: f.userCode.toLowerCase() });
    expect(h1(c.body)).toBe('Is this your device?');
    expect(c.body).toContain('<dt>Device</dt><dd>laptop</dd>');
    expect(c.body).toContain('<dt>Asked from</dt><dd>203.0.113.9</dd>');
    expect(c.body).toContain('to sign in to kpm with apple');
    expect(c.headers['content-security-policy']).toContain(`form-action 'self' ${idp.issuer};`);
    expect(await s.ctx.db.selectFrom('sso_device_codes').select('state').execute()).toEqual([{ state: 'pending' }]);
    const go = await b.confirm(c.body);
    expect(go.statusCode).toBe(303);
    const auth = new URL(String(go.headers.location));
    expect(auth.origin).toBe(idp.issuer);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(auth.searchParams.get('redirect_uri')).toBe(CALLBACK);
    const back = (await idp.authorize(auth.href, 'alice')).replace('http://kpm.test', '');
    // another browser cannot finish it with the provider's code (no flow cookie)
    const stolen = await browser(s).get(back);
    expect(stolen.statusCode).toBe(400);
    const done = await b.get(back);
    expect(done.statusCode, done.body).toBe(200);
    expect(h1(done.body)).toBe('Back to your device');
    expect(done.body).toContain('kpm on <strong>laptop</strong>');
    expect(b.jar.has('kpm_session')).toBe(false); // the browser signs in nothing: the device does

    const r = await poll(s, f.flow);
    expect(r.body).toEqual({ status: 'register', email: 'alice@example.org', emailVerified: true });
    const reg = await s.call('POST', '/v1/sso/register', { flow: f.flow, region: 'DE', marketing: false });
    expect(reg.body).toMatchObject({ status: 'ok', account: { email: 'alice@example.org' }, device: { name: 'laptop' } });

    const g = await startFlow(s, 'desktop');
    await approve(s, g, 'alice');
    expect((await poll(s, g.flow)).body).toMatchObject({ status: 'ok', account: { email: 'alice@example.org' }, device: { name: 'desktop' } });
  });

  it('single use: a confirmed code cannot be typed or confirmed again, and the callback works once', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    const { b, back, done } = await approve(s, f, 'bob-idp');
    expect(h1(done.body)).toBe('Back to your device');
    const again = await b.enter(f.userCode);
    expect(again.statusCode).toBe(400);
    expect(again.body).toContain('This code is unknown, already used or expired');
    const form = await b.get('/account/device');
    const reconfirm = await b.post('/account/device/confirm', { csrf: b.csrfOf(form.body), code: f.userCode });
    expect(reconfirm.statusCode).toBe(400);
    expect((await b.get(back)).statusCode).toBe(400); // the flow cookie is gone
    expect((await poll(s, f.flow)).body.status).toBe('register');
  });

  it('codes expire (the server\'s clock): typing one late is refused, and the CLI\'s poll says expired', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    s.clock.advance(FRONT_TTL_MS - 1000);
    const b = browser(s);
    expect(h1((await b.enter(f.userCode)).body)).toBe('Is this your device?'); // still valid
    s.clock.advance(1000);
    const late = await b.enter(f.userCode);
    expect(late.statusCode).toBe(400);
    expect(late.body).toContain('unknown, already used or expired');
    const p = await poll(s, f.flow);
    expect(p.status).toBe(410);
    expect(p.body.error).toBe('sso_expired');
  });

  it('a confirmation that reaches the provider after the code expired finishes nothing', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    const b = browser(s);
    const go = await b.confirm((await b.enter(f.userCode)).body);
    const back = (await idp.authorize(String(go.headers.location), 'alice')).replace('http://kpm.test', '');
    s.clock.advance(FRONT_TTL_MS);
    const done = await b.get(back);
    expect(h1(done.body)).toBe('Not signed in');
    expect((await poll(s, f.flow)).body.error).toBe('sso_expired');
  });

  it(`wrong codes: each is a failure of the address; after ${MAX_CODE_FAILURES} in an hour even the right code is refused there (429), not elsewhere`, async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    const b = browser(s, '192.0.2.66');
    const bad = await b.enter('BCDF-GHJK' === f.userCode ? 'BCDF-GHJL' : 'BCDF-GHJK');
    expect(bad.statusCode).toBe(400);
    for (let i = 1; i < MAX_CODE_FAILURES; i++) expect((await b.enter(i % 2 ? 'not a code' : 'ZZZZ-ZZZZ')).statusCode).toBe(400);
    const refused = await b.enter(f.userCode);
    expect(refused.statusCode).toBe(429);
    expect(refused.body).toContain('Too many wrong codes from this address');
    expect(h1((await browser(s, '192.0.2.67').enter(f.userCode)).body)).toBe('Is this your device?');
    // an hour later the address may try again
    s.clock.advance(3600_000 + 1);
    const g = await startFlow(s);
    expect(h1((await b.enter(g.userCode)).body)).toBe('Is this your device?');
  });

  it('CSRF: a form post without the page\'s token, or marked cross-site, looks nothing up and uses nothing', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    const b = browser(s);
    const page = await b.get('/account/device');
    expect((await b.post('/account/device', { code: f.userCode })).statusCode).toBe(403);
    expect((await b.post('/account/device/confirm', { code: f.userCode })).statusCode).toBe(403);
    expect((await b.post('/account/device/confirm', { csrf: b.csrfOf(page.body), code: f.userCode }, { 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect(await s.ctx.db.selectFrom('sso_device_codes').select('state').execute()).toEqual([{ state: 'pending' }]);
    expect(await s.ctx.db.selectFrom('failures').selectAll().execute()).toEqual([]);
  });

  it('S1: an identity whose provider does not vouch for an account\'s address gets no account and no sign-in; linking goes through the signed-in owner with the password', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    await createAccount(s, 'victim@example.org');
    const f = await startFlow(s, 'attacker box');
    await approve(s, f, 'mallory');
    const r = await poll(s, f.flow);
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('email_unverified');
    expect(await s.ctx.db.selectFrom('sso_identities').selectAll().execute()).toEqual([]);

    // the owner links it: signed in, with the account password again; the page says which account
    const t = await loginTokens(s, 'victim@example.org');
    expect((await s.call('POST', '/v1/sso/link', { provider: 'apple', password: 'wrong' + ACCOUNT_PW }, { token: t.accessToken })).status).toBe(401);
    const l = await s.call('POST', '/v1/sso/link', { provider: 'apple', password: ACCOUNT_PW }, { token: t.accessToken });
    expect(l.status, l.text).toBe(200);
    const b = browser(s);
    const c = await b.enter(l.body.userCode);
    expect(c.body).toContain('to link a apple identity to the kpm account <strong>victim@example.org</strong>');
    const go = await b.confirm(c.body);
    await b.get((await idp.authorize(String(go.headers.location), 'mallory')).replace('http://kpm.test', ''));
    expect((await poll(s, l.body.flow)).body).toMatchObject({ status: 'linked', identity: { provider: 'apple', subject: 'mallory' } });
    // now that identity signs in to the owner's account
    const g = await startFlow(s);
    await approve(s, g, 'mallory');
    expect((await poll(s, g.flow)).body).toMatchObject({ status: 'ok', account: { email: 'victim@example.org' } });
  });
});
