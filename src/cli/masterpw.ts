// The master password given without a prompt (--password-stdin, KPM_MASTER_PASSWORD) and its size
// limit: shared by the full program (src/cli/unlock.ts) and the no-agent hot path (src/cli/fastget.ts).
import { usageError } from '../core/errors.js';
import { readStdinText } from './io.js';

export interface MasterSource {
  /** read the master password from stdin */
  passwordStdin?: boolean;
}

/** The master password from stdin or KPM_MASTER_PASSWORD, if either was given. */
export async function nonInteractiveMasterPassword(src: MasterSource): Promise<string | undefined> {
  if (src.passwordStdin) return readStdinText('master password');
  const env = process.env.KPM_MASTER_PASSWORD;
  return env !== undefined && env !== '' ? env : undefined;
}

/** The most bytes a master or data-vault password may have: larger input is refused before the key derivation. */
export const MAX_PASSWORD_BYTES = 1024;

export function checkPasswordSize(password: string, what = 'the master password'): void {
  const n = Buffer.byteLength(password, 'utf8');
  if (n > MAX_PASSWORD_BYTES) throw usageError(`${what} is longer than 1 KiB (${n} bytes); kpm never accepts such a password`, 'use a passphrase of a few words: 30 to 100 characters are plenty');
}
