// kpm-server end to end, beyond the main flow: two instances on one database (SQLite file, and
// PostgreSQL when KPM_TEST_PG is set) share sessions, throttling and used TOTP steps; HTTPS and the
// client's refusals (R20); SMS two-step verification through the outbox provider.
import { execFileSync } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kpm as runKpm, initVault, makeHome, type RunResult } from '../helpers/kpm.js';
import { freshPgDatabase, outboxMails, outboxSms, PG_SKIP_REASON, PG_URL, startServer, totpCode, type RunningServer } from '../helpers/server.js';

const PW = 'Shared7Password';

function kpmIn(home: string) {
  // the shared runner (test/helpers/kpm.ts); `secrets: []` checks for stack traces
  return (args: string[], code: number, o: { server?: string; input?: string; env?: Record<string, string> } = {}): Promise<RunResult> =>
    runKpm(home, o.server ? [...args, '--server', o.server] : args, code, { input: o.input, env: o.env, secrets: [] });
}

const activationCode = (srv: RunningServer, email: string): string => {
  const mail = outboxMails(srv.dataDir).filter((m) => m.to === email).at(-1);
  return /activation code: ([A-Z2-7-]+)/.exec(mail!.text)![1];
};

for (const engine of ['sqlite', 'postgres'] as const) {
  describe.skipIf(engine === 'postgres' && !PG_URL)(`R29: two instances on one ${engine} database${engine === 'postgres' && !PG_URL ? ` (${PG_SKIP_REASON})` : ''}`, () => {
    it('share sessions, devices, throttling and used TOTP steps', async () => {
      const shared = engine === 'postgres' ? await freshPgDatabase() : join(mkdtempSync(join(os.tmpdir(), 'kpm-shared-')), 'shared.sqlite');
      const env = { KPM_SERVER_KEY: 'cd'.repeat(32) }; // one server key for both
      const args = ['--database', shared, '--pow-bits', '10', '--log-level', 'warn'];
      const [a, b] = await Promise.all([startServer({ args, env }), startServer({ args, env })]);
      const home = makeHome();
      const kpm = kpmIn(home);

      await kpm(['register', '--email', 'two@example.org', '--password-stdin', '--region', 'NL'], 0, { server: a.url, input: PW + '\n' });
      await kpm(['activate', '--code-stdin'], 0, { server: b.url, input: activationCode(a, 'two@example.org') + '\n' });
      await kpm(['login', 'two@example.org', '--password-stdin', '--device', 'one'], 0, { server: a.url, input: PW + '\n' });
      // the token from A works on B
      expect(JSON.parse((await kpm(['whoami', '--json'], 0, { server: b.url })).stdout).device.name).toBe('one');
      const other = makeHome();
      await kpmIn(other)(['login', 'two@example.org', '--password-stdin', '--device', 'two'], 0, { server: b.url, input: PW + '\n' });
      const devs = JSON.parse((await kpm(['devices', '--json'], 0, { server: a.url })).stdout);
      expect(devs.map((d: { name: string }) => d.name).sort()).toEqual(['one', 'two']);
      // revoked through A, refused by B
      const two = devs.find((d: { name: string }) => d.name === 'two');
      await kpm(['devices', 'revoke', two.id], 0, { server: a.url });
      expect((await kpmIn(other)(['whoami'], 4, { server: b.url })).stderr).toMatch(/signed out/);

      // TOTP: a code used through A is refused by B
      const secret = JSON.parse((await kpm(['2fa', 'enable', '--totp', '--json', '--password-stdin'], 0, { server: a.url, input: PW + '\n' })).stdout).secret;
      const { recoveryCodes } = JSON.parse((await kpm(['2fa', 'confirm', '--otp-stdin', '--json'], 0, { server: b.url, input: totpCode(secret, Date.now()) + '\n' })).stdout);
      const next = totpCode(secret, Date.now(), 1);
      await kpmIn(other)(['login', 'two@example.org', '--password-stdin', '--otp-stdin'], 0, { server: a.url, input: `${PW}\n${next}\n` });
      expect((await kpmIn(other)(['login', 'two@example.org', '--password-stdin', '--otp-stdin'], 5, { server: b.url, input: `${PW}\n${next}\n` })).stderr).toMatch(/already used/);

      // throttling: failures through A trip the security check on B
      for (let i = 0; i < 4; i++) await kpmIn(other)(['login', 'two@example.org', '--password-stdin'], 5, { server: i % 2 ? a.url : b.url, input: 'Wrong1Password\n' });
      expect((await kpmIn(other)(['login', 'two@example.org', '--password-stdin', '--no-pow', '--otp-stdin'], 4, { server: b.url, input: `${PW}\n${recoveryCodes[0]}\n` })).stderr).toMatch(/security check/);
      // a challenge issued by B is solved and accepted through A's database state
      await kpmIn(other)(['login', 'two@example.org', '--password-stdin', '--otp-stdin'], 0, { server: b.url, input: `${PW}\n${recoveryCodes[0]}\n` });
    });
  });
}

