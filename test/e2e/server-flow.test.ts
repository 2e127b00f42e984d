// The account side end to end: the built `kpm` against the built `kpm-server` on a loopback port
// with a temporary SQLite file, mail through a real SMTP receiver (smtp-server):
// register → activation mail → activate → login → enable TOTP → logout → login with TOTP →
// replayed code refused → wrong passwords until the security check → solve it → login.
// Each test starts its own server and reaches the state it needs (`flow(stage)`: the earlier steps'
// commands without their checks), so the tests pass alone and in any order.
import { statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kpm as runKpm, describeRun, initVault, leaks, makeHome, run, type RunResult } from '../helpers/kpm.js';
import { outboxMails, runServerCli, smtpReceiver, startServer, totpCode, waitFor, type RunningServer } from '../helpers/server.js';

const PW = 'Flow7Password';
const WRONG = 'Wrong1Password';
const ANN = 'ann@example.org';

/** The states a test can start from, each reached by the commands of the steps before it. */
const STAGES = ['server', 'activated', 'signedIn', 'totp', 'checked'] as const;
type Stage = (typeof STAGES)[number];

interface Flow {
  smtp: Awaited<ReturnType<typeof smtpReceiver>>;
  srv: RunningServer;
  home: string;
  /** every secret the flow used so far (passwords, codes, the TOTP secret, recovery codes): never in any output */
  secrets: string[];
  /** `kpm(ARGS, code, input)`: the shared runner (test/helpers/kpm.ts) in `home` against the server; `secrets` stay out of the output. */
  kpm(args: string[], code: number, input?: string): Promise<RunResult>;
  secret: string;
  recovery: string[];
}

/** A new SMTP receiver, server (stopped after the file) and home, brought to `stage`. */
async function flow(stage: Stage): Promise<Flow> {
  const smtp = await smtpReceiver();
  const srv = await startServer({ args: ['--smtp', `smtp://127.0.0.1:${smtp.port}`, '--pow-bits', '12'] });
  const home = makeHome();
  const secrets = [PW, WRONG];
  const f: Flow = { smtp, srv, home, secrets, secret: '', recovery: [], kpm: (args, code, input) => runKpm(home, args, code, { env: { KPM_SERVER: srv.url }, input, secrets }) };
  const upTo = STAGES.indexOf(stage);
  if (upTo >= STAGES.indexOf('activated')) {
    await f.kpm(['register', '--email', ANN, '--password-stdin', '--region', 'fr'], 0, PW + '\n');
    const mail = await waitFor('the activation mail', () => smtp.mails.find((m) => m.to === ANN));
    const code = /activation code: ([A-Z2-7-]+)/.exec(mail.text)![1];
    secrets.push(code);
    await f.kpm(['activate', '--code-stdin'], 0, code + '\n');
  }
  if (upTo >= STAGES.indexOf('signedIn')) await f.kpm(['login', ANN, '--password-stdin', '--device', 'laptop'], 0, PW + '\n');
  if (upTo >= STAGES.indexOf('totp')) {
    f.secret = JSON.parse((await f.kpm(['2fa', 'enable', '--totp', '--json', '--password-stdin'], 0, PW + '\n')).stdout).secret;
    secrets.push(f.secret);
    f.recovery = JSON.parse((await f.kpm(['2fa', 'confirm', '--otp-stdin', '--json'], 0, totpCode(f.secret, Date.now()) + '\n')).stdout).recoveryCodes;
    secrets.push(...f.recovery);
  }
  if (upTo >= STAGES.indexOf('checked')) {
    await f.kpm(['logout'], 0);
    for (let i = 0; i < 5; i++) await f.kpm(['login', ANN, '--password-stdin'], 5, WRONG + '\n');
    await f.kpm(['login', ANN, '--password-stdin', '--otp-stdin'], 0, `${PW}\n${f.recovery[0]}\n`);
  }
  return f;
}

