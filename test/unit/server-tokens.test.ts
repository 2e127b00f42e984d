// Service tokens on the server (in process): create, list, revoke; every token request checked
// (unknown, wrong secret, revoked, expired → 401); scope (a token on any device route → 403, and a
// device session on a token route → 401); the token string and its keys on the client side.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createAccount, ENGINES, loginTokens, testServer, type TestServer } from '../helpers/server.js';
import { randomBytes } from '../../src/crypto/random.js';
import { toHex } from '../../src/crypto/bytes.js';
import { formatServiceToken, newServiceToken, parseServiceToken, tokenAuthHash, tokenAuthHeader, tokenKeys, unwrapForToken, wrapForToken } from '../../src/sync/tokenvault.js';
import { parseExpiry } from '../../src/cli/commands/tokens.js';
import { KpmError } from '../../src/core/errors.js';

const DAY = 86_400_000;
const b64 = (n: number) => Buffer.from(randomBytes(n)).toString('base64');

async function world(ts: TestServer, email: string) {
  await createAccount(ts, email);
  const access = (await loginTokens(ts, email)).accessToken as string;
  const vaultId = toHex(randomBytes(16));
  const put = await ts.call('POST', `/v1/sync/vaults/${vaultId}`, { expectedEpoch: 0, epoch: 1, body: b64(200) }, { token: access });
  expect(put.status).toBe(200);
  const push = await ts.call('POST', `/v1/sync/vaults/${vaultId}/push`, { base: 0, records: [b64(120), b64(130)], manifest: b64(100) }, { token: access });
  expect(push.status).toBe(200);
  return { access, vaultId };
}

async function newToken(ts: TestServer, access: string, vaultId: string, o: { expiresIn?: number; name?: string } = {}) {
  const t = newServiceToken();
  const { authKey } = tokenKeys(t);
  const wrappedKey = b64(80);
  const body = { id: t.id, vaultId, name: o.name ?? 'ci', expiresAt: new Date(ts.clock.now + (o.expiresIn ?? 30 * DAY)).toISOString(), authHash: tokenAuthHash(authKey), wrappedKey };
  const r = await ts.call('POST', '/v1/tokens', body, { token: access });
  return { t, r, header: tokenAuthHeader(t.id, authKey), wrappedKey, body };
}

const asToken = (header: string) => ({ headers: { authorization: header } });