describe('HTTPS and R20', () => {
  it('R20: serves HTTPS with --tls-cert/--tls-key; the client refuses an untrusted certificate (exit 6) unless trusted or --insecure', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'kpm-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const srv = await startServer({ args: ['--tls-cert', cert, '--tls-key', key, '--log-level', 'warn'] });
    expect(srv.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const home = makeHome();
    const kpm = kpmIn(home);
    const args = ['register', '--email', 'tls@example.org', '--password-stdin', '--region', 'SE'];
    const refused = await kpm(args, 6, { server: srv.url, input: PW + '\n' });
    expect(refused.stderr).toMatch(/certificate .* not trusted/);
    await kpm(args, 0, { server: srv.url, input: PW + '\n', env: { NODE_EXTRA_CA_CERTS: cert } });
    await kpm([...args, '--insecure'], 0, { server: srv.url, input: PW + '\n' });
    // plain http to a non-loopback host: refused before any connection
    const plain = await kpm(args, 6, { server: 'http://kpm.example.invalid:8787', input: PW + '\n' });
    expect(plain.stderr).toMatch(/refusing plain http/);
    const noServer = await kpm(['activate', '--code-stdin'], 2, { input: 'AAAA-BBBB\n' });
    expect(noServer.stderr).toMatch(/no kpm server given/);
  });
});

describe('SMS two-step verification (outbox provider)', () => {
  it('R34: enable --sms, confirm with the texted code; login then needs a fresh SMS code', async () => {
    const srv = await startServer({ args: ['--log-level', 'warn'] });
    const home = makeHome();
    const kpm = kpmIn(home);
    const sms = () => outboxSms(join(srv.dataDir, 'outbox', 'sms.jsonl'));
    const code = () => /code is (\d{6})/.exec(sms().at(-1)!.text)![1];
    await kpm(['register', '--email', 'sms@example.org', '--password-stdin', '--region', 'PL'], 0, { server: srv.url, input: PW + '\n' });
    await kpm(['activate', '--code-stdin'], 0, { server: srv.url, input: activationCode(srv, 'sms@example.org') + '\n' });
    await kpm(['login', 'sms@example.org', '--password-stdin'], 0, { server: srv.url, input: PW + '\n' });
    const enable = await kpm(['2fa', 'enable'], 2);
    expect(enable.stderr).toMatch(/--totp .*recommended.* or --sms/); // TOTP is offered first
    const sent = await kpm(['2fa', 'enable', '--sms', '+48 601 234 567', '--password-stdin'], 0, { input: PW + '\n' });
    expect(sent.stderr).toMatch(/sent by SMS to \+48\*+67/);
    expect(sms().at(-1)!.to).toBe('+48601234567');
    const rc = JSON.parse((await kpm(['2fa', 'confirm', '--sms', '--otp-stdin', '--json'], 0, { input: code() + '\n' })).stdout).recoveryCodes;
    expect(rc).toHaveLength(10);
    await kpm(['logout'], 0);
    const need = await kpm(['login', 'sms@example.org', '--password-stdin'], 4, { input: PW + '\n', server: srv.url });
    expect(need.stderr).toMatch(/an SMS was sent to \+48\*+67/);
    await kpm(['login', 'sms@example.org', '--password-stdin', '--otp-stdin'], 0, { input: `${PW}\n${code()}\n`, server: srv.url });
    expect(JSON.parse((await kpm(['2fa', 'status', '--json'], 0)).stdout)).toEqual({ totp: false, sms: '+48*******67', recoveryCodesLeft: 10 });
    await kpm(['2fa', 'disable', '--password-stdin', '--otp-stdin'], 0, { input: `${PW}\n${rc[0]}\n` });
    expect(JSON.parse((await kpm(['2fa', 'status', '--json'], 0)).stdout).sms).toBeNull();
  });
});

