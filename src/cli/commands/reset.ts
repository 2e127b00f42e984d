// kpm reset (all local data) and kpm uninstall (that, plus completion scripts): the two guarded
// removals (they need the settings password while the settings are protected).
import type { Command } from 'commander';
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { KpmError, EXIT, usageError } from '../../core/errors.js';
import type { KpmPaths } from '../../core/paths.js';
import { agentCall, agentStatus } from '../../agent/client.js';
import { agentPaths } from '../../agent/socket.js';
import { info, isInteractive } from '../io.js';
import { askConfirm } from '../prompt.js';
import { ctx } from '../context.js';
import { requireSettingsPassword } from '../guard.js';

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

export function register(program: Command): void {
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