describe.each(ENGINES)('service tokens on the server (%s)', (engine) => {
  it('create → the vault and its records read with the token; list shows it, never a secret', async () => {
    const ts = await testServer({ engine, logs: true });
    const { access, vaultId } = await world(ts, 'a@example.org');
    const { t, r, header, wrappedKey, body } = await newToken(ts, access, vaultId);
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ id: t.id, name: 'ci', vaultId, createdAt: expect.any(String), expiresAt: body.expiresAt, lastUsedAt: null, revoked: false });
    const info = await ts.call('GET', '/v1/token/vault', undefined, asToken(header));
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({ vault: { id: vaultId, epoch: 1, head: 2 }, wrappedKey });
    const pull = await ts.call('POST', '/v1/token/pull', { after: 0 }, asToken(header));
    expect(pull.status).toBe(200);
    expect(pull.body).toMatchObject({ head: 2, from: 1, more: false });
    expect(pull.body.records).toHaveLength(2);
    const list = await ts.call('GET', '/v1/tokens', undefined, { token: access });
    expect(list.body.tokens).toEqual([expect.objectContaining({ id: t.id, revoked: false, lastUsedAt: new Date(ts.clock.now).toISOString() })]);
    expect(JSON.stringify(list.body)).not.toContain(body.authHash);
    // the database keeps SHA-256 of the auth key only; the logs never carry the header
    const row = await ts.ctx.db.selectFrom('service_tokens').selectAll().where('id', '=', t.id).executeTakeFirstOrThrow();
    expect(row.auth_hash).toBe(createHash('sha256').update(tokenKeys(t).authKey).digest('hex'));
    const key = header.split('.')[1];
    expect(ts.logs.join('')).not.toContain(key);
    expect(JSON.stringify(row)).not.toContain(key);
  });

  it('unknown id, wrong secret, malformed, missing, revoked, expired → 401 on every request', async () => {
    const ts = await testServer({ engine });
    const { access, vaultId } = await world(ts, 'b@example.org');
    const { t, header } = await newToken(ts, access, vaultId, { expiresIn: 2 * DAY });
    const wrong = tokenAuthHeader(t.id, randomBytes(32));
    const unknown = tokenAuthHeader(toHex(randomBytes(16)), tokenKeys(t).authKey);
    for (const h of [wrong, unknown, 'Token nonsense', `Bearer ${access}`]) {
      const r = await ts.call('GET', '/v1/token/vault', undefined, asToken(h));
      expect(r.status, h.slice(0, 12)).toBe(401);
      expect(r.body.error).toBe('unauthorized');
    }
    expect((await ts.call('GET', '/v1/token/vault')).status).toBe(401);
    expect((await ts.call('GET', '/v1/token/vault', undefined, asToken(header))).status).toBe(200);
    ts.clock.advance(2 * DAY);
    const expired = await ts.call('POST', '/v1/token/pull', { after: 0 }, asToken(header));
    expect(expired.status).toBe(401);
    expect(expired.body.message).toMatch(/revoked or expired/);

    const access2 = (await loginTokens(ts, 'b@example.org')).accessToken as string; // the first one expired too
    const live = await newToken(ts, access2, vaultId);
    expect(live.r.status).toBe(201);
    expect((await ts.call('GET', '/v1/token/vault', undefined, asToken(live.header))).status).toBe(200);
    expect((await ts.call('DELETE', `/v1/tokens/${live.t.id}`, undefined, { token: access2 })).status).toBe(200);
    expect((await ts.call('GET', '/v1/token/vault', undefined, asToken(live.header))).status).toBe(401);
    expect((await ts.call('DELETE', `/v1/tokens/${live.t.id}`, undefined, { token: access2 })).status).toBe(200); // idempotent
    const list = await ts.call('GET', '/v1/tokens', undefined, { token: access2 });
    expect(list.body.tokens.map((x: any) => x.revoked)).toEqual([false, true]);
  });

  it('scope: a token is refused on every device route (403); accounts see only their own tokens', async () => {
    const ts = await testServer({ engine });
    const a = await world(ts, 'c@example.org');
    const b = await world(ts, 'd@example.org');
    const { t, header } = await newToken(ts, a.access, a.vaultId);
    const routes: [string, string, unknown?][] = [
      ['GET', '/v1/sync'],
      ['POST', `/v1/sync/vaults/${a.vaultId}/pull`, { after: 0 }],
      ['POST', `/v1/sync/vaults/${b.vaultId}/pull`, { after: 0 }],
      ['POST', `/v1/sync/vaults/${a.vaultId}/push`, { base: 2, records: [b64(100)], manifest: b64(100) }],
      ['POST', `/v1/sync/vaults/${a.vaultId}`, { expectedEpoch: 1, epoch: 2, body: b64(100) }],
      ['GET', '/v1/tokens'],
      ['DELETE', `/v1/tokens/${t.id}`],
      ['GET', '/v1/account'],
      ['GET', '/v1/devices'],
    ];
    for (const [m, url, body] of routes) {
      const r = await ts.call(m, url, body, asToken(header));
      expect(r.status, `${m} ${url}`).toBe(403);
      expect(r.body.error).toBe('forbidden');
    }
    // the token still works afterwards (a 403 is not a revocation), and still reads only vault a
    expect((await ts.call('GET', '/v1/token/vault', undefined, asToken(header))).body.vault.id).toBe(a.vaultId);
    expect((await ts.call('GET', '/v1/tokens', undefined, { token: b.access })).body.tokens).toEqual([]);
    expect((await ts.call('DELETE', `/v1/tokens/${t.id}`, undefined, { token: b.access })).status).toBe(404);
    // a token for another account's vault cannot be made
    expect((await newToken(ts, b.access, a.vaultId)).r.status).toBe(404);
  });

  it('create is validated: expiry in the future and at most 366 days, an existing vault, a fresh id', async () => {
    const ts = await testServer({ engine });
    const { access, vaultId } = await world(ts, 'e@example.org');
    expect((await newToken(ts, access, vaultId, { expiresIn: -1000 })).r.status).toBe(400);
    expect((await newToken(ts, access, vaultId, { expiresIn: 367 * DAY })).r.status).toBe(400);
    expect((await newToken(ts, access, toHex(randomBytes(16)))).r.status).toBe(404);
    const ok = await newToken(ts, access, vaultId, { expiresIn: 365 * DAY });
    expect(ok.r.status).toBe(201);
    expect((await ts.call('POST', '/v1/tokens', ok.body, { token: access })).status).toBe(409);
    expect((await ts.call('POST', '/v1/tokens', { ...ok.body, id: toHex(randomBytes(16)), name: 'a\nb' }, { token: access })).status).toBe(400);
    expect((await ts.call('POST', '/v1/tokens', { ...ok.body, id: toHex(randomBytes(16)), extra: 1 }, { token: access })).status).toBe(400);
    expect((await ts.call('POST', '/v1/tokens', ok.body)).status).toBe(401);
  });
});

