// How a command gets at the vault: with the master password given (--password-stdin or
// KPM_MASTER_PASSWORD), a session of its own unlocked with it, even while an agent runs; otherwise
// the running agent if there is one; otherwise a TTY prompt; otherwise exit 4.
import { utf8, wipe } from '../crypto/bytes.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from '../vault/session.js';
import { unlockKeyringAhead } from '../vault/store.js';
import { noVaultError, unlockKeyring, type UnlockedProfile } from '../vault/keyring.js';
import { locked, usageError } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';
import { WRITE_METHODS, type VaultApi } from '../agent/api.js';
import { sessionApi } from '../agent/local.js';
import { agentApi, agentStatus, startAgent } from '../agent/client.js';
import { info, isInteractive, plural, warn } from './io.js';
import { askConfirm, askSecret, withRetries } from './prompt.js';
import { checkPasswordSize, nonInteractiveMasterPassword, type MasterSource } from './masterpw.js';

export { checkPasswordSize, MAX_PASSWORD_BYTES, nonInteractiveMasterPassword, type MasterSource } from './masterpw.js';

export async function masterPassword(src: MasterSource, prompt = 'Master password'): Promise<string> {
  const given = await nonInteractiveMasterPassword(src);
  if (given !== undefined) return given;
  if (!isInteractive()) throw locked('the vault is locked', 'run `kpm unlock` first, or pass the master password with --password-stdin or KPM_MASTER_PASSWORD');
  return askSecret(prompt);
}

/**
 * Unlocks with the master password from stdin or KPM_MASTER_PASSWORD, else asked on the terminal,
 * up to 3 times while it is wrong (exit 5 after the third); off a terminal without one, exit 4.
 */
export async function unlockWithPassword(paths: KpmPaths, src: MasterSource, prompt = 'Master password', ahead = false): Promise<UnlockedProfile> {
  const given = await nonInteractiveMasterPassword(src);
  if (given !== undefined) return unlockProfile(paths, given, ahead);
  if (!isInteractive()) throw locked('the vault is locked', 'run `kpm unlock` first, or pass the master password with --password-stdin or KPM_MASTER_PASSWORD');
  return withRetries(async () => unlockProfile(paths, await askSecret(prompt)));
}

/** `ahead`: the vault logs are read and hashed during the key derivation, for a session opened right after (src/vault/store.ts prefetchLog). */
export async function unlockProfile(paths: KpmPaths, password: string, ahead = false): Promise<UnlockedProfile> {
  checkPasswordSize(password);
  const pw = utf8.encode(password);
  try {
    if (!existsSync(paths.keyring)) await installDownloaded(paths, pw);
    return await (ahead ? unlockKeyringAhead : unlockKeyring)(paths, pw);
  } finally {
    wipe(pw);
  }
}

/** A new device's first unlock: the keyring downloaded at login becomes this device's keyring. */
async function installDownloaded(paths: KpmPaths, pw: Uint8Array): Promise<void> {
  const { hasDownloadedKeyring, installDownloadedKeyring } = await import('../sync/newdevice.js');
  if (!hasDownloadedKeyring(paths)) return;
  const { loadSession, notSignedIn } = await import('../sync/http.js');
  const s = loadSession(paths);
  if (!s) throw notSignedIn();
  await installDownloadedKeyring(paths, pw, s.account.id);
}

export function requireVault(paths: KpmPaths): void {
  if (!existsSync(paths.keyring) && !existsSync(join(paths.data, 'sync', 'keyring.env'))) throw noVaultError();
}

// Without an agent, a command that changed the vault syncs once before it exits (setting sync=auto).
let changedSession: Session | undefined;

function trackWrites(api: VaultApi, session: Session): VaultApi {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      // closing waits for the sync after the command (afterCommand closes the session)
      if (prop === 'close') return async () => (changedSession === session ? undefined : target.close());
      if (typeof prop !== 'string' || !WRITE_METHODS.has(prop) || typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        const r = await (v as (...a: unknown[]) => Promise<unknown>)(...args);
        changedSession = session;
        return r;
      };
    },
  });
}

