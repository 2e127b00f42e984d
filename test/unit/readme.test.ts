// README's quick start: `npm install`, then one command that runs kpm from the PATH (put there by
// `npm link`), and no `npx kpm` in the examples (about 1 s a call against 0.14 s for the binary).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const README = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');

describe('README', () => {
  it('quick start is `npm install` (with `npm link`), then one kpm command', () => {
    const section = README.slice(README.indexOf('## Quick start'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
    const commands = block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
    expect(commands).toHaveLength(2);
    expect(commands[0]).toMatch(/^npm install( && npm link)?$/);
    expect(commands[0]).toContain('npm link');
    expect(commands[1]).toMatch(/^kpm \w+/);
  });

  it('runs kpm and kpm-server as commands in its examples, never through npx', () => {
    const examples = [...README.matchAll(/```(?:sh|bash)?\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
    expect(examples.split('\n').filter((l) => /\bnpx kpm/.test(l))).toEqual([]);
  });
});
