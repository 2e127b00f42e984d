// Every visible command's --help ends with an "Examples:" block — walked generically over the whole
// program tree, so commands added later are held to the same rule.
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';

function visibleCommands(c: Command, path: string[] = []): Array<{ path: string; cmd: Command }> {
  const out: Array<{ path: string; cmd: Command }> = [];
  for (const s of c.commands) {
    if ((s as unknown as { _hidden?: boolean })._hidden) continue;
    const p = [...path, s.name()];
    out.push({ path: p.join(' '), cmd: s }, ...visibleCommands(s, p));
  }
  return out;
}

function helpOf(cmd: Command): string {
  let text = '';
  const capture = (s: string) => (text += s);
  for (let c: Command | null = cmd; c; c = c.parent) c.configureOutput({ writeOut: capture, writeErr: capture });
  cmd.outputHelp();
  return text;
}

describe('help', () => {
  const program = buildProgram();
  const commands = visibleCommands(program);

  it('finds the commands', () => {
    expect(commands.length).toBeGreaterThan(40);
    expect(commands.map((c) => c.path)).toEqual(expect.arrayContaining(['get', 'vault list', 'read', 'run', 'inject', 'completion']));
  });

  it('every visible command has an Examples: (or Example:) block with at least one `kpm …` line', () => {
    const missing = commands.filter(({ cmd }) => !/\nExamples?:\n(\s+.*\n)*\s+kpm( |\n)/.test(helpOf(cmd))).map((c) => c.path);
    expect(missing).toEqual([]);
  });
});
