// kpm 2fa status|enable|confirm|disable: two-step verification of the account.
import type { Command } from 'commander';
import { EXIT, usageError } from '../../../core/errors.js';
import type { TotpSetupT, TwoFactorStatusT } from '../../../protocol/schemas.js';
import { info, isInteractive, json, out } from '../../io.js';
import { requireSettingsPassword } from '../../guard.js';
import { askSelect, askText, withRetries } from '../../prompt.js';
import { serverOptions, signedIn } from './connect.js';
import { accountPassword, codeInArgv, needTerminal, otpOf, otpOptions } from './input.js';
import { printRecoveryCodes, showQr, twoFactorText } from './output.js';

export function registerTwoFactor(program: Command): void {
  const tf = program.command('2fa').description('two-step verification: an authenticator app (recommended) or SMS, plus recovery codes').addHelpText('after', '\nExamples:\n  kpm 2fa status\n  kpm 2fa enable --totp');

  serverOptions(tf.command('status').description('what protects the sign-in').option('--json', 'print JSON'))
    .addHelpText('after', '\nExample:\n  kpm 2fa status')
    .action(async (o) => {
      const { call, api } = await signedIn(o);
      const s = await call<TwoFactorStatusT>('twoFactor');
      await api.close();
      if (o.json) return json(s);
      out(`two-step verification: ${twoFactorText(s)}`);
    });

  serverOptions(
    otpOptions(
      tf
        .command('enable')
        .description('turn on two-step verification: --totp (an authenticator app; recommended) or --sms PHONE')
        .option('--totp', 'use an authenticator app (shows a QR code and the secret)')
        .option('--sms <phone>', 'send codes by SMS to this number (international format, e.g. +4915112345678)')
        .option('--password-stdin', 'read the account password from the first line of stdin (it is asked for again: a session alone cannot turn 2-step verification on)')
        .option('--json', 'print the secret (and then the recovery codes) as JSON'),
    ),
  )
    .addHelpText('after', `
The account password is asked for first: a signed-in session alone cannot change how the account
is protected. On a terminal kpm then shows the QR code and asks for the first code. In scripts, get
the secret with --json, compute a code, and confirm it with \`kpm 2fa confirm --otp-stdin\` (for SMS,
--otp-stdin right away reads the code after the password).

Examples:
  kpm 2fa enable --totp
  kpm 2fa enable --sms +4915112345678
  printf '%s\\n' "$ACCOUNT_PW" | kpm 2fa enable --totp --json --password-stdin | jq -r .secret`)
    .action(async (o) => {
      let method: 'totp' | 'sms' | undefined = o.totp ? 'totp' : o.sms ? 'sms' : undefined;
      if (o.totp && o.sms) throw usageError('choose one of --totp and --sms');
      if (!method) {
        if (!isInteractive()) throw usageError('choose --totp (an authenticator app; recommended) or --sms PHONE');
        method = await askSelect<'totp' | 'sms'>('Second step', [
          { value: 'totp', name: 'Authenticator app (recommended)' },
          { value: 'sms', name: 'SMS (less safe: codes can be intercepted)' },
        ]);
      }
      const { call, api } = await signedIn(o);
      const password = await accountPassword(o, 'Account password (to confirm it is you)');
      if (method === 'totp') {
        const s = await call<TotpSetupT>('totpSetup', { body: { password } });
        const given = await otpOf(o);
        if (o.json && given === undefined) {
          json({ secret: s.secret, uri: s.uri, algorithm: s.algorithm, digits: s.digits, period: s.period });
          info('Confirm with `kpm 2fa confirm` and a code the app computes from this secret (--otp-stdin in scripts).');
          return api.close();
        }
        await showQr(s.uri);
        info(`Scan the QR code with your authenticator app, or enter this secret: ${s.secret}\n(${s.uri})`);
        if (given === undefined && !isInteractive()) return void (info('Then confirm with `kpm 2fa confirm` (--otp-stdin in scripts).'), await api.close());
        // a wrong code typed at the terminal is asked again (3 tries)
        const confirmTotp = async () => call<{ recoveryCodes: string[] }>('totpConfirm', { body: { code: (given ?? (await askText('The code the app shows now'))).trim() } });
        const { recoveryCodes } = given === undefined ? await withRetries(confirmTotp, [EXIT.wrongPassword]) : await confirmTotp();
        await api.close();
        info('Two-step verification with the authenticator app is on.');
        return printRecoveryCodes(recoveryCodes, Boolean(o.json));
      }
      let phone = o.sms as string | undefined;
      if (phone === undefined) phone = await askText('Phone number (international format, e.g. +4915112345678)');
      const sent = await call<{ sentTo: string }>('smsSetup', { body: { phone, password } });
      info(`A code was sent by SMS to ${sent.sentTo}.`);
      const givenSms = await otpOf(o);
      if (givenSms === undefined && !isInteractive()) {
        await api.close();
        if (o.json) json({ status: 'sent', sentTo: sent.sentTo });
        return info('Then confirm with `kpm 2fa confirm --sms` (--otp-stdin in scripts).');
      }
      const confirmSms = async () => call<{ recoveryCodes: string[] }>('smsConfirm', { body: { code: (givenSms ?? (await askText('The code from the SMS'))).trim() } });
      const { recoveryCodes } = givenSms === undefined ? await withRetries(confirmSms, [EXIT.wrongPassword]) : await confirmSms();
      await api.close();
      info('Two-step verification by SMS is on.');
      printRecoveryCodes(recoveryCodes, Boolean(o.json));
    });

  serverOptions(
    tf
      .command('confirm')
      .argument('[code]', 'refused: the code is asked for, or read with --otp-stdin')
      .description('confirm a pending `2fa enable` with its first code (asked for on a terminal)')
      .option('--sms', 'confirm the SMS set-up (default: the authenticator app)')
      .option('--otp-stdin', 'read the code from stdin')
      .option('--json', 'print the recovery codes as JSON'),
  )
    .addHelpText('after', "\nExamples:\n  kpm 2fa confirm\n  printf '%s\\n' \"$CODE\" | kpm 2fa confirm --sms --otp-stdin")
    .action(async (codeArg: string | undefined, o) => {
      if (codeArg !== undefined) throw codeInArgv('kpm 2fa confirm CODE', 'run `kpm 2fa confirm` and type the code when asked, or pipe it with --otp-stdin');
      const code = (await otpOf(o)) ?? (isInteractive() ? await askText('The first code') : undefined);
      if (!code) throw usageError('the code is missing', 'type it on a terminal, or pipe it with --otp-stdin');
      const { call, api } = await signedIn(o);
      const { recoveryCodes } = await call<{ recoveryCodes: string[] }>(o.sms ? 'smsConfirm' : 'totpConfirm', { body: { code: code.trim() } });
      await api.close();
      info(`Two-step verification ${o.sms ? 'by SMS' : 'with the authenticator app'} is on.`);
      printRecoveryCodes(recoveryCodes, Boolean(o.json));
    });

  serverOptions(otpOptions(tf.command('disable').description('turn two-step verification off (needs the account password and a current code)').option('--password-stdin', 'read the account password from the first line of stdin')))
    .option('--settings-password-stdin', 'read the settings password from stdin (when the settings are protected; after any other stdin lines)')
    .addHelpText('after', "\nExamples:\n  kpm 2fa disable\n  printf '%s\\n%s\\n' \"$ACCOUNT_PW\" \"$CODE\" | kpm 2fa disable --password-stdin --otp-stdin")
    .action(async (o) => {
      await requireSettingsPassword('2fa disable', { settingsPasswordStdin: o.settingsPasswordStdin, stdinLine: (o.passwordStdin ? 1 : 0) + (o.otpStdin ? 1 : 0) });
      const password = await accountPassword(o);
      let code = await otpOf(o);
      if (code === undefined) {
        needTerminal('a verification code', 'pipe it with --otp-stdin (after the password with --password-stdin)');
        code = await askText('A current code (or a recovery code)');
      }
      const { call, api } = await signedIn(o);
      await call('twoFactorDisable', { body: { password, code: code.trim() } });
      await api.close();
      info('Two-step verification is off; the recovery codes are void.');
    });
}
