// init, unlock, lock, status, passwd: the life of the profile and its agent.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KpmPaths } from '../../core/paths.js';
import { utf8, wipe } from '../../crypto/bytes.js';
import { DEFAULT_KDF, KDF_CAP, KDF_FLOOR, isBelowDefault, type KdfParams } from '../../crypto/kdf.js';
import { createKeyring, changeMasterPassword, readKeyring } from '../../vault/keyring.js';
import { DEFAULT_VAULT, Session } from '../../vault/session.js';
import { listVaultDirs, logFile, readVaultHeader } from '../../vault/store.js';
import { usageError, EXIT, KpmError } from '../../core/errors.js';
import { agentCall, AgentMismatch, agentStatus, startAgent, type AgentState } from '../../agent/client.js';
import { info, isInteractive, json, out, plural, readOldAndNew, warn } from '../io.js';
import { askNewSecret, needTerminal, noTerminal } from '../prompt.js';
import { checkNewPassword, nonInteractiveMasterPassword, requireVault, unlockProfile, unlockWithPassword } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { ctx, intOption } from '../context.js';

const UNRECOVERABLE = 'Your master password cannot be recovered by anyone, not even by the kpm server or its operators. If you forget it, your data is lost.';

/** --kdf-memory is in MiB: the floor and cap of src/crypto/kdf.ts (KiB), rounded inwards. */
const KDF_MIB = { min: Math.ceil(KDF_FLOOR.m / 1024), max: Math.floor(KDF_CAP.m / 1024), default: DEFAULT_KDF.m / 1024 };

function kdfFromOptions(o: { kdfMemory?: string; kdfIterations?: string; kdfParallelism?: string }): KdfParams {
  const m = o.kdfMemory ? intOption('--kdf-memory', o.kdfMemory, KDF_MIB.min, KDF_MIB.max) * 1024 : DEFAULT_KDF.m;
  const t = o.kdfIterations ? intOption('--kdf-iterations', o.kdfIterations, KDF_FLOOR.t, KDF_CAP.t) : DEFAULT_KDF.t;
  const p = o.kdfParallelism ? intOption('--kdf-parallelism', o.kdfParallelism, Math.max(1, KDF_FLOOR.p), KDF_CAP.p) : DEFAULT_KDF.p;
  return { m, t, p };
}

/** Where this profile syncs, and the last change it verified on the server (a MAC'd manifest time). */
async function syncStatus(paths: KpmPaths): Promise<{ server: string; account: string; lastChange: string | null; pending: number } | null> {
  const { loadSession } = await import('../../sync/sessionfile.js');
  const session = loadSession(paths);
  if (!session) return null;
  const { loadVaultState } = await import('../../sync/state.js');
  const times = listVaultDirs(paths.vaults).map((d) => loadVaultState(d)?.time ?? 0);
  const last = Math.max(0, ...times);
  return { server: session.server, account: session.account.email, lastChange: last > 0 ? new Date(last).toISOString() : null, pending: await pendingChanges(paths) };
}

/**
 * Changes made on this device that wait to be sent: the log records after what the server confirmed
 * (the record framing is plain: no key, no password needed), plus vault removals not yet sent.
 */
async function pendingChanges(paths: KpmPaths): Promise<number> {
  const { loadProfileState, loadVaultState } = await import('../../sync/state.js');
  const { decodeRecords, LOG_HEADER_BYTES } = await import('../../vault/format.js');
  const { readRange } = await import('../../core/fsutil.js');
  let n = Object.keys(loadProfileState(paths)?.removed ?? {}).length;
  for (const dir of listVaultDirs(paths.vaults)) {
    const c = readVaultHeader(dir).commit;
    const s = loadVaultState(dir);
    let upTo = LOG_HEADER_BYTES; // never synced: all of it
    let ranges: [number, number][] = [];
    if (s && s.generation === c.generation) [upTo, ranges] = [s.confirmedUpTo, s.confirmedRanges];
    else if (s && s.next?.generation === c.generation) upTo = s.next.confirmedUpTo;
    else if (s) continue; // a state that does not match the log: `kpm sync` says so
    if (upTo >= c.logLength) continue;
    const { records } = decodeRecords(readRange(join(dir, logFile(c.generation)), upTo, c.logLength));
    n += records.filter((r) => {
      const at = (r.offset ?? 0) + upTo;
      return !ranges.some(([a, b]) => at >= a && at < b);
    }).length;
  }
  return n;
}

