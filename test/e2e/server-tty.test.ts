// The account commands on a terminal (test/helpers/pty.py): register asks for email, password twice
// (re-asking after a broken rule or a mismatch), region and the marketing choice; enabling TOTP shows a
// QR code; login asks for the second-factor code.
import { describe, expect, it } from 'vitest';
import { describeTty, makeHome, run, runTty } from '../helpers/kpm.js';
import { outboxMails, startServer, totpCode } from '../helpers/server.js';

const PW = 'Typed7Password';

describe('account commands on a terminal', () => {
  it('register → activate → login; 2fa enable --totp shows a QR code; login asks for the code', async () => {
    const srv = await startServer({ args: ['--log-level', 'warn'] });
    const home = makeHome();
    const env = { KPM_SERVER: srv.url, LANG: 'fr_FR.UTF-8' };
    const reg = await runTty(
      ['register'],
      [
        { expect: 'Email address', send: 'tty@example.org\r' },
        { expect: 'Account password', send: 'password1\r' },
        { expect: 'uppercase letter' },
        { expect: 'Account password', send: PW + '\r' },
        { expect: 'Confirm the account password', send: 'Mismatch7Password\r' },
        { expect: 'do not match' },
        { expect: 'Account password', send: PW + '\r' },
        { expect: 'Confirm the account password', send: PW + '\r' },
        { expect: 'Region', send: '\r' }, // the first choice: the region of LANG
        { expect: 'marketing offers', send: '\r' }, // default: no
        { expect: 'Check your inbox' },
      ],
      { home, env },
    );
    expect(reg.code, describeTty(['register'], reg)).toBe(0);
    expect(reg.transcript).toMatch(/France \(FR\)/);
    expect(reg.transcript).not.toContain(PW);
    const code = /activation code: ([A-Z2-7-]+)/.exec(outboxMails(srv.dataDir).at(-1)!.text)![1];
    // the code is asked for on a terminal (S7: never from argv)
    const act = await runTty(['activate'], [{ expect: 'Activation code', send: code + '\r' }, { expect: 'is activated' }], { home, env });
    expect(act.code, describeTty(['activate'], act)).toBe(0);

    const login = await runTty(['login'], [{ expect: 'Email address', send: 'tty@example.org\r' }, { expect: 'Account password', send: PW + '\r' }, { expect: 'Signed in' }], { home, env });
    expect(login.code, describeTty(['login'], login)).toBe(0);
    const who = await run(['whoami', '--json'], { home, env });
    expect(JSON.parse(who.stdout)).toMatchObject({ region: 'FR', marketing: false });

    // The QR code is drawn, the secret is shown; a wrong code is asked again, and the third ends the command (exit 5).
    const enable = await runTty(['2fa', 'enable', '--totp'], [
      { expect: 'Account password \\(to confirm it is you\\)', send: PW + '\r' },
      { expect: 'Scan the QR code' },
      { expect: 'The code the app shows now', send: '000000\r' },
      { expect: '2 tries left' },
      { expect: 'The code the app shows now', send: '000000\r' },
      { expect: '1 try left' },
      { expect: 'The code the app shows now', send: '000000\r' },
    ], { home, env });
    expect(enable.code, describeTty(['2fa'], enable)).toBe(5);
    expect(enable.transcript).toMatch(/[▀▄█]{10}/);
    const secret = /enter this secret: ([A-Z2-7]+)/.exec(enable.transcript)![1];
    const confirm = await run(['2fa', 'confirm', '--otp-stdin'], { home, env, input: totpCode(secret, Date.now()) + '\n' });
    expect(confirm.code).toBe(0);
    expect(confirm.stdout.trim().split('\n')).toHaveLength(10);

    await run(['logout'], { home, env });
    const next = totpCode(secret, Date.now(), 1);
    const otp = await runTty(
      ['login', 'tty@example.org'],
      [{ expect: 'Account password', send: PW + '\r' }, { expect: 'authenticator app', send: '000000\r' }, { expect: 'Try again' }, { expect: 'Code', send: next + '\r' }, { expect: 'Signed in' }],
      { home, env },
    );
    expect(otp.code, describeTty(['login'], otp)).toBe(0);
  });
});
