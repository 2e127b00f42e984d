// Sign-in with an identity provider end to end: the built `kpm` and `kpm-server` binaries against a
// real OpenID provider (oidc-provider on loopback). The test plays the user: it reads the code kpm
// prints, and approves or denies it at the provider over HTTP while kpm waits.
// First login registers, second signs in; denied → exit 9; expired → exit 4; unknown identity off a
// terminal without --region → exit 2; link/unlink on a password account; 2-step verification; a
// provider that is down → exit 6; unknown provider → exit 3.
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { kpm as runKpm, BIN, cleanEnv, describeRun, describeTty, leaks, makeHome, runTty, waitUntil, type RunResult, type TtyStep } from '../helpers/kpm.js';
import { outboxMails, runServerCli, startServer, totpCode, type RunningServer } from '../helpers/server.js';
import { CLIENT_SECRET, startIdp, type TestIdp } from '../helpers/oidc.js';

const PW = 'Sso7Password';

let idp: TestIdp;
let srv: RunningServer;

beforeAll(async () => {
  idp = await startIdp([
    { id: 'alice', email: 'alice@example.org', emailVerified: true },
    { id: 'bob-idp', email: 'bob@example.org', emailVerified: true },
    { id: 'dave', email: 'dave@example.org', emailVerified: true },
    { id: 'erin', email: 'erin@example.org', emailVerified: true },
    { id: 'tina', email: 'tina@example.org', emailVerified: true },
    { id: 'mallory', email: 'victim@example.org', emailVerified: false },
  ]);
  srv = await startServer({
    oidc: [
      { name: 'test', issuer: idp.issuer, clientId: 'kpm', secret: CLIENT_SECRET },
      { name: 'short', issuer: idp.issuer, clientId: 'kpm-short', secret: CLIENT_SECRET },
      { name: 'down', issuer: 'http://127.0.0.1:9', clientId: 'kpm', secret: CLIENT_SECRET },
    ],
  });
});

/** Runs kpm; when it prints the provider's code, `act(code)` plays the user at the provider. */
function runSso(home: string, args: string[], act?: (userCode: string) => Promise<unknown>, input?: string): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: os.tmpdir(), env: cleanEnv(home, { KPM_SERVER: srv.url }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let acted: Promise<unknown> = Promise.resolve();
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => {
      const before = stderr;
      stderr += c;
      const m = /enter the code (\S+)/.exec(stderr);
      if (m && !/enter the code/.test(before) && act) acted = act(m[1]);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      acted.then(() => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }), reject);
    });
  });
}

function expectRun(args: string[], r: RunResult, code: number): RunResult {
  expect(r.code, describeRun(args, r)).toBe(code);
  expect(leaks(r, [PW, CLIENT_SECRET]), describeRun(args, r)).toEqual([]);
  if (code !== 0) expect(r.stderr, describeRun(args, r)).not.toMatch(/\n\s+at /); // no stack traces
  return r;
}

/** `kpm(home, ARGS, code, input)`: the shared runner (test/helpers/kpm.ts) against the server, no stack trace or secret in the output. */
const kpm = (home: string, args: string[], code: number, input?: string): Promise<RunResult> =>
  runKpm(home, args, code, { env: { KPM_SERVER: srv.url }, input, secrets: [PW, CLIENT_SECRET] });

async function sso(home: string, args: string[], code: number, act?: (userCode: string) => Promise<unknown>, input?: string): Promise<RunResult> {
  return expectRun(args, await runSso(home, args, act, input), code);
}

/** `kpm ARGS` on a terminal; approves the next code the provider issues as `userId` meanwhile. */
async function ssoTty(home: string, args: string[], steps: TtyStep[], userId: string) {
  const seen = idp.userCodes.length;
  const tty = runTty(args, steps, { home, env: { KPM_SERVER: srv.url, LANG: 'it_IT.UTF-8' } });
  await waitUntil('the provider to issue a user code', () => idp.userCodes.length > seen).catch(() => undefined); // none: the run's result below says why
  if (idp.userCodes.length > seen) await idp.approve(idp.userCodes[seen], userId);
  const r = await tty;
  expect(r.code, describeTty(args, r)).toBe(0);
  return r;
}