describe('kpm ↔ kpm-server (SQLite, SMTP)', () => {
  it('register sends the activation mail over SMTP; sign-in waits for activation; activate', async () => {
    const { kpm, smtp, srv, secrets } = await flow('server');
    const r = await kpm(['register', '--email', 'Ann@Example.org', '--password-stdin', '--region', 'fr'], 0, PW + '\n');
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Check your inbox/);
    const mail = await waitFor('the activation mail', () => smtp.mails.find((m) => m.to === 'ann@example.org'));
    expect(mail.subject).toBe('Activate your kpm account');
    const code = /activation code: ([A-Z2-7-]+)/.exec(mail.text)![1];
    expect(mail.text).toContain(`${srv.url}/v1/activate?code=${code}`);
    secrets.push(code);
    const early = await kpm(['login', 'ann@example.org', '--password-stdin'], 4, PW + '\n');
    expect(early.stderr).toMatch(/not activated/);
    await kpm(['activate', '--code-stdin'], 0, code + '\n');
    expect((await kpm(['activate', '--code-stdin'], 5, code + '\n')).stderr).toMatch(/unknown or expired/);
    // the same address again: the same answer, and the owner gets a mail about it
    await kpm(['register', '--email', 'ann@example.org', '--password-stdin', '--region', 'DE'], 0, 'Other7Password\n');
    await waitFor('the notice', () => smtp.mails.find((m) => /tried to create/.test(m.subject)));
    // the rule is checked before anything is sent
    const weak = await kpm(['register', '--email', 'bob@example.org', '--password-stdin'], 2, 'Password1\n');
    expect(weak.stderr).toMatch(/not one of the most common passwords/);
  });

  it('login, whoami, devices; the session file is 0600', async () => {
    const { kpm, home } = await flow('activated');
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

  it('login when already signed in says so; devices revoke takes an id prefix', async () => {
    const { kpm, srv } = await flow('signedIn');
    const [old] = JSON.parse((await kpm(['devices', '--json'], 0)).stdout);
    const again = await kpm(['login', 'ann@example.org', '--password-stdin', '--device', 'desktop'], 0, PW + '\n');
    expect(again.stderr).toMatch(new RegExp(`Already signed in as ann@example\\.org on \\S+ \\(device "laptop", ${old.id}\\)`));
    expect(JSON.parse((await kpm(['devices', '--json'], 0)).stdout)).toMatchObject([{ name: 'desktop', current: true }]); // replaced
    // a second device (another home) of the account, to be revoked from this one by an id prefix
    const phone = makeHome();
    const p = await run(['login', 'ann@example.org', '--password-stdin', '--device', 'phone', '--json'], { home: phone, env: { KPM_SERVER: srv.url }, input: PW + '\n' });
    expect(p.code, describeRun(['login'], p)).toBe(0);
    const other = JSON.parse(p.stdout).device as { id: string };
    const devs: { id: string; name: string; current: boolean }[] = JSON.parse((await kpm(['devices', '--json'], 0)).stdout);
    expect(devs.map((d) => [d.name, d.current]).sort()).toEqual([['desktop', true], ['phone', false]]);
    // a prefix that names no device, one that is no id, then the phone by its first 6 characters
    const none = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'].map((c) => c.repeat(4)).find((p) => !devs.some((d) => d.id.startsWith(p)))!;
    expect((await kpm(['devices', 'revoke', none], 3)).stderr).toMatch(/no device/);
    expect((await kpm(['devices', 'revoke', 'zz-not-hex'], 2)).stderr).toMatch(/is not a device id/);
    expect((await kpm(['devices', 'revoke', other.id.slice(0, 6)], 0)).stderr).toMatch(new RegExp(`Device ${other.id} is signed out`));
    expect(JSON.parse((await kpm(['devices', '--json'], 0)).stdout)).toMatchObject([{ name: 'desktop', current: true }]);
  });

  it('2fa enable --totp (secret as JSON), confirm with a first code: ten recovery codes', async () => {
    const { kpm, secrets } = await flow('signedIn');
    // a session alone cannot turn 2-step verification on: the account password is asked for again
    expect((await kpm(['2fa', 'enable', '--totp', '--json'], 4)).stderr).toMatch(/the account password is needed[\s\S]*--password-stdin/);
    expect((await kpm(['2fa', 'enable', '--totp', '--json', '--password-stdin'], 5, WRONG + '\n')).stderr).toMatch(/wrong account password/);
    const s = JSON.parse((await kpm(['2fa', 'enable', '--totp', '--json', '--password-stdin'], 0, PW + '\n')).stdout);
    const secret = s.secret;
    secrets.push(secret);
    expect(s.uri).toMatch(/^otpauth:\/\/totp\//);
    const code = totpCode(secret, Date.now());
    const c = JSON.parse((await kpm(['2fa', 'confirm', '--otp-stdin', '--json'], 0, code + '\n')).stdout);
    const recovery = c.recoveryCodes;
    expect(recovery).toHaveLength(10);
    secrets.push(...recovery);
    expect(JSON.parse((await kpm(['2fa', 'status', '--json'], 0)).stdout)).toEqual({ totp: true, sms: null, recoveryCodesLeft: 10 });
  });

  it('logout; login asks for the code; the TOTP code signs in once, its replay is refused', async () => {
    const { kpm, home, secret } = await flow('totp');
    expect((await kpm(['logout'], 0)).stderr).toMatch(/Signed out/);
    expect(existsSync(join(home, 'data', 'session.json'))).toBe(false);
    expect((await kpm(['whoami'], 4)).stderr).toMatch(/not signed in/);
    const need = await kpm(['login', 'ann@example.org', '--password-stdin'], 4, PW + '\n');
    expect(need.stderr).toMatch(/verification code is needed[\s\S]*--otp-stdin/);
    // the confirmation used the current step; the next one is still inside the ±1 window
    const step1Code = totpCode(secret, Date.now(), 1);
    await kpm(['login', 'ann@example.org', '--password-stdin', '--otp-stdin'], 0, `${PW}\n${step1Code}\n`);
    await kpm(['logout'], 0);
    const replay = await kpm(['login', 'ann@example.org', '--password-stdin', '--otp-stdin'], 5, `${PW}\n${step1Code}\n`);
    expect(replay.stderr).toMatch(/already used/);
  });

  it('wrong passwords until the security check; without solving it the right password is refused; solved (proof of work), the login works', async () => {
    const { kpm, recovery } = await flow('totp');
    await kpm(['logout'], 0);
    // the server checks after 5 failures (its default): one here, four below
    await kpm(['login', ANN, '--password-stdin'], 5, WRONG + '\n');
    for (let i = 0; i < 4; i++) expect((await kpm(['login', 'ann@example.org', '--password-stdin'], 5, WRONG + '\n')).stderr).toMatch(/wrong email or password/);
    const blocked = await kpm(['login', 'ann@example.org', '--password-stdin', '--no-pow', '--otp-stdin'], 4, `${PW}\n${recovery[0]}\n`);
    expect(blocked.stderr).toMatch(/security check/);
    const ok = await kpm(['login', 'ann@example.org', '--password-stdin', '--otp-stdin'], 0, `${PW}\n${recovery[0]}\n`);
    expect(ok.stderr).toMatch(/proof-of-work[\s\S]*Signed in/);
    expect(JSON.parse((await kpm(['2fa', 'status', '--json'], 0)).stdout).recoveryCodesLeft).toBe(9);
  });

  it('admin: list, throttle-status, set-region, disable', async () => {
    const { kpm, srv, recovery } = await flow('checked');
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
    expect((await kpm(['login', 'ann@example.org', '--password-stdin', '--otp-stdin'], 9, `${PW}\n${recovery[1]}\n`)).stderr).toMatch(/disabled/);
    expect((await runServerCli(['admin', 'disable', 'ann@example.org', '--enable', ...dd])).code).toBe(0);
  });

  it('R38: the server log holds none of the passwords, codes or tokens', async () => {
    // the whole flow: every step above, the admin commands and a TOTP sign-in
    const { kpm, srv, home, secrets, secret, recovery } = await flow('checked');
    const step1Code = totpCode(secret, Date.now(), 1);
    await kpm(['logout'], 0);
    await kpm(['login', ANN, '--password-stdin', '--otp-stdin'], 0, `${PW}\n${step1Code}\n`);
    await kpm(['login', ANN, '--password-stdin', '--otp-stdin'], 5, `${PW}\n${step1Code}\n`);
    expect((await runServerCli(['admin', 'disable', ANN, '--data-dir', srv.dataDir])).code).toBe(0);
    await kpm(['login', ANN, '--password-stdin', '--otp-stdin'], 9, `${PW}\n${recovery[1]}\n`);
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

describe('S7: one-time codes never on the command line', () => {
  it('S7: `activate CODE`, `reset-password --code C`, `login --otp C`, `2fa confirm CODE` are refused (exit 2, naming the safe form) before anything is sent, so the code stays usable; the safe forms work', async () => {
    const srv = await startServer({ args: ['--log-level', 'warn'] });
    const home = makeHome();
    const kpm = (args: string[], code: number, input?: string): Promise<RunResult> => runKpm(home, args, code, { env: { KPM_SERVER: srv.url }, input, secrets: [] });
    await kpm(['register', '--email', 's7@example.org', '--password-stdin', '--region', 'DE'], 0, PW + '\n');
    const act = /activation code: ([A-Z2-7-]+)/.exec(outboxMails(srv.dataDir).at(-1)!.text)![1];
    const refused = await kpm(['activate', act], 2);
    expect(refused.stderr).toMatch(/^kpm: kpm activate CODE is refused: a code on the command line can be read by other users of this computer \(ps\) and used before you$/m);
    expect(refused.stderr).toMatch(/kpm activate --code-stdin/);
    // nothing was sent: the code still activates
    await kpm(['activate', '--code-stdin'], 0, act + '\n');
    await kpm(['login', 's7@example.org', '--password-stdin'], 0, PW + '\n');

    await kpm(['account', 'reset-password', '--email', 's7@example.org'], 0);
    const reset = /reset code: ([A-Z2-7-]+)/.exec(outboxMails(srv.dataDir).at(-1)!.text)![1];
    expect((await kpm(['account', 'reset-password', '--code', reset, '--password-stdin'], 2, 'Second7Password\n')).stderr).toMatch(/--code CODE is refused: .*\n.*--code-stdin/);
    await kpm(['account', 'reset-password', '--password-stdin', '--code-stdin'], 0, `Second7Password\n${reset}\n`);

    await kpm(['login', 's7@example.org', '--password-stdin'], 0, 'Second7Password\n');
    const secret = JSON.parse((await kpm(['2fa', 'enable', '--totp', '--json', '--password-stdin'], 0, 'Second7Password\n')).stdout).secret as string;
    expect((await kpm(['2fa', 'confirm', totpCode(secret, Date.now())], 2)).stderr).toMatch(/kpm 2fa confirm CODE is refused/);
    await kpm(['2fa', 'confirm', '--otp-stdin'], 0, totpCode(secret, Date.now()) + '\n');
    const next = totpCode(secret, Date.now(), 1);
    expect((await kpm(['login', 's7@example.org', '--password-stdin', '--otp', next], 2, 'Second7Password\n')).stderr).toMatch(/--otp CODE is refused: .*\n.*--otp-stdin/);
    expect((await kpm(['2fa', 'disable', '--password-stdin', '--otp', next], 2, 'Second7Password\n')).stderr).toMatch(/--otp CODE is refused/);
    await kpm(['login', 's7@example.org', '--password-stdin', '--otp-stdin'], 0, `Second7Password\n${next}\n`);
    // the help offers only the safe forms
    for (const cmd of [['login'], ['account', 'reset-password'], ['2fa', 'disable'], ['activate'], ['2fa', 'confirm']]) {
      const help = (await kpm([...cmd, '--help'], 0)).stdout;
      expect(help, cmd.join(' ')).not.toMatch(/--otp <code>|--code <code>/);
    }
  });
});
