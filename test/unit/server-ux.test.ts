// kpm-server details a person meets: GET / names the server; `kpm devices` LAST SEEN moves with the
// device's authenticated requests (at most one write a minute per device), not only at refresh.
import { describe, expect, it } from 'vitest';
import { createAccount, loginTokens, testServer } from '../helpers/server.js';
const LAST_SEEN_EVERY_MS = 60_000; // src/server/sessions.ts

describe('kpm-server UX', () => {
  it('GET / is a short HTML page naming the server and its version, not a JSON 404', async () => {
    const s = await testServer();
    const r = await s.call('GET', '/');
    expect(r.status).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(/^text\/html/);
    expect(r.text).toContain(`kpm-server ${s.ctx.settings.version}`);
    expect((await s.call('GET', '/nothing')).status).toBe(404);
  });

  it('LAST SEEN moves on authenticated requests, throttled to once a minute per device', async () => {
    const s = await testServer();
    await createAccount(s, 'seen@example.org');
    const t = await loginTokens(s, 'seen@example.org');
    const lastSeen = async () => {
      const r = await s.call('GET', '/v1/devices', undefined, { token: t.accessToken });
      expect(r.status).toBe(200);
      return r.body.devices.find((d: { current: boolean }) => d.current).lastSeenAt as string;
    };
    const signedInAt = new Date(s.clock.now).toISOString();
    expect(await lastSeen()).toBe(signedInAt);
    s.clock.advance(LAST_SEEN_EVERY_MS - 1_000);
    expect(await lastSeen()).toBe(signedInAt); // within the minute: not written again
    s.clock.advance(1_000);
    const later = new Date(s.clock.now).toISOString();
    expect(await lastSeen()).toBe(later); // a minute on: this request moved it
    s.clock.advance(5 * 60_000);
    expect((await s.call('GET', '/v1/account', undefined, { token: t.accessToken })).status).toBe(200);
    expect(await lastSeen()).toBe(new Date(s.clock.now).toISOString());
  });

  it('"check your inbox" from a server with the development outbox says the mail is a file there; with SMTP it does not', async () => {
    const s = await testServer(); // its mailer is the outbox kind
    const r = await s.call('POST', '/v1/accounts', { email: 'inbox@example.org', password: 'Another7Password', region: 'DE', marketing: false });
    expect(r.status).toBe(202);
    expect(r.body.message).toMatch(/^check your inbox: .*\(development server: nothing is mailed; the message is an \.eml file in the server's outbox folder\)$/);
    const again = await s.call('POST', '/v1/accounts', { email: 'inbox@example.org', password: 'Another7Password', region: 'DE', marketing: false });
    expect(again.body).toEqual(r.body); // an existing address gets the same answer (R28)
    (s.ctx as { mailer: { kind: string } }).mailer = { ...s.ctx.mailer, kind: 'smtp' };
    const smtp = await s.call('POST', '/v1/accounts', { email: 'smtp@example.org', password: 'Another7Password', region: 'DE', marketing: false });
    expect(smtp.body.message).toMatch(/^check your inbox/);
    expect(smtp.body.message).not.toMatch(/outbox/);
  });
});
