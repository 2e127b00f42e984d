// The settings-password guard. While the settings are protected (`kpm settings lock`), guarded
// actions need the settings password: a hidden prompt on a terminal, `--settings-password-stdin`
// off one, and otherwise exit 4 ("locked") with a hint. Wrong passwords: exit 5, throttled
// (src/settings/throttle.ts). A settings file that fails verification: exit 8.
import { KpmError, EXIT, locked, usageError } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';
import { openSigner, settingsFiles, wipeSigner, type SettingsState, type Signer } from '../settings/protection.js';
import { readState } from '../settings/state.js';
import { delayAfter, FREE_FAILURES, MAX_DELAY_MS, recordFailure, recordSuccess, reserveAttempt } from '../settings/throttle.js';
import { ctx } from './context.js';
import { info, isInteractive, readStdinText } from './io.js';
import { askSecret } from './prompt.js';

/** Every action the settings password guards (shown by `kpm settings status`, docs/SETTINGS.md). */
export const GUARDED_ACTIONS: readonly { action: string; what: string }[] = [
  { action: 'config set', what: 'change a setting' },
  { action: 'config reset', what: 'reset a setting to its default' },
  { action: 'settings unlock', what: 'remove the settings protection' },
  { action: 'logout', what: 'sign out of the sync server' },
  { action: 'reset', what: 'delete all local kpm data' },
  { action: 'agent stop', what: 'stop the agent other than by its idle timeout or `kpm lock`' },
  { action: '2fa disable', what: 'turn off two-step verification' },
  { action: 'devices revoke', what: 'sign a device out' },
  { action: 'account unlink', what: 'unlink an identity provider from the account' },
  { action: 'token revoke', what: 'revoke a service token' },
  { action: 'vault rm', what: 'delete a vault' },
  { action: 'uninstall', what: "remove kpm's data and completion scripts" },
];

export interface GuardOptions {
  /** read the settings password from stdin (`--settings-password-stdin`) */
  settingsPasswordStdin?: boolean;
  /**
   * Which line of stdin holds it (0-based; default 0). For a command that also reads another
   * secret from stdin, e.g. the master password on line 1 and the settings password on line 2.
   */
  stdinLine?: number;
}

async function settingsPassword(action: string, opts: GuardOptions): Promise<string> {
  if (opts.settingsPasswordStdin) {
    const line = opts.stdinLine ?? 0;
    const text = (await readStdinText('settings password', false)).split('\n')[line]?.replace(/\r$/, '');
    if (!text) throw usageError(`--settings-password-stdin: expected the settings password on line ${line + 1} of stdin`);
    return text;
  }
  if (isInteractive()) return askSecret(`Settings password (needed to ${action})`);
  throw locked(`the settings are protected: "kpm ${action}" needs the settings password`, 'pass it with --settings-password-stdin, or run the command on a terminal');
}

const seconds = (ms: number) => (ms >= 10_000 ? String(Math.round(ms / 1000)) : (Math.ceil(ms / 100) / 10).toString());

/**
 * Asks for and checks the settings password if the settings are protected. Returns what it
 * unlocks (to re-sign the settings) or null when they are not protected. The caller wipes it.
 */
export async function unlockSettings(paths: KpmPaths, action: string, opts: GuardOptions, state?: SettingsState): Promise<Signer | null> {
  const st = state ?? readState(paths, false);
  if (!st.record) return null;
  const password = await settingsPassword(action, opts);
  const slot = reserveAttempt(paths);
  if (slot.waitMs > 0) {
    info(`kpm: ${slot.failuresBefore} wrong settings passwords in a row; waiting ${seconds(slot.waitMs)} s before checking this one`);
    await new Promise((r) => setTimeout(r, slot.waitMs));
  }
  let signer: Signer | null;
  try {
    signer = await openSigner(settingsFiles(paths).config, st.values, st.record, password);
  } catch (e) {
    // the password was right, but the record does not hold together: not a guess, do not count it
    if (e instanceof KpmError && e.exitCode === EXIT.corrupt) recordSuccess(paths);
    throw e;
  }
  if (!signer) {
    const s = recordFailure(paths);
    const next = delayAfter(s.failures);
    throw new KpmError(
      'wrong settings password',
      EXIT.wrongPassword,
      s.failures >= FREE_FAILURES
        ? `${s.failures} wrong in a row: the next try waits ${seconds(next)} s (the wait doubles with each failure, up to ${MAX_DELAY_MS / 1000} s)`
        : 'forgot it? `kpm settings recover` removes the protection with the master password',
    );
  }
  recordSuccess(paths);
  return signer;
}

/**
 * Guard for an action: a no-op when the settings are not protected; otherwise asks for the
 * settings password (TTY) or reads it with `--settings-password-stdin`, else exit 4. Exit 5 for a
 * wrong password (throttled), exit 8 when the settings fail verification.
 */
export async function requireSettingsPassword(action: string, opts: GuardOptions = {}): Promise<void> {
  wipeSigner(await unlockSettings(ctx().paths, action, opts));
}