/** After a command: the automatic sync of changes made without an agent. */
export async function afterCommand(): Promise<void> {
  const session = changedSession;
  changedSession = undefined;
  if (!session) return;
  const { autoSync, autoSyncWanted } = await import('../sync/auto.js');
  if (!(await autoSyncWanted(session.paths))) return session.close();
  try {
    const note = await autoSync(session);
    if (note) info(note);
  } finally {
    session.close();
  }
}

export async function openApi(paths: KpmPaths, src: MasterSource, settingsIdleMinutes?: () => Promise<number>): Promise<VaultApi> {
  // KPM_TOKEN: the read-only service-token API (no local vault; writes refused with exit 9)
  if ((process.env.KPM_TOKEN ?? '') !== '') return (await import('./tokenapi.js')).tokenApi();
  requireVault(paths);
  const given = await nonInteractiveMasterPassword(src);
  if (given === undefined && (await agentStatus(paths))) return agentApi(paths); // no token file: no agent, at once
  if (given === undefined && !isInteractive()) {
    throw locked('the vault is locked', 'run `kpm unlock` first, or pass the master password with --password-stdin or KPM_MASTER_PASSWORD');
  }
  const profile = await unlockWithPassword(paths, src, undefined, given !== undefined);
  const session = await Session.open(paths, profile);
  if (given === undefined && settingsIdleMinutes) {
    const minutes = await settingsIdleMinutes();
    if (minutes > 0 && (await askConfirm(`Keep kpm unlocked for ${plural(minutes, 'minute')}?`, true))) {
      await startAgent(paths, { profileId: profile.profileId, accountKey: profile.accountKey.slice() }, session.vaultKeys(), minutes * 60);
      info('kpm is unlocked; `kpm lock` locks it.');
    }
  }
  return trackWrites(sessionApi(session), session);
}

/**
 * The vault API for a command that has unlocked the profile already (the sharing commands): the
 * agent when one runs (it holds the vaults; no second key derivation, no second prompt), else a
 * session opened with `profile`, synced after the command like any write.
 */
export async function openApiWith(paths: KpmPaths, profile: UnlockedProfile): Promise<VaultApi> {
  if (await agentStatus(paths)) return agentApi(paths);
  const session = await Session.open(paths, { ...profile, accountKey: profile.accountKey.slice() });
  return trackWrites(sessionApi(session), session);
}

/** The strength a new master or data-vault password needs: zxcvbn score 3 ("safely unguessable", about 10^8 guesses or more). */
export const MIN_MASTER_SCORE = 3;

export interface NewPasswordCheck {
  /** 'the master password' or 'the password of vault "X"' */
  what: string;
  /** --allow-weak-password */
  allowWeak?: boolean;
  /** words an attacker would try first (the e-mail address, the vault name) */
  userInputs?: readonly string[];
}

/**
 * S14: a new master (or data-vault) password is checked before it is used, and before a terminal
 * asks for it again: at least 8 characters, at most 1 KiB, and a zxcvbn score of at least 3.
 * A weaker one is refused (exit 2) saying why, unless --allow-weak-password is given or the user
 * confirms at the terminal.
 */
export async function checkNewPassword(pw: string, c: NewPasswordCheck): Promise<void> {
  if ([...pw].length < 8) throw usageError(`${c.what} must be at least 8 characters long`);
  checkPasswordSize(pw, c.what);
  const { estimate, weaknessHint } = await import('../audit/strength.js');
  const e = await estimate(pw, c.userInputs);
  if (e.score >= MIN_MASTER_SCORE) return;
  const hint = weaknessHint(e);
  const why = `${c.what} is too weak (strength ${e.score}/4, about 10^${e.guessesLog10.toFixed(1)} guesses; kpm wants ${MIN_MASTER_SCORE}/4)${hint ? `: ${hint}` : ''}`;
  if (c.allowWeak) return warn(`${why}; accepted because of --allow-weak-password`);
  if (isInteractive()) {
    warn(`${why}. Nobody can recover it, and anyone with a copy of the vault can try guesses at it offline.`);
    if (await askConfirm('Use this weak password anyway?', false)) return;
    throw usageError(`${c.what} was not accepted`);
  }
  throw usageError(why, 'choose a longer passphrase (four or more random words), or pass --allow-weak-password if you really mean it');
}

