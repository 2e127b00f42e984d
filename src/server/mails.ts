// The texts of the mails the server sends. Codes appear here and nowhere in the logs.
import type { MailMessage } from './mail.js';
import type { ServerContext } from './context.js';
import { plural } from '../core/text.js';

const footer = '\n--\nkpm account service\n';
const MASTER_NOTE =
  'Your master password is not involved: it never leaves your devices,\nnobody can reset or recover it, and your vault stays encrypted with it.';

export function activation(ctx: ServerContext, to: string, code: string): MailMessage {
  const link = `${ctx.settings.publicUrl}/v1/activate?code=${encodeURIComponent(code)}`;
  return {
    to,
    subject: 'Activate your kpm account',
    text: `Welcome to kpm.\n\nTo activate your account, open this link and press "Activate":\n\n  ${link}\n\nor run  kpm activate  and enter the code when asked:\n\n  activation code: ${code}\n\nThe code is valid for ${plural(Math.round(ctx.settings.activationTtlMs / 3600_000), 'hour')}.\nIf you did not create an account, ignore this message.\n${footer}`,
  };
}

export function alreadyRegistered(_ctx: ServerContext, to: string): MailMessage {
  return {
    to,
    subject: 'Someone tried to create a kpm account with your address',
    text: `Someone (maybe you) tried to create a kpm account with this address,\nbut you already have one. Nothing was changed.\n\nSign in with  kpm login ${to}\nForgot the account password?  kpm account reset-password --email ${to}\n\n${MASTER_NOTE}\n${footer}`,
  };
}

export function reset(ctx: ServerContext, to: string, code: string): MailMessage {
  const link = `${ctx.settings.publicUrl}/account/reset/new?code=${encodeURIComponent(code)}`;
  return {
    to,
    subject: 'Reset your kpm account password',
    text: `To choose a new account password, open this link:\n\n  ${link}\n\nor run  kpm account reset-password  and enter the code when asked:\n\n  reset code: ${code}\n\nThe code is valid for ${plural(Math.round(ctx.settings.resetTtlMs / 60_000), 'minute')}.\nEvery device is signed out when the password changes.\nIf you did not ask for this, ignore this message.\n\n${MASTER_NOTE}\n${footer}`,
  };
}

export function resetUnknown(_ctx: ServerContext, to: string): MailMessage {
  return {
    to,
    subject: 'kpm password reset request',
    text: `Someone asked to reset the password of a kpm account for this address,\nbut no account uses it.\nIf it was not you, ignore this message.\n${footer}`,
  };
}