/** A password account, registered and activated through the CLI. */
async function passwordAccount(home: string, email: string): Promise<void> {
  await kpm(home, ['register', '--email', email, '--password-stdin', '--region', 'FR'], 0, PW + '\n');
  const mail = outboxMails(srv.dataDir).reverse().find((m) => m.to === email)!;
  await kpm(home, ['activate', '--code-stdin'], 0, /activation code: ([A-Z2-7-]+)/.exec(mail.text)![1] + '\n');
  await kpm(home, ['login', email, '--password-stdin'], 0, PW + '\n');
}

describe('kpm-server --oidc', () => {
  it('documents the option; a missing secret or a bad spec is a usage error (exit 2) naming what to set; secrets never in argv', async () => {
    const help = await runServerCli(['serve', '--help']);
    expect(help.stdout).toMatch(/--oidc <spec>/);
    expect(help.stdout).toMatch(/KPM_OIDC_<NAME>_SECRET/);
    const dir = os.tmpdir();
    const start = (spec: string, env: Record<string, string> = {}) => runServerCli(['--data-dir', dir, '--port', '0', '--oidc', spec], env);
    const [noSecret, http, bad] = await Promise.all([
      start('corp=https://id.example.org,kpm'),
      start('corp=http://id.example.org,kpm', { KPM_OIDC_CORP_SECRET: 'x' }),
      start('corp', { KPM_OIDC_CORP_SECRET: 'x' }),
    ]);
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toBe('kpm-server: provider corp: set its client secret in KPM_OIDC_CORP_SECRET (or a file named by KPM_OIDC_CORP_SECRET_FILE)\n');
    expect(http.code).toBe(2);
    expect(http.stderr).toMatch(/must be https/);
    expect(bad.code).toBe(2);
  });
});

