// The security check and the hourly cap (R28 timing, R29, R30), in process with a fake clock.
// Runs on SQLite, and on PostgreSQL too when KPM_TEST_PG is set.
import { describe, expect, it } from 'vitest';
import { ACCOUNT_PW, createAccount, ENGINES, PG_SKIP_REASON, PG_URL, loginTokens, readCaptcha, testServer, type TestServer } from '../helpers/server.js';
import * as passwords from '../../src/server/passwords.js';
import { solvePow } from '../../src/protocol/pow.js';
import { validate } from '../../src/protocol/validate.js';
import { ErrorBody } from '../../src/protocol/schemas.js';
import { buildApp } from '../../src/server/app.js';
import { parseTrustProxy } from '../../src/server/proxy.js';

const WRONG = 'Wrong1Password';
const login = (s: TestServer, email: string, password: string, extra: Record<string, unknown> = {}, ip = '127.0.0.1') =>
  s.call('POST', '/v1/sessions', { email, password, deviceName: 'test', ...extra }, { ip });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median latencies of `a(i)` and `b(i)` over `trials` interleaved pairs (alternating which goes first). */
async function medians(trials: number, a: (i: number) => Promise<unknown>, b: (i: number) => Promise<unknown>): Promise<[number, number]> {
  const times: [number[], number[]] = [[], []];
  const timed = async (k: 0 | 1, i: number) => {
    const t0 = performance.now();
    await (k === 0 ? a : b)(i);
    times[k].push(performance.now() - t0);
  };
  for (let i = 0; i < trials; i++) {
    const order: (0 | 1)[] = i % 2 ? [0, 1] : [1, 0];
    for (const k of order) await timed(k, i);
  }
  return [median(times[0]), median(times[1])];
}


if (!PG_URL) it.skip(`PostgreSQL runs of this suite: ${PG_SKIP_REASON}`, () => {});
describe('S5: --trust-proxy values', () => {
  it('S5: addresses, CIDRs or named ranges; anything else (a hop count, trusting every address) is refused with a clear message', () => {
    expect(parseTrustProxy('127.0.0.1')).toEqual(['127.0.0.1']);
    expect(parseTrustProxy(' 10.0.0.0/8, ::1 ,fd00::/8,loopback')).toEqual(['10.0.0.0/8', '::1', 'fd00::/8', 'loopback']);
    expect(() => parseTrustProxy('1')).toThrow(/not a hop count/);
    expect(() => parseTrustProxy('true')).toThrow(/"true" is not an IP address, a CIDR/);
    expect(() => parseTrustProxy('10.0.0.0/33')).toThrow(/not an IP address/);
    expect(() => parseTrustProxy('0.0.0.0/0')).toThrow(/would trust every address/);
    expect(() => parseTrustProxy('::/0')).toThrow(/would trust every address/);
    expect(() => parseTrustProxy(',')).toThrow(/expects the addresses/);
  });
});

describe('R28: timing', () => {
  it('R28: median latency of unknown email vs wrong password differs by < 10% over 200 trials (dummy Argon2id)', async () => {
    const s = await testServer({ check: { after: 1e9, hourlyCap: 1e9, registerAfter: 1e9 } });
    await createAccount(s, 'timing@example.org');
    const expect401 = async (email: string) => expect((await login(s, email, WRONG)).status).toBe(401);
    // Both sides get the same failure history (one address each, tried 200 times): the failure
    // counters an attempt reads grow with that address's failures, for unknown and known alike.
    // The other test worker shares the 2 cores and can skew one round; a real difference (a missing
    // dummy Argon2id is about 2x) shows in every round, so up to 3 rounds of 200 are run.
    const rounds: string[] = [];
    let best = Infinity;
    for (let round = 0; round < 3 && best >= 0.1; round++) {
      const [mu, mw] = await medians(200, () => expect401('nobody@example.org'), () => expect401('timing@example.org'));
      best = Math.min(best, Math.abs(mu - mw) / Math.max(mu, mw));
      rounds.push(`unknown ${mu.toFixed(1)} ms, wrong ${mw.toFixed(1)} ms`);
    }
    expect(best, `medians: ${rounds.join('; ')}`).toBeLessThan(0.1);
  }, 600_000); // 3 rounds of 400 Argon2id sign-ins: 120 s was not enough at load 15

  it('R28: registering a taken address takes as long as a free one (median of 25, < 10%; answers are padded to 150 ms)', async () => {
    const s = await testServer({ check: { after: 1e9, hourlyCap: 1e9, registerAfter: 1e9 } });
    await createAccount(s, 'taken@example.org');
    const register = async (email: string) =>
      expect((await s.call('POST', '/v1/accounts', { email, password: 'Other7Password', region: 'DE', marketing: false })).status).toBe(202);
    // As above: a busy machine can skew one round (a clean-clone run at load 15 saw 402 vs 342 ms);
    // a real difference shows in every round, so up to 3 rounds of 25 are run.
    const rounds: string[] = [];
    let best = Infinity;
    for (let round = 0; round < 3 && best >= 0.1; round++) {
      const [mt, mf] = await medians(25, () => register('taken@example.org'), (i) => register(`free${round}-${i}@example.org`));
      best = Math.min(best, Math.abs(mt - mf) / Math.max(mt, mf));
      rounds.push(`taken ${mt.toFixed(1)} ms, free ${mf.toFixed(1)} ms`);
    }
    expect(best, `medians: ${rounds.join('; ')}`).toBeLessThan(0.1);
  }, 300_000);
});