describe('R17: the master password never crosses the wire', () => {
  it('R17: every request of register → activate → login → 2FA → devices → reset → logout, captured by a proxy, is free of the master password in any encoding', async () => {
    const srv = await startServer({ args: ['--log-level', 'warn'] });
    const target = new URL(srv.url);
    const captured: Buffer[] = [];
    const proxy = createServer((req, res) => {
      const chunks: Buffer[] = [Buffer.from(`${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n`)];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        captured.push(Buffer.concat(chunks));
        const body = Buffer.concat(chunks.slice(1));
        const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.end(body);
      });
    });
    await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
    const via = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const home = makeHome();
      const master = 'Master7Password-Kq9z'; // strong enough for kpm init (S14), and a valid account password
      await initVault(home, master);
      const env = { KPM_SERVER: via, KPM_MASTER_PASSWORD: master };
      const kpm = async (args: string[], code: number, input?: string) => kpmIn(home)(args, code, { input, env });
      await kpm(['register', '--email', 'r17@example.org', '--password-stdin', '--region', 'DE'], 2, master + '\n'); // refused locally (R21)
      await kpm(['register', '--email', 'r17@example.org', '--password-stdin', '--region', 'DE'], 0, PW + '\n');
      await kpm(['activate', '--code-stdin'], 0, activationCode(srv, 'r17@example.org') + '\n');
      await kpm(['login', 'r17@example.org', '--password-stdin'], 0, PW + '\n');
      const secret = JSON.parse((await kpm(['2fa', 'enable', '--totp', '--json', '--password-stdin'], 0, PW + '\n')).stdout).secret;
      await kpm(['2fa', 'confirm', '--otp-stdin'], 0, totpCode(secret, Date.now()) + '\n');
      await kpm(['whoami'], 0);
      await kpm(['devices'], 0);
      await kpm(['account', 'reset-password', '--email', 'r17@example.org'], 0);
      const code = /reset code: ([A-Z2-7-]+)/.exec(outboxMails(srv.dataDir).at(-1)!.text)![1];
      await kpm(['account', 'reset-password', '--password-stdin', '--code-stdin'], 2, `${master}\n${code}\n`); // refused locally (R21)
      await kpm(['account', 'reset-password', '--password-stdin', '--code-stdin'], 0, `Second7Password\n${code}\n`);
      await kpm(['login', 'r17@example.org', '--password-stdin', '--otp-stdin'], 0, `Second7Password\n${totpCode(secret, Date.now(), 1)}\n`);
      await kpm(['logout'], 0);
      expect(captured.length).toBeGreaterThan(10);
      const wire = Buffer.concat(captured);
      expect(wire.includes(Buffer.from(PW))).toBe(true); // the capture works: the account password is there
      for (const form of [master, Buffer.from(master).toString('hex'), Buffer.from(master).toString('base64'), Buffer.from(master).toString('base64url'), encodeURIComponent(master), JSON.stringify(master).slice(1, -1)]) {
        expect(wire.includes(Buffer.from(form)), form).toBe(false);
      }
    } finally {
      proxy.close();
    }
  });
});
