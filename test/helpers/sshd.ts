// A real OpenSSH server on a loopback port for the SSH tests: its own host key, config and
// authorized_keys in a temporary folder, running as the test's own user (root here: root login by
// key only). Also the `ssh` command line that talks to it through a given agent socket.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { join } from 'node:path';

export const SSHD = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'].find((p) => fs.existsSync(p));

/** Why the OpenSSH tests cannot run here, or undefined when they can. */
export function missingOpenSsh(extra: string[] = []): string | undefined {
  if (!SSHD) return 'sshd is not installed (apt-get install openssh-server)';
  for (const p of ['ssh', 'ssh-keygen', 'ssh-add', ...extra]) {
    if (spawnSync('sh', ['-c', `command -v ${p}`]).status !== 0) return `${p} is not installed`;
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function banner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('data', (d) => {
      c.destroy();
      resolve(d.toString('latin1').startsWith('SSH-2.0'));
    });
    c.once('error', () => resolve(false));
  });
}

export interface Sshd {
  port: number;
  dir: string;
  user: string;
  /** "[127.0.0.1]:PORT ssh-ed25519 …", a known_hosts file with it */
  knownHosts: string;
  hostKeyBlob: string;
  authorizedKeys: string;
  log(): string;
  stop(): void;
}

export async function startSshd(authorizedKeys: string[]): Promise<Sshd> {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-sshd-'));
  const hostKey = join(dir, 'host_ed25519');
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey], { stdio: 'ignore' });
  const authorized = join(dir, 'authorized_keys');
  fs.writeFileSync(authorized, authorizedKeys.join('\n') + '\n', { mode: 0o600 });
  const port = await freePort();
  const user = os.userInfo().username;
  const cfg = join(dir, 'sshd_config');
  fs.writeFileSync(cfg, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorized}`, 'PermitRootLogin prohibit-password', 'StrictModes no', 'UsePAM no',
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', `AllowUsers ${user}`, 'LogLevel VERBOSE', 'MaxAuthTries 6', '',
  ].join('\n'));
  if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation folder
  let log = '';
  const child: ChildProcess = spawn(SSHD!, ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (c: Buffer) => (log += c.toString('utf8')));
  // up to 30 s for the banner (sshd starts in well under a second; the bound only ends a sshd that never listens)
  for (let i = 0; i < 1200 && !(await banner(port)); i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${log}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const hostKeyBlob = fs.readFileSync(hostKey + '.pub', 'utf8').split(' ')[1];
  const knownHosts = join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${port} ssh-ed25519 ${hostKeyBlob}\n`);
  return {
    port, dir, user, knownHosts, hostKeyBlob, authorizedKeys: authorized,
    log: () => log,
    stop() {
      child.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `ssh` arguments for a login to the test sshd through an agent; `identity`: a .pub file for IdentitiesOnly. */
export function sshArgs(d: Sshd, agentSocket: string, identity: string | undefined, command: string, extra: string[] = [], knownHosts = d.knownHosts): string[] {
  return [
    '-F', '/dev/null', '-p', String(d.port), '-o', `IdentityAgent=${agentSocket}`,
    ...(identity ? ['-o', 'IdentitiesOnly=yes', '-o', `IdentityFile=${identity}`] : ['-o', 'IdentityFile=/nonexistent/none']),
    '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no', '-o', 'ConnectTimeout=20',
    ...extra, `${d.user}@127.0.0.1`, command,
  ];
}

export interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program (ssh, ssh-add, git …) without a shell and collects its output. */
export function runProgram(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.stdin.on('error', () => {});
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Resolves once a `kpm ssh-agent --foreground` prints "ready"; rejects with its log if it exits first. */
export function untilReady(agent: ChildProcess, log: () => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let out = '';
    agent.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes('ready\n')) resolve();
    });
    agent.once('exit', (code) => reject(new Error(`kpm ssh-agent exited ${code}: ${log()}`)));
  });
}
