// What the account commands read: lines of stdin (the password first, then a code), or answers
// at a terminal through the one prompt layer (src/cli/prompt.ts). Off a terminal a missing answer
// of a sign-in is exit 4 (README "Exit codes"). One-time codes never come from argv (S7).
import { Option, type Command } from 'commander';
import { KpmError, EXIT, usageError } from '../../../core/errors.js';
import type { KpmPaths } from '../../../core/paths.js';
import { info, readStdinText } from '../../io.js';
import { askSecret, askText, needTerminal as needAnswer } from '../../prompt.js';
import type { MergePasswords } from '../loginmerge.js';

/** An answer a sign-in needs, with no terminal to ask on: exit 4 (locked), as README "Exit codes" says. */
export const needTerminal = (what: string, hint: string): void => needAnswer(what, hint, EXIT.locked);

let stdinLines: Promise<string[]> | undefined;
/** stdin split in lines, read once: the password first (--password-stdin), then a code (--otp-stdin). */
export function stdinLine(what: string): Promise<string> {
  stdinLines ??= readStdinText(what, false).then((t) => t.split(/\r?\n/));
  return stdinLines.then((lines) => {
    const l = lines.shift();
    if (l === undefined || l === '') throw usageError(`${what}: expected a line on stdin`);
    return l;
  });
}

export async function emailOf(o: { email?: string }, arg?: string): Promise<string> {
  const e = arg ?? o.email;
  if (e) return e;
  needTerminal('the email address', 'pass it as an argument or with --email');
  return askText('Email address');
}

export async function accountPassword(o: { passwordStdin?: boolean }, message = 'Account password'): Promise<string> {
  if (o.passwordStdin) return stdinLine('account password');
  needTerminal('the account password', 'pass it on stdin with --password-stdin');
  return askSecret(message);
}

/**
 * S7: one-time codes never come from argv, where other users of the machine can read them (`ps`)
 * and redeem them first. The old argv forms stay as options only to say so and name the safe form.
 */
export function codeInArgv(form: string, hint: string): KpmError {
  return usageError(`${form} is refused: a code on the command line can be read by other users of this computer (ps) and used before you`, hint);
}

/** A code from stdin (the line after any password) or, on a terminal, from a prompt. */
export async function codeOf(o: { stdin?: boolean }, what: string, message: string, hint: string): Promise<string> {
  if (o.stdin) return (await stdinLine(what)).trim();
  needTerminal(what, hint);
  return (await askText(message)).trim();
}

export async function otpOf(o: { otp?: string; otpStdin?: boolean }): Promise<string | undefined> {
  if (o.otp !== undefined) throw codeInArgv('--otp CODE', 'type the code when asked, or pipe it with --otp-stdin (after the password with --password-stdin)');
  if (o.otpStdin) return stdinLine('verification code');
  return undefined;
}

export function otpOptions(cmd: Command): Command {
  return cmd.addOption(new Option('--otp <code>', 'refused: use --otp-stdin').hideHelp()).option('--otp-stdin', 'read the verification code from stdin (after the password, with --password-stdin)');
}

/** The seed's rule and the common list, checked here before the server does (R26). */
async function checkNewPassword(pw: string): Promise<void> {
  const { passwordProblems, describeProblems } = await import('../../../protocol/password-policy.js');
  const problems = await passwordProblems(pw);
  if (problems.length > 0) throw usageError(describeProblems(problems));
}

/** R21: the account password must not be the master password (the server sees it at every sign-in). */
async function refuseMasterPassword(paths: KpmPaths, pw: string): Promise<void> {
  const { existsSync } = await import('node:fs');
  if (!existsSync(paths.keyring)) return;
  const { unlockProfile } = await import('../../unlock.js');
  try {
    await unlockProfile(paths, pw);
  } catch (e) {
    if (e instanceof KpmError && e.exitCode === EXIT.wrongPassword) return;
    throw e;
  }
  throw usageError('the account password must not be your master password', 'the server sees the account password at every sign-in; the master password must never leave this device');
}

/** A new account password: from stdin, or asked twice on a terminal until it follows the rule. */
export async function newAccountPassword(paths: KpmPaths, o: { passwordStdin?: boolean }): Promise<string> {
  if (o.passwordStdin) {
    const pw = await stdinLine('account password');
    await checkNewPassword(pw);
    await refuseMasterPassword(paths, pw);
    return pw;
  }
  needTerminal('the new account password', 'pass it on stdin with --password-stdin');
  info('The account password signs in to the server. It must differ from your master password:\nat least 8 characters with a digit, a lowercase and an uppercase letter, no spaces.');
  for (;;) {
    const pw = await askSecret('Account password');
    try {
      await checkNewPassword(pw);
      await refuseMasterPassword(paths, pw);
    } catch (e) {
      if (!(e instanceof KpmError) || e.exitCode !== EXIT.usage) throw e;
      info(e.message);
      continue;
    }
    if ((await askSecret('Confirm the account password')) === pw) return pw;
    info('The two entries do not match. Try again.');
  }
}

/** The two master passwords of `kpm login --merge`: the next stdin lines, or asked on a terminal. */
export function mergePasswords(fromStdin: boolean): MergePasswords {
  const ask = async (what: string, message: string) => {
    if (fromStdin) return stdinLine(what);
    needTerminal(what, 'pass it on stdin with --password-stdin (after the account password and any code)');
    return askSecret(message);
  };
  return {
    local: () => ask("this device's master password", "Master password of this device's vault"),
    account: () => ask("the account's master password", "Master password of the account's vault (set on your other device)"),
  };
}

export function deviceName(name?: string): string {
  const n = (name ?? process.env.HOSTNAME ?? '').replace(/\p{Cc}/gu, '').trim();
  if (n) return [...n].slice(0, 64).join('');
  return 'kpm device';
}
