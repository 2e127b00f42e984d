// commander gives an option to the FIRST command on the path that defines it, wherever it stands on
// the command line, unless that command has positional options: with `--vault` defined on both
// `kpm trash` and `kpm trash purge`, the `--vault X` of `kpm trash purge --vault X` reached `kpm trash`,
// and purge, reading its own options, saw none and purged the trash of EVERY vault. This test walks
// the whole program and parses, for every flag a subcommand shares with an ancestor, the command line
// `kpm … SUB --flag [v]`: the subcommand's own action must receive it.
import { describe, expect, it } from 'vitest';
import type { Command, Option } from 'commander';
import { buildProgram } from '../../src/cli/program.js';

interface Shadow {
  path: Command[];
  option: Option;
}

const flagOf = (o: Option): string => o.long ?? o.short ?? '';

function shadows(c: Command, path: Command[], out: Shadow[]): void {
  for (const sub of c.commands) {
    const ancestors = path.concat(c).filter((a) => a.parent !== null); // the program's --offline is global on purpose (its preAction hook reads it)
    const theirs = new Set(ancestors.flatMap((a) => a.options.map(flagOf)));
    for (const o of sub.options) if (flagOf(o) !== '--help' && theirs.has(flagOf(o))) out.push({ path: path.concat(c, sub), option: o });
    shadows(sub, path.concat(c), out);
  }
}

/** The options `sub`'s action was called with for `args` (every action of the program replaced by a recorder). */
async function optionsReceived(path: string[], args: string[]): Promise<Record<string, unknown> | undefined> {
  const program = buildProgram();
  program.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  let got: { cmd: string; opts: Record<string, unknown> } | undefined;
  const record = (c: Command): void => {
    c.exitOverride();
    (c as unknown as { _lifeCycleHooks: unknown })._lifeCycleHooks = {};
    c.action(function (this: Command) {
      got = { cmd: this.name(), opts: this.opts() };
    });
    for (const s of c.commands) record(s);
  };
  for (const s of program.commands) record(s);
  await program.parseAsync(['node', 'kpm', ...path, ...args]);
  return got?.cmd === path[path.length - 1] ? got.opts : undefined;
}

describe('options defined on a command and on one of its subcommands', () => {
  const found: Shadow[] = [];
  shadows(buildProgram(), [], found);

  it('exist (trash purge and history purge share --vault, --json and --password-stdin with their parents)', () => {
    const names = found.map((f) => `${f.path.slice(1).map((c) => c.name()).join(' ')} ${flagOf(f.option)}`);
    expect(names).toEqual(expect.arrayContaining(['trash purge --vault', 'history purge --vault', 'trash purge --json']));
  });

  it('reach the subcommand when given after it (`kpm trash purge --vault X` purged every vault)', async () => {
    const lost: string[] = [];
    for (const f of found) {
      const path = f.path.slice(1).map((c) => c.name());
      const sub = f.path[f.path.length - 1];
      const positional = sub.registeredArguments.filter((a) => a.required).map(() => 'x');
      const value = f.option.required || f.option.optional ? ['V'] : [];
      const opts = await optionsReceived(path, [...positional, flagOf(f.option), ...value]);
      const key = f.option.attributeName();
      if (!opts || opts[key] !== (value.length > 0 ? 'V' : true)) lost.push(`kpm ${path.join(' ')} ${flagOf(f.option)}`);
    }
    expect(lost).toEqual([]);
  });
});
