// Issue 21, "My kpm": the account pages in a real browser (Debian's chromium through playwright-core)
// against the built kpm-server, with mail through a real SMTP receiver and the built kpm CLI.
// One browser for the whole file; each test its own server, account and browser session. Screenshots of each page at 1280 and 390 px go to test/artifacts/web/.
import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, HAVE_CHROMIUM, openBrowser, type Browser } from '../helpers/browser.js';
import { kpm as runKpm, makeHome, type RunResult } from '../helpers/kpm.js';
import { smtpReceiver, startServer, totpCode, waitFor, type RunningServer } from '../helpers/server.js';

const PW = 'Web7Password';
const NEW_PW = 'Newer8Password';
const EMAIL = 'web@example.org';
if (!HAVE_CHROMIUM) console.warn(`${CHROMIUM} is missing: the browser tests of the account pages are skipped (.ci/run installs Debian's chromium)`);

describe.skipIf(!HAVE_CHROMIUM)('account pages in a browser (kpm-server, SMTP, chromium)', () => {
  let context: BrowserContext;
  let page: Page;
  let browser: Browser;
  // per test (set by `start`): its own SMTP receiver, server and CLI home, so each test passes alone and in any order
  let smtp: Awaited<ReturnType<typeof smtpReceiver>>;
  let srv: RunningServer;
  let home: string;
  let secret = '';
  /** the one runner (test/helpers/kpm.ts): `kpm ARGS` in the test's home against its server, exit `code` */
  const kpm = (args: string[], code: number, input?: string): Promise<RunResult> => runKpm(home, args, code, { input, env: { KPM_SERVER: srv.url } });
  const mailsTo = (subject: RegExp) => smtp.mails.filter((m) => m.to === EMAIL && subject.test(m.subject));
  /** Screenshots of the current page at desktop and phone widths. */
  const shoot = (name: string) => browser.shoot(name);

  const signIn = async (password: string) => {
    await page.goto(`${srv.url}/account/signin`);
    await page.fill('#email', EMAIL);
    await page.fill('#password', password);
    await page.click('button[type=submit]');
  };

  /**
   * A new server, CLI home and browser session (no cookies), brought to `stage` by the commands of the
   * steps before it: `activated` (registered and activated, the CLI signed in as "laptop"), `browser`
   * (and signed in from the browser), `totp` (and two-step verification on, `secret` its TOTP secret).
   */
  const start = async (stage: 'server' | 'activated' | 'browser' | 'totp') => {
    smtp = await smtpReceiver();
    srv = await startServer({ args: ['--smtp', `smtp://127.0.0.1:${smtp.port}`] });
    home = makeHome();
    secret = '';
    await context.clearCookies();
    if (stage === 'server') return;
    await kpm(['register', '--email', EMAIL, '--password-stdin', '--region', 'DE'], 0, PW + '\n');
    const code = /activation code: ([A-Z2-7-]+)/.exec((await waitFor('the activation mail', () => mailsTo(/Activate/)[0])).text)![1];
    await kpm(['activate', '--code-stdin'], 0, code + '\n');
    await kpm(['login', EMAIL, '--password-stdin', '--device', 'laptop'], 0, PW + '\n');
    if (stage === 'activated') return;
    await signIn(PW);
    await expect(page.textContent('h1')).resolves.toBe('Your kpm account');
    if (stage === 'totp') {
      secret = JSON.parse((await kpm(['2fa', 'enable', '--totp', '--json', '--password-stdin'], 0, PW + '\n')).stdout).secret;
      await kpm(['2fa', 'confirm', '--otp-stdin'], 0, totpCode(secret, Date.now()) + '\n');
      await page.goto(`${srv.url}/account/`);
    }
  };

  beforeAll(async () => {
    browser = await openBrowser();
    ({ context, page } = browser);
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await srv?.stop();
    await smtp?.close();
  });

  it('register from the CLI, open the mailed link: a confirmation page; its button activates', async () => {
    await start('server');
    await kpm(['register', '--email', EMAIL, '--password-stdin', '--region', 'DE'], 0, PW + '\n');
    const mail = await waitFor('the activation mail', () => mailsTo(/Activate/)[0]);
    const link = /(http:\/\/\S+\/v1\/activate\?code=\S+)/.exec(mail.text)![1];
    const res = await page.goto(link);
    expect(res!.status()).toBe(200);
    expect(res!.headers()['content-security-policy']).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    await expect(page.textContent('h1')).resolves.toBe('Activate your kpm account');
    expect(await page.textContent('main')).toContain(EMAIL);
    await shoot('activate');
    // the GET activated nothing
    expect((await kpm(['login', EMAIL, '--password-stdin'], 4, PW + '\n')).stderr).toMatch(/not activated/);
    await page.click('button[type=submit]');
    await expect(page.textContent('h1')).resolves.toBe('Account activated');
    await shoot('activated');
    await kpm(['login', EMAIL, '--password-stdin', '--device', 'laptop'], 0, PW + '\n');
  });

  it('sign in from the browser: a session cookie that is HttpOnly and SameSite=Strict; the overview shows no vault data', async () => {
    await start('activated');
    await page.goto(`${srv.url}/account/`);
    expect(page.url()).toBe(`${srv.url}/account/signin`);
    await shoot('signin');
    await page.fill('#email', EMAIL);
    await page.fill('#password', 'Wrong1Password');
    await page.click('button[type=submit]');
    expect(await page.textContent('.notice')).toMatch(/wrong email or password/i);
    await signIn(PW);
    expect(page.url()).toBe(`${srv.url}/account/`);
    await expect(page.textContent('h1')).resolves.toBe('Your kpm account');
    const cookies = await context.cookies(srv.url);
    const session = cookies.find((c) => c.name === 'kpm_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/', secure: false });
    expect(session.value).toMatch(/^kpa_/);
    await shoot('overview');
  });

  it('devices: the CLI device is listed; signing it out from the browser signs the CLI out at its next request', async () => {
    await start('browser');
    await page.goto(`${srv.url}/account/devices`);
    const rows = await page.locator('tbody tr').allTextContents();
    expect(rows.some((r) => r.includes('laptop'))).toBe(true);
    expect(rows.some((r) => /Web browser.*this browser/.test(r))).toBe(true);
    await shoot('devices');
    await kpm(['whoami'], 0);
    await page.click('button[aria-label="Sign out laptop"]');
    expect(await page.textContent('.notice')).toContain('laptop is signed out');
    expect(await page.locator('tbody tr').allTextContents()).not.toContainEqual(expect.stringContaining('laptop'));
    const r = await kpm(['whoami'], 4);
    expect(r.stderr).toMatch(/signed out/);
  });

  it('CSRF: a form on another site that posts to the server changes nothing; a GET of a state-changing address changes nothing', async () => {
    await start('browser');
    await kpm(['login', EMAIL, '--password-stdin', '--device', 'desktop'], 0, PW + '\n');
    const serverUrl = srv.url;
    const evil: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><form id="f" method="post" action="${serverUrl}/account/devices/revoke-others"><input name="csrf" value="guess"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((ok) => evil.listen(0, '127.0.0.1', ok));
    const port = (evil.address() as { port: number }).port;
    try {
      // localhost and 127.0.0.1 are different sites: the SameSite=Strict cookie stays home
      const posted = page.waitForResponse((r) => r.url().endsWith('/account/devices/revoke-others') && r.request().method() === 'POST');
      await page.goto(`http://localhost:${port}/`);
      const res = await posted;
      expect(res.status()).toBe(403);
      await page.waitForLoadState();
      await expect(page.textContent('h1')).resolves.toBe('Not done');
      await kpm(['whoami'], 0);
    } finally {
      evil.close();
    }
    for (const path of ['devices/revoke', 'devices/revoke-others', 'tokens/revoke', 'security/totp', 'security/disable', 'security/recovery', 'identities/unlink', 'marketing', 'delete', 'signout']) {
      const res = await page.goto(`${srv.url}/account/${path}`);
      expect(res!.status(), path).toBe(404);
    }
    await kpm(['whoami'], 0);
    await page.goto(`${srv.url}/account/`);
    await expect(page.textContent('h1')).resolves.toBe('Your kpm account'); // still signed in
  });

  it('password reset from the browser: the rules are shown and checked, the two entries must match; every device is signed out', async () => {
    await start('browser');
    await page.click('header button'); // sign out
    expect(page.url()).toBe(`${srv.url}/account/signin`);
    await page.click('a[href="/account/reset"]');
    await page.fill('#email', EMAIL);
    await page.click('button[type=submit]');
    await expect(page.textContent('h1')).resolves.toBe('Check your inbox');
    const mail = await waitFor('the reset mail', () => mailsTo(/Reset/)[0]);
    const link = /(http:\/\/\S+\/account\/reset\/new\?code=\S+)/.exec(mail.text)![1];
    await page.goto(link);
    expect(await page.locator('ul.rules li').allTextContents()).toEqual(['at least 8 characters', 'at least one digit', 'at least one lowercase letter', 'at least one uppercase letter', 'no spaces', 'not one of the most common passwords']);
    await shoot('reset-new');
    await page.fill('#password', NEW_PW);
    await page.fill('#password2', NEW_PW + 'x');
    await page.click('button[type=submit]');
    expect(await page.textContent('.notice')).toMatch(/differ/);
    await page.fill('#password', 'Password1');
    await page.fill('#password2', 'Password1');
    await page.click('button[type=submit]');
    expect(await page.textContent('.notice')).toMatch(/not one of the most common passwords/);
    await page.fill('#password', NEW_PW);
    await page.fill('#password2', NEW_PW);
    await page.click('button[type=submit]');
    await expect(page.textContent('h1')).resolves.toBe('Password changed');
    expect((await kpm(['whoami'], 4)).stderr).toMatch(/signed out/);
    await signIn(PW);
    expect(await page.textContent('.notice')).toMatch(/wrong email or password/i);
    await signIn(NEW_PW);
    await expect(page.textContent('h1')).resolves.toBe('Your kpm account');
  });

  it('two-step verification from the page: the password again, a QR code, a first code; recovery codes shown once', async () => {
    await start('browser');
    await page.goto(`${srv.url}/account/security`);
    await shoot('security-off');
    await page.fill('#password', 'Wrong1Password');
    await page.click('form[action="/account/security/totp"] button');
    expect(await page.textContent('.notice')).toMatch(/wrong account password/i);
    await page.fill('#password', PW);
    await page.click('form[action="/account/security/totp"] button');
    await expect(page.textContent('h1')).resolves.toBe('Set up an authenticator app');
    expect(await page.locator('.qr svg path').count()).toBe(1);
    secret = (await page.textContent('main code'))!.replace(/\s/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await shoot('totp-setup');
    await page.fill('#code', totpCode(secret, Date.now()));
    await page.click('form[action="/account/security/totp/confirm"] button');
    expect(await page.textContent('.notice')).toContain('Two-step verification is on');
    expect(await page.locator('ul.codes li').count()).toBe(10);
    await shoot('security-codes');
  });

  it('sign in with TOTP: the second step asks for the code', async () => {
    await start('totp');
    await page.click('header button');
    await signIn(PW);
    await expect(page.textContent('h1')).resolves.toBe('Two-step verification');
    await shoot('signin-code');
    await page.fill('#code', '000000');
    await page.click('button[type=submit]');
    expect(await page.textContent('.notice')).toMatch(/wrong verification code/i);
    await page.fill('#code', totpCode(secret, Date.now(), 1));
    await page.click('button[type=submit]');
    await expect(page.textContent('h1')).resolves.toBe('Your kpm account');
    expect(await page.textContent('main')).toMatch(/Two-step verification\s*on \(authenticator app\)/);
    await page.goto(`${srv.url}/account/settings`);
    await shoot('settings');
  });
});