describe.each(ENGINES)('security check on %s', (engine) => {
  it('R29: after 5 failures on an account, a challenge is required BEFORE the password is checked; a correct password without a solution is refused', async () => {
    const s = await testServer({ engine });
    await createAccount(s, 'victim@example.org');
    // failures from five different addresses: the per-account counter trips, not the per-address one
    for (let i = 0; i < 5; i++) expect((await login(s, 'victim@example.org', WRONG, {}, `10.0.0.${i + 1}`)).body.error).toBe('invalid_credentials');
    const before = passwords.verificationCount;
    const r = await login(s, 'victim@example.org', ACCOUNT_PW, {}, '10.0.1.1');
    expect(r.status).toBe(428);
    expect(r.body.error).toBe('challenge_required');
    expect(validate(ErrorBody, r.body)).toBeNull();
    expect(passwords.verificationCount).toBe(before); // refused before any Argon2id ran
    const c = r.body.challenge;
    expect(c.captcha.lines.length).toBeGreaterThan(4);
    expect(c.pow.bits).toBe(8);
    // a wrong answer: refused, a fresh challenge, still no verification
    const bad = await login(s, 'victim@example.org', ACCOUNT_PW, { challenge: { id: c.id, answer: 'WRONG' } }, '10.0.1.1');
    expect(bad.body.error).toBe('challenge_failed');
    expect(passwords.verificationCount).toBe(before);
    // the captcha read back works, once
    const c2 = bad.body.challenge;
    const ok = await login(s, 'victim@example.org', ACCOUNT_PW, { challenge: { id: c2.id, answer: readCaptcha(c2.captcha.lines).toLowerCase() } }, '10.0.1.1');
    expect(ok.status).toBe(200);
    const reuse = await login(s, 'victim@example.org', ACCOUNT_PW, { challenge: { id: c2.id, answer: readCaptcha(c2.captcha.lines) } }, '10.0.1.1');
    expect(reuse.body.error).toBe('challenge_failed');
    // proof of work solves it too
    const c3 = reuse.body.challenge;
    const pow = await login(s, 'victim@example.org', ACCOUNT_PW, { challenge: { id: c3.id, nonce: solvePow(c3.pow.salt, c3.pow.bits) } }, '10.0.1.1');
    expect(pow.status).toBe(200);
    // the window passes: no more challenge
    s.clock.advance(15 * 60_000 + 1);
    expect((await login(s, 'victim@example.org', ACCOUNT_PW, {}, '10.0.1.1')).status).toBe(200);
  });

  it('R29: after 5 failures from one address, every sign-in from it needs a challenge; other addresses do not', async () => {
    const s = await testServer({ engine });
    await createAccount(s, 'someone@example.org');
    for (let i = 0; i < 5; i++) await login(s, `guess${i}@example.org`, WRONG, {}, '192.0.2.7');
    expect((await login(s, 'someone@example.org', ACCOUNT_PW, {}, '192.0.2.7')).body.error).toBe('challenge_required');
    expect((await login(s, 'someone@example.org', ACCOUNT_PW, {}, '192.0.2.8')).status).toBe(200);
  });

  it('R29: failed second-factor codes count toward the security check', async () => {
    const s = await testServer({ engine });
    await createAccount(s, 'codes@example.org');
    const t = await loginTokens(s, 'codes@example.org');
    await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, { token: t.accessToken });
    for (let i = 0; i < 5; i++) expect((await s.call('POST', '/v1/2fa/totp/confirm', { code: '000000' }, { token: t.accessToken, ip: `10.9.0.${i}` })).body.error).toBe('invalid_otp');
    expect((await login(s, 'codes@example.org', ACCOUNT_PW, {}, '10.9.1.1')).body.error).toBe('challenge_required');
  });

  it('repeated registrations from one address trigger the security check (every attempt counts, so "address in use" is not revealed)', async () => {
    const s = await testServer({ engine });
    const reg = (email: string, password = 'Other7Password', extra = {}) => s.call('POST', '/v1/accounts', { email, password, region: 'DE', marketing: false, ...extra }, { ip: '198.51.100.1' });
    expect((await reg('bad-address')).body.error).toBe('invalid_email');
    expect((await reg('x@example.org', 'Password1')).body.error).toBe('password_policy');
    for (let i = 0; i < 3; i++) expect((await reg(`n${i}@example.org`)).status).toBe(202);
    const r = await reg('n9@example.org');
    expect(r.body.error).toBe('challenge_required');
    const c = r.body.challenge;
    expect((await reg('n9@example.org', 'Other7Password', { challenge: { id: c.id, answer: readCaptcha(c.captcha.lines) } })).status).toBe(202);
  });

  it('S5: behind --trust-proxy, a random X-Forwarded-For per request gets around no per-address limit; only the address the trusted proxy added counts', async () => {
    const s = await testServer({ engine });
    const app = buildApp(s.ctx, { trustProxy: parseTrustProxy('127.0.0.1') });
    await app.ready();
    let n = 0;
    // the client forges an X-Forwarded-For; the proxy (127.0.0.1) appends the address it saw
    const viaProxy = (url: string, payload: object, from = '203.0.113.7') =>
      app.inject({ method: 'POST', url, payload, remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': `10.${n % 250}.${++n % 250}.1, ${from}` } });
    const reg = (i: number) => viaProxy('/v1/accounts', { email: `s5-${i}@example.org`, password: 'Other7Password', region: 'DE', marketing: false });
    for (let i = 0; i < 5; i++) expect((await reg(i)).statusCode).toBe(202);
    expect(JSON.parse((await reg(5)).body).error).toBe('challenge_required');
    // password spraying over many accounts: the address check trips as well
    for (let i = 0; i < 5; i++) expect(JSON.parse((await viaProxy('/v1/sessions', { email: `spray${i}@example.org`, password: WRONG, deviceName: 'x' }, '203.0.113.8')).body).error).toBe('invalid_credentials');
    expect(JSON.parse((await viaProxy('/v1/sessions', { email: 'spray9@example.org', password: WRONG, deviceName: 'x' }, '203.0.113.8')).body).error).toBe('challenge_required');
    const keys = new Set((await s.ctx.db.selectFrom('failures').select('key').where('scope', '=', 'ip').execute()).map((r) => r.key));
    expect([...keys].sort()).toEqual(['203.0.113.7', '203.0.113.8']);
    // a client that reaches the server directly (not through a trusted proxy) cannot name an address
    await app.inject({ method: 'POST', url: '/v1/accounts', payload: { email: 'direct@example.org', password: 'Other7Password', region: 'DE', marketing: false }, remoteAddress: '198.51.100.9', headers: { 'x-forwarded-for': '10.9.9.9' } });
    expect((await s.ctx.db.selectFrom('failures').select('key').where('key', 'in', ['198.51.100.9', '10.9.9.9']).execute()).map((r) => r.key)).toEqual(['198.51.100.9']);
    await app.close();
    // two proxies in a row (a CIDR): the address the outer one added counts, not what the client wrote
    const chain = buildApp(s.ctx, { trustProxy: parseTrustProxy('10.0.0.0/24') });
    await chain.ready();
    await chain.inject({ method: 'POST', url: '/v1/accounts', payload: { email: 'chain@example.org', password: 'Other7Password', region: 'DE', marketing: false }, remoteAddress: '10.0.0.2', headers: { 'x-forwarded-for': '10.7.7.7, 192.0.2.44, 10.0.0.1' } });
    expect((await s.ctx.db.selectFrom('failures').select('key').where('key', 'in', ['192.0.2.44', '10.7.7.7']).execute()).map((r) => r.key)).toEqual(['192.0.2.44']);
    await chain.close();
  });

  it('R30: a 10,000-attempt attack on one account (captchas solved) gets ≤ 100 password verifications per hour; after the hour the owner signs in', async () => {
    const s = await testServer({ engine });
    await createAccount(s, 'target@example.org');
    const before = passwords.verificationCount;
    const statuses: Record<number, number> = {};
    let solved = 0;
    const attack = async (n: number) => {
      for (let i = 0; i < n; i++) {
        let r = await login(s, 'target@example.org', `Guess${i}x${n}`, {}, '203.0.113.9');
        if (r.body?.error === 'challenge_required') {
          const c = r.body.challenge;
          solved++;
          r = await login(s, 'target@example.org', `Guess${i}x${n}`, { challenge: { id: c.id, answer: readCaptcha(c.captcha.lines) } }, '203.0.113.9');
        }
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }
    };
    // four attackers at once: the cap holds under concurrency too
    await Promise.all([attack(2500), attack(2500), attack(2500), attack(2500)]);
    const verifications = passwords.verificationCount - before;
    expect(verifications, JSON.stringify(statuses)).toBeLessThanOrEqual(100);
    expect(verifications).toBeGreaterThan(90);
    expect(statuses[200]).toBeUndefined();
    expect(statuses[429]).toBeGreaterThan(9000);
    expect(solved).toBeGreaterThan(80);
    const capped = await login(s, 'target@example.org', ACCOUNT_PW, {}, '198.51.100.77');
    expect(capped.status).toBe(429);
    expect(capped.body.error).toBe('too_many_attempts');
    expect(capped.headers['retry-after']).toBe(String(capped.body.retryAfter));
    expect(passwords.verificationCount - before).toBe(verifications); // refused without verifying
    s.clock.advance(3600_000 + 1000);
    await loginTokens(s, 'target@example.org');
  }, 180_000);
});
