// kpm completion bash|zsh|fish: completion scripts generated from the command tree itself.
// Entry names come from `kpm __complete entries PREFIX` (src/cli/fastpath.ts), which answers only
// from an unlocked agent: it never prompts, never starts an agent and prints nothing otherwise; the
// names of shared entries come from the shared vaults the agent holds (no network while typing).
import type { Command } from 'commander';
import { usageError } from '../../core/errors.js';
import { commandSpecs } from '../completion/model.js';
import { bashScript, fishScript, zshScript } from '../completion/scripts.js';
import { ctx } from '../context.js';

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

export function register(program: Command): void {
  program
    .command('completion <shell>')
    .description('print a completion script for bash, zsh or fish (commands, options, and entry names while unlocked)')
    .addHelpText('after', `
Examples:
  source <(kpm completion bash)                                   (in ~/.bashrc)
  kpm completion bash > ~/.local/share/bash-completion/completions/kpm
  kpm completion zsh > ~/.zfunc/_kpm        (with fpath=(~/.zfunc $fpath) before compinit)
  kpm completion fish > ~/.config/fish/completions/kpm.fish`)
    .action((shell: string) => {
      const make = SHELLS[shell as keyof typeof SHELLS];
      if (!make) throw usageError(`unknown shell "${shell}"`, 'use bash, zsh or fish');
      let root: Command = program;
      while (root.parent) root = root.parent;
      process.stdout.write(make(commandSpecs(root)));
    });

  program
    .command('__complete <what> [prefix]', { hidden: true })
    .action(async (what: string, prefix = '') => {
      if (what !== 'entries' || (process.env.KPM_TOKEN ?? '') !== '') return;
      try {
        const { paths } = ctx();
        const { agentApi, agentCall, agentStatus } = await import('../../agent/client.js');
        if (!(await agentStatus(paths))) return; // locked: no names, no prompt
        const a = agentApi(paths);
        try {
          // the own vaults and the shared vaults the agent holds (no network while typing)
          const names = new Set((await agentCall(paths, 'listAll', [{}], { quiet: true })).map((e) => e.name));
          const p = prefix.toLowerCase();
          const hits = [...names].filter((n) => n.toLowerCase().startsWith(p));
          if (hits.length) process.stdout.write(hits.join('\n') + '\n');
        } finally {
          await a.close();
        }
      } catch {
        /* anything wrong: no names (completion never prints errors) */
      }
    });
}
