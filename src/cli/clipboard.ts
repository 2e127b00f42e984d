// --copy: put a value on the clipboard and clear it later, only if it still holds our value.
// The clearing is done by a small detached kpm process that receives a hash of the value, never the value.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { KpmError, EXIT } from '../core/errors.js';
import { info, plural } from './io.js';
import { childEnv, withoutSecretEnv } from '../core/childenv.js';

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

export async function copyAndClear(value: string, clearSeconds: number): Promise<void> {
  const { default: clipboard } = await import('clipboardy');
  try {
    await withoutSecretEnv(() => clipboard.write(value)); // xclip, wl-copy … inherit the environment
  } catch (e) {
    throw new KpmError(`cannot use the clipboard: ${(e as Error).message.split('\n')[0]}`, EXIT.error, 'print the value instead (without --copy)');
  }
  if (clearSeconds > 0) {
    const child = spawn(process.execPath, [process.argv[1], '__clipclear', String(clearSeconds)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'], env: childEnv() });
    child.stdin!.end(digest(value));
    child.unref();
    info(`Copied; the clipboard is cleared in ${plural(clearSeconds, 'second')}.`);
  } else info('Copied.');
}

/** The detached clearer: waits, then clears the clipboard if it still holds the value with this hash. */
export async function clearLater(seconds: number, expectedDigest: string, clipboard?: { read(): Promise<string>; write(s: string): Promise<void> }): Promise<boolean> {
  const cb = clipboard ?? (await import('clipboardy')).default;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  let current: string;
  try {
    current = await cb.read();
  } catch {
    return false;
  }
  if (digest(current) !== expectedDigest) return false;
  await cb.write('');
  return true;
}

export { digest as clipboardDigest };
