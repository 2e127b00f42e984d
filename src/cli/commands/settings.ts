// kpm settings lock|unlock|status|recover (docs/SETTINGS.md), and the two guarded removals:
// kpm reset (all local data) and kpm uninstall (that, plus completion scripts).
import type { Command } from 'commander';
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { utf8, wipe } from '../../crypto/bytes.js';
import { DEFAULT_KDF, type KdfParams } from '../../crypto/kdf.js';
import { readKeyring } from '../../vault/keyring.js';
import { KpmError, EXIT, usageError } from '../../core/errors.js';
import { readFileOrNull, writeFileAtomic } from '../../core/fsutil.js';
import type { KpmPaths } from '../../core/paths.js';
import { agentCall, agentStatus } from '../../agent/client.js';
import { agentPaths } from '../../agent/socket.js';
import { createProtection, PROTECTION_KEY, resign, settingsFiles, wipeSigner, type PasswordSource } from '../../settings/protection.js';
import { effectiveFlat, problemsOf, validSubset, type StoredValues } from '../../settings/schema.js';
import { readMarker, readState, removeMarker } from '../../settings/state.js';
import { delayAfter, readThrottle, recordSuccess, withSettingsLock } from '../../settings/throttle.js';
import { info, isInteractive, json, out, readStdinText, warn } from '../io.js';
import { askConfirm, askNewSecret } from '../prompt.js';
import { masterPassword, requireVault, unlockProfile, unlockWithPassword } from '../unlock.js';
import { ctx } from '../context.js';
import { GUARDED_ACTIONS, requireSettingsPassword, unlockSettings } from '../guard.js';

const store = () => import('../../settings/store.js');

const MIN_SETTINGS_PASSWORD = 8;

const strongest = (a: KdfParams, b: KdfParams): KdfParams => ({ m: Math.max(a.m, b.m), t: Math.max(a.t, b.t), p: Math.max(a.p, b.p) });

async function newSettingsPassword(o: { passwordStdin?: boolean; useMaster?: boolean }, paths: KpmPaths): Promise<{ password: string; source: PasswordSource }> {
  if (o.useMaster) {
    const password = await masterPassword({ passwordStdin: o.passwordStdin }, 'Master password (it becomes the settings password)');
    const profile = await unlockProfile(paths, password); // exit 5 unless it really is the master password
    wipe(profile.accountKey);
    return { password, source: 'master' };
  }
  let password: string;
  if (o.passwordStdin) password = await readStdinText('settings password');
  else if (isInteractive()) password = await askNewSecret('Choose a settings password', 'Repeat the settings password');
  else throw usageError('a settings password is needed, but there is no terminal to ask on', 'pass it with --password-stdin, or use the master password with --use-master');
  if ([...password].length < MIN_SETTINGS_PASSWORD) throw usageError(`the settings password must be at least ${MIN_SETTINGS_PASSWORD} characters long`);
  return { password, source: 'separate' };
}

