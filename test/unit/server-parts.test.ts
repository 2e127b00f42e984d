// The server's parts on their own: SMS providers, the mail outbox, captcha drawing, the server key,
// and logs that never hold a secret.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fillTemplate, httpSms, outboxSms, SmsError } from '../../src/server/sms.js';
import { createMailer } from '../../src/server/mail.js';
import { CAPTCHA_ALPHABET, FONT, captchaLines, captchaPng, captchaSvg, newCaptchaAnswer } from '../../src/server/captcha.js';
import { loadServerKey, parseKey, serverKeys } from '../../src/server/secrets.js';
import { ACCOUNT_PW, codeFromMail, readCaptcha, testServer, totpCode } from '../helpers/server.js';

const tmp = () => fs.mkdtempSync(join(os.tmpdir(), 'kpm-parts-'));

describe('SMS providers', () => {
  it('the HTTP provider posts the filled template with undici, with its Authorization header', async () => {
    const got: { headers: Record<string, unknown>; body: string }[] = [];
    let status = 200;
    const srv = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got.push({ headers: req.headers, body });
        res.writeHead(status);
        res.end('ok');
      });
    });
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/send`;
    try {
      await httpSms({ url, auth: 'Bearer gateway-token' }).send('+331234', 'kpm: "code" 123456');
      expect(JSON.parse(got[0].body)).toEqual({ to: '+331234', text: 'kpm: "code" 123456' });
      expect(got[0].headers.authorization).toBe('Bearer gateway-token');
      expect(got[0].headers['content-type']).toBe('application/json');
      await httpSms({ url, body: 'To={{to}}&Body={{text}}', contentType: 'application/x-www-form-urlencoded' }).send('+331234', 'a b&c');
      expect(got[1].body).toBe('To=%2B331234&Body=a%20b%26c');
      status = 500;
      await expect(httpSms({ url }).send('+1', 'x')).rejects.toBeInstanceOf(SmsError);
    } finally {
      srv.close();
    }
    expect(fillTemplate('{{to}}/{{unknown}}', 'text/plain', { to: 'x' })).toBe('x/{{unknown}}');
  });

  it('the outbox provider appends one JSON line per message to a 0600 file', async () => {
    const file = join(tmp(), 'sms.jsonl');
    const p = outboxSms(file, () => 0);
    await p.send('+1555', 'one');
    await p.send('+1555', 'two');
    expect(fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).text)).toEqual(['one', 'two']);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('mail', () => {
  it('the development transport writes an .eml file (0600) into the outbox and logs only its path', async () => {
    const dir = tmp();
    const logged: unknown[] = [];
    const m = createMailer({ from: 'kpm <no-reply@test>', outboxDir: join(dir, 'outbox') });
    await m.send({ to: 'ann@example.org', subject: 'Hello', text: 'code SECRET-CODE' }, { info: (o: unknown) => logged.push(o) } as never);
    const files = fs.readdirSync(join(dir, 'outbox'));
    expect(files).toHaveLength(1);
    const eml = fs.readFileSync(join(dir, 'outbox', files[0]), 'utf8');
    expect(eml).toMatch(/^To: ann@example.org$/m);
    expect(eml).toContain('SECRET-CODE');
    expect(fs.statSync(join(dir, 'outbox', files[0])).mode & 0o777).toBe(0o600);
    expect(JSON.stringify(logged)).not.toContain('SECRET-CODE');
    expect(JSON.stringify(logged)).toContain(files[0]);
    m.close();
  });
});

describe('captcha', () => {
  it('every glyph has ink in every column and row, so characters separate and read back', () => {
    for (const [ch, rows] of Object.entries(FONT)) {
      expect(rows, ch).toHaveLength(5);
      for (let x = 0; x < 5; x++) expect(rows.some((r) => r[x] === '#'), `${ch} column ${x}`).toBe(true);
      for (const r of rows) expect(r, ch).toMatch(/^[#.]{5}$/);
    }
    expect(Object.keys(FONT).sort().join('')).toBe([...CAPTCHA_ALPHABET].sort().join(''));
    const glyphs = new Set(Object.values(FONT).map((g) => g.join()));
    expect(glyphs.size).toBe(CAPTCHA_ALPHABET.length);
    for (let i = 0; i < 200; i++) {
      const answer = newCaptchaAnswer();
      expect(readCaptcha(captchaLines(answer))).toBe(answer);
    }
  });

  it('SVG and PNG images carry no text of the answer', () => {
    const answer = 'ACDEF';
    const svg = captchaSvg(answer);
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).not.toMatch(/<text|ACDEF/);
    const png = captchaPng(answer);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.subarray(12, 16).toString()).toBe('IHDR');
    expect(png.readUInt32BE(16)).toBeGreaterThan(100);
  });

  it('a challenge image is served while the challenge is open, and never after', async () => {
    const s = await testServer();
    const c = (await s.call('POST', '/v1/challenges', {})).body;
    const svg = await s.app.inject({ method: 'GET', url: `/v1/challenges/${c.id}/captcha.svg` });
    expect(svg.statusCode).toBe(200);
    expect(svg.headers['content-type']).toMatch(/image\/svg\+xml/);
    const png = await s.app.inject({ method: 'GET', url: `/v1/challenges/${c.id}/captcha.png` });
    expect(png.headers['content-type']).toBe('image/png');
    expect((await s.app.inject({ method: 'GET', url: `/v1/challenges/${c.id}/captcha.gif` })).statusCode).toBe(400);
    s.clock.advance(s.ctx.settings.challengeTtlMs + 1);
    expect((await s.app.inject({ method: 'GET', url: `/v1/challenges/${c.id}/captcha.svg` })).statusCode).toBe(404);
  });
});

describe('server key', () => {
  it('is generated once into a 0600 file, or taken from KPM_SERVER_KEY (hex or base64)', () => {
    const file = join(tmp(), 'k', 'server.key');
    const a = loadServerKey({ keyFile: file });
    expect(a).toHaveLength(32);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadServerKey({ keyFile: file })).toEqual(a);
    const hex = 'ab'.repeat(32);
    expect(loadServerKey({ key: hex, keyFile: file })).toEqual(parseKey(Buffer.from(hex, 'hex').toString('base64')));
    expect(() => parseKey('abcd')).toThrow(/32 bytes/);
    const k = serverKeys(a);
    const sealed = k.seal('totp', 'acct1', new Uint8Array([1, 2, 3]));
    expect(k.open('totp', 'acct1', sealed)).toEqual(new Uint8Array([1, 2, 3]));
    expect(() => k.open('totp', 'acct2', sealed)).toThrow(); // bound to the account
    expect(() => serverKeys(loadServerKey({ key: hex, keyFile: file })).open('totp', 'acct1', sealed)).toThrow();
  });
});

describe('logs', () => {
  it('R38: a full flow logs no password, token, ticket, code, captcha answer or TOTP secret', async () => {
    const s = await testServer({ logs: true });
    const secrets: string[] = [ACCOUNT_PW, 'Wrong1Password'];
    await s.call('POST', '/v1/accounts', { email: 'log@example.org', password: ACCOUNT_PW, region: 'DE', marketing: false });
    const code = codeFromMail(s.mails, 'log@example.org');
    secrets.push(code, code.replace(/-/g, ''));
    const page = await s.app.inject({ method: 'GET', url: `/v1/activate?code=${code}` });
    expect(page.statusCode).toBe(200);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1];
    secrets.push(csrf);
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie: `kpm_csrf=${csrf}` };
    expect((await s.app.inject({ method: 'POST', url: '/v1/activate', payload: `code=${code}&csrf=${csrf}`, headers: form })).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) await s.call('POST', '/v1/sessions', { email: 'log@example.org', password: 'Wrong1Password', deviceName: 'x' });
    const ch = (await s.call('POST', '/v1/sessions', { email: 'log@example.org', password: ACCOUNT_PW, deviceName: 'x' })).body.challenge;
    const answer = readCaptcha(ch.captcha.lines);
    secrets.push(answer);
    const t = (await s.call('POST', '/v1/sessions', { email: 'log@example.org', password: ACCOUNT_PW, deviceName: 'x', challenge: { id: ch.id, answer } })).body;
    secrets.push(t.accessToken, t.refreshToken);
    const setup = (await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, { token: t.accessToken })).body;
    const first = totpCode(setup.secret, s.clock.now);
    secrets.push(setup.secret, first);
    const rc = (await s.call('POST', '/v1/2fa/totp/confirm', { code: first }, { token: t.accessToken })).body.recoveryCodes;
    secrets.push(...rc);
    s.clock.advance(15 * 60_000 + 1);
    const step = await s.call('POST', '/v1/sessions', { email: 'log@example.org', password: ACCOUNT_PW, deviceName: 'x' });
    secrets.push(step.body.ticket);
    const second = totpCode(setup.secret, s.clock.now);
    secrets.push(second);
    await s.call('POST', '/v1/sessions/otp', { ticket: step.body.ticket, code: second });
    await s.call('POST', '/v1/sessions/otp', { ticket: step.body.ticket, code: second });
    await s.call('POST', '/v1/sessions', undefined, { payload: `{"password": "${ACCOUNT_PW}" broken` });
    const log = s.logs.join('');
    expect(s.logs.length).toBeGreaterThan(20);
    for (const secret of secrets) expect(log, secret).not.toContain(secret);
    expect(log).toContain('/v1/activate');
  });
});
