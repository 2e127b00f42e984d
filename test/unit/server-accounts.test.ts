// Accounts on the server, in process (fastify inject): registration, activation, sign-in, tokens,
// devices, password reset; the password rule (R26), storage (R27) and indistinguishable answers (R28).
// Runs on SQLite, and on PostgreSQL too when KPM_TEST_PG is set.
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ACCOUNT_PW, codeFromMail, createAccount, ENGINES, PG_SKIP_REASON, PG_URL, loginTokens, testServer } from '../helpers/server.js';
import { passwordProblems, normalizePassword } from '../../src/protocol/password-policy.js';
import { PHC_PARAMS } from '../../src/server/passwords.js';


if (!PG_URL) it.skip(`PostgreSQL runs of this suite: ${PG_SKIP_REASON}`, () => {});
describe('password rule (R26)', () => {
  it('R26: the seed rule: ≥ 8 characters, a digit, a lowercase and an uppercase letter, no spaces; common passwords refused', async () => {
    expect(await passwordProblems('Sh0rt')).toEqual(['length']);
    expect(await passwordProblems('nodigitsHere')).toEqual(['digit']);
    expect(await passwordProblems('NOLOWER123')).toEqual(['lowercase']);
    expect(await passwordProblems('noupper123')).toEqual(['uppercase']);
    expect(await passwordProblems('Has Space12')).toEqual(['spaces']);
    expect(await passwordProblems('Has\u00a0Nbsp12')).toEqual(['spaces']);
    expect(await passwordProblems('Password1')).toEqual(['common']);
    expect(await passwordProblems('Qwerty123')).toEqual(['common']);
    expect(await passwordProblems(ACCOUNT_PW)).toEqual([]);
  });

  it('R26: NFKC normalisation: full-width digits and letters count as their ASCII forms', async () => {
    expect(normalizePassword('Ｐａｓｓｗｏｒｄ１')).toBe('Password1');
    expect(await passwordProblems('Ｐａｓｓｗｏｒｄ１')).toEqual(['common']);
    expect(await passwordProblems('Ｓｅｃｒｅｔ７Ｘｙｚ')).toEqual([]);
  });
});

