// Issue 21: `kpm login --sso NAME` for a provider without a device grant (Apple, Facebook): the
// built kpm-server is the device-flow front. The real oidc-provider runs WITHOUT a device endpoint;
// the user's side is Debian's chromium (playwright-core, nothing downloaded): it opens the server URL
// kpm prints, sees which device asked, confirms, signs in at the provider (authorization code +
// PKCE), and kpm's poll completes. Screenshots go to test/artifacts/web/ (device-*.png).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import * as os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, HAVE_CHROMIUM, openBrowser, type Browser } from '../helpers/browser.js';
import { BIN, cleanEnv, describeRun, describeTty, leaks, makeHome, run, runTty, type RunResult } from '../helpers/kpm.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { CLIENT_SECRET, startIdp, type TestIdp } from '../helpers/oidc.js';

if (!HAVE_CHROMIUM) console.warn(`${CHROMIUM} is missing: the browser test of the device-flow front is skipped (.ci/run installs Debian's chromium)`);

/** A free loopback port: the provider must know the server's callback URL before the server starts. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise((ok) => s.close(ok));
  return port;
}

describe.skipIf(!HAVE_CHROMIUM)('kpm login --sso through kpm-server for a provider without a device grant (chromium)', () => {
  let idp: TestIdp;
  let srv: RunningServer;
  let context: BrowserContext;
  let page: Page;
  let browser: Browser;

  beforeAll(async () => {
    const port = await freePort();
    idp = await startIdp(
      [
        { id: 'ann', email: 'ann@example.org', emailVerified: true },
        { id: 'mallory', email: 'ann@example.org', emailVerified: false },
      ],
      { deviceFlow: false, redirectUris: [`http://127.0.0.1:${port}/account/sso/callback`] },
    );
    srv = await startServer({ oidc: [{ name: 'apple', issuer: idp.issuer, clientId: 'kpm', secret: CLIENT_SECRET }], args: ['--port', String(port)] });
    expect(srv.url).toBe(`http://127.0.0.1:${port}`);
    browser = await openBrowser();
    ({ context, page } = browser);
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
  });

  const shoot = (name: string) => browser.shoot(name);


  /** Runs kpm; when it prints the server's link, `act(link, code)` plays the user in the browser. */
  function runSso(home: string, args: string[], act: (link: string, code: string) => Promise<unknown>): Promise<RunResult> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: os.tmpdir(), env: cleanEnv(home, { KPM_SERVER: srv.url }), stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let acted: Promise<unknown> | undefined;
      child.stdout.on('data', (c: Buffer) => (stdout += c));
      child.stderr.on('data', (c: Buffer) => {
        stderr += c;
        const m = /enter the code (\S+)\n\(or open (\S+) directly\)/.exec(stderr);
        if (m && !acted) acted = act(m[2], m[1]).catch((e) => (child.kill('SIGKILL'), Promise.reject(e)));
      });
      child.stdin.end('');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        (acted ?? Promise.resolve()).then(() => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }), reject);
      });
    });
  }

  /** The user in chromium: the link, the confirmation (naming the device), the provider as `userId`. */
  async function approveInBrowser(link: string, code: string, userId: string, device: string, shots?: string) {
    await context.clearCookies();
    // who signs in at the test provider (its login step reads this cookie)
    await context.addCookies([{ name: 'test_user', value: userId, url: idp.issuer }]);
    const res = await page.goto(link);
    expect(res!.status()).toBe(200);
    expect(res!.headers()['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    await expect(page.inputValue('#code')).resolves.toBe(code);
    if (shots) await shoot(`${shots}-code`);
    await page.click('button[type=submit]');
    await expect(page.textContent('h1')).resolves.toBe('Is this your device?');
    expect(await page.textContent('main')).toContain(device);
    if (shots) await shoot(`${shots}-confirm`);
    await page.click('button:has-text("Continue with apple")');
    await page.waitForSelector('h1:has-text("Back to your device")');
    expect(page.url()).toMatch(new RegExp(`^${srv.url}/account/sso/callback\\?`));
    if (shots) await shoot(`${shots}-done`);
  }

  const expectRun = (args: string[], r: RunResult, code: number) => {
    expect(r.code, describeRun(args, r)).toBe(code);
    expect(leaks(r, [CLIENT_SECRET]), describeRun(args, r)).toEqual([]);
    if (code !== 0) expect(r.stderr).not.toMatch(/\n\s+at /);
    return r;
  };

  it('first sign-in creates the account (the provider vouches for the address), the second signs in; no exit 6', async () => {
    const home = makeHome();
    const args = ['login', '--sso', 'apple', '--region', 'DE', '--no-marketing', '--device', 'ci laptop'];
    const r = expectRun(args, await runSso(home, args, (link, code) => approveInBrowser(link, code, 'ann', 'ci laptop', 'device')), 0);
    expect(r.stderr).toMatch(new RegExp(`To continue with apple, open ${srv.url}/account/device and enter the code [B-Z]{4}-[B-Z]{4}`));
    expect(r.stderr).toMatch(/Created the kpm account ann@example.org \(region DE\), linked to apple/);
    const me = await run(['whoami', '--json'], { home, env: { KPM_SERVER: srv.url } });
    expect(JSON.parse(me.stdout)).toMatchObject({ email: 'ann@example.org', region: 'DE' });

    const other = makeHome();
    const again = ['login', '--sso', 'apple', '--device', 'ci desktop'];
    expectRun(again, await runSso(other, again, (link, code) => approveInBrowser(link, code, 'ann', 'ci desktop')), 0);
    expect(JSON.parse((await run(['whoami', '--json'], { home: other, env: { KPM_SERVER: srv.url } })).stdout)).toMatchObject({ email: 'ann@example.org' });
  });

  it('S1: an identity whose provider does not vouch for the address of an account signs in to nothing (exit 4)', async () => {
    const home = makeHome();
    const args = ['login', '--sso', 'apple', '--region', 'FR', '--no-marketing', '--device', 'intruder'];
    const r = expectRun(args, await runSso(home, args, (link, code) => approveInBrowser(link, code, 'mallory', 'intruder')), 4);
    expect(r.stderr).toMatch(/apple does not confirm that ann@example.org is yours, so it cannot create a kpm account or sign in to one/);
    expect((await run(['whoami'], { home, env: { KPM_SERVER: srv.url } })).code).not.toBe(0);
  });

  it('on a terminal: the server URL, the code and a QR code of the link; Ctrl-C cancels', async () => {
    const home = makeHome();
    const args = ['login', '--sso', 'apple'];
    const t = await runTty(args, [{ expect: 'enter the code' }, { expect: 'Waiting for the approval', send: '\x03' }], { home, env: { KPM_SERVER: srv.url } });
    expect(t.transcript, describeTty(args, t)).toContain(`${srv.url}/account/device`);
    expect(t.transcript).toMatch(/[▀▄█]{10}/);
    expect(t.code).not.toBe(0);
  });
});
