// The account side end to end: the built `kpm` against the built `kpm-server` on a loopback port
// with a temporary SQLite file, mail through a real SMTP receiver (smtp-server):
// register → activation mail → activate → login → enable TOTP → logout → login with TOTP →
// replayed code refused → wrong passwords until the security check → solve it → login.
import { statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, initVault, leaks, makeHome, run, type RunResult } from '../helpers/kpm.js';
import { decodeMail, runServerCli, startServer, totpCode, type RunningServer } from '../helpers/server.js';

const PW = 'Flow7Password';
const WRONG = 'Wrong1Password';

interface Mail {
  to: string;
  subject: string;
  text: string;
}

async function smtpReceiver(): Promise<{ port: number; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, done) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), subject: /^Subject: (.*)$/m.exec(raw)?.[1] ?? '', text: decodeMail(raw) });
        done();
      });
    },
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.server.address() as { port: number }).port;
  return { port, mails, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('kpm ↔ kpm-server (SQLite, SMTP)', () => {
  let smtp: Awaited<ReturnType<typeof smtpReceiver>>;
  let srv: RunningServer;
  let home: string;
  const secrets: string[] = [PW, WRONG];
  const kpm = async (args: string[], code: number, input?: string): Promise<RunResult> => {
    const r = await run(args, { home, env: { KPM_SERVER: srv.url }, input });
    expect(r.code, describeRun(args, r)).toBe(code);
    expect(leaks(r, secrets), describeRun(args, r)).toEqual([]);
    return r;
  };

  beforeAll(async () => {
    smtp = await smtpReceiver();
    srv = await startServer({ args: ['--smtp', `smtp://127.0.0.1:${smtp.port}`, '--pow-bits', '12'] });
    home = makeHome();
  });
  afterAll(async () => {
    await srv?.stop();
    await smtp?.close();
  });

  let secret = '';
  let recovery: string[] = [];
  let step1Code = '';

  it('register sends the activation mail over SMTP; sign-in waits for activation; activate', async () => {
    const r = await kpm(['register', '--email', 'Ann@Example.org', '--password-stdin', '--region', 'fr'], 0, PW + '\n');
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Check your inbox/);
    const mail = await waitFor('the activation mail', () => smtp.mails.find((m) => m.to === 'ann@example.org'));
    expect(mail.subject).toBe('Activate your kpm account');
    const code = /kpm activate ([A-Z2-7-]+)/.exec(mail.text)![1];
    expect(mail.text).toContain(`${srv.url}/v1/activate?code=${code}`);
    secrets.push(code);
    const early = await kpm(['login', 'ann@example.org', '--password-stdin'], 4, PW + '\n');
    expect(early.stderr).toMatch(/not activated/);
    await kpm(['activate', code], 0);
    expect((await kpm(['activate', code], 5)).stderr).toMatch(/unknown or expired/);
    // the same address again: the same answer, and the owner gets a mail about it
    await kpm(['register', '--email', 'ann@example.org', '--password-stdin', '--region', 'DE'], 0, 'Other7Password\n');
    await waitFor('the notice', () => smtp.mails.find((m) => /tried to create/.test(m.subject)));
    // the rule is checked before anything is sent
    const weak = await kpm(['register', '--email', 'bob@example.org', '--password-stdin'], 2, 'Password1\n');
    expect(weak.stderr).toMatch(/not one of the most common passwords/);
  });

  it('login, whoami, devices; the session file is 0600', async () => {
    const r = await kpm(['login', 'ann@example.org', '--password-stdin', '--device', 'laptop', '--json'], 0, PW + '\n');
    const out = JSON.parse(r.stdout);
    expect(out.device.name).toBe('laptop');
    const file = join(home, 'data', 'session.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const me = JSON.parse((await kpm(['whoami', '--json'], 0)).stdout);
    expect(me).toMatchObject({ email: 'ann@example.org', region: 'FR', marketing: false, device: { name: 'laptop' } });
    expect((await kpm(['whoami'], 0)).stdout).toBe('ann@example.org\n');
    const devs = JSON.parse((await kpm(['devices', '--json'], 0)).stdout);
    expect(devs).toHaveLength(1);
    expect(devs[0]).toMatchObject({ name: 'laptop', current: true });
    await kpm(['devices', 'rename', devs[0].id, 'work laptop'], 0);
    expect((await kpm(['devices'], 0)).stdout).toMatch(/work laptop .*\(this device\)/);
  });

  it('2fa enable --totp (secret as JSON), confirm with a first code: ten recovery codes', async () => {
    const s = JSON.parse((await kpm(['2fa', 'enable', '--totp', '--json'], 0)).stdout);
    secret = s.secret;
    secrets.push(secret);
    expect(s.uri).toMatch(/^otpauth:\/\/totp\//);
    const code = totpCode(secret, Date.now());
    const c = JSON.parse((await kpm(['2fa', 'confirm', code, '--json'], 0)).stdout);
    recovery = c.recoveryCodes;
    expect(recovery).toHaveLength(10);
    secrets.push(...recovery);
    expect(JSON.parse((await kpm(['2fa', 'status', '--json'], 0)).stdout)).toEqual({ totp: true, sms: null, recoveryCodesLeft: 10 });
  });

  it('logout; login asks for the code; the TOTP code signs in once, its replay is refused', async () => {
    expect((await kpm(['logout'], 0)).stderr).toMatch(/Signed out/);
    expect(existsSync(join(home, 'data', 'session.json'))).toBe(false);
    expect((await kpm(['whoami'], 4)).stderr).toMatch(/not signed in/);
    const need = await kpm(['login', 'ann@example.org', '--password-stdin'], 4, PW + '\n');
    expect(need.stderr).toMatch(/verification code is needed[\s\S]*--otp/);
    // the confirmation used the current step; the next one is still inside the ±1 window
    step1Code = totpCode(secret, Date.now(), 1);
    await kpm(['login', 'ann@example.org', '--password-stdin', '--otp-stdin'], 0, `${PW}\n${step1Code}\n`);
    await kpm(['logout'], 0);
    const replay = await kpm(['login', 'ann@example.org', '--password-stdin', '--otp', step1Code], 5, PW + '\n');
    expect(replay.stderr).toMatch(/already used/);
  });

  it('wrong passwords until the security check; without solving it the right password is refused; solved (proof of work), the login works', async () => {
    for (let i = 0; i < 4; i++) expect((await kpm(['login', 'ann@example.org', '--password-stdin'], 5, WRONG + '\n')).stderr).toMatch(/wrong email or password/);
    const blocked = await kpm(['login', 'ann@example.org', '--password-stdin', '--no-pow', '--otp', recovery[0]], 4, PW + '\n');
    expect(blocked.stderr).toMatch(/security check/);
    const ok = await kpm(['login', 'ann@example.org', '--password-stdin', '--otp', recovery[0]], 0, PW + '\n');
    expect(ok.stderr).toMatch(/proof-of-work[\s\S]*Signed in/);
    expect(JSON.parse((await kpm(['2fa', 'status', '--json'], 0)).stdout).recoveryCodesLeft).toBe(9);
  });

  it('admin: list, throttle-status, set-region, disable', async () => {
    const dd = ['--data-dir', srv.dataDir];
    const list = await runServerCli(['admin', 'list', '--json', ...dd]);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ email: 'ann@example.org', region: 'FR', activated: true, twoFactor: ['totp'] })]);
    const th = JSON.parse((await runServerCli(['admin', 'throttle-status', 'ann@example.org', '--json', ...dd])).stdout);
    expect(th[0]).toMatchObject({ scope: 'acct', key: 'ann@example.org', checkRequired: true, capped: false });
    expect((await runServerCli(['admin', 'set-region', 'ann@example.org', 'it', ...dd])).code).toBe(0);
    expect(JSON.parse((await kpm(['whoami', '--json'], 0)).stdout).region).toBe('IT');
    expect((await runServerCli(['admin', 'set-region', 'ann@example.org', 'XX', ...dd])).code).toBe(2);
    expect((await runServerCli(['admin', 'disable', 'nobody@example.org', ...dd])).code).toBe(3);
    expect((await runServerCli(['admin', 'disable', 'ann@example.org', ...dd])).code).toBe(0);
    expect((await kpm(['whoami'], 4)).stderr).toMatch(/signed out|not signed in/);
    expect((await kpm(['login', 'ann@example.org', '--password-stdin', '--otp', recovery[1]], 9, PW + '\n')).stderr).toMatch(/disabled/);
    expect((await runServerCli(['admin', 'disable', 'ann@example.org', '--enable', ...dd])).code).toBe(0);
  });

  it('R38: the server log holds none of the passwords, codes or tokens', async () => {
    const log = srv.stdout();
    expect(log.split('\n').length).toBeGreaterThan(30);
    const session = await run(['whoami'], { home });
    expect(session.code).toBe(4);
    for (const s of [...secrets, step1Code]) expect(log, s).not.toContain(s);
    expect(log).not.toMatch(/kp[art]_[A-Za-z0-9_-]{20}/);
  });
});

describe('R21: the account password is not the master password', () => {
  it('register refuses the master password of the local vault (exit 2), and accepts another', async () => {
    const srv = await startServer({ args: ['--log-level', 'warn'] });
    const home = makeHome();
    const master = 'Master7Password-Kq9z'; // strong enough for kpm init (S14), and a valid account password
    await initVault(home, master);
    const r = await run(['register', '--email', 'r21@example.org', '--password-stdin', '--region', 'DE'], { home, env: { KPM_SERVER: srv.url }, input: master + '\n' });
    expect(r.code, describeRun([], r)).toBe(2);
    expect(r.stderr).toMatch(/must not be your master password/);
    expect(leaks(r, [master])).toEqual([]);
    const ok = await run(['register', '--email', 'r21@example.org', '--password-stdin', '--region', 'DE'], { home, env: { KPM_SERVER: srv.url }, input: 'Account7Password\n' });
    expect(ok.code, describeRun([], ok)).toBe(0);
    const reset = await run(['account', 'reset-password', '--email', 'r21@example.org'], { home, env: { KPM_SERVER: srv.url } });
    expect(reset.code, describeRun([], reset)).toBe(0);
    expect(reset.stderr).toMatch(/master password is not involved/i);
  });
});