describe('S8: the mailed activation link', () => {
  it('S8: a GET of the link (a mail scanner following it) activates nothing; the page names the account; only its own form POST with the CSRF token activates', async () => {
    const s = await testServer();
    // someone registers an address that is not theirs, with their own password
    await s.call('POST', '/v1/accounts', { email: 'scan@example.org', password: 'Attacker7Password', region: 'DE', marketing: false });
    const link = /(http:\/\/kpm\.test\/v1\/activate\?code=\S+)/.exec(s.mails.at(-1)!.text)![1];
    const code = codeFromMail(s.mails, 'scan@example.org');
    // the owner's mail scanner follows the link
    const page = await s.app.inject({ method: 'GET', url: link.replace('http://kpm.test', '') });
    const signIn = () => s.call('POST', '/v1/sessions', { email: 'scan@example.org', password: 'Attacker7Password', deviceName: 'x' });
    expect((await signIn()).body.error, 'the GET activated the account').toBe('account_not_activated');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.body).toContain('This activates the kpm account scan@example.org');
    expect(page.body).toMatch(/<form method="post" action="activate">/);
    expect(page.body).not.toMatch(/<script|\b(src|href)=|https?:\/\//); // nothing loaded from anywhere
    const token = /name="csrf" value="([^"]+)"/.exec(page.body)![1];
    const setCookie = String(page.headers['set-cookie']);
    expect(setCookie).toMatch(/^kpm_csrf=kpc_[A-Za-z0-9_-]+; Max-Age=1800; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(';')[0];
    expect(cookie).toBe(`kpm_csrf=${token}`);
    const post = (body: string, headers: Record<string, string> = {}) =>
      s.app.inject({ method: 'POST', url: '/v1/activate', payload: body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
    const form = `code=${encodeURIComponent(code)}&csrf=${token}`;
    // a forged form from another site: no cookie, a wrong token, or a cross-site request
    expect((await post(form)).statusCode).toBe(403);
    expect((await post(`code=${encodeURIComponent(code)}&csrf=kpc_${'x'.repeat(43)}`, { cookie })).statusCode).toBe(403);
    expect((await post(form, { cookie, 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect((await signIn()).body.error).toBe('account_not_activated');
    // the page's own button
    const done = await post(form, { cookie });
    expect(done.statusCode).toBe(200);
    expect(done.headers['content-security-policy']).toBe(csp);
    expect(done.body).toContain('The kpm account scan@example.org is active');
    expect((await signIn()).body.status).toBe('ok');
    // used up; an unknown link shows the failure page
    expect((await post(form, { cookie })).statusCode).toBe(400);
    const unknown = await s.app.inject({ method: 'GET', url: '/v1/activate?code=AAAA-BBBB' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.body).toContain('The link is unknown, already used or expired.');
    expect(unknown.headers['content-security-policy']).toBe(csp);
  });

  it('S8: the page escapes what it shows', async () => {
    const { renderPage } = await import('../../src/server/pages.js');
    const html = renderPage({ title: '<t>', text: ['a"b<script>'], form: { action: 'x"y', fields: { code: '"><script>' }, button: '&' } }, 'tok');
    expect(html).not.toMatch(/<script>|<t>/);
    expect(html).toContain('&lt;t&gt;');
    expect(html).toContain('value="&quot;&gt;&lt;script&gt;"');
    expect(html).toContain('action="x&quot;y"');
  });
});

describe('R18: what the server stores', () => {
  it('R18: column inventory: account data, digests, PHC strings and sealed secrets only; nothing derived from a master password', async () => {
    const s = await testServer();
    const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'kysely_%' and name not like 'sqlite_%' order by name`.execute(s.ctx.db);
    const inventory: Record<string, string[]> = {};
    for (const { name } of tables.rows) {
      const cols = await sql<{ name: string }>`select name from pragma_table_info(${name})`.execute(s.ctx.db);
      inventory[name] = cols.rows.map((c) => c.name);
    }
    // Adding a column means adding it here, on purpose: the server must never hold anything that
    // tests a master-password guess. Sync bodies are opaque: the keyring envelope holds keyring.kpm
    // (salt, Argon2id parameters, the account key AEAD-wrapped under the master-password key: one
    // Argon2id run per guess, R18), vault envelopes hold vault keys AEAD-wrapped under the account key
    // (or a data-vault password), records and blobs are ciphertexts, manifests are MACs.
    expect(inventory).toEqual({
      accounts: ['id', 'email', 'password_hash', 'region', 'marketing', 'created_at', 'activated_at', 'disabled_at', 'password_changed_at', 'password_usable'],
      activations: ['code_hash', 'account_id', 'password_hash', 'region', 'marketing', 'expires_at'],
      challenges: ['id', 'answer_enc', 'pow_salt', 'pow_bits', 'expires_at', 'used_at'],
      failures: ['id', 'scope', 'key', 'kind', 'at'],
      recovery_codes: ['id', 'account_id', 'code_hash', 'used_at'],
      resets: ['code_hash', 'account_id', 'expires_at'],
      // service tokens: SHA-256 of a key derived from the token's secret, and the vault key sealed by the client
      service_tokens: ['id', 'account_id', 'vault_id', 'name', 'auth_hash', 'wrapped_key', 'created_at', 'expires_at', 'revoked_at', 'last_used_at', 'shared'], // shared: 0 or 1 (own or shared vault, migration 008)
      sessions: ['id', 'account_id', 'name', 'created_at', 'last_seen_at', 'access_hash', 'access_expires_at', 'refresh_hash', 'refresh_expires_at', 'revoked_at'],
      // shared vaults (docs/SHARING.md): public identity records, owner-signed memberships, key bundles
      // wrapped for each member's X25519 key, members' signed acceptances, writer-signed sealed records
      // files in shared vaults: sealed blobs in chunks, with the writer that sent them (migration 010)
      share_blob_chunks: ['vault_id', 'blob_id', 'idx', 'body'],
      share_blobs: ['vault_id', 'blob_id', 'writer_id', 'chunks', 'complete', 'updated_at'],
      share_identities: ['account_id', 'body', 'updated_at'],
      // the account's contact pins, sealed under a key derived from its account key and signed by it; members' signed leave statements (migration 009)
      share_leaves: ['vault_id', 'account_id', 'epoch', 'body', 'created_at'],
      share_members: ['vault_id', 'account_id', 'role', 'bundle', 'accept'],
      share_memberships: ['vault_id', 'epoch', 'body'],
      share_pins: ['account_id', 'version', 'body', 'updated_at'],
      share_records: ['vault_id', 'rev', 'writer_id', 'body'],
      share_vaults: ['vault_id', 'owner_id', 'epoch', 'head', 'updated_at', 'generation', 'compaction'], // generation, compaction: the owner's signed compaction statement (migration 011)
      sms: ['account_id', 'phone', 'confirmed_at'],
      sms_codes: ['account_id', 'purpose', 'code_hash', 'expires_at', 'tries'],
      // sync: opaque envelopes and records, MAC'd and encrypted by the clients (docs/SECURITY.md "Sync")
      sync_blob_chunks: ['account_id', 'blob_id', 'idx', 'body'],
      sync_blobs: ['account_id', 'blob_id', 'chunks', 'complete', 'updated_at'],
      sync_keyrings: ['account_id', 'epoch', 'body', 'updated_at'],
      sync_records: ['account_id', 'vault_id', 'rev', 'body'],
      sync_vaults: ['account_id', 'vault_id', 'epoch', 'body', 'head', 'manifest', 'updated_at', 'generation'],
      // identity-provider sign-in: the device code is sealed, the flow token kept as a digest
      sso_flows: ['flow_hash', 'provider', 'purpose', 'account_id', 'device_name', 'device_code_enc', 'nonce', 'interval_s', 'next_poll_at', 'expires_at', 'ip', 'state', 'issuer', 'subject', 'email', 'email_verified', 'created_at'],
      // the user codes of sign-ins this server fronts: keyed digests only
      sso_device_codes: ['code_hash', 'flow_hash', 'provider', 'device_name', 'ip', 'state', 'created_at', 'expires_at'],
      sso_identities: ['id', 'account_id', 'provider', 'issuer', 'subject', 'email', 'created_at'],
      tickets: ['ticket_hash', 'account_id', 'device_name', 'expires_at', 'tries'],
      totp: ['account_id', 'secret_enc', 'confirmed_at', 'last_step'],
    });
  });
});

describe.each(ENGINES)('accounts on %s', (engine) => {
  it('register → activation mail → activate → sign in → whoami → devices → refresh → logout', async () => {
    const s = await testServer({ engine });
    const r = await s.call('POST', '/v1/accounts', { email: ' Ann@Example.ORG ', password: ACCOUNT_PW, region: 'FR', marketing: true });
    expect(r.status).toBe(202);
    expect(r.body.status).toBe('pending');
    expect(s.mails).toHaveLength(1);
    expect(s.mails[0].to).toBe('ann@example.org');
    expect(s.mails[0].text).toContain('http://kpm.test/v1/activate?code=');
    // not activated: the right password is refused with its own code
    const early = await s.call('POST', '/v1/sessions', { email: 'ann@example.org', password: ACCOUNT_PW, deviceName: 'x' });
    expect(early.status).toBe(403);
    expect(early.body.error).toBe('account_not_activated');
    const code = codeFromMail(s.mails, 'ann@example.org');
    const a = await s.call('POST', '/v1/accounts/activate', { code: code.toLowerCase() });
    expect(a.body).toEqual({ status: 'activated', email: 'ann@example.org' });
    expect((await s.call('POST', '/v1/accounts/activate', { code })).body.error).toBe('invalid_code'); // single use

    const t = await loginTokens(s, 'ANN@example.org');
    expect(t.accessToken).toMatch(/^kpa_/);
    expect(t.refreshToken).toMatch(/^kpr_/);
    const me = await s.call('GET', '/v1/account', undefined, { token: t.accessToken });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: 'ann@example.org', region: 'FR', marketing: true, activated: true, twoFactor: { totp: false, sms: null, recoveryCodesLeft: 0 } });

    const t2 = await loginTokens(s, 'ann@example.org');
    const dev = await s.call('GET', '/v1/devices', undefined, { token: t.accessToken });
    expect(dev.body.devices).toHaveLength(2);
    expect(dev.body.devices.filter((d: { current: boolean }) => d.current)).toHaveLength(1);
    const renamed = await s.call('PATCH', `/v1/devices/${t2.device.id}`, { name: 'phone' }, { token: t.accessToken });
    expect(renamed.body).toMatchObject({ id: t2.device.id, name: 'phone', current: false });

    // refresh rotates both tokens; the old refresh token stops working
    const fresh = await s.call('POST', '/v1/sessions/refresh', { refreshToken: t.refreshToken });
    expect(fresh.status).toBe(200);
    expect((await s.call('POST', '/v1/sessions/refresh', { refreshToken: t.refreshToken })).body.error).toBe('unauthorized');
    expect((await s.call('GET', '/v1/account', undefined, { token: t.accessToken })).body.error).toBe('unauthorized');
    expect((await s.call('GET', '/v1/account', undefined, { token: fresh.body.accessToken })).status).toBe(200);

    // access tokens expire; refresh tokens outlive them
    s.clock.advance(s.ctx.settings.accessTtlMs + 1);
    expect((await s.call('GET', '/v1/account', undefined, { token: fresh.body.accessToken })).body.error).toBe('token_expired');
    const again = await s.call('POST', '/v1/sessions/refresh', { refreshToken: fresh.body.refreshToken });
    expect(again.status).toBe(200);

    // revoking another device, then signing this one out
    expect((await s.call('DELETE', `/v1/devices/${t2.device.id}`, undefined, { token: again.body.accessToken })).status).toBe(200);
    expect((await s.call('GET', '/v1/account', undefined, { token: t2.accessToken })).body.error).toBe('unauthorized');
    expect((await s.call('DELETE', `/v1/devices/${t2.device.id}`, undefined, { token: again.body.accessToken })).body.error).toBe('not_found');
    expect((await s.call('POST', '/v1/sessions/logout', {}, { token: again.body.accessToken })).status).toBe(200);
    expect((await s.call('GET', '/v1/account', undefined, { token: again.body.accessToken })).body.error).toBe('unauthorized');
    expect((await s.call('POST', '/v1/sessions/refresh', { refreshToken: again.body.refreshToken })).body.error).toBe('unauthorized');
  });

  it('R26: the server enforces the rule; a 128-character password works and is never truncated', async () => {
    const s = await testServer({ engine });
    for (const [pw, rule] of [
      ['short1A', 'length'],
      ['Password1', 'common'],
      ['no digits Here', 'digit'],
    ] as const) {
      const r = await s.call('POST', '/v1/accounts', { email: 'rule@example.org', password: pw, region: 'DE', marketing: false });
      expect(r.status).toBe(422);
      expect(r.body.error).toBe('password_policy');
      expect(r.body.rules).toContain(rule);
    }
    const long = 'Aa1' + 'x'.repeat(124) + 'Z';
    expect([...long]).toHaveLength(128);
    await createAccount(s, 'long@example.org', long);
    await loginTokens(s, 'long@example.org', long);
    const wrong = await s.call('POST', '/v1/sessions', { email: 'long@example.org', password: long.slice(0, -1) + 'Y', deviceName: 'x' });
    expect(wrong.body.error).toBe('invalid_credentials');
    // NFKC: the full-width spelling of the same password signs in
    await createAccount(s, 'nfkc@example.org', 'Ｓｅｃｒｅｔ７Ｘｙｚ');
    await loginTokens(s, 'nfkc@example.org', 'Secret7Xyz');
  });

  it('R27: account passwords are stored only as Argon2id PHC strings (m ≥ 19 MiB, t ≥ 2, p ≥ 1); a dump holds no other password material', async () => {
    const s = await testServer({ engine });
    const pw = 'Unique9Password';
    await createAccount(s, 'dump@example.org', pw);
    const t = await loginTokens(s, 'dump@example.org', pw);
    const rows = await s.ctx.db.selectFrom('accounts').select('password_hash').execute();
    for (const { password_hash } of rows) {
      const m = /^\$argon2id\$v=19\$([a-z=0-9,]+)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/.exec(password_hash);
      expect(m, password_hash).not.toBeNull();
      const params = Object.fromEntries(m![1].split(',').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
      expect(params.m).toBeGreaterThanOrEqual(19456);
      expect(params.t).toBeGreaterThanOrEqual(2);
      expect(params.p).toBeGreaterThanOrEqual(1);
    }
    expect(PHC_PARAMS).toEqual({ m: 19456, t: 2, p: 1 });
    // the whole database as text: no password, no token, no code in any form
    const dump: string[] = [];
    for (const table of ['accounts', 'activations', 'resets', 'sessions', 'tickets', 'failures', 'challenges', 'totp', 'sms', 'sms_codes', 'recovery_codes']) {
      const all = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(s.ctx.db);
      dump.push(JSON.stringify(all.rows));
    }
    const text = dump.join('\n');
    for (const secret of [pw, Buffer.from(pw).toString('hex'), Buffer.from(pw).toString('base64'), t.accessToken, t.refreshToken, t.accessToken.slice(4), t.refreshToken.slice(4)]) {
      expect(text).not.toContain(secret);
    }
    const phc = text.match(/\$argon2id\$[^"]+/g) ?? [];
    expect(phc.length).toBeGreaterThan(0);
  });

  it('R28: unknown email and wrong password get byte-identical answers (apart from the request id); so do a taken and a free address at registration', async () => {
    const s = await testServer({ engine });
    await createAccount(s, 'known@example.org');
    const strip = (text: string) => text.replace(/"requestId":"[0-9a-f]+"/, '"requestId":""');
    const unknown = await s.call('POST', '/v1/sessions', { email: 'nobody@example.org', password: 'Wrong1Password', deviceName: 'x' });
    const wrong = await s.call('POST', '/v1/sessions', { email: 'known@example.org', password: 'Wrong1Password', deviceName: 'x' });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(strip(unknown.text)).toBe(strip(wrong.text));
    const headerNames = (h: Record<string, unknown>) => Object.keys(h).filter((k) => k !== 'date').sort();
    expect(headerNames(unknown.headers)).toEqual(headerNames(wrong.headers));
    expect(unknown.headers['content-length']).toBe(wrong.headers['content-length']);

    const taken = await s.call('POST', '/v1/accounts', { email: 'known@example.org', password: 'Other7Password', region: 'DE', marketing: false });
    const free = await s.call('POST', '/v1/accounts', { email: 'free@example.org', password: 'Other7Password', region: 'DE', marketing: false });
    expect(taken.status).toBe(202);
    expect(strip(taken.text)).toBe(strip(free.text));
    // the owner of the taken address is told; nothing changed for them
    expect(s.mails.at(-2)!.subject).toMatch(/tried to create a kpm account/);
    await loginTokens(s, 'known@example.org');
    // reset requests for known and unknown addresses look the same too
    const r1 = await s.call('POST', '/v1/password-reset', { email: 'known@example.org' });
    const r2 = await s.call('POST', '/v1/password-reset', { email: 'nobody@example.org' });
    expect(strip(r1.text)).toBe(strip(r2.text));
  });

  it('R36: reset-password by email sets a new account password and signs every device out; nothing else changes', async () => {
    const s = await testServer({ engine });
    await createAccount(s, 'reset@example.org');
    const t = await loginTokens(s, 'reset@example.org');
    expect((await s.call('POST', '/v1/password-reset', { email: 'reset@example.org' })).status).toBe(202);
    const code = codeFromMail(s.mails, 'reset@example.org', 'reset');
    expect(s.mails.at(-1)!.text).toMatch(/master password is not involved/);
    const bad = await s.call('POST', '/v1/password-reset/confirm', { code, password: 'password' });
    expect(bad.body.error).toBe('password_policy');
    expect((await s.call('POST', '/v1/password-reset/confirm', { code, password: 'Brand7NewOne' })).status).toBe(200);
    expect((await s.call('POST', '/v1/password-reset/confirm', { code, password: 'Brand7NewTwo' })).body.error).toBe('invalid_code');
    expect((await s.call('GET', '/v1/account', undefined, { token: t.accessToken })).body.error).toBe('unauthorized');
    await loginTokens(s, 'reset@example.org', 'Brand7NewOne');
    expect((await s.call('POST', '/v1/sessions', { email: 'reset@example.org', password: ACCOUNT_PW, deviceName: 'x' })).body.error).toBe('invalid_credentials');
  });

  it('a registration of an address that is not activated yet gets its own code, which activates what it asked for', async () => {
    const s = await testServer({ engine });
    await s.call('POST', '/v1/accounts', { email: 'twice@example.org', password: 'First1Password', region: 'DE', marketing: false });
    const first = codeFromMail(s.mails, 'twice@example.org');
    await s.call('POST', '/v1/accounts', { email: 'twice@example.org', password: 'Second2Password', region: 'FR', marketing: true });
    const second = codeFromMail(s.mails, 'twice@example.org');
    expect(second).not.toBe(first);
    expect((await s.call('POST', '/v1/accounts/activate', { code: first })).status).toBe(200);
    await loginTokens(s, 'twice@example.org', 'First1Password');
    expect((await s.call('POST', '/v1/accounts/activate', { code: second })).body.error).toBe('invalid_code');
  });

  it('invalid email and region get their own errors', async () => {
    const s = await testServer({ engine });
    expect((await s.call('POST', '/v1/accounts', { email: 'not-an-email', password: ACCOUNT_PW, region: 'DE', marketing: false })).body.error).toBe('invalid_email');
    expect((await s.call('POST', '/v1/accounts', { email: 'a@example.org', password: ACCOUNT_PW, region: 'XX', marketing: false })).body.error).toBe('invalid_region');
  });
});
