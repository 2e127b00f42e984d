// kpm upgraded while the agent runs (npm install -g, a rebuild: dist/ is replaced under it). The
// agent loads parts of itself on demand; after an upgrade those files are gone. Before the fix, a
// `kpm lock` then failed ("Cannot find module …/chunks/lockflush-….mjs") and the agent kept its keys.
// Now the lock path is loaded when the agent starts, a lock always stops it, and any other request
// that needs a missing file stops it too (keys wiped) with one line and exit 4.
import { cpSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentPid, BIN, cleanEnv, describeRun, initHome, MASTER, ROOT, run, stopAgent, waitUntil } from '../helpers/kpm.js';
import { spawnSync } from 'node:child_process';

const copies: string[] = [];
afterAll(() => {
  for (const c of copies) rmSync(c, { recursive: true, force: true });
});

/** A copy of the build the tests run (bin/, dist/), as an older installed kpm. */
function installedCopy(): string {
  const from = dirname(dirname(BIN));
  const to = mkdtempSync(join(tmpdir(), 'kpm-old-install-'));
  copies.push(to);
  cpSync(join(from, 'bin'), join(to, 'bin'), { recursive: true });
  cpSync(join(from, 'dist'), join(to, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(to, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(to, 'node_modules'), 'dir');
  return to;
}

/** Unlocks `home` with the copy (its agent runs the copy's dist/), then "upgrades": the copy's dist/ goes away. */
async function unlockThenUpgrade(home: string): Promise<number> {
  const old = installedCopy();
  const u = spawnSync(process.execPath, ['--', join(old, 'bin', 'kpm'), 'unlock', '--password-stdin'], { cwd: home, env: cleanEnv(home), input: MASTER + '\n', encoding: 'utf8', timeout: 120_000 });
  expect(u.status, u.stderr).toBe(0);
  const pid = agentPid(home);
  expect(pid).toBeDefined();
  // the agent serves a request first (it loads what a lock needs right after it starts)
  expect((await run(['list'], { home })).code).toBe(0);
  renameSync(join(old, 'dist'), join(old, 'dist.replaced'));
  return pid!;
}

describe('an upgrade of kpm while the agent runs', () => {
  it('kpm lock still stops the agent (keys wiped)', async () => {
    const home = initHome();
    try {
      await unlockThenUpgrade(home);
      const r = await run(['lock'], { home });
      expect(r.code, describeRun(['lock'], r)).toBe(0);
      await waitUntil('the agent to exit after lock', () => agentPid(home) === undefined);
    } finally {
      stopAgent(home);
    }
  });

  it('a request that needs a part of the old build the upgrade removed: one line, exit 4, and the agent stops', async () => {
    const home = initHome();
    try {
      await unlockThenUpgrade(home);
      const r = await run(['vault', 'list'], { home });
      const what = describeRun(['vault', 'list'], r);
      expect(r.code, what).toBe(4);
      expect(r.stderr, what).toMatch(/^kpm: kpm was upgraded while this agent was running: the agent stopped and wiped its keys\nhint: run `kpm unlock` again\n$/);
      await waitUntil('the outdated agent to exit', () => agentPid(home) === undefined);
      // and unlocking again works with the new build
      expect((await run(['unlock', '--password-stdin'], { home, input: MASTER + '\n' })).code).toBe(0);
      expect((await run(['vault', 'list'], { home })).code).toBe(0);
    } finally {
      stopAgent(home);
    }
  });
});
