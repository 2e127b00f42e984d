// How a command gets at the vault: the running agent if there is one; otherwise the master
// password from --password-stdin, KPM_MASTER_PASSWORD or a TTY prompt; otherwise exit 4.
import { utf8, wipe } from '../crypto/bytes.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from '../vault/session.js';
import { noVaultError, unlockKeyring, type UnlockedProfile } from '../vault/keyring.js';
import { locked, usageError } from '../vault/errors.js';
import type { KpmPaths } from '../vault/paths.js';
import { WRITE_METHODS, type VaultApi } from '../agent/api.js';
import { sessionApi } from '../agent/local.js';
import { agentApi, agentStatus, startAgent } from '../agent/client.js';
import { info, isInteractive, readStdinText } from './io.js';
import { askConfirm, askSecret } from './prompt.js';

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

export async function masterPassword(src: MasterSource, prompt = 'Master password'): Promise<string> {
  const given = await nonInteractiveMasterPassword(src);
  if (given !== undefined) return given;
  if (!isInteractive()) throw locked('the vault is locked', 'run `kpm unlock` first, or pass the master password with --password-stdin or KPM_MASTER_PASSWORD');
  return askSecret(prompt);
}

export async function unlockProfile(paths: KpmPaths, password: string): Promise<UnlockedProfile> {
  const pw = utf8.encode(password);
  try {
    if (!existsSync(paths.keyring)) await installDownloaded(paths, pw);
    return await unlockKeyring(paths, pw);
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
  const password = given ?? (await askSecret('Master password'));
  const profile = await unlockProfile(paths, password);
  const session = await Session.open(paths, profile);
  if (given === undefined && settingsIdleMinutes) {
    const minutes = await settingsIdleMinutes();
    if (minutes > 0 && (await askConfirm(`Keep kpm unlocked for ${minutes} minutes?`, true))) {
      await startAgent(paths, { profileId: profile.profileId, accountKey: profile.accountKey.slice() }, session.vaultKeys(), minutes * 60);
      info('kpm is unlocked; `kpm lock` locks it.');
    }
  }
  return trackWrites(sessionApi(session), session);
}

export function checkNewMasterPassword(pw: string): void {
  if ([...pw].length < 8) throw usageError('the master password must be at least 8 characters long');
}