/**
 * The agent's state; 'stopped' when it was of another kpm version (agent protocol) and was just
 * stopped (src/agent/call.ts), said on stderr. For the commands that need no unlocked agent.
 */
async function agentStatusOrStopped(paths: KpmPaths): Promise<AgentState | null | 'stopped'> {
  try {
    return await agentStatus(paths);
  } catch (e) {
    if (!(e instanceof AgentMismatch)) throw e;
    warn(`stopped the agent of another kpm version (agent protocol ${e.agentProtocol})`);
    return 'stopped';
  }
}

/** `kpm unlock` syncs before it returns (setting sync=auto, signed in, online). */
async function syncOnUnlock(paths: KpmPaths): Promise<void> {
  const { autoSyncWanted } = await import('../../sync/auto.js');
  if (!(await autoSyncWanted(paths))) return;
  const { agentApi } = await import('../../agent/client.js');
  try {
    const { printSyncReport } = await import('./sync.js');
    const r = await agentApi(paths).sync();
    printSyncReport(r, false);
    for (const n of r.sharedNotes ?? []) warn(n); // the shared vaults the agent synced (first-use pins, removals)
  } catch (e) {
    info(e instanceof KpmError && e.exitCode === EXIT.network ? 'Not synced (offline?): run `kpm sync` later.' : `Sync failed: ${(e as Error).message}`);
  }
}

/**
 * Stops the agent and waits until its process is gone, so that no agent holds keys when this
 * returns (S9). False when none ran.
 */
async function stopRunningAgent(paths: KpmPaths): Promise<boolean> {
  const a = await agentStatusOrStopped(paths);
  if (a === 'stopped') return true;
  if (!a) return false;
  await agentCall(paths, 'lock', [], { quiet: true });
  const { isAgentProcess } = await import('../../agent/server.js');
  for (let i = 0; i < 500 && isAgentProcess(a.pid); i++) await new Promise((r) => setTimeout(r, 10));
  if (isAgentProcess(a.pid)) throw new KpmError(`the agent (pid ${a.pid}) did not stop`, EXIT.error, `stop it with \`kill ${a.pid}\``);
  return true;
}

