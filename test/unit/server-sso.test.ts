// Sign-in with an identity provider, in process: the kpm server (fastify inject, SQLite or PostgreSQL)
// against a real OpenID provider (oidc-provider on loopback) whose user side is driven over HTTP.
// The flow table, linking by (issuer, subject), registration, 2-step verification, denied / expired /
// slow_down, limits, and providers that are down or lack the device grant.
import { beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_PW, codeFromMail, createAccount, ENGINES, loginTokens, testServer, totpCode, type TestServer } from '../helpers/server.js';
import { CLIENT_SECRET, startIdp, type TestIdp } from '../helpers/oidc.js';
import { createRegistry, parseProviderSpec, OidcConfigError } from '../../src/server/oidc.js';
import { sha256Hex } from '../../src/server/tokens.js';
import { buildApp } from '../../src/server/app.js';
import { MAX_FLOWS_PER_IP } from '../../src/server/sso.js';

let idp: TestIdp;
beforeAll(async () => {
  idp = await startIdp([
    { id: 'alice', email: 'alice@example.org', emailVerified: true },
    { id: 'bob-idp', email: 'bob@example.org', emailVerified: true },
    { id: 'carol', email: 'carol@example.org', emailVerified: false },
    { id: 'dave', email: 'dave@example.org', emailVerified: true },
    { id: 'erin', email: 'erin@example.org', emailVerified: true },
    { id: 'noemail' },
    { id: 'mallory-idp', email: 'victim@example.org', emailVerified: false },
    { id: 'mallory-old', email: 'old-victim@example.org', emailVerified: false },
  ]);
});

function withIdp(s: TestServer, extra: { name: string; issuer: string; clientId?: string }[] = []): void {
  s.ctx.oidc = createRegistry([
    { name: 'test', issuer: idp.issuer, clientId: 'kpm', clientSecret: CLIENT_SECRET, scope: 'openid email' },
    ...extra.map((e) => ({ name: e.name, issuer: e.issuer, clientId: e.clientId ?? 'kpm', clientSecret: CLIENT_SECRET, scope: 'openid email' })),
  ]);
}

async function startFlow(s: TestServer, provider = 'test', ip?: string) {
  const r = await s.call('POST', '/v1/sso/start', { provider, deviceName: 'laptop' }, { ip });
  expect(r.status, r.text).toBe(200);
  return r.body as { flow: string; userCode: string; verificationUri: string; verificationUriComplete?: string; interval: number; expiresAt: string };
}

/** Polls (advancing the fake clock by the interval) until the answer is not `pending`. */
async function pollDone(s: TestServer, flow: string) {
  for (let i = 0; i < 20; i++) {
    const r = await s.call('POST', '/v1/sso/poll', { flow });
    if (r.status !== 200 || r.body.status !== 'pending') return r;
    s.clock.advance(r.body.interval * 1000);
  }
  throw new Error('still pending');
}

describe('provider configuration', () => {
  it('NAME=ISSUER,CLIENT_ID[,SCOPE] with the secret from the environment only; https or loopback http', () => {
    const env = { KPM_OIDC_MY_IDP_SECRET: 's3cret' };
    expect(parseProviderSpec('my-idp=https://id.example.org,abc', env)).toEqual({ name: 'my-idp', issuer: 'https://id.example.org', clientId: 'abc', clientSecret: 's3cret', scope: 'openid email' });
    expect(parseProviderSpec('my-idp=http://127.0.0.1:9,abc,openid email profile', env).scope).toBe('openid email profile');
    expect(() => parseProviderSpec('my-idp=http://id.example.org,abc', env)).toThrow(/https/);
    expect(parseProviderSpec('my-idp=http://id.example.org,abc', env, true).issuer).toBe('http://id.example.org');
    expect(() => parseProviderSpec('other=https://id.example.org,abc', env)).toThrow(/KPM_OIDC_OTHER_SECRET/);
    expect(() => parseProviderSpec('Bad_Name=https://x,abc', env)).toThrow(OidcConfigError);
    expect(() => parseProviderSpec('nocomma=https://x', env)).toThrow(/NAME=ISSUER,CLIENT_ID/);
  });
});