describe('kpm login --sso (kpm-server + oidc-provider)', () => {
  it.concurrent('the server lists its providers', async () => {
    const r = await kpm(makeHome(), ['account', 'providers', '--json'], 0);
    expect(JSON.parse(r.stdout).map((p: { name: string }) => p.name)).toEqual(['test', 'short', 'down']);
  });

  it.concurrent('first sign-in creates the account (verified email: active at once); the second signs in', async () => {
    const home = makeHome();
    const args = ['login', '--sso', 'test', '--region', 'de', '--no-marketing', '--json', '--device', 'ci box'];
    const r = await sso(home, args, 0, (code) => idp.approve(code, 'alice'));
    expect(r.stderr).toContain(`open ${idp.issuer}/device and enter the code`);
    expect(r.stderr).toMatch(/Created the kpm account alice@example.org \(region DE\), linked to test/);
    expect(JSON.parse(r.stdout)).toMatchObject({ account: { email: 'alice@example.org' }, device: { name: 'ci box' } });
    const me = JSON.parse((await kpm(home, ['whoami', '--json'], 0)).stdout);
    expect(me).toMatchObject({ email: 'alice@example.org', region: 'DE', marketing: false, activated: true });
    const ids = JSON.parse((await kpm(home, ['account', 'identities', '--json'], 0)).stdout);
    expect(ids).toEqual([expect.objectContaining({ provider: 'test', issuer: idp.issuer, subject: 'alice', email: 'alice@example.org' })]);
    expect(outboxMails(srv.dataDir).filter((m) => m.to === 'alice@example.org')).toEqual([]);

    const other = makeHome();
    const again = await sso(other, ['login', '--sso', 'test'], 0, (code) => idp.approve(code, 'alice'));
    expect(again.stderr).toMatch(/Signed in to .* as alice@example.org/);
    expect(again.stderr).not.toMatch(/Created/);
    expect((await kpm(other, ['whoami'], 0)).stdout).toBe('alice@example.org\n');
  });

  it.concurrent('an unknown identity off a terminal without --region/--marketing: exit 2 with what to pass; nothing is created', async () => {
    const home = makeHome();
    const r = await sso(home, ['login', '--sso', 'test'], 2, (code) => idp.approve(code, 'erin'));
    expect(r.stderr).toMatch(/kpm: no kpm account is linked to this test identity \(erin@example.org\); to create one, pass --region XX and --marketing or --no-marketing/);
    await kpm(home, ['whoami'], 4);
  });

  it.concurrent('denied at the provider: exit 9, one clear line', async () => {
    const home = makeHome();
    const r = await sso(home, ['login', '--sso', 'test'], 9, (code) => idp.deny(code));
    expect(r.stderr).toMatch(/^kpm: the sign-in was denied at the identity provider "test"$/m);
    await kpm(home, ['whoami'], 4);
  });

  it.concurrent('expired before approval (the provider says expired_token): exit 4', async () => {
    const home = makeHome();
    const r = await sso(home, ['login', '--sso', 'short'], 4);
    expect(r.stderr).toMatch(/^kpm: the code expired before it was approved at "short"; start again$/m);
  });

  it.concurrent('unknown provider: exit 3; a provider that is down: exit 6; the server keeps serving', async () => {
    const home = makeHome();
    expect((await sso(home, ['login', '--sso', 'nope'], 3)).stderr).toMatch(/unknown identity provider "nope" \(this server has: test, short, down\)/);
    const down = await sso(home, ['login', '--sso', 'down'], 6);
    expect(down.stderr).toMatch(/^kpm: the identity provider "down" cannot be reached/m);
    expect((await sso(home, ['login', '--sso', 'Bad!'], 2)).stderr).toMatch(/provider/);
    await kpm(home, ['account', 'providers'], 0);
  });

  it.concurrent('an existing password account is not taken over by email: not linked (exit 4); link, sign in with it, unlink', async () => {
    const home = makeHome();
    await passwordAccount(home, 'bob@example.org');
    const elsewhere = makeHome();
    const r = await sso(elsewhere, ['login', '--sso', 'test', '--region', 'DE', '--marketing'], 4, (code) => idp.approve(code, 'bob-idp'));
    expect(r.stderr).toMatch(/identity is not linked to a kpm account; sign in with your password and run `kpm account link --sso test`/);
    await kpm(elsewhere, ['whoami'], 4);

    const l = await sso(home, ['account', 'link', '--sso', 'test', '--password-stdin'], 0, (code) => idp.approve(code, 'bob-idp'), PW + '\n');
    expect(l.stderr).toMatch(/Linked: the test identity bob@example.org now signs in to bob@example.org/);
    const s = await sso(elsewhere, ['login', '--sso', 'test'], 0, (code) => idp.approve(code, 'bob-idp'));
    expect(s.stderr).toMatch(/as bob@example.org/);
    await kpm(home, ['account', 'unlink', '--sso', 'test'], 0);
    expect((await kpm(home, ['account', 'unlink', '--sso', 'test'], 3)).stderr).toMatch(/no test identity is linked/);
    expect(JSON.parse((await kpm(home, ['account', 'identities', '--json'], 0)).stdout)).toEqual([]);
    // the password still works
    await kpm(makeHome(), ['login', 'bob@example.org', '--password-stdin'], 0, PW + '\n');
  });

  it.concurrent('S1: the attacker signs up with `kpm login --sso` and an unverified victim@example.org; the owner registers, activates and signs in; the attacker cannot sign in to the account; enabling 2FA or linking needs the password again', async () => {
    const attacker = makeHome();
    const signup = await sso(attacker, ['login', '--sso', 'test', '--region', 'FR', '--no-marketing'], 4, (code) => idp.approve(code, 'mallory'));
    expect(signup.stderr).toMatch(/^kpm: test does not confirm that victim@example.org is yours, so it cannot create a kpm account or sign in to one; create the account with `kpm register --email victim@example.org`, then sign in and run `kpm account link --sso test`$/m);
    expect(outboxMails(srv.dataDir).filter((m) => m.to === 'victim@example.org')).toEqual([]);
    // the owner: register, activate with the code from their own mail, sign in
    const owner = makeHome();
    await passwordAccount(owner, 'victim@example.org');
    // the attacker through the provider again: no way into the owner's account
    await sso(attacker, ['login', '--sso', 'test'], 4, (code) => idp.approve(code, 'mallory'));
    expect((await kpm(attacker, ['whoami'], 4)).stderr).toMatch(/not signed in/);
    expect(JSON.parse((await kpm(owner, ['account', 'identities', '--json'], 0)).stdout)).toEqual([]);
    // the owner's session alone cannot turn 2FA on or link an identity: the password is asked for again
    expect((await kpm(owner, ['2fa', 'enable', '--totp', '--json'], 4)).stderr).toMatch(/the account password is needed, but there is no terminal to ask on/);
    expect((await kpm(owner, ['2fa', 'enable', '--totp', '--json', '--password-stdin'], 5, 'Wrong7Password\n')).stderr).toMatch(/wrong account password/);
    expect((await kpm(owner, ['account', 'link', '--sso', 'test'], 4)).stderr).toMatch(/the account password is needed/);
    expect(JSON.parse((await kpm(owner, ['2fa', 'status', '--json'], 0)).stdout)).toEqual({ totp: false, sms: null, recoveryCodesLeft: 0 });
    expect(JSON.parse((await kpm(owner, ['2fa', 'enable', '--totp', '--json', '--password-stdin'], 0, PW + '\n')).stdout).secret).toMatch(/^[A-Z2-7]+$/);
  });

  it('2-step verification still applies: without a code off a terminal exit 4; with --otp-stdin the sign-in completes', async () => {
    const home = makeHome();
    await passwordAccount(home, 'dave@example.org');
    const secret = JSON.parse((await kpm(home, ['2fa', 'enable', '--totp', '--json', '--password-stdin'], 0, PW + '\n')).stdout).secret as string;
    const recovery = (await kpm(home, ['2fa', 'confirm', '--otp-stdin'], 0, totpCode(secret, Date.now()) + '\n')).stdout.trim().split('\n');
    await sso(home, ['account', 'link', '--sso', 'test', '--password-stdin'], 0, (code) => idp.approve(code, 'dave'), PW + '\n');
    const other = makeHome();
    const no = await sso(other, ['login', '--sso', 'test'], 4, (code) => idp.approve(code, 'dave'));
    expect(no.stderr).toMatch(/a verification code is needed, but there is no terminal to ask on/);
    await kpm(other, ['whoami'], 4);
    // on a terminal the code is asked for, after the provider
    const tty = await ssoTty(other, ['login', '--sso', 'test', '--no-qr'], [{ expect: 'enter the code' }, { expect: 'authenticator app', send: totpCode(secret, Date.now(), 1) + '\r' }, { expect: 'Signed in' }], 'dave');
    expect(tty.transcript).toMatch(/as dave@example.org/);
    // off one, --otp-stdin (a recovery code works too)
    const ok = await sso(makeHome(), ['login', '--sso', 'test', '--otp-stdin'], 0, (code) => idp.approve(code, 'dave'), recovery[0] + '\n');
    expect(ok.stderr).toMatch(/as dave@example.org/);
  });

  it('on a terminal: the QR code, then the offer to create the account, region (from LANG) and consent are asked', async () => {
    const home = makeHome();
    const r = await ssoTty(
      home,
      ['login', '--sso', 'test'],
      [
        { expect: 'enter the code' },
        { expect: 'Create a kpm account for tina@example.org', send: '\r' },
        { expect: 'Region', send: '\r' }, // the first choice: the region of LANG
        { expect: 'marketing offers', send: 'y\r' },
        { expect: 'Signed in' },
      ],
      'tina',
    );
    expect(r.transcript).toMatch(/[▀▄█]{10}/);
    expect(r.transcript).toMatch(/Italy \(IT\)/);
    const me = JSON.parse((await kpm(home, ['whoami', '--json'], 0)).stdout);
    expect(me).toMatchObject({ email: 'tina@example.org', region: 'IT', marketing: true });
  });
});
