// What the completion scripts know, read from the commander program itself so they never go stale:
// every command path (aliases too), its subcommands and its options.
import type { Command, Option } from 'commander';

export interface OptionSpec {
  long?: string;
  short?: string;
  takesValue: boolean;
  description: string;
}

export interface CommandSpec {
  /** "" for kpm itself, "vault list" for a subcommand; aliases get their own paths */
  path: string;
  description: string;
  subs: Array<{ name: string; description: string }>;
  options: OptionSpec[];
  /** the first argument is the name of an existing entry (completed from the agent) */
  entryArg: boolean;
  /** the arguments are a command line (kpm run -- CMD …) */
  commandArgs: boolean;
}

/** Commands whose first argument names an existing entry. */
const ENTRY_COMMANDS = new Set(['get', 'show', 'edit', 'rm', 'totp', 'attach', 'attachments', 'doc get', 'doc rm']);

const isHidden = (c: Command) => Boolean((c as unknown as { _hidden?: boolean })._hidden);

function optionSpecs(c: Command): OptionSpec[] {
  const opts: OptionSpec[] = (c.options as readonly Option[])
    .filter((o) => !o.hidden)
    .map((o) => ({ long: o.long, short: o.short, takesValue: o.required || o.optional, description: o.description }));
  opts.push({ long: '--help', short: '-h', takesValue: false, description: 'show help' });
  return opts;
}

export function commandSpecs(program: Command): CommandSpec[] {
  const specs: CommandSpec[] = [];
  const walk = (c: Command, paths: string[], canonical: string) => {
    const subs = c.commands.filter((s) => !isHidden(s));
    for (const path of paths) {
      specs.push({
        path,
        description: c.description(),
        subs: subs.flatMap((s) => [s.name(), ...s.aliases()].map((name) => ({ name, description: s.description() }))),
        options: optionSpecs(c),
        entryArg: ENTRY_COMMANDS.has(canonical),
        commandArgs: canonical === 'run',
      });
    }
    for (const s of subs) {
      const names = [s.name(), ...s.aliases()];
      walk(s, paths.flatMap((p) => names.map((n) => (p ? `${p} ${n}` : n))), canonical ? `${canonical} ${s.name()}` : s.name());
    }
  };
  walk(program, [''], '');
  return specs;
}

/** A single-quoted word for bash, zsh and fish (backslashes, which fish reads differently, are dropped). */
export function sq(s: string): string {
  return `'${s.replace(/\\/g, '').replace(/\n/g, ' ').replace(/'/g, "'\\''")}'`;
}
