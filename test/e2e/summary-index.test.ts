// The summary index (docs/FORMAT.md "Summary index") as a script meets it: `kpm unlock; kpm list;
// kpm lock` with the built binaries. The agent writes the index in the background once writes and
// requests have paused; a lock that comes first must write it too, or the next unlock's first list
// decrypts every record again (2.1 s at 100k entries in bench/scale.sh, whose runs lock right after
// their list) instead of opening one sealed file.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addEntry, describeRun, initHome, lines, MASTER, runOk, stopAgent } from '../helpers/kpm.js';

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) stopAgent(h);
});

const indexFiles = (home: string): string[] => {
  const vaults = join(home, 'data', 'vaults');
  return fs.readdirSync(vaults).flatMap((v) => (fs.existsSync(join(vaults, v, 'summaries.idx')) ? [join(vaults, v, 'summaries.idx')] : []));
};

describe('#17: the summary index after a list and an immediate lock', () => {
  it('`kpm unlock; kpm list; kpm lock`: the lock writes the index the list made possible, and the next unlock lists from it', async () => {
    const home = initHome();
    homes.push(home);
    for (const name of ['alpha', 'beta', 'gamma']) await addEntry(home, name, `pw-${name}-${name.length}`);
    for (const f of indexFiles(home)) fs.rmSync(f); // whatever an earlier command wrote: none now
    expect(indexFiles(home)).toEqual([]);

    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    const first = await runOk(['list'], { home });
    await runOk(['lock'], { home });
    const written = indexFiles(home);
    expect(written, 'no summaries.idx after `kpm lock`').toHaveLength(1);
    expect(fs.statSync(written[0]).mode & 0o777).toBe(0o600);

    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    const again = await runOk(['list'], { home });
    expect(lines(again.stdout), describeRun(['list'], again)).toEqual(lines(first.stdout));
    expect(lines(first.stdout).map((l) => l.split(/\s+/)[0])).toEqual(expect.arrayContaining(['alpha', 'beta', 'gamma']));
    await runOk(['lock'], { home });
  });
});
