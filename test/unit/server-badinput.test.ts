// Bad requests get a clean 4xx with a stable error code, never a 500 or a stack trace; the client
// refuses plain http to non-loopback hosts (R20) and turns bad answers into exit 6.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ACCOUNT_PW, createAccount, loginTokens, testServer } from '../helpers/server.js';
import { ROUTES, routePath } from '../../src/protocol/routes.js';
import { ERROR_STATUS } from '../../src/protocol/errors.js';
import { validate } from '../../src/protocol/validate.js';
import { ErrorBody } from '../../src/protocol/schemas.js';
import { ApiClient, checkServerUrl, isLoopback } from '../../src/sync/http.js';
import { KpmError } from '../../src/core/errors.js';

/** Reproducible fuzz choices: SHA-256 of a counter. */
function prng(seed: number): () => number {
  let i = 0;
  return () => createHash('sha256').update(`${seed}:${i++}`).digest().readUInt32BE(0) / 2 ** 32;
}

function expectClean(r: { status: number; body: any; text: string }, status: number, code: string) {
  expect(r.status, r.text).toBe(status);
  expect(r.body?.error, r.text).toBe(code);
  expect(validate(ErrorBody, r.body), r.text).toBeNull();
  expect(ERROR_STATUS[code as keyof typeof ERROR_STATUS]).toBe(status);
  expect(r.text).not.toMatch(/\n\s+at |node_modules|stack/);
}

