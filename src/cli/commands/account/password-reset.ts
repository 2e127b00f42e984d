// kpm account reset-password: a forgotten ACCOUNT password, reset by email (the master password
// can never be recovered).
import { Option, type Command } from 'commander';
import { info, isInteractive } from '../../io.js';
import { ctx } from '../../context.js';
import { askText } from '../../prompt.js';
import { client, serverOptions, sessionServer } from './connect.js';
import { codeInArgv, emailOf, newAccountPassword, stdinLine } from './input.js';
import { MASTER_NOTE } from './output.js';
import { checkOptions, withSecurityCheck } from './securitycheck.js';

export function registerPasswordReset(account: Command): void {
  serverOptions(
    checkOptions(
      account
        .command('reset-password')
        .description('reset a forgotten ACCOUNT password by email (the master password can never be recovered)')
        .option('--email <email>', 'the account email address (step 1: mails a code)')
        .addOption(new Option('--code <code>', 'refused: use --code-stdin').hideHelp())
        .option('--code-stdin', 'step 2: read the code from the mail from stdin (the line after the password with --password-stdin)')
        .option('--password-stdin', 'read the new account password from the first line of stdin'),
    ),
  )
    .addHelpText('after', `
This resets the password you sign in to the server with. Your master password cannot be reset or
recovered by anyone (it never leaves this device), and your vault is not touched.

Examples:
  kpm account reset-password --email ann@example.org      # mails a code, then asks for it on a terminal
  printf '%s\\n%s\\n' "$NEW_PW" "$CODE" | kpm account reset-password --password-stdin --code-stdin`)
    .action(async (o) => {
      if (o.code !== undefined) throw codeInArgv('--code CODE', 'type the code when asked, or pipe it with --code-stdin (after the new password with --password-stdin)');
      const { h, api } = await client(o, await sessionServer());
      const { paths } = ctx();
      let code: string | undefined;
      let password: string | undefined;
      if (o.codeStdin) {
        password = await newAccountPassword(paths, o);
        code = (await stdinLine('the reset code')).trim();
      } else {
        const email = o.email ?? h.loadSession(paths)?.account.email ?? (await emailOf(o));
        const r = await withSecurityCheck(api, o, (challenge) => api.call<{ message: string }>('resetRequest', { body: { email, ...(challenge ? { challenge } : {}) } }));
        info(`${r.message[0].toUpperCase()}${r.message.slice(1)}.\n${MASTER_NOTE}`);
        if (!isInteractive()) {
          await api.close();
          return info('Then run `kpm account reset-password --code-stdin --password-stdin` with the new password and the code from the mail on stdin, or `kpm account reset-password` on a terminal.');
        }
        code = await askText('Code from the mail');
      }
      password ??= await newAccountPassword(paths, o);
      await api.call('resetConfirm', { body: { code: code.trim(), password } });
      await api.close();
      if (h.loadSession(paths)) h.clearSession(paths);
      info(`The account password is changed and every device is signed out; sign in again with \`kpm login\`.\n${MASTER_NOTE}`);
    });
}
