// The account on a kpm server (docs/PROTOCOL.md): register, activate, login, logout, whoami,
// devices, 2fa, account reset-password, and the identity-provider commands (sso.ts). The account
// password is not the master password: it signs in to the server and can be reset by email; the
// master password never leaves this device and cannot be recovered by anyone. One file per job in
// ./account/: connect (which server, the session), input (stdin and prompts), securitycheck
// (captcha, proof of work), signin (finishing a sign-in), output, and one per command group.
import type { Command } from 'commander';
import { registerRegister } from './account/register.js';
import { registerLogin } from './account/login.js';
import { registerDevices } from './account/devices.js';
import { registerTwoFactor } from './account/twofactor.js';
import { registerPasswordReset } from './account/password-reset.js';
import { registerSso } from './sso.js';

export function register(program: Command): void {
  registerRegister(program);
  registerLogin(program);
  registerDevices(program);
  registerTwoFactor(program);
  const account = program.command('account').description('your account on the kpm server').addHelpText('after', '\nExamples:\n  kpm account reset-password');
  registerPasswordReset(account);
  registerSso(account);
}