describe('bad requests', () => {
  it('malformed JSON, empty bodies, wrong content types, oversized bodies', async () => {
    const s = await testServer();
    expectClean(await s.call('POST', '/v1/sessions', undefined, { payload: '{"email": "a@b.c", "password": "Secret1Password"' }), 400, 'bad_request');
    expectClean(await s.call('POST', '/v1/sessions', undefined, { payload: 'password=Secret1Password' }), 400, 'bad_request');
    expectClean(await s.call('POST', '/v1/sessions', undefined, { payload: '' }), 400, 'bad_request');
    expectClean(await s.call('POST', '/v1/sessions', undefined, { payload: 'hello', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    expectClean(await s.call('POST', '/v1/sessions', undefined, { payload: '{"__proto__": {"x": 1}}' }), 400, 'bad_request');
    const big = JSON.stringify({ email: 'a@example.org', password: 'x'.repeat(20_000), deviceName: 'd' });
    expectClean(await s.call('POST', '/v1/sessions', undefined, { payload: big }), 413, 'body_too_large');
    // a parse error never echoes the body (it may be a password)
    const r = await s.call('POST', '/v1/sessions', undefined, { payload: '{"password": "Leaky7Secret" oops}' });
    expect(r.text).not.toContain('Leaky7Secret');
  });

  it('wrong types, unknown fields, missing fields, values out of range', async () => {
    const s = await testServer();
    const base = { email: 'a@example.org', password: ACCOUNT_PW, deviceName: 'laptop' };
    expectClean(await s.call('POST', '/v1/sessions', { ...base, password: 12345678 }), 400, 'invalid_body');
    expectClean(await s.call('POST', '/v1/sessions', { ...base, admin: true }), 400, 'invalid_body');
    expect((await s.call('POST', '/v1/sessions', { ...base, admin: true })).body.message).toContain('unknown field "admin"');
    expectClean(await s.call('POST', '/v1/sessions', { email: 'a@example.org', deviceName: 'x' }), 400, 'invalid_body');
    expectClean(await s.call('POST', '/v1/sessions', [base]), 400, 'invalid_body');
    expectClean(await s.call('POST', '/v1/sessions', 'just a string'), 400, 'invalid_body');
    expectClean(await s.call('POST', '/v1/sessions', null), 400, 'invalid_body');
    expectClean(await s.call('POST', '/v1/sessions', { ...base, deviceName: 'a\u0007b' }), 400, 'invalid_body');
    expectClean(await s.call('POST', '/v1/accounts', { email: 'a@example.org', password: ACCOUNT_PW, region: 'de', marketing: false }), 400, 'invalid_body');
    expectClean(await s.call('POST', '/v1/accounts', { email: 'a@example.org', password: ACCOUNT_PW, region: 'DE', marketing: 'yes' }), 400, 'invalid_body');
    expectClean(await s.call('POST', '/v1/accounts/activate', { code: 'x'.repeat(65) }), 400, 'invalid_body');
    expectClean(await s.call('POST', '/v1/accounts/activate', { code: 'AAAA-BBBB' }), 400, 'invalid_code');
    expectClean(await s.call('GET', '/v1/nothing-here'), 404, 'not_found');
    expectClean(await s.call('DELETE', '/v1/accounts'), 404, 'not_found');
  });

  it('bad, revoked and expired tokens', async () => {
    const s = await testServer();
    await createAccount(s, 'tok@example.org');
    const t = await loginTokens(s, 'tok@example.org');
    expectClean(await s.call('GET', '/v1/account'), 401, 'unauthorized');
    expectClean(await s.call('GET', '/v1/account', undefined, { headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 401, 'unauthorized');
    expectClean(await s.call('GET', '/v1/account', undefined, { token: 'kpa_' + 'A'.repeat(43) }), 401, 'unauthorized');
    expectClean(await s.call('GET', '/v1/account', undefined, { token: t.refreshToken }), 401, 'unauthorized');
    expectClean(await s.call('GET', '/v1/account', undefined, { token: t.accessToken + 'x'.repeat(200) }), 401, 'unauthorized');
    expectClean(await s.call('POST', '/v1/sessions/refresh', { refreshToken: 'kpr_' + 'B'.repeat(43) }), 401, 'unauthorized');
    expectClean(await s.call('POST', '/v1/sessions/refresh', { refreshToken: 'not a token at all' }), 400, 'invalid_body');
    s.clock.advance(s.ctx.settings.accessTtlMs);
    expectClean(await s.call('GET', '/v1/account', undefined, { token: t.accessToken }), 401, 'token_expired');
    s.clock.advance(s.ctx.settings.refreshTtlMs);
    expectClean(await s.call('POST', '/v1/sessions/refresh', { refreshToken: t.refreshToken }), 401, 'unauthorized');
  });

  it('R40: 2,000 fuzzed requests over every route end in a documented 4xx (or a success), never a 500', async () => {
    const s = await testServer({ check: { after: 1e9, registerAfter: 1e9, hourlyCap: 1e9 } });
    await createAccount(s, 'fuzz@example.org');
    const t = await loginTokens(s, 'fuzz@example.org');
    const rnd = prng(4242);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
    const values = () => pick<unknown>(['', 'x', 'A'.repeat(70), 0, -1, 1.5, 1e308, true, null, [], {}, ['a'], { a: 1 }, 'fuzz@example.org', ACCOUNT_PW, '123456', 'kpa_x', '\u0000', '𝔘𝔫𝔦'.repeat(30)]);
    const statuses = new Set<number>();
    const routes = Object.values(ROUTES);
    for (let i = 0; i < 2000; i++) {
      const spec = pick(routes);
      const props = Object.keys((spec as { body?: { properties?: object } }).body?.properties ?? { a: 1 });
      const body: Record<string, unknown> = {};
      for (const k of props) if (rnd() < 0.7) body[k] = values();
      if (rnd() < 0.1) body[`extra${i}`] = 1;
      const payload = rnd() < 0.05 ? '{"broken":' : JSON.stringify(rnd() < 0.05 ? values() : body);
      const r = await s.call(spec.method, routePath(spec, { id: pick(['abc', t.device.id, '../x', '']) }), undefined, { payload: spec.method === 'GET' || spec.method === 'DELETE' ? undefined : payload, token: rnd() < 0.6 ? t.accessToken : undefined });
      statuses.add(r.status);
      expect(r.status, `${spec.method} ${spec.path} ${payload} → ${r.text}`).toBeLessThan(500);
      if (r.status >= 400) expect(validate(ErrorBody, r.body), r.text).toBeNull();
    }
    expect([...statuses].some((x) => x >= 400)).toBe(true);
  }, 120_000);
});

describe('client: R20 and answers it cannot use', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((x) => x.close()));

  async function stub(handler: (url: string) => { status: number; body: string; type?: string }): Promise<string> {
    const srv = createServer((req, res) => {
      const r = handler(req.url ?? '');
      res.writeHead(r.status, { 'content-type': r.type ?? 'application/json' });
      res.end(r.body);
    });
    servers.push(srv);
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
    return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  }

  it('R20: plain http only to loopback, unless --insecure (exit 6)', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', 'kpm.localhost']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['example.org', '10.0.0.1', '128.0.0.1', 'localhost.example.org', '[::2]']) expect(isLoopback(h), h).toBe(false);
    expect(() => checkServerUrl('http://127.0.0.1:8787')).not.toThrow();
    expect(() => checkServerUrl('https://kpm.example.org')).not.toThrow();
    for (const url of ['http://kpm.example.org', 'http://10.1.2.3:8787', 'http://localhost.evil.org']) {
      try {
        checkServerUrl(url);
        expect.unreachable(url);
      } catch (e) {
        expect((e as KpmError).exitCode, url).toBe(6);
      }
      expect(() => checkServerUrl(url, true)).not.toThrow();
    }
    expect(() => checkServerUrl('ftp://x')).toThrow(/https/);
    expect(() => checkServerUrl('https://user:pw@x.org')).toThrow(/credentials/);
  });

  it('R40: non-JSON, wrongly shaped, oversized and 5xx answers are exit 6 with one clear line', async () => {
    const cases: [string, { status: number; body: string; type?: string }][] = [
      ['html', { status: 200, body: '<html>hello</html>', type: 'text/html' }],
      ['wrong shape', { status: 200, body: '{"status":"ok","version":5}' }],
      ['wrong error shape', { status: 401, body: '{"oops":true}' }],
      ['server error', { status: 500, body: '{"error":"internal","message":"x","requestId":"1"}' }],
      ['huge', { status: 200, body: '"' + 'x'.repeat(2 * 1024 * 1024) + '"' }],
    ];
    for (const [name, answer] of cases) {
      const api = new ApiClient(await stub(() => answer));
      const err = (await api.call('health').catch((e: unknown) => e)) as KpmError;
      expect(err, name).toBeInstanceOf(KpmError);
      expect(err.exitCode, name).toBe(6);
      expect(err.message, name).not.toMatch(/\n/);
      await api.close();
    }
    const api = new ApiClient(await stub(() => ({ status: 401, body: '{"error":"invalid_credentials","message":"wrong\\nemail\\u001b[31m","requestId":"1"}' })));
    const err = (await api.call('login', { body: {} }).catch((e: unknown) => e)) as KpmError;
    expect(err.exitCode).toBe(5);
    expect(err.message).toBe('wrong email [31m');
    const refused = new ApiClient('http://127.0.0.1:1');
    expect(((await refused.call('health').catch((e: unknown) => e)) as KpmError).exitCode).toBe(6);
  });
});
