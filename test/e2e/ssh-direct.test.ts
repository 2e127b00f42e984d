// The kpm agent serves the SSH agent socket of `kpm ssh-agent` itself while kpm is unlocked (#19's
// benchmark: one hop per signature, README "The SSH agent"): real ssh logins for each key type with
// `kpm ssh-agent` paused, so only the kpm agent can have answered; lock and unlock with the socket
// open; a replaced key; the kpm agent stopped or killed; `kpm ssh-agent --stop` while it is served.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, describeRun, makeHome, MASTER, run, runOk, type RunResult } from '../helpers/kpm.js';
import { missingOpenSsh, runProgram, sshArgs, startSshd, untilReady, type ProcResult, type Sshd } from '../helpers/sshd.js';
import { waitFor } from '../helpers/server.js';

const missing = missingOpenSsh();
if (missing) console.warn(`skipping the SSH agent tests: ${missing}`);

const TYPES = [
  { name: 'ed', args: ['--type', 'ed25519'] },
  { name: 'rsa', args: ['--type', 'rsa', '--bits', '2048'] },
  { name: 'ecdsa', args: ['--type', 'ecdsa'] },
  { name: 'ecdsa384', args: ['--type', 'ecdsa', '--bits', '384'] },
];

const show = (what: string, r: ProcResult) => `${what} → exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

describe.skipIf(missing !== undefined)('the kpm agent serves the SSH agent socket itself', () => {
  let home: string;
  let scratch: string;
  let sshd: Sshd;
  let sshAgent: ChildProcess;
  let log = '';
  let sock: string;
  let spare: string; // a key file made by ssh-keygen, authorized on the sshd, imported later
  const pub: Record<string, string> = {};
  const kpm = async (args: string[], input?: string): Promise<RunResult> => {
    const r = await run(args, { home, input });
    expect(r.code, describeRun(args, r)).toBe(0);
    return r;
  };
  const unlock = () => kpm(['unlock', '--password-stdin'], MASTER + '\n');
  const ssh = (pubFile: string) => runProgram('ssh', sshArgs(sshd, sock, pubFile, 'echo logged-in'), { env: { PATH: process.env.PATH, HOME: home } });
  const sshAdd = (...args: string[]) => runProgram('ssh-add', args, { env: { PATH: process.env.PATH, SSH_AUTH_SOCK: sock } });
  const agentStatus = async () => JSON.parse((await kpm(['agent', 'status', '--json'])).stdout) as { running: boolean; pid?: number; sshSockets?: string[] };
  const logged = async (re: RegExp, from = 0) => {
    await waitFor(`kpm ssh-agent to log ${re}`, () => (re.test(log.slice(from)) ? true : undefined)).catch(() => undefined);
    expect(log.slice(from)).toMatch(re);
  };
  /** polls an async check until it gives a value (the kpm agent's exit is seen by kpm ssh-agent a moment later) */
  const until = async <T>(what: string, f: () => Promise<T | undefined>): Promise<T> => {
    for (let i = 0; i < 1200; i++) {
      const v = await f();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  /** runs `f` with kpm ssh-agent paused: whatever answers on the socket then is the kpm agent */
  const whilePaused = async <T>(f: () => Promise<T>): Promise<T> => {
    process.kill(sshAgent.pid!, 'SIGSTOP');
    try {
      return await f();
    } finally {
      process.kill(sshAgent.pid!, 'SIGCONT');
    }
  };

  beforeAll(async () => {
    home = makeHome();
    scratch = makeHome();
    await runOk(['init', '--password-stdin'], { home, input: MASTER + '\n' });
    for (const k of [...TYPES, { name: 'swap', args: [] }]) {
      const r = await runOk(['ssh', 'generate', k.name, ...k.args], { home, env: { KPM_MASTER_PASSWORD: MASTER } });
      pub[k.name] = r.stdout.trim();
      fs.writeFileSync(join(home, `${k.name}.pub`), pub[k.name] + '\n');
    }
    spare = join(scratch, 'id_spare');
    await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'spare@example.org', '-f', spare]);
    pub.spare = fs.readFileSync(spare + '.pub', 'utf8').trim();
    await unlock();
    sshd = await startSshd(Object.values(pub));
    sock = join(home, 'ssh.sock');
    sshAgent = spawn(process.execPath, [BIN, 'ssh-agent', '--foreground', '--socket', sock, '--known-hosts', sshd.knownHosts], { env: cleanEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
    sshAgent.stderr!.on('data', (c: Buffer) => (log += c.toString('utf8')));
    await untilReady(sshAgent, () => log);
  }, 120_000);

  afterAll(async () => {
    sshAgent?.kill('SIGCONT');
    sshAgent?.kill('SIGTERM');
    sshd?.stop();
    if (home) await run(['lock'], { home });
  });

  it('kpm ssh-agent started while unlocked: the kpm agent serves its socket (kpm agent status says so)', async () => {
    const st = await agentStatus();
    expect(st.sshSockets).toEqual([sock]);
    expect(log).toMatch(new RegExp(`the kpm agent \\(pid ${st.pid}\\) serves ${sock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} itself now`));
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
  });

  for (const k of TYPES) {
    it(`with kpm ssh-agent paused, ssh logs in with the ${k.name} key: the signature came from the kpm agent process`, async () => {
      const r = await whilePaused(() => ssh(join(home, `${k.name}.pub`)));
      expect(r.code, show('ssh', r) + '\nsshd: ' + sshd.log().slice(-1500) + '\nkpm ssh-agent: ' + log).toBe(0);
      expect(r.stdout.trim()).toBe('logged-in');
      expect(sshd.log()).toContain((await kpm(['get', k.name, '--field', 'fingerprint'])).stdout.trim());
    });
  }

  it('kpm lock with the socket open: ssh-add -L lists nothing, ssh fails cleanly; kpm unlock: it works again without restarting kpm ssh-agent', async () => {
    const pid = sshAgent.pid;
    await kpm(['lock']);
    try {
      // `kpm lock` returned: the socket is back with kpm ssh-agent, which answers for a locked kpm
      const l = await sshAdd('-L');
      expect(l.code, show('ssh-add -L', l)).toBe(1);
      expect(l.stdout + l.stderr).toMatch(/no identities/);
      const r = await ssh(join(home, 'ed.pub'));
      expect(r.code, show('ssh', r)).toBe(255);
      expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
      await logged(/kpm is locked: no keys offered \(run `kpm unlock`\)/);
    } finally {
      await unlock();
    }
    expect(sshAgent.pid).toBe(pid);
    expect(sshAgent.exitCode).toBeNull();
    expect((await agentStatus()).sshSockets).toEqual([sock]); // taken over again before `kpm unlock` returned
    const again = await whilePaused(() => ssh(join(home, 'ed.pub')));
    expect(again.code, show('ssh after unlock', again)).toBe(0);
  });

  it('an entry whose key is replaced: ssh-add -L and ssh use the new key at once (no stale parsed key)', async () => {
    const before = await sshAdd('-L');
    expect(before.stdout).toContain(pub.swap.split(' ')[1]);
    const first = await ssh(join(home, 'swap.pub')); // the kpm agent parses the key and keeps it
    expect(first.code, show('ssh with the first key', first)).toBe(0);
    await kpm(['rm', 'swap', '--yes']);
    await runOk(['ssh', 'import', 'swap', spare], { home });
    const after = await sshAdd('-L');
    expect(after.stdout).toContain(pub.spare.split(' ')[1]);
    expect(after.stdout).not.toContain(pub.swap.split(' ')[1]);
    const oldKey = await ssh(join(home, 'swap.pub'));
    expect(oldKey.code, show('ssh with the replaced key', oldKey)).toBe(255);
    const newKey = await whilePaused(() => ssh(spare + '.pub'));
    expect(newKey.code, show('ssh with the new key', newKey)).toBe(0);
  });

  it('the kpm agent stopped (SIGTERM) or killed (SIGKILL): kpm ssh-agent serves the socket again, lists nothing; unlock takes it over again', async () => {
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      const st = await agentStatus();
      expect(st.sshSockets).toEqual([sock]);
      process.kill(st.pid!, sig);
      // SIGTERM: the agent hands the socket back before it exits (a connection it accepted just before
      // may be cut); SIGKILL: kpm ssh-agent takes it back when its control connection closes
      const listed = await until(`ssh-add -L to list nothing after ${sig}`, async () => {
        const l = await sshAdd('-L');
        return l.code === 1 && /no identities/.test(l.stdout + l.stderr) ? l : undefined;
      });
      expect(listed.code).toBe(1);
      expect(fs.lstatSync(sock).isSocket()).toBe(true);
      await unlock();
      expect((await agentStatus()).sshSockets).toEqual([sock]);
      expect((await whilePaused(() => ssh(join(home, 'rsa.pub')))).code).toBe(0);
    }
  });

  it('kpm ssh-agent --stop while the kpm agent serves its socket: the socket is removed and the kpm agent serves it no more', async () => {
    const other = join(scratch, 'other.sock');
    const started = await run(['ssh-agent', '--socket', other], { home });
    expect(started.code, describeRun(['ssh-agent'], started)).toBe(0);
    try {
      expect((await agentStatus()).sshSockets?.sort()).toEqual([other, sock].sort());
    } finally {
      const stopped = await run(['ssh-agent', '--stop', '--socket', other], { home });
      expect(stopped.code, describeRun(['ssh-agent', '--stop'], stopped)).toBe(0);
    }
    await waitFor('the other socket to go', () => (fs.existsSync(other) ? undefined : true));
    const st = await until('the kpm agent to stop serving it', async () => {
      const a = await agentStatus();
      return a.sshSockets?.includes(other) ? undefined : a;
    });
    expect(st.sshSockets).toEqual([sock]);
    expect(fs.existsSync(other)).toBe(false);
  });

  it('a background kpm ssh-agent (as `eval "$(kpm ssh-agent)"` starts it) survives kpm lock and the locked answers it logs, and serves again after unlock', async () => {
    const bg = join(scratch, 'bg.sock');
    const started = await run(['ssh-agent', '--socket', bg, '--known-hosts', sshd.knownHosts], { home });
    expect(started.code, describeRun(['ssh-agent'], started)).toBe(0);
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(started.stdout)![1]);
    const list = () => runProgram('ssh-add', ['-L'], { env: { PATH: process.env.PATH, SSH_AUTH_SOCK: bg } });
    try {
      expect((await list()).code).toBe(0);
      await kpm(['lock']);
      try {
        for (let i = 0; i < 3; i++) {
          const l = await list(); // each one makes kpm ssh-agent log "kpm is locked: …" to a terminal that is gone
          expect(l.code, show('ssh-add -L (locked)', l)).toBe(1);
          expect(l.stdout + l.stderr).toMatch(/no identities/);
        }
        expect(() => process.kill(pid, 0)).not.toThrow();
      } finally {
        await unlock();
      }
      const again = await list();
      expect(again.code, show('ssh-add -L after unlock', again)).toBe(0);
      expect(again.stdout).toContain(pub.ed.split(' ')[1]);
    } finally {
      await run(['ssh-agent', '--stop', '--socket', bg], { home });
    }
  });

  it('kpm ssh-agent killed (SIGKILL) while the kpm agent serves its socket: the kpm agent closes it and removes it', async () => {
    const dead = join(scratch, 'dead.sock');
    const started = await run(['ssh-agent', '--socket', dead], { home });
    expect(started.code, describeRun(['ssh-agent'], started)).toBe(0);
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(started.stdout)![1]);
    expect((await agentStatus()).sshSockets).toContain(dead);
    process.kill(pid, 'SIGKILL'); // it cannot remove anything itself
    await until('the kpm agent to drop the socket', async () => ((await agentStatus()).sshSockets?.includes(dead) ? undefined : true));
    expect(fs.existsSync(dead)).toBe(false);
    fs.rmSync(dead + '.pid', { force: true });
  });
});
