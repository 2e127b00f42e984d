// Two-step verification on the server, in process with a fake clock (R32–R35).
// Runs on SQLite, and on PostgreSQL too when KPM_TEST_PG is set.
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ACCOUNT_PW, createAccount, ENGINES, PG_SKIP_REASON, PG_URL, loginTokens, testServer, totpCode, type TestServer } from '../helpers/server.js';
import { Secret } from 'otpauth';

async function signedIn(s: TestServer, email = 'ann@example.org') {
  await createAccount(s, email);
  return loginTokens(s, email);
}

async function enableTotp(s: TestServer, token: string): Promise<{ secret: string; recoveryCodes: string[] }> {
  const setup = await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, { token });
  expect(setup.status).toBe(200);
  const confirm = await s.call('POST', '/v1/2fa/totp/confirm', { code: totpCode(setup.body.secret, s.clock.now) }, { token });
  expect(confirm.status, confirm.text).toBe(200);
  return { secret: setup.body.secret, recoveryCodes: confirm.body.recoveryCodes };
}

const otpLogin = async (s: TestServer, email: string, code: string) => {
  const first = await s.call('POST', '/v1/sessions', { email, password: ACCOUNT_PW, deviceName: 'test' });
  expect(first.body.status).toBe('otp_required');
  return s.call('POST', '/v1/sessions/otp', { ticket: first.body.ticket, code });
};

async function dump(s: TestServer): Promise<string> {
  const out: string[] = [];
  for (const t of ['totp', 'sms', 'sms_codes', 'recovery_codes', 'tickets']) out.push(JSON.stringify((await sql`select * from ${sql.table(t)}`.execute(s.ctx.db)).rows));
  return out.join('\n');
}