describe('the token string and its keys (client)', () => {
  it('formats and parses; anything else is a usage error that does not echo it', () => {
    const t = newServiceToken();
    const s = formatServiceToken(t);
    expect(s).toMatch(/^kpmt_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    const p = parseServiceToken(` ${s}\n`);
    expect(p.id).toBe(t.id);
    expect(Buffer.from(p.secret).equals(Buffer.from(t.secret))).toBe(true);
    for (const bad of ['', 'kpmt_', s.slice(0, -1), s + 'A', s.replace('kpmt_', 'kpa_'), s.toUpperCase(), `kpmt_${t.id}_${'!'.repeat(43)}`]) {
      let err: unknown;
      try {
        parseServiceToken(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(KpmError);
      expect((err as KpmError).exitCode).toBe(2);
      if (bad.length > 10) expect((err as KpmError).message).not.toContain(bad.slice(10));
    }
  });

  it('auth and wrap keys are distinct; the sealed vault key opens only for its token, vault and profile', () => {
    const t = newServiceToken();
    const { authKey, wrapKey } = tokenKeys(t);
    expect(toHex(authKey)).not.toBe(toHex(wrapKey));
    expect(toHex(authKey)).not.toBe(toHex(t.secret));
    const keys = { recordKey: randomBytes(32), tagKey: randomBytes(32), publicKey: randomBytes(32) };
    const vaultId = toHex(randomBytes(16));
    const profileId = randomBytes(16);
    const sealed = wrapForToken(wrapKey, keys, 'CI', t.id, vaultId, profileId);
    const open = unwrapForToken(wrapKey, sealed, t.id, vaultId, profileId);
    expect(open.name).toBe('CI');
    expect([open.recordKey, open.tagKey, open.publicKey].map(toHex)).toEqual([keys.recordKey, keys.tagKey, keys.publicKey].map(toHex));
    const fails = (f: () => unknown) => expect(f).toThrow(/tampered/);
    fails(() => unwrapForToken(wrapKey, sealed, toHex(randomBytes(16)), vaultId, profileId));
    fails(() => unwrapForToken(wrapKey, sealed, t.id, toHex(randomBytes(16)), profileId));
    fails(() => unwrapForToken(wrapKey, sealed, t.id, vaultId, randomBytes(16)));
    fails(() => unwrapForToken(authKey, sealed, t.id, vaultId, profileId));
  });

  it('--expires: s, m, h, d; at least 1s, at most 365d', () => {
    expect(parseExpiry('30d')).toBe(30 * DAY);
    expect(parseExpiry('12h')).toBe(12 * 3_600_000);
    expect(parseExpiry('90m')).toBe(90 * 60_000);
    expect(parseExpiry('2s')).toBe(2000);
    expect(parseExpiry('365d')).toBe(365 * DAY);
    for (const bad of ['0s', '366d', '30', 'd', '1w', 'never', '-1d', '1.5d']) expect(() => parseExpiry(bad), bad).toThrow(KpmError);
  });
});
