// `kpm ssh-agent`: serves SSH_AUTH_SOCK from a 0700 folder and asks the unlocked kpm agent for
// identities and signatures (src/ssh/agentmethods.ts), so private keys never leave the kpm agent
// and never cross this socket. Locked (no kpm agent), it offers nothing and says so.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { ReadStream } from 'node:tty';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { agentCall, AgentUnavailable } from '../agent/call.js';
import type { KpmPaths } from '../core/paths.js';
import { KpmError, EXIT } from '../core/errors.js';
import { ensureDir, readFileOrNull, writeFileAtomic } from '../core/fsutil.js';
import { ownFileProblem, privateDirProblem } from '../core/fscheck.js';
import { MAX_SOCKET_PATH } from '../agent/socket.js';
import { AgentConnection, Framer, frame, type AgentPolicy, type SshBackend, type UseRequest } from './agentproto.js';
import type { SshIdentity } from './keyring.js';

export interface SshAgentPaths {
  dir: string;
  socket: string;
  pid: string;
}

/**
 * The stable default: <runtime dir>/ssh/agent.sock. When that path is too long for a Unix socket, a
 * folder with a random name that kpm creates itself (mkdtemp, 0700) in the temp folder, named in
 * run/ssh-agent.dir and reused while it is still this user's alone: never a name another user
 * could create first (S2).
 */
export function sshAgentPaths(paths: KpmPaths, socket?: string): SshAgentPaths {
  if (socket) return { dir: dirname(socket), socket, pid: socket + '.pid' };
  let dir = join(paths.run, 'ssh');
  if (join(dir, 'agent.sock').length > MAX_SOCKET_PATH) {
    const pointer = join(paths.run, 'ssh-agent.dir');
    const named = ownFileProblem(pointer, 'file') ? '' : (readFileOrNull(pointer)?.toString() ?? '').trim();
    if (named && !privateDirProblem(named)) dir = named;
    else {
      ensureDir(paths.run);
      dir = fs.mkdtempSync(join(tmpdir(), 'kpm-ssh-')); // a new random name, created 0700 exclusively
      fs.chmodSync(dir, 0o700);
      writeFileAtomic(pointer, new TextEncoder().encode(dir));
    }
  }
  return { dir, socket: join(dir, 'agent.sock'), pid: join(dir, 'agent.sock.pid') };
}

export function kpmBackend(paths: KpmPaths): SshBackend {
  return {
    async identities() {
      try {
        return (await agentCall(paths, 'sshIdentities', [])) as SshIdentity[];
      } catch (e) {
        if (e instanceof AgentUnavailable) return 'locked';
        if (e instanceof KpmError && e.exitCode === EXIT.locked) return 'locked';
        throw e;
      }
    },
    async sign(blob, data, flags) {
      try {
        return Buffer.from((await agentCall(paths, 'sshSign', [blob, data.toString('base64'), flags])) as string, 'base64');
      } catch (e) {
        if (e instanceof AgentUnavailable) throw new KpmError(`the kpm agent is not running (${e.message})`, EXIT.locked);
        throw e;
      }
    },
    async lock() {
      try {
        await agentCall(paths, 'lock', []);
      } catch (e) {
        if (!(e instanceof AgentUnavailable)) throw e;
      }
    },
  };
}

/** Runs a confirmation command: exit 0 allows. The key's name, fingerprint and host are in its environment. */
export function confirmByCommand(command: string, req: UseRequest): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, KPM_SSH_KEY: req.key.name, KPM_SSH_FINGERPRINT: req.key.fingerprint, KPM_SSH_HOST: req.host, KPM_MASTER_PASSWORD: undefined },
    });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

/** Asks on the controlling terminal of `kpm ssh-agent` (one question at a time); no terminal: refused. */
export function confirmOnTerminal(): (req: UseRequest) => Promise<boolean> {
  let queue: Promise<unknown> = Promise.resolve();
  return (req) => {
    const ask = queue.then(
      () =>
        new Promise<boolean>((resolve) => {
          let fd: number;
          try {
            fd = fs.openSync('/dev/tty', 'r+');
          } catch {
            return resolve(false); // no terminal (started in the background): refused
          }
          try {
            fs.writeSync(fd, `kpm ssh-agent: allow ${req.key.name} (${req.key.fingerprint}) for ${req.host}? [y/N] `);
          } catch {
            fs.closeSync(fd);
            return resolve(false);
          }
          const tty = new ReadStream(fd);
          tty.setEncoding('utf8');
          tty.once('data', (d: string) => {
            tty.destroy();
            resolve(/^y(es)?\s*$/i.test(d));
          });
          tty.once('error', () => resolve(false));
        }),
    );
    queue = ask.catch(() => false);
    return ask;
  };
}

export interface SshAgentOptions {
  socket: string;
  /** the socket's folder is kpm's own: create it 0700 (and make it so) */
  privateDir: boolean;
  pidFile: string;
  backend: SshBackend;
  policy: AgentPolicy;
}

/** Listens until SIGTERM/SIGINT; resolves once the socket is ready. */
export function serveSshAgent(o: SshAgentOptions): Promise<net.Server> {
  // kpm's own folder is made private (0700); a folder the user named for --socket is left as it is
  // (the socket itself is 0600), and only a stale socket is ever removed, never another file.
  const dir = dirname(o.socket);
  if (o.privateDir || !fs.existsSync(dir)) ensureDir(dir);
  const dirBad = o.privateDir ? privateDirProblem(dir) : null;
  if (dirBad) return Promise.reject(new KpmError(`refusing to serve the SSH agent: ${dirBad}`, EXIT.forbidden));
  let old: fs.Stats | undefined;
  try {
    old = fs.lstatSync(o.socket);
  } catch {
    /* nothing there */
  }
  if (old && !old.isSocket()) return Promise.reject(new KpmError(`${o.socket} exists and is not a socket; choose another --socket`, EXIT.conflict));
  if (old) fs.rmSync(o.socket, { force: true });
  const server = net.createServer((sock) => {
    const framer = new Framer();
    const conn = new AgentConnection(o.backend, o.policy);
    let chain: Promise<void> = Promise.resolve();
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = framer.push(chunk);
      } catch {
        return sock.destroy();
      }
      for (const m of msgs) {
        chain = chain.then(async () => {
          const reply = await conn.handle(m);
          if (!sock.destroyed) sock.write(frame(reply));
        });
      }
    });
  });
  const stop = () => {
    server.close();
    for (const f of [o.socket, o.pidFile]) fs.rmSync(f, { force: true });
    process.exit(0);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, stop);
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new KpmError(`kpm ssh-agent: cannot listen on ${o.socket}: ${e.message}`)));
    const oldUmask = process.umask(0o177);
    server.listen(o.socket, () => {
      process.umask(oldUmask);
      fs.chmodSync(o.socket, 0o600);
      writeFileAtomic(o.pidFile, new TextEncoder().encode(String(process.pid)));
      resolve(server);
    });
  });
}

/** Is an ssh-agent of ours already serving this socket? (by its pid file) */
export function runningPid(p: SshAgentPaths): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(p.pid, 'utf8'), 10);
    if (pid > 0 && fs.existsSync(p.socket)) {
      process.kill(pid, 0);
      return pid;
    }
  } catch {
    /* not running */
  }
  return undefined;
}