if (!PG_URL) it.skip(`PostgreSQL runs of this suite: ${PG_SKIP_REASON}`, () => {});
describe.each(ENGINES)('two-step verification on %s', (engine) => {
  it('R33: TOTP secrets have ≥ 160 bits, need a valid first code before they count, and are encrypted at rest', async () => {
    const s = await testServer({ engine });
    const t = await signedIn(s);
    const setup = await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, { token: t.accessToken });
    expect(setup.body).toMatchObject({ algorithm: 'SHA1', digits: 6, period: 30 });
    expect(Secret.fromBase32(setup.body.secret).bytes.length * 8).toBeGreaterThanOrEqual(160);
    expect(setup.body.uri).toMatch(/^otpauth:\/\/totp\/kpm:ann%40example\.org\?/);
    // not on before the first code: sign-in still needs no code
    expect((await loginTokens(s, 'ann@example.org')).status).toBe('ok');
    expect((await s.call('GET', '/v1/2fa', undefined, { token: t.accessToken })).body.totp).toBe(false);
    expect((await s.call('POST', '/v1/2fa/totp/confirm', { code: '123456' }, { token: t.accessToken })).body.error).toBe('invalid_otp');
    const text = await dump(s);
    expect(text).not.toContain(setup.body.secret);
    expect(text).not.toContain(Buffer.from(Secret.fromBase32(setup.body.secret).bytes).toString('hex'));
    expect(text).not.toContain(Buffer.from(Secret.fromBase32(setup.body.secret).bytes).toString('base64'));
    const ok = await s.call('POST', '/v1/2fa/totp/confirm', { code: totpCode(setup.body.secret, s.clock.now) }, { token: t.accessToken });
    expect(ok.body.recoveryCodes).toHaveLength(10);
    expect((await s.call('GET', '/v1/2fa', undefined, { token: t.accessToken })).body).toEqual({ totp: true, sms: null, recoveryCodesLeft: 10 });
    expect((await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, { token: t.accessToken })).body.error).toBe('conflict');
  });

  it('R32: codes of steps t−1, t, t+1 are accepted, t±2 refused; a used code and any earlier step are refused and logged', async () => {
    const s = await testServer({ engine, logs: true, check: { after: 100 } });
    const t = await signedIn(s);
    const { secret } = await enableTotp(s, t.accessToken); // uses step t
    s.clock.advance(10 * 30_000); // ten steps later
    const now = () => s.clock.now;
    expect((await otpLogin(s, 'ann@example.org', totpCode(secret, now(), -2))).body.error).toBe('invalid_otp');
    expect((await otpLogin(s, 'ann@example.org', totpCode(secret, now(), 2))).body.error).toBe('invalid_otp');
    expect((await otpLogin(s, 'ann@example.org', totpCode(secret, now(), -1))).status).toBe(200);
    expect((await otpLogin(s, 'ann@example.org', totpCode(secret, now(), 0))).status).toBe(200);
    const plus1 = totpCode(secret, now(), 1);
    expect((await otpLogin(s, 'ann@example.org', plus1)).status).toBe(200);
    // replay of the same code, and of a step at or below the last accepted one
    const replay = await otpLogin(s, 'ann@example.org', plus1);
    expect(replay.status).toBe(401);
    expect(replay.body.error).toBe('otp_reused');
    expect((await otpLogin(s, 'ann@example.org', totpCode(secret, now(), 0))).body.error).toBe('otp_reused');
    expect(s.logs.filter((l) => l.includes('"event":"otp_reuse"'))).toHaveLength(2);
    // one step later still refused (t+1 was used); two steps later the next code works
    s.clock.advance(30_000);
    expect((await otpLogin(s, 'ann@example.org', totpCode(secret, now(), 0))).body.error).toBe('otp_reused');
    expect((await otpLogin(s, 'ann@example.org', totpCode(secret, now(), 1))).status).toBe(200);
    // a code in the first request (--otp) works the same way
    s.clock.advance(60_000);
    const direct = await s.call('POST', '/v1/sessions', { email: 'ann@example.org', password: ACCOUNT_PW, deviceName: 'x', otp: totpCode(secret, now()) });
    expect(direct.body.status).toBe('ok');
    // the log never holds a code
    for (const code of [plus1, totpCode(secret, now())]) expect(s.logs.join('\n')).not.toContain(code);
  });

  it('a login ticket allows at most 5 codes', async () => {
    const s = await testServer({ engine, check: { after: 100 } });
    const t = await signedIn(s);
    await enableTotp(s, t.accessToken);
    const first = await s.call('POST', '/v1/sessions', { email: 'ann@example.org', password: ACCOUNT_PW, deviceName: 'test' });
    for (let i = 0; i < 5; i++) expect((await s.call('POST', '/v1/sessions/otp', { ticket: first.body.ticket, code: '000000' })).body.message).toBe('wrong verification code');
    expect((await s.call('POST', '/v1/sessions/otp', { ticket: first.body.ticket, code: '000000' })).body.message).toMatch(/sign in again/);
  });

  it('R35: ten recovery codes of ≥ 64 bits, stored Argon2id-hashed, shown once; each completes one sign-in; disabling voids them', async () => {
    const s = await testServer({ engine });
    const t = await signedIn(s);
    const { recoveryCodes } = await enableTotp(s, t.accessToken);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const c of recoveryCodes) expect(c.replace(/-/g, '')).toMatch(/^[A-Z2-7]{16}$/); // 16 × 5 = 80 bits
    const rows = await s.ctx.db.selectFrom('recovery_codes').select('code_hash').execute();
    expect(rows).toHaveLength(10);
    for (const r of rows) expect(r.code_hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    const text = await dump(s);
    for (const c of recoveryCodes) expect(text).not.toContain(c.replace(/-/g, ''));
    // once
    expect((await otpLogin(s, 'ann@example.org', recoveryCodes[3].toLowerCase())).status).toBe(200);
    expect((await otpLogin(s, 'ann@example.org', recoveryCodes[3])).body.error).toBe('invalid_otp');
    expect((await s.call('GET', '/v1/2fa', undefined, { token: t.accessToken })).body.recoveryCodesLeft).toBe(9);
    // confirming a second method keeps the remaining codes (none are shown again)
    const sms = await s.call('POST', '/v1/2fa/sms', { phone: '+49 151 1234 5678', password: ACCOUNT_PW }, { token: t.accessToken });
    expect(sms.body).toEqual({ status: 'sent', sentTo: '+49*********78' });
    const code = /code is (\d{6})/.exec(s.sms.at(-1)!.text)![1];
    expect((await s.call('POST', '/v1/2fa/sms/confirm', { code }, { token: t.accessToken })).body.recoveryCodes).toEqual([]);
    // disabling needs the password and a code, and voids everything
    expect((await s.call('POST', '/v1/2fa/disable', { password: 'Wrong1Password', code: recoveryCodes[0] }, { token: t.accessToken })).body.error).toBe('invalid_credentials');
    expect((await s.call('POST', '/v1/2fa/disable', { password: ACCOUNT_PW, code: recoveryCodes[0] }, { token: t.accessToken })).status).toBe(200);
    expect((await s.call('GET', '/v1/2fa', undefined, { token: t.accessToken })).body).toEqual({ totp: false, sms: null, recoveryCodesLeft: 0 });
    expect((await loginTokens(s, 'ann@example.org')).status).toBe('ok');
  });

  it('R34: SMS codes are 6 CSPRNG digits, refused after 10 minutes (fake clock), single use, only the latest valid, at most 5 tries', async () => {
    const s = await testServer({ engine, check: { after: 1000 } });
    const t = await signedIn(s);
    const lastCode = () => /code is (\d{6})\b/.exec(s.sms.at(-1)!.text)![1];
    // enrolment
    expect((await s.call('POST', '/v1/2fa/sms', { phone: 'abc', password: ACCOUNT_PW }, { token: t.accessToken })).body.error).toBe('invalid_body');
    expect((await s.call('POST', '/v1/2fa/sms', { phone: '12' + '3'.repeat(2), password: ACCOUNT_PW }, { token: t.accessToken })).body.error).toBe('invalid_phone');
    await s.call('POST', '/v1/2fa/sms', { phone: '+33612345678', password: ACCOUNT_PW }, { token: t.accessToken });
    expect(s.sms.at(-1)!.to).toBe('+33612345678');
    const enrolCode = lastCode();
    expect(enrolCode).toMatch(/^\d{6}$/);
    expect((await s.call('POST', '/v1/2fa/sms/confirm', { code: enrolCode }, { token: t.accessToken })).body.recoveryCodes).toHaveLength(10);
    expect((await s.call('POST', '/v1/2fa/sms/confirm', { code: enrolCode }, { token: t.accessToken })).body.error).toBe('invalid_otp');
    const text = await dump(s);
    expect(text).not.toContain(`"${enrolCode}"`);

    // sign-in: the code comes by SMS with the ticket
    const smsLogin = async () => {
      const r = await s.call('POST', '/v1/sessions', { email: 'ann@example.org', password: ACCOUNT_PW, deviceName: 'phone' });
      expect(r.body).toMatchObject({ status: 'otp_required', methods: ['sms', 'recovery'], smsSentTo: '+33*******78' });
      return { ticket: r.body.ticket as string, code: lastCode() };
    };
    const direct = (otp: string) => s.call('POST', '/v1/sessions', { email: 'ann@example.org', password: ACCOUNT_PW, deviceName: 'x', otp });
    // expiry: accepted at 9:59, refused at 10:01 (the code goes with the password, as `kpm login --otp` does)
    const a = await smsLogin();
    s.clock.advance(9 * 60_000 + 59_000);
    expect((await direct(a.code)).status).toBe(200);
    const b = await smsLogin();
    s.clock.advance(10 * 60_000 + 1000);
    expect((await direct(b.code)).body.error).toBe('invalid_otp');
    // single use, and only the latest code
    const c = await smsLogin();
    const d = await smsLogin();
    expect((await s.call('POST', '/v1/sessions/otp', { ticket: d.ticket, code: c.code })).body.error).toBe('invalid_otp');
    expect((await s.call('POST', '/v1/sessions/otp', { ticket: d.ticket, code: d.code })).status).toBe(200);
    expect((await direct(d.code)).body.error).toBe('invalid_otp');
    // five tries per code: the right code on the sixth try is refused
    const f = await smsLogin();
    const wrong = f.code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) expect((await s.call('POST', '/v1/sessions/otp', { ticket: f.ticket, code: wrong })).body.error).toBe('invalid_otp');
    expect((await direct(f.code)).body.error).toBe('invalid_otp');
  });

  it('R34: SMS codes are uniform over 6 digits (no modulo bias, no clock): 2,000 codes spread over every leading digit', async () => {
    const { newDigits } = await import('../../src/server/tokens.js');
    const counts = new Array(10).fill(0);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const c = newDigits(6);
      expect(c).toMatch(/^\d{6}$/);
      counts[Number(c[0])]++;
      seen.add(c);
    }
    for (const n of counts) expect(n).toBeGreaterThan(120);
    expect(seen.size).toBeGreaterThan(1990);
  });
});