export function register(program: Command): void {
  program
    .command('init')
    .description('create a new encrypted vault protected by a master password')
    .option('--password-stdin', 'read the master password from the first line of stdin')
    .option('--allow-weak-password', 'accept a master password the strength check calls weak (not recommended)')
    .option('--kdf-memory <MiB>', `Argon2id memory in MiB (${KDF_MIB.min}-${KDF_MIB.max}; default ${KDF_MIB.default})`)
    .option('--kdf-iterations <n>', `Argon2id iterations (${KDF_FLOOR.t}-${KDF_CAP.t}; default ${DEFAULT_KDF.t})`)
    .option('--kdf-parallelism <n>', `Argon2id lanes (${Math.max(1, KDF_FLOOR.p)}-${KDF_CAP.p}; default ${DEFAULT_KDF.p})`)
    .addHelpText('after', '\nThe master password needs 8 characters or more, at most 1 KiB, and a strength of 3/4 (zxcvbn);\na weaker one is refused unless you confirm it at the terminal or pass --allow-weak-password.\n\nExamples:\n  kpm init\n  printf %s "$MASTER" | kpm init --password-stdin')
    .action(async (o) => {
      const { paths } = ctx();
      const params = kdfFromOptions(o);
      if (existsSync(paths.keyring)) throw usageError(`a vault already exists in ${paths.data}`, 'use `kpm unlock`, or set KPM_HOME to create another profile');
      if (existsSync(join(paths.data, 'sync', 'keyring.env'))) throw new KpmError('the signed-in account already has a vault (downloaded at login)', EXIT.conflict, 'run `kpm unlock` and enter its master password');
      const check = { what: 'the master password', allowWeak: Boolean(o.allowWeakPassword) };
      let pw = await nonInteractiveMasterPassword(o);
      if (pw === undefined) {
        needTerminal('a master password', 'pass it with --password-stdin or KPM_MASTER_PASSWORD');
        info(UNRECOVERABLE);
        pw = await askNewSecret('Choose a master password', 'Repeat the master password', (p) => checkNewPassword(p, check));
      } else {
        await checkNewPassword(pw, check);
        warn(UNRECOVERABLE);
      }
      const bytes = utf8.encode(pw);
      const profile = await createKeyring(paths, bytes, params);
      wipe(bytes);
      const session = await Session.open(paths, profile);
      await session.createVault(DEFAULT_VAULT);
      info(`Created a vault in ${paths.data}`);
      const { autoSync, autoSyncWanted } = await import('../../sync/auto.js');
      if (await autoSyncWanted(paths)) {
        const note = await autoSync(session); // a signed-in account: its keys and vault go to the server
        if (note) info(note);
      }
      session.close();
    });

  program
    .command('unlock')
    .description('unlock the vault and keep it unlocked in the background agent until `kpm lock` or the idle timeout')
    .option('--password-stdin', 'read the master password from the first line of stdin')
    .option('--timeout <minutes>', 'lock after this many idle minutes (default: the autolock setting, 15; 0 = never)')
    .addHelpText('after', '\nExamples:\n  kpm unlock\n  printf %s "$MASTER" | kpm unlock --password-stdin --timeout 60')
    .action(async (o) => {
      const { paths } = ctx();
      requireVault(paths);
      const given = o.timeout !== undefined ? intOption('--timeout', o.timeout, 0, 10080) : undefined;
      const running = await agentStatusOrStopped(paths); // one of another kpm version is stopped: this unlock replaces it
      if (running && running !== 'stopped') {
        if (given === undefined) return info('kpm is already unlocked.');
        await agentCall(paths, 'setIdleTimeout', [given * 60]); // the agent is unlocked: its timeout changes, nothing else
        info(given > 0 ? `kpm is already unlocked; it now locks itself after ${plural(given, 'idle minute')}.` : 'kpm is already unlocked; it now stays unlocked until `kpm lock`.');
        return;
      }
      const minutes = given ?? (await loadSettings(paths)).autolock;
      const profile = await unlockWithPassword(paths, o);
      const started = await startAgent(paths, profile, {}, minutes * 60); // the agent opens and verifies the vaults itself
      wipe(profile.accountKey);
      if (!started) {
        info('kpm is already unlocked (by another `kpm unlock`).'); // one agent per profile
        return;
      }
      info(minutes > 0 ? `Unlocked; kpm locks itself after ${plural(minutes, 'idle minute')}.` : 'Unlocked until `kpm lock`.');
      await syncOnUnlock(paths);
    });

  program
    .command('lock')
    .description('lock the vault: the agent wipes its keys and stops')
    .addHelpText('after', '\nExamples:\n  kpm lock')
    .action(async () => {
      const { paths } = ctx();
      if (!(await stopRunningAgent(paths))) {
        info('kpm is already locked.');
        return;
      }
      info('Locked.');
    });

  program
    .command('status')
    .description('show whether kpm is locked, where the vault is and how many entries it holds (no password needed)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  kpm status\n  kpm status --json | jq .locked')
    .action(async (o) => {
      const { paths } = ctx();
      const exists = (() => {
        try {
          readKeyring(paths);
          return true;
        } catch (e) {
          if (e instanceof KpmError && e.exitCode === EXIT.notFound) return false;
          throw e;
        }
      })();
      const found = exists ? await agentStatusOrStopped(paths) : null;
      const agent = found === 'stopped' ? null : found;
      const vaults = listVaultDirs(paths.vaults).map((d) => readVaultHeader(d));
      const entries = vaults.reduce((n, h) => n + h.commit.liveCount, 0);
      const sync = await syncStatus(paths);
      const backgroundSync = agent ? { held: agent.syncHeld ?? false, lastError: agent.lastSyncError ?? null } : null;
      const status = { initialized: exists, locked: !agent, path: paths.data, vaults: vaults.length, entries, autolockSeconds: agent?.idleSeconds ?? null, sync, backgroundSync };
      if (o.json) return json(status);
      if (!exists && existsSync(join(paths.data, 'sync', 'keyring.env'))) return out('the account\'s vault is waiting: run `kpm unlock` and enter its master password');
      if (!exists) return out(`no vault in ${paths.data} (run \`kpm init\`)`);
      out(`${agent ? 'unlocked' : 'locked'}`);
      out(`vault: ${paths.data}`);
      out(`entries: ${entries} in ${vaults.length} vault${vaults.length === 1 ? '' : 's'}`);
      if (sync) out(`sync: ${sync.account} on ${sync.server}${sync.lastChange ? `, last change on the server ${sync.lastChange}` : ', not synced yet'}; ${sync.pending === 0 ? 'nothing waits to be sent' : `${sync.pending} change${sync.pending === 1 ? '' : 's'} wait${sync.pending === 1 ? 's' : ''} to be sent (\`kpm sync\`)`}`);
      if (backgroundSync?.held) out('sync held: a change made offline waits for the next change made online, or `kpm sync`');
      if (backgroundSync?.lastError) out(`last background sync failed at ${backgroundSync.lastError.at}: ${backgroundSync.lastError.message}`);
    });

  const agent = program
    .command('agent')
    .description('the background agent that keeps the vault unlocked (see `kpm unlock`)')
    .addHelpText('after', '\nExamples:\n  kpm agent status\n  kpm agent stop');
  agent
    .command('status')
    .description("show whether the agent runs: its pid, idle timeout, the background sync's state")
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  kpm agent status\n  kpm agent status --json | jq .running')
    .action(async (o: { json?: boolean }) => {
      const { paths } = ctx();
      const found = await agentStatusOrStopped(paths);
      const a = found === 'stopped' ? null : found;
      const { agentPaths } = await import('../../agent/socket.js');
      const st = a
        ? { running: true, pid: a.pid, idleSeconds: a.idleSeconds, socket: agentPaths(paths).socket, syncHeld: a.syncHeld ?? false, syncPending: a.syncPending ?? false, syncRuns: a.syncRuns ?? 0, lastSyncError: a.lastSyncError ?? null, sshSockets: a.sshSockets ?? [] }
        : { running: false };
      if (o.json) return json(st);
      if (!a) return out('the agent is not running (kpm is locked)');
      out(`the agent is running: pid ${a.pid}, socket ${agentPaths(paths).socket}`);
      out(a.idleSeconds > 0 ? `locks after ${plural(Math.round(a.idleSeconds / 60), 'idle minute')}` : 'locks only with `kpm lock`');
      for (const sock of a.sshSockets ?? []) out(`serves the SSH agent socket ${sock} (of \`kpm ssh-agent\`)`);
      if (a.syncHeld) out('sync held: a change made offline waits for the next change made online, or `kpm sync`');
      if (a.lastSyncError) out(`last background sync failed at ${a.lastSyncError.at}: ${a.lastSyncError.message}`);
    });
  agent
    .command('stop')
    .description('stop the agent (it wipes its keys, as `kpm lock`); needs the settings password while the settings are protected')
    .option('--settings-password-stdin', 'read the settings password from stdin')
    .addHelpText('after', '\nExamples:\n  kpm agent stop\n  printf %s "$SETTINGS_PW" | kpm agent stop --settings-password-stdin')
    .action(async (o: { settingsPasswordStdin?: boolean }) => {
      const { paths } = ctx();
      const a = await agentStatusOrStopped(paths);
      if (a === 'stopped') return info('Agent stopped; kpm is locked.');
      if (!a) {
        info('the agent is not running.');
        return;
      }
      const { requireSettingsPassword } = await import('../guard.js');
      await requireSettingsPassword('agent stop', o);
      await stopRunningAgent(paths);
      info('Agent stopped; kpm is locked.');
    });

  program
    .command('passwd')
    .description('change the master password (rewraps the vault key; entries are not re-encrypted)')
    .option('--password-stdin', 'read the current master password from line 1 of stdin and the new one from line 2')
    .option('--allow-weak-password', 'accept a new master password the strength check calls weak (not recommended)')
    .addHelpText('after', '\nThe new master password is checked as at `kpm init`.\n\nExamples:\n  kpm passwd\n  printf "%s\\n%s\\n" "$OLD" "$NEW" | kpm passwd --password-stdin')
    .action(async (o) => {
      const { paths } = ctx();
      requireVault(paths);
      const check = { what: 'the new master password', allowWeak: Boolean(o.allowWeakPassword) };
      let profile: Awaited<ReturnType<typeof unlockProfile>>, next: string;
      if (o.passwordStdin) {
        const [current, given] = await readOldAndNew('--password-stdin');
        next = given;
        await checkNewPassword(next, check);
        profile = await unlockProfile(paths, current);
      } else {
        profile = await unlockWithPassword(paths, {}, 'Current master password');
        if (!isInteractive()) {
          wipe(profile.accountKey);
          throw noTerminal('the new master password', 'use --password-stdin');
        }
        info(UNRECOVERABLE);
        next = await askNewSecret('New master password', 'Repeat the new master password', (p) => checkNewPassword(p, check));
      }
      const bytes = utf8.encode(next);
      const params = readKeyring(paths).kdf.params;
      await changeMasterPassword(paths, profile, bytes, isBelowDefault(params) ? DEFAULT_KDF : params);
      wipe(bytes, profile.accountKey);
      info('Master password changed.');
    });
}
