// How a command gets at the vault: the running agent if there is one; otherwise the master
// password from --password-stdin, KPM_MASTER_PASSWORD or a TTY prompt; otherwise exit 4.
import { utf8, wipe } from '../crypto/bytes.js';
import { existsSync } from 'node:fs';
import { Session } from '../vault/session.js';
import { noVaultError, unlockKeyring, type UnlockedProfile } from '../vault/keyring.js';
import { locked, usageError } from '../vault/errors.js';
import type { KpmPaths } from '../vault/paths.js';
import type { VaultApi } from '../agent/api.js';
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
    return await unlockKeyring(paths, pw);
  } finally {
    wipe(pw);
  }
}

export function requireVault(paths: KpmPaths): void {
  if (!existsSync(paths.keyring)) throw noVaultError();
}

export async function openApi(paths: KpmPaths, src: MasterSource, settingsIdleMinutes?: () => Promise<number>): Promise<VaultApi> {
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
  return sessionApi(session);
}

export function checkNewMasterPassword(pw: string): void {
  if ([...pw].length < 8) throw usageError('the master password must be at least 8 characters long');
}
