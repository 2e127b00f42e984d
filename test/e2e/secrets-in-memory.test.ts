// R38 and R39: secrets never in argv or the environment of kpm's processes; the agent never holds
// the master password, and wipes keys when it locks.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { utf8 } from '../../src/crypto/bytes.js';
import { unlockKeyring } from '../../src/vault/keyring.js';
import { resolvePaths } from '../../src/core/paths.js';
import { Session } from '../../src/vault/session.js';
import { BIN, cleanEnv, kpm as runKpm, makeHome, waitUntil, type RunResult } from '../helpers/kpm.js';

// its own master password (not the fixtures'): a string found in the agent's memory can only come from this test
const MASTER = 'Memory-Scan-Master-7f3c9a';
const VAULT_PW = 'Own-Vault-Password-55b1';
const home = makeHome(); // removed, its agent stopped, after the file (test/helpers/kpm.ts)

/** `kpm ARGS` in the file's home (the one runner, test/helpers/kpm.ts): exit `code`, no stack trace, the master password in no output. */
const kpm = (args: string[], code: number, input?: string, env: Record<string, string> = {}): Promise<RunResult> =>
  runKpm(home, args, code, { input, env, secrets: [MASTER, VAULT_PW] });

/** Every readable mapping of a process, searched for `needle`. */
function memoryContains(pid: number, needle: Uint8Array): boolean {
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').trim().split('\n');
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  const n = Buffer.from(needle);
  try {
    for (const line of maps) {
      const [range, perms, , , , name = ''] = line.split(/\s+/);
      if (!perms.startsWith('r') || name.startsWith('[v')) continue;
      const [start, end] = range.split('-').map((h) => parseInt(h, 16));
      for (let off = start; off < end; off += 64 << 20) {
        const len = Math.min(64 << 20, end - off);
        const buf = Buffer.alloc(len + n.length);
        let got = 0;
        try {
          got = fs.readSync(fd, buf, 0, len, off);
        } catch {
          continue;
        }
        if (buf.subarray(0, got).indexOf(n) >= 0) return true;
      }
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

const agentPid = () => Number(fs.readFileSync(join(home, 'run', 'agent.pid'), 'utf8'));
/** Running (a zombie waiting to be reaped has already ended and holds no memory). */
const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

beforeAll(async () => {
  await kpm(['init', '--password-stdin'], 0, MASTER + '\n');
  await kpm(['vault', 'create', 'Private', '--vault-password-stdin'], 0, VAULT_PW + '\n', { KPM_MASTER_PASSWORD: MASTER });
});

describe('R38: secrets stay out of argv and the environment', () => {
  it('no secret in the command line or environment of a kpm reading --password-stdin, nor of the agent', async () => {
    // Keep stdin open so the process is alive while we look at it.
    const child = spawn(process.execPath, ['--', BIN, 'add', 'argv-check', '--password-stdin'], { cwd: home, env: cleanEnv(home, { KPM_MASTER_PASSWORD: MASTER }), stdio: ['pipe', 'pipe', 'pipe'] });
    await once(child, 'spawn'); // exec'd: /proc/PID/cmdline is kpm's (it waits on the open stdin)
    const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('--password-stdin');
    expect(cmdline).not.toContain('entry-secret-xyz');
    child.stdin.end('entry-secret-xyz\n');
    await new Promise((r) => child.on('exit', r));
    expect(child.exitCode).toBe(0);

    await kpm(['unlock'], 0, '', { KPM_MASTER_PASSWORD: MASTER });
    const pid = agentPid();
    const agentCmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const agentEnv = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    expect(agentCmd).not.toContain(MASTER);
    expect(agentEnv).not.toContain(MASTER);
    expect(agentEnv).not.toContain('KPM_MASTER_PASSWORD');
    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(ps).not.toContain(MASTER);
    await kpm(['lock'], 0);
  });

  it('error output never contains the master password', async () => {
    const r = await kpm(['get', 'nothing-here'], 3, '', { KPM_MASTER_PASSWORD: MASTER });
    expect(r.stderr + r.stdout).not.toContain(MASTER);
    const wrong = await kpm(['get', 'x', '--password-stdin'], 5, MASTER + 'x\n');
    expect(wrong.stderr).not.toContain(MASTER);
  });
});

describe.skipIf(process.platform !== 'linux')('R39: keys in the agent', () => {
  it('the agent never holds the master password; data-vault keys are wiped on lock; kpm lock ends the agent', async () => {
    const paths = resolvePaths({ KPM_HOME: home });
    const profile = await unlockKeyring(paths, utf8.encode(MASTER));
    const session = await Session.open(paths, { ...profile, accountKey: profile.accountKey.slice() });
    await session.unlockVault('Private', utf8.encode(VAULT_PW));
    const privateKey = session.vaultKeys()[session.listVaults().find((v) => v.name === 'Private')!.id];

    await kpm(['unlock', '--password-stdin'], 0, MASTER + '\n');
    await kpm(['vault', 'unlock', 'Private', '--vault-password-stdin'], 0, VAULT_PW + '\n');
    const pid = agentPid();
    // The scanner finds what is there: the account key must be present while unlocked.
    expect(memoryContains(pid, profile.accountKey)).toBe(true);
    expect(memoryContains(pid, privateKey)).toBe(true);
    expect(memoryContains(pid, utf8.encode(MASTER))).toBe(false);

    await kpm(['vault', 'lock', 'Private'], 0);
    expect(memoryContains(pid, privateKey)).toBe(false);
    expect(memoryContains(pid, utf8.encode(MASTER))).toBe(false);

    await kpm(['lock'], 0);
    await waitUntil('the agent to exit after kpm lock', () => !alive(pid));
    expect(alive(pid)).toBe(false);
    session.close();
  });
});