/** The settings file as it is, without any check: what `recover` starts from. */
function rawValues(paths: KpmPaths): StoredValues {
  const bytes = readFileOrNull(settingsFiles(paths).config);
  if (bytes === null) return {};
  try {
    const v = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
    const { [PROTECTION_KEY]: _p, ...values } = v as Record<string, unknown>;
    return values;
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// reset / uninstall

/** kpm's own folders, each checked not to be something broader (/, the home folder, KPM_HOME itself). */
function localDataDirs(paths: KpmPaths): string[] {
  const dirs = [...new Set([paths.data, paths.config, paths.run, agentPaths(paths).dir].map((d) => resolve(d)))];
  const forbidden = new Set([resolve('/'), resolve(homedir()), resolve(paths.home) === resolve(paths.data) ? '' : resolve(paths.home)]);
  for (const d of dirs) {
    if (forbidden.has(d) || d.split(sep).filter(Boolean).length < 2) throw new KpmError(`refusing to delete ${d}: it does not look like a kpm folder`, EXIT.error);
  }
  return dirs.filter((d) => fs.existsSync(d));
}

function completionFiles(): string[] {
  const home = homedir();
  const dataHome = process.env.XDG_DATA_HOME || join(home, '.local', 'share');
  const configHome = process.env.XDG_CONFIG_HOME || join(home, '.config');
  const candidates = [
    join(process.env.BASH_COMPLETION_USER_DIR || join(dataHome, 'bash-completion'), 'completions', 'kpm'),
    join(home, '.local', 'share', 'bash-completion', 'completions', 'kpm'),
    join(home, '.zfunc', '_kpm'),
    join(configHome, 'fish', 'completions', 'kpm.fish'),
    join(home, '.config', 'fish', 'completions', 'kpm.fish'),
  ];
  return [...new Set(candidates)].filter((f) => fs.existsSync(f));
}

/** Locks and stops the agent (as `kpm lock` does) and waits until it is gone. */
async function stopAgent(paths: KpmPaths): Promise<void> {
  if (!(await agentStatus(paths).catch(() => null))) return;
  await agentCall(paths, 'lock', []).catch(() => undefined);
  for (let i = 0; i < 100 && (await agentStatus(paths).catch(() => null)); i++) await new Promise((r) => setTimeout(r, 20));
}

async function removeLocalData(o: { yes?: boolean; settingsPasswordStdin?: boolean }, action: 'reset' | 'uninstall'): Promise<void> {
  const { paths } = ctx();
  if (!o.yes && !isInteractive()) throw usageError(`refusing to ${action} without confirmation`, 'add --yes when running without a terminal');
  await requireSettingsPassword(action, o);
  const dirs = localDataDirs(paths);
  const completions = action === 'uninstall' ? completionFiles() : [];
  if (!dirs.length && !completions.length) {
    info('There is no local kpm data to delete.');
  } else {
    if (!o.yes) {
      info(`This deletes:\n${[...dirs, ...completions].map((d) => `  ${d}`).join('\n')}`);
      info('Without a backup or a sync server, the vault in it is gone for good.');
      if (!(await askConfirm(action === 'reset' ? 'Delete all local kpm data?' : 'Uninstall kpm and delete all its data?', false))) return info('Nothing deleted.');
    }
    await stopAgent(paths);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    for (const f of completions) fs.rmSync(f, { force: true });
    info(`Deleted ${[...dirs, ...completions].join(', ')}.`);
  }
  if (action === 'uninstall') info('To remove the kpm program itself: npm uninstall -g kpm');
}

// ---------------------------------------------------------------------------------------------

export function register(program: Command): void {
  const settings = program
    .command('settings')
    .description('protect the settings, and removal of kpm, with a settings password')
    .addHelpText('after', '\nExamples:\n  kpm settings status\n  kpm settings lock --use-master\n  kpm settings unlock');

  settings
    .command('lock')
    .description('protect the settings with a settings password (asked twice; or the master password with --use-master)')
    .option('--password-stdin', 'read the new settings password (with --use-master: the master password) from stdin')
    .option('--use-master', 'use the master password as the settings password')
    .addHelpText('after', '\nExamples:\n  kpm settings lock\n  kpm settings lock --use-master\n  printf %s "$SETTINGS_PW" | kpm settings lock --password-stdin')
    .action(async (o) => {
      const { paths } = ctx();
      requireVault(paths); // so that `kpm settings recover` can always check the master password
      const { loadState, commitSettings } = await store();
      const current = await loadState(paths);
      if (current.record) throw usageError('the settings are already protected', 'to change the settings password, run `kpm settings unlock`, then `kpm settings lock`');
      const { password, source } = await newSettingsPassword(o, paths);
      // The verifier of the master password must not be a cheaper target than the keyring itself.
      const params = source === 'master' ? strongest(DEFAULT_KDF, readKeyring(paths).kdf.params) : DEFAULT_KDF;
      const { record, signer } = await createProtection(current.values, password, source, params);
      try {
        await commitSettings(paths, (cur) => {
          if (cur.record) throw usageError('the settings were protected meanwhile by another kpm process');
          return { values: cur.values, record: resign(cur.values, record, signer) };
        });
      } finally {
        wipeSigner(signer);
      }
      recordSuccess(paths);
      info(`The settings are protected${source === 'master' ? ' by the master password' : ''}. These now need the settings password:`);
      info(GUARDED_ACTIONS.map((a) => `  kpm ${a.action}`).join('\n'));
    });

  settings
    .command('unlock')
    .description('remove the settings protection (needs the settings password)')
    .option('--settings-password-stdin', 'read the settings password from stdin')
    .addHelpText('after', '\nExamples:\n  kpm settings unlock\n  printf %s "$SETTINGS_PW" | kpm settings unlock --settings-password-stdin')
    .action(async (o) => {
      const { paths } = ctx();
      const { loadState, commitSettings } = await store();
      const state = await loadState(paths);
      if (!state.record) return info('The settings are not protected.');
      const signer = await unlockSettings(paths, 'settings unlock', o, state);
      try {
        await commitSettings(paths, (cur) => {
          if (cur.record && signer) resign(cur.values, cur.record, signer); // throws if locked again meanwhile
          return { values: cur.values, record: null };
        });
      } finally {
        wipeSigner(signer);
      }
      info('The settings are no longer protected.');
    });

  settings
    .command('status')
    .description('whether the settings are protected, and which actions that guards')
    .option('--json', 'print {protected, source, lockedAt, guarded, failures, retryInSeconds}')
    .addHelpText('after', '\nExamples:\n  kpm settings status\n  kpm settings status --json')
    .action((o) => {
      const { paths } = ctx();
      const state = readState(paths);
      const t = readThrottle(paths);
      const retry = Math.max(0, Math.ceil((t.nextAt - Date.now()) / 1000));
      const status = {
        protected: state.record !== null,
        source: state.record?.source ?? null,
        lockedAt: state.record?.lockedAt ?? null,
        guarded: GUARDED_ACTIONS.map((a) => a.action),
        failures: state.record ? t.failures : 0,
        retryInSeconds: state.record ? retry : 0,
      };
      if (o.json) return json(status);
      if (!state.record) {
        out('not protected');
        out('`kpm settings lock` protects the settings and guards:');
      } else {
        out(`protected by ${state.record.source === 'master' ? 'the master password' : 'a settings password'} since ${state.record.lockedAt}`);
        if (t.failures) out(`wrong settings passwords in a row: ${t.failures}${retry ? ` (next try in ${retry} s)` : t.failures >= 3 ? ` (next failure adds ${delayAfter(t.failures + 1) / 1000} s)` : ''}`);
        out('guarded actions (they need the settings password):');
      }
      for (const a of GUARDED_ACTIONS) out(`  kpm ${a.action.padEnd(16)} ${a.what}`);
    });

  settings
    .command('recover')
    .description('forgot the settings password, or the settings failed verification: remove the protection with the master password')
    .option('--password-stdin', 'read the master password from stdin')
    .option('--defaults', 'also reset every setting to its default')
    .addHelpText('after', '\nKeeps the settings that are valid (use --defaults to drop them all) and lists the ones that are\nnot defaults, so you can check them: after a failed verification they may not be yours.\n\nExamples:\n  kpm settings recover\n  printf %s "$MASTER" | kpm settings recover --password-stdin')
    .action(async (o) => {
      const { paths } = ctx();
      let healthy = false;
      try {
        healthy = readState(paths).record === null;
      } catch (e) {
        if (!(e instanceof KpmError && e.exitCode === EXIT.corrupt)) throw e;
      }
      if (healthy) return info('The settings are not protected and are valid: there is nothing to recover.');
      if (fs.existsSync(paths.keyring)) {
        const profile = await unlockWithPassword(paths, o);
        wipe(profile.accountKey);
      } else {
        warn(`there is no vault in ${paths.data}, so no master password to check; the settings protection is removed anyway (it had nothing left to protect)`);
      }
      const raw = rawValues(paths);
      const kept = o.defaults ? {} : validSubset(raw);
      const dropped = o.defaults ? [] : problemsOf(raw);
      withSettingsLock(paths, () => {
        writeFileAtomic(settingsFiles(paths).config, utf8.encode(JSON.stringify(kept, null, '\t')));
        removeMarker(paths);
      });
      recordSuccess(paths);
      for (const d of dropped) warn(`dropped: ${d}`);
      const defaults = effectiveFlat({});
      const changed = Object.entries(effectiveFlat(kept)).filter(([k, v]) => v !== defaults[k]);
      info('The settings protection is removed.');
      if (changed.length) {
        info('These settings differ from the defaults; check that they are yours (`kpm config reset KEY` if not):');
        for (const [k, v] of changed) info(`  ${k} = ${v}`);
      }
      info('Run `kpm settings lock` to protect the settings again.');
      if (readMarker(paths)) throw new KpmError('could not remove the protection marker', EXIT.error);
    });

  program
    .command('reset')
    .description('delete all local kpm data: vault, settings, agent files (needs the settings password while protected)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--settings-password-stdin', 'read the settings password from stdin')
    .addHelpText('after', '\nExamples:\n  kpm reset\n  kpm reset --yes')
    .action((o) => removeLocalData(o, 'reset'));

  program
    .command('uninstall')
    .description("remove kpm's data and its completion scripts, then print how to remove the program (needs the settings password while protected)")
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--settings-password-stdin', 'read the settings password from stdin')
    .addHelpText('after', '\nExamples:\n  kpm uninstall\n  kpm uninstall --yes')
    .action((o) => removeLocalData(o, 'uninstall'));
}
