// How the account commands show things: dates, the 2FA state, QR codes, recovery codes.
import type { TwoFactorStatusT } from '../../../protocol/schemas.js';
import { info, json, out } from '../../io.js';

export const MASTER_NOTE = 'Your master password is not involved: nobody can reset or recover it, and your vault stays as it is.';

export const since = (iso: string) => iso.replace('T', ' ').slice(0, 16);

export function twoFactorText(t: TwoFactorStatusT): string {
  const on = [...(t.totp ? ['authenticator app'] : []), ...(t.sms ? [`SMS to ${t.sms}`] : [])];
  return on.length ? `${on.join(' and ')}; ${t.recoveryCodesLeft} recovery codes left` : 'off';
}

export async function showQr(uri: string): Promise<void> {
  const { default: qrcode } = await import('qrcode-terminal');
  await new Promise<void>((resolve) =>
    qrcode.generate(uri, { small: true }, (qr: string) => {
      process.stderr.write(qr + '\n');
      resolve();
    }),
  );
}

export function printRecoveryCodes(codes: string[], asJson: boolean): void {
  if (asJson) return json({ recoveryCodes: codes });
  if (codes.length === 0) return info('Your existing recovery codes stay valid.');
  info('Recovery codes: each works once, in place of a code, if you lose your phone. They are shown only now:');
  for (const c of codes) out(c);
}
