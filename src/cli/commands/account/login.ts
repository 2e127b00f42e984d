// kpm login (a password sign-in; --sso goes to ../sso.ts), logout, whoami.
import type { Command } from 'commander';
import { KpmError, EXIT, usageError } from '../../../core/errors.js';
import type { AccountT, LoginResultT } from '../../../protocol/schemas.js';
import { info, json, out, warn } from '../../io.js';
import { requireSettingsPassword } from '../../guard.js';
import { ctx } from '../../context.js';
import { client, http, serverOptions, serverUrl, sessionServer, signedIn } from './connect.js';
import { accountPassword, deviceName, emailOf, mergePasswords, otpOf, otpOptions } from './input.js';
import { twoFactorText } from './output.js';
import { checkOptions, withSecurityCheck } from './securitycheck.js';
import { finishLogin, secondStep } from './signin.js';

export function registerLogin(program: Command): void {
  serverOptions(
    checkOptions(
      otpOptions(
        program
          .command('login [email]')
          .description('sign in to your account on a kpm server; this device gets its own session')
          .option('--email <email>', 'email address (or give it as the argument)')
          .option('--password-stdin', 'read the account password from the first line of stdin')
          .option('--device <name>', 'name of this device in `kpm devices` (default: the host name)')
          .option('--json', 'print the result as JSON')
          .option('--sso <provider>', 'sign in with an identity provider configured on the server (open a URL, enter a code); offers to create an account for a new identity')
          .option('--region <code>', 'with --sso, if a new account is created: its region (ISO 3166 country code)')
          .option('--marketing', 'with --sso, if a new account is created: agree to marketing offers by email')
          .option('--no-marketing', 'with --sso, if a new account is created: do not agree to marketing offers')
          .option('--no-qr', 'with --sso: do not draw the QR code of the sign-in URL')
          .option('--merge', "on a device with its own vault, when the account already has one: bring this device's entries into the account's vaults (asks this device's master password, then the account's; with --password-stdin: the next two lines)"),
      ),
    ),
  )
    .addHelpText('after', `
Examples:
  kpm login --sso google
  kpm login --sso google --region DE --no-marketing      # off a terminal: creates the account if needed
  kpm login ann@example.org --server https://kpm.example.org
  printf '%s\\n' "$ACCOUNT_PW" | kpm login ann@example.org --password-stdin
  printf '%s\\n%s\\n' "$ACCOUNT_PW" "$CODE" | kpm login ann@example.org --password-stdin --otp-stdin
  kpm login ann@example.org --merge      # this device has its own vault: bring its entries into the account's`)
    .action(async (emailArg: string | undefined, o) => {
      const current = (await http()).loadSession(ctx().paths);
      if (current) info(`Already signed in as ${current.account.email} on ${current.server} (device "${current.device.name}", ${current.device.id}); signing in again replaces that session.`);
      if (o.sso !== undefined) {
        if (emailArg !== undefined || o.email !== undefined || o.passwordStdin) throw usageError('--sso signs in without an email address or account password');
        return (await import('../sso.js')).ssoLogin(o);
      }
      if (o.region !== undefined || o.marketing !== undefined) throw usageError('--region and --marketing go with --sso (a new account); `kpm register` takes them too');
      const { h, api } = await client(o, await sessionServer());
      const { paths } = ctx();
      const email = await emailOf(o, emailArg);
      const password = await accountPassword(o);
      const otp = await otpOf(o);
      const { hostname } = await import('node:os');
      const body = { email, password, deviceName: deviceName(o.device ?? hostname()), ...(otp ? { otp: otp.trim() } : {}) };
      const r = await withSecurityCheck(api, o, (challenge) => api.call<LoginResultT>('login', { body: challenge ? { ...body, challenge } : body }));
      const tokens = r.status === 'ok' ? r : await secondStep(api, r);
      await finishLogin(h, paths, api, tokens, Boolean(o.json), o.merge ? mergePasswords(Boolean(o.passwordStdin)) : undefined);
      await api.close();
    });

  serverOptions(program.command('logout').description('sign this device out (its tokens are deleted here and revoked on the server)'))
    .option('--settings-password-stdin', 'read the settings password from stdin (when the settings are protected; after any other stdin lines)')
    .addHelpText('after', '\nExample:\n  kpm logout')
    .action(async (o) => {
      await requireSettingsPassword('logout', { settingsPasswordStdin: o.settingsPasswordStdin });
      const h = await http();
      const { paths } = ctx();
      const session = h.loadSession(paths);
      if (!session) return info('Not signed in.');
      try {
        const api = new h.ApiClient(await serverUrl(o, session.server), o.insecure);
        await h.authedCall(paths, api, session, 'logout', { body: {} });
        await api.close();
      } catch (e) {
        if (!(e instanceof KpmError) || e.exitCode === EXIT.usage) throw e;
        warn(`the server could not be told (${e.message}); revoke this device later with \`kpm devices revoke ${session.device.id}\``);
      }
      h.clearSession(paths);
      info('Signed out.');
    });

  serverOptions(program.command('whoami').description('the signed-in account and device').option('--json', 'print JSON'))
    .option('--fingerprint', "print this account's sharing fingerprint (docs/SHARING.md; needs the master password)")
    .option('--password-stdin', 'with --fingerprint: read the master password from stdin')
    .addHelpText('after', '\nExamples:\n  kpm whoami\n  kpm whoami --json | jq -r .email\n  kpm whoami --fingerprint')
    .action(async (o) => {
      if (o.fingerprint) return (await import('../share.js')).printFingerprint(o);
      const { call, api, session } = await signedIn(o);
      const a = await call<AccountT>('account');
      await api.close();
      if (o.json) return json({ ...a, server: session.server });
      out(a.email);
      info(`server ${session.server}, region ${a.region}, device "${a.device.name}" (${a.device.id})\ntwo-step verification: ${twoFactorText(a.twoFactor)}`);
    });
}