describe.each(ENGINES)('SSO on %s', (engine) => {
  it('without providers: 404 with a clear message; the provider list is empty', async () => {
    const s = await testServer({ engine });
    expect((await s.call('GET', '/v1/sso/providers')).body).toEqual({ providers: [] });
    const r = await s.call('POST', '/v1/sso/start', { provider: 'test', deviceName: 'x' });
    expect(r.status).toBe(404);
    expect(r.body.message).toMatch(/no identity providers configured/);
  });

  it('first sign-in registers (verified email: active at once), the second signs in; the flow token and device code are not stored in clear', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    expect((await s.call('GET', '/v1/sso/providers')).body.providers).toEqual([{ name: 'test', issuer: idp.issuer }]);
    expect((await s.call('POST', '/v1/sso/start', { provider: 'nope', deviceName: 'x' })).body.message).toMatch(/unknown identity provider "nope".*test/);
    const f = await startFlow(s);
    expect(f.flow).toMatch(/^kpf_/);
    expect(f.verificationUri).toBe(`${idp.issuer}/device`);
    expect(f.interval).toBe(1);
    const rows = await s.ctx.db.selectFrom('sso_flows').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0].flow_hash).toBe(sha256Hex(f.flow));
    expect(JSON.stringify(rows)).not.toContain(f.flow);
    expect(rows[0].device_code_enc).not.toBeNull();
    // not approved yet; a poll before the interval does not reach the provider
    const before = idp.tokenRequests.length;
    expect((await s.call('POST', '/v1/sso/poll', { flow: f.flow })).body).toEqual({ status: 'pending', interval: 1 });
    expect((await s.call('POST', '/v1/sso/poll', { flow: f.flow })).body).toEqual({ status: 'pending', interval: 1 });
    expect(idp.tokenRequests.length).toBe(before + 1);
    expect(await idp.approve(f.userCode, 'alice')).toMatch(/success/i);
    s.clock.advance(1000);
    const r = await pollDone(s, f.flow);
    expect(r.body).toEqual({ status: 'register', email: 'alice@example.org', emailVerified: true });
    // asking again gives the same answer until registered; the device code is gone
    expect((await s.call('POST', '/v1/sso/poll', { flow: f.flow })).body.status).toBe('register');
    expect((await s.ctx.db.selectFrom('sso_flows').select('device_code_enc').executeTakeFirstOrThrow()).device_code_enc).toBeNull();
    expect((await s.call('POST', '/v1/sso/register', { flow: f.flow, region: 'XX', marketing: false })).body.error).toBe('invalid_region');
    const reg = await s.call('POST', '/v1/sso/register', { flow: f.flow, region: 'DE', marketing: true });
    expect(reg.status, reg.text).toBe(200);
    expect(reg.body).toMatchObject({ status: 'ok', account: { email: 'alice@example.org' }, device: { name: 'laptop' } });
    expect(s.mails).toHaveLength(0);
    const acct = await s.ctx.db.selectFrom('accounts').selectAll().where('email', '=', 'alice@example.org').executeTakeFirstOrThrow();
    expect(acct).toMatchObject({ region: 'DE', marketing: 1, password_usable: 0 });
    expect(acct.activated_at).not.toBeNull();
    // the flow is used up
    expect((await s.call('POST', '/v1/sso/register', { flow: f.flow, region: 'DE', marketing: true })).body.error).toBe('sso_expired');
    const ids = await s.call('GET', '/v1/sso/identities', undefined, { token: reg.body.accessToken });
    expect(ids.body.identities).toEqual([expect.objectContaining({ provider: 'test', issuer: idp.issuer, subject: 'alice', email: 'alice@example.org' })]);
    // a random password nobody knows: password sign-in fails
    expect((await s.call('POST', '/v1/sessions', { email: 'alice@example.org', password: ACCOUNT_PW, deviceName: 'x' })).status).toBe(401);
    // changes that need re-authentication ask for a password first
    const tf = await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, { token: reg.body.accessToken });
    expect(tf.status).toBe(403);
    expect(tf.body.message).toMatch(/has none yet: set one with `kpm account reset-password` first/);
    // the only way in cannot be unlinked
    const u = await s.call('POST', '/v1/sso/unlink', { provider: 'test' }, { token: reg.body.accessToken });
    expect(u.status).toBe(409);
    expect(u.body.message).toMatch(/only way to sign in/);

    const g = await startFlow(s);
    await idp.approve(g.userCode, 'alice');
    const again = await pollDone(s, g.flow);
    expect(again.body).toMatchObject({ status: 'ok', account: { id: acct.id, email: 'alice@example.org' } });
    expect(await s.ctx.db.selectFrom('sso_flows').selectAll().execute()).toEqual([]);
  });

  it('two instances on one database: started on one, polled and registered on the other', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const other = buildApp({ ...s.ctx, oidc: createRegistry([{ name: 'test', issuer: idp.issuer, clientId: 'kpm', clientSecret: CLIENT_SECRET, scope: 'openid email' }]) });
    await other.ready();
    const post = async (url: string, body: unknown) => {
      const r = await other.inject({ method: 'POST', url, payload: body as object });
      return { status: r.statusCode, body: JSON.parse(r.body) };
    };
    const f = await startFlow(s);
    await idp.approve(f.userCode, 'erin');
    const r = await post('/v1/sso/poll', { flow: f.flow });
    expect(r.body).toEqual({ status: 'register', email: 'erin@example.org', emailVerified: true });
    const reg = await post('/v1/sso/register', { flow: f.flow, region: 'IT', marketing: false });
    expect(reg.body).toMatchObject({ status: 'ok', account: { email: 'erin@example.org' } });
    expect((await s.call('GET', '/v1/account', undefined, { token: reg.body.accessToken })).body.region).toBe('IT');
    await other.close();
  });

  it('denied at the provider: sso_denied (403); the flow is gone', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    await idp.deny(f.userCode);
    const r = await pollDone(s, f.flow);
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ error: 'sso_denied', message: 'the sign-in was denied at the identity provider "test"' });
    expect((await s.call('POST', '/v1/sso/poll', { flow: f.flow })).body.error).toBe('sso_expired');
  });

  it('expired: past the flow lifetime, and an unknown flow, are sso_expired (410)', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    s.clock.advance(Date.parse(f.expiresAt) - s.clock.now + 1);
    const r = await s.call('POST', '/v1/sso/poll', { flow: f.flow });
    expect(r.status).toBe(410);
    expect(r.body).toMatchObject({ error: 'sso_expired', message: 'the code expired before it was approved at "test"; start again' });
    expect((await s.call('POST', '/v1/sso/poll', { flow: f.flow })).body.message).toMatch(/expired or is unknown/);
    expect((await s.call('POST', '/v1/sso/poll', { flow: 'kpf_' + 'x'.repeat(43) })).status).toBe(410);
    expect((await s.call('POST', '/v1/sso/poll', { flow: 'kpa_' + 'x'.repeat(43) })).status).toBe(400);
  });

  it('slow_down from the provider adds 5 s to the interval, stored for every instance', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    idp.slowDownNext = 1;
    const r = await s.call('POST', '/v1/sso/poll', { flow: f.flow });
    expect(r.body).toEqual({ status: 'pending', interval: 6 });
    expect((await s.ctx.db.selectFrom('sso_flows').select('interval_s').executeTakeFirstOrThrow()).interval_s).toBe(6);
    s.clock.advance(5000);
    const before = idp.tokenRequests.length;
    expect((await s.call('POST', '/v1/sso/poll', { flow: f.flow })).body.interval).toBe(6);
    expect(idp.tokenRequests.length).toBe(before);
  });

  it('an address of an existing account is never linked by email alone: sso_not_linked; link, sign in, unlink', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    await createAccount(s, 'bob@example.org');
    const f = await startFlow(s);
    await idp.approve(f.userCode, 'bob-idp');
    const r = await pollDone(s, f.flow);
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('sso_not_linked');
    expect(r.body.message).toMatch(/kpm account link --sso test/);
    expect(await s.ctx.db.selectFrom('sso_identities').selectAll().execute()).toEqual([]);
    // the owner links it while signed in with the password
    const t = await loginTokens(s, 'bob@example.org');
    expect((await s.call('POST', '/v1/sso/link', { provider: 'test', password: ACCOUNT_PW })).status).toBe(401);
    const l = await s.call('POST', '/v1/sso/link', { provider: 'test', password: ACCOUNT_PW }, { token: t.accessToken });
    expect(l.status, l.text).toBe(200);
    await idp.approve(l.body.userCode, 'bob-idp');
    const linked = await pollDone(s, l.body.flow);
    expect(linked.body).toMatchObject({ status: 'linked', identity: { provider: 'test', subject: 'bob-idp', email: 'bob@example.org' } });
    const g = await startFlow(s);
    await idp.approve(g.userCode, 'bob-idp');
    expect((await pollDone(s, g.flow)).body).toMatchObject({ status: 'ok', account: { email: 'bob@example.org' } });
    // someone else's account cannot take the same identity
    await createAccount(s, 'mallory@example.org');
    const m = await loginTokens(s, 'mallory@example.org');
    const ml = await s.call('POST', '/v1/sso/link', { provider: 'test', password: ACCOUNT_PW }, { token: m.accessToken });
    await idp.approve(ml.body.userCode, 'bob-idp');
    expect((await pollDone(s, ml.body.flow)).status).toBe(409);
    // unlink: the account has a password, so the last identity may go
    expect((await s.call('POST', '/v1/sso/unlink', { provider: 'test' }, { token: t.accessToken })).status).toBe(200);
    expect((await s.call('POST', '/v1/sso/unlink', { provider: 'test' }, { token: t.accessToken })).status).toBe(404);
    expect((await s.call('GET', '/v1/sso/identities', undefined, { token: t.accessToken })).body).toEqual({ identities: [] });
  });

  it('2-step verification applies: an SSO sign-in returns the otp_required ticket', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    await createAccount(s, 'dave@example.org');
    const t = await loginTokens(s, 'dave@example.org');
    const setup = await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, { token: t.accessToken });
    await s.call('POST', '/v1/2fa/totp/confirm', { code: totpCode(setup.body.secret, s.clock.now) }, { token: t.accessToken });
    const l = await s.call('POST', '/v1/sso/link', { provider: 'test', password: ACCOUNT_PW }, { token: t.accessToken });
    await idp.approve(l.body.userCode, 'dave');
    expect((await pollDone(s, l.body.flow)).body.status).toBe('linked');
    s.clock.advance(60_000);
    const f = await startFlow(s);
    await idp.approve(f.userCode, 'dave');
    const r = await pollDone(s, f.flow);
    expect(r.body).toMatchObject({ status: 'otp_required', methods: ['totp', 'recovery'] });
    const ok = await s.call('POST', '/v1/sessions/otp', { ticket: r.body.ticket, code: totpCode(setup.body.secret, s.clock.now) });
    expect(ok.body).toMatchObject({ status: 'ok', account: { email: 'dave@example.org' }, device: { name: 'laptop' } });
  });

  it('unverified email: no account is made and the flow is gone (email_unverified, 403); no email at all: refused', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const f = await startFlow(s);
    await idp.approve(f.userCode, 'carol');
    const r0 = await pollDone(s, f.flow);
    expect(r0.status).toBe(403);
    expect(r0.body).toMatchObject({ error: 'email_unverified', message: expect.stringMatching(/test does not confirm that carol@example.org is yours.*`kpm register --email carol@example.org`.*`kpm account link --sso test`/) });
    expect((await s.call('POST', '/v1/sso/register', { flow: f.flow, region: 'FR', marketing: false })).body.error).toBe('sso_expired');
    expect(await s.ctx.db.selectFrom('accounts').selectAll().execute()).toEqual([]);
    expect(s.mails).toEqual([]);
    // the owner of the address makes the account with a password, then links the identity
    await createAccount(s, 'carol@example.org');
    const t = await loginTokens(s, 'carol@example.org');
    const l = await s.call('POST', '/v1/sso/link', { provider: 'test', password: ACCOUNT_PW }, { token: t.accessToken });
    await idp.approve(l.body.userCode, 'carol');
    expect((await pollDone(s, l.body.flow)).body.status).toBe('linked');
    const h = await startFlow(s);
    await idp.approve(h.userCode, 'carol');
    expect((await pollDone(s, h.flow)).body).toMatchObject({ status: 'ok', account: { email: 'carol@example.org' } });

    const n = await startFlow(s);
    await idp.approve(n.userCode, 'noemail');
    const r = await pollDone(s, n.flow);
    expect(r.status).toBe(422);
    expect(r.body.message).toMatch(/did not share an email address/);
  });

  it('S1: attacker signs up through the provider with the unverified victim@example.org; the owner registers, activates and signs in; the attacker never gets into the account, and a session alone cannot enable 2FA or link', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    // 1. the attacker: `kpm login --sso test` with an identity claiming the victim's address, unverified
    const f = await startFlow(s);
    await idp.approve(f.userCode, 'mallory-idp');
    const offered = await pollDone(s, f.flow);
    // and asks to register whatever the answer was (the old server offered it and made an unactivated account)
    const signup = await s.call('POST', '/v1/sso/register', { flow: f.flow, region: 'FR', marketing: false });
    // 2. the owner: `kpm register`, activation with the code from their own mail, sign-in: all succeed
    await createAccount(s, 'victim@example.org');
    const owner = await loginTokens(s, 'victim@example.org');
    expect(owner.account.email).toBe('victim@example.org');
    // 3. the attacker signs in through the provider again: no session for the owner's account
    const g = await startFlow(s);
    await idp.approve(g.userCode, 'mallory-idp');
    const again = await pollDone(s, g.flow);
    expect(again.body.accessToken, 'the attacker got a session for the owner account').toBeUndefined();
    expect(again.status).toBe(403);
    expect(again.body.error).toBe('email_unverified');
    expect(offered.body.error).toBe('email_unverified');
    expect(signup.body.error).toBe('sso_expired');
    const acct = await s.ctx.db.selectFrom('accounts').select('id').where('email', '=', 'victim@example.org').executeTakeFirstOrThrow();
    expect(await s.ctx.db.selectFrom('sso_identities').selectAll().where('account_id', '=', acct.id).execute()).toEqual([]);
    // 4. re-authentication: a session alone (the attacker's, had they got one) cannot turn 2FA on,
    //    add SMS as a second factor, or link an identity
    const token = { token: owner.accessToken };
    expect((await s.call('POST', '/v1/2fa/totp', {}, token)).body).toMatchObject({ error: 'invalid_body', message: expect.stringMatching(/password/) });
    expect((await s.call('POST', '/v1/2fa/totp', { password: 'Wrong7Password' }, token)).body.error).toBe('invalid_credentials');
    expect((await s.call('POST', '/v1/2fa/sms', { phone: '+4915112345678' }, token)).body.error).toBe('invalid_body');
    expect((await s.call('POST', '/v1/2fa/sms', { phone: '+4915112345678', password: 'Wrong7Password' }, token)).body.error).toBe('invalid_credentials');
    expect((await s.call('POST', '/v1/sso/link', { provider: 'test' }, token)).body.error).toBe('invalid_body');
    expect((await s.call('POST', '/v1/sso/link', { provider: 'test', password: 'Wrong7Password' }, token)).body.error).toBe('invalid_credentials');
    expect(s.sms).toEqual([]);
    expect((await s.call('GET', '/v1/2fa', undefined, token)).body).toMatchObject({ totp: false, sms: null, recoveryCodesLeft: 0 });
    // the wrong passwords counted like failed sign-ins
    expect((await s.ctx.db.selectFrom('failures').selectAll().where('scope', '=', 'acct').where('key', '=', 'victim@example.org').execute()).length).toBe(3);
    // with the password it works
    expect((await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, token)).status).toBe(200);
  });

  it('S1: an identity an older server linked to a not-yet-activated account is dropped when a mailed code (activation or reset) activates it', async () => {
    const s = await testServer({ engine });
    withIdp(s);
    const plant = async (email: string) => {
      const id = `planted-${email.length}`;
      await s.ctx.db.insertInto('accounts').values({ id, email, password_hash: 'x', region: 'FR', marketing: 0, created_at: s.clock.now, activated_at: null, disabled_at: null, password_changed_at: s.clock.now, password_usable: 0 }).execute();
      await s.ctx.db.insertInto('sso_identities').values({ id: `i-${id}`, account_id: id, provider: 'test', issuer: idp.issuer, subject: email === 'victim@example.org' ? 'mallory-idp' : 'mallory-old', email, created_at: s.clock.now }).execute();
      return id;
    };
    const attackerSignsIn = async (user: string) => {
      const g = await startFlow(s);
      await idp.approve(g.userCode, user);
      return pollDone(s, g.flow);
    };
    // activation by the owner's `kpm register` + code
    const a = await plant('victim@example.org');
    await createAccount(s, 'victim@example.org');
    const r1 = await attackerSignsIn('mallory-idp');
    expect(r1.body.accessToken).toBeUndefined();
    expect(await s.ctx.db.selectFrom('sso_identities').selectAll().where('account_id', '=', a).execute()).toEqual([]);
    // the owner's password is the account's password now: re-authentication takes it
    const owner = await loginTokens(s, 'victim@example.org');
    expect((await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, { token: owner.accessToken })).status).toBe(200);
    // activation by a password reset
    const b = await plant('old-victim@example.org');
    expect((await s.call('POST', '/v1/password-reset', { email: 'old-victim@example.org' })).status).toBe(202);
    expect((await s.call('POST', '/v1/password-reset/confirm', { code: codeFromMail(s.mails, 'old-victim@example.org', 'reset'), password: ACCOUNT_PW })).status).toBe(200);
    await loginTokens(s, 'old-victim@example.org');
    const r2 = await attackerSignsIn('mallory-old');
    expect(r2.body.accessToken).toBeUndefined();
    expect(await s.ctx.db.selectFrom('sso_identities').selectAll().where('account_id', '=', b).execute()).toEqual([]);
  });

  it(`at most ${MAX_FLOWS_PER_IP} unfinished flows per address; expired rows are pruned`, async () => {
    const s = await testServer({ engine });
    withIdp(s);
    for (let i = 0; i < MAX_FLOWS_PER_IP; i++) await startFlow(s, 'test', '10.0.0.9');
    const r = await s.call('POST', '/v1/sso/start', { provider: 'test', deviceName: 'x' }, { ip: '10.0.0.9' });
    expect(r.status).toBe(429);
    expect((await s.call('POST', '/v1/sso/start', { provider: 'test', deviceName: 'x' }, { ip: '10.0.0.10' })).status).toBe(200);
    s.clock.advance(31 * 60_000);
    const { prune } = await import('../../src/server/throttle.js');
    await prune(s.ctx);
    expect(await s.ctx.db.selectFrom('sso_flows').selectAll().execute()).toEqual([]);
  });

  it('a provider that cannot be reached: a clear error; one without a device endpoint is fronted by this server; the server keeps running', async () => {
    const plain = await startIdp([], { deviceFlow: false });
    const s = await testServer({ engine });
    withIdp(s, [{ name: 'down', issuer: 'http://127.0.0.1:9' }, { name: 'nodevice', issuer: plain.issuer }]);
    const down = await s.call('POST', '/v1/sso/start', { provider: 'down', deviceName: 'x' });
    expect(down.status).toBe(502);
    expect(down.body.error).toBe('provider_unavailable');
    expect(down.body.message).toMatch(/"down" cannot be reached/);
    // no device endpoint: this server is the front (test/unit/server-sso-device.test.ts)
    const nd = await s.call('POST', '/v1/sso/start', { provider: 'nodevice', deviceName: 'x' });
    expect(nd.status).toBe(200);
    expect(nd.body).toMatchObject({ provider: 'nodevice', verificationUri: 'http://kpm.test/account/device' });
    expect((await startFlow(s)).flow).toMatch(/^kpf_/);
  });
});
