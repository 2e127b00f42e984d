// R38 and R39: secrets never in argv or the environment of kpm's processes; the agent never holds
// the master password, and wipes keys when it locks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utf8 } from '../../src/crypto/bytes.js';
import { unlockKeyring } from '../../src/vault/keyring.js';
import { resolvePaths } from '../../src/core/paths.js';
import { Session } from '../../src/vault/session.js';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'kpm');
const MASTER = 'Memory-Scan-Master-7f3c9a';
const VAULT_PW = 'Own-Vault-Password-55b1';
const home = mkdtempSync(join(tmpdir(), 'kpm-mem-'));
const env = { ...process.env, KPM_HOME: home, NO_COLOR: '1' } as NodeJS.ProcessEnv;
delete env.KPM_MASTER_PASSWORD;

function kpm(args: string[], input?: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, input: input ?? '', encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

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

beforeAll(() => {
  expect(kpm(['init', '--password-stdin'], MASTER + '\n').code).toBe(0);
  expect(kpm(['vault', 'create', 'Private', '--vault-password-stdin'], VAULT_PW + '\n', { KPM_MASTER_PASSWORD: MASTER }).code).toBe(0);
});

afterAll(() => {
  kpm(['lock']);
  fs.rmSync(home, { recursive: true, force: true });
});

describe('R38: secrets stay out of argv and the environment', () => {
  it('no secret in the command line or environment of a kpm reading --password-stdin, nor of the agent', async () => {
    // Keep stdin open so the process is alive while we look at it.
    const child = spawn(process.execPath, [BIN, 'add', 'argv-check', '--password-stdin'], { env: { ...env, KPM_MASTER_PASSWORD: MASTER }, stdio: ['pipe', 'pipe', 'pipe'] });
    await once(child, 'spawn'); // exec'd: /proc/PID/cmdline is kpm's (it waits on the open stdin)
    const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('--password-stdin');
    expect(cmdline).not.toContain('entry-secret-xyz');
    child.stdin.end('entry-secret-xyz\n');
    await new Promise((r) => child.on('exit', r));
    expect(child.exitCode).toBe(0);

    expect(kpm(['unlock'], '', { KPM_MASTER_PASSWORD: MASTER }).code).toBe(0);
    const pid = agentPid();
    const agentCmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const agentEnv = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    expect(agentCmd).not.toContain(MASTER);
    expect(agentEnv).not.toContain(MASTER);
    expect(agentEnv).not.toContain('KPM_MASTER_PASSWORD');
    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(ps).not.toContain(MASTER);
    expect(kpm(['lock']).code).toBe(0);
  });

  it('error output never contains the master password', () => {
    const r = kpm(['get', 'nothing-here'], '', { KPM_MASTER_PASSWORD: MASTER });
    expect(r.code).toBe(3);
    expect(r.stderr + r.stdout).not.toContain(MASTER);
    const wrong = kpm(['get', 'x', '--password-stdin'], MASTER + 'x\n');
    expect(wrong.code).toBe(5);
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

    expect(kpm(['unlock', '--password-stdin'], MASTER + '\n').code).toBe(0);
    expect(kpm(['vault', 'unlock', 'Private', '--vault-password-stdin'], VAULT_PW + '\n').code).toBe(0);
    const pid = agentPid();
    // The scanner finds what is there: the account key must be present while unlocked.
    expect(memoryContains(pid, profile.accountKey)).toBe(true);
    expect(memoryContains(pid, privateKey)).toBe(true);
    expect(memoryContains(pid, utf8.encode(MASTER))).toBe(false);

    expect(kpm(['vault', 'lock', 'Private']).code).toBe(0);
    expect(memoryContains(pid, privateKey)).toBe(false);
    expect(memoryContains(pid, utf8.encode(MASTER))).toBe(false);

    expect(kpm(['lock']).code).toBe(0);
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
    session.close();
  });
});
