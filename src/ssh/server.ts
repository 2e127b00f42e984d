// `kpm ssh-agent`: owns SSH_AUTH_SOCK (a stable path, 0600 in a 0700 folder). While kpm is
// unlocked the kpm agent serves that socket itself (it takes it over through a control socket,
// src/ssh/control.ts and src/ssh/direct.ts), so a signature is one hop into the process that holds
// the key; this process then only answers its confirmation questions and prints its log lines.
// Locked (no kpm agent), this process serves the socket: it offers nothing and says so. If the kpm
// agent cannot take the socket over, this process asks it for identities and signatures
// (src/ssh/agentmethods.ts, two hops). Private keys never leave the kpm agent and never cross a socket.
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
import { serveAgentConnection, type AgentPolicy, type SshBackend, type UseRequest } from './agentproto.js';
import { canRename, CONTROL_VERSION, ControlChannel, controlSocketPath, listenRenamed, socketIno } from './control.js';
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

/**
 * kpm's own SSH folder (the default socket's), where each `kpm ssh-agent` has its control socket;
 * for the kpm agent, which only looks: undefined when there is none (nothing is created).
 */
export function existingSshDir(paths: KpmPaths): string | undefined {
  const dir = join(paths.run, 'ssh');
  if (join(dir, 'agent.sock').length <= MAX_SOCKET_PATH) return fs.existsSync(dir) ? dir : undefined;
  const pointer = join(paths.run, 'ssh-agent.dir');
  const named = ownFileProblem(pointer, 'file') ? '' : (readFileOrNull(pointer)?.toString() ?? '').trim();
  return named && !privateDirProblem(named) ? named : undefined;
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
  /** the answers while the kpm agent does not serve the socket itself: locked, or the two-hop path */
  backend: SshBackend;
  policy: AgentPolicy;
  /** kpm's private SSH folder: a control socket there lets the kpm agent take the socket over */
  controlDir?: string;
  /** asks a running kpm agent to take the socket over now (agent method sshAttach) */
  attach?: () => Promise<void>;
}

/**
 * Listens until SIGTERM/SIGINT; resolves once the socket is ready (and, when a kpm agent runs,
 * once it has taken the socket over). While no kpm agent serves it, this process answers: the
 * locked answers, or signatures asked of the kpm agent (two hops) if it could not take it over.
 */
export async function serveSshAgent(o: SshAgentOptions): Promise<net.Server> {
  // kpm's own folder is made private (0700); a folder the user named for --socket is left as it is
  // (the socket itself is 0600), and only a stale socket is ever removed, never another file.
  const dir = dirname(o.socket);
  if (o.privateDir || !fs.existsSync(dir)) ensureDir(dir);
  const dirBad = o.privateDir ? privateDirProblem(dir) : null;
  if (dirBad) throw new KpmError(`refusing to serve the SSH agent: ${dirBad}`, EXIT.forbidden);
  let old: fs.Stats | undefined;
  try {
    old = fs.lstatSync(o.socket);
  } catch {
    /* nothing there */
  }
  if (old && !old.isSocket()) throw new KpmError(`${o.socket} exists and is not a socket; choose another --socket`, EXIT.conflict);
  const onConnection = (sock: net.Socket) => serveAgentConnection(sock, o.backend, o.policy);
  const cannotListen = (e: unknown) => new KpmError(`kpm ssh-agent: cannot listen on ${o.socket}: ${(e as Error).message}`);
  let current: net.Server;
  const renames = canRename(o.socket);
  if (renames) current = (await listenRenamed(o.socket, onConnection).catch((e) => Promise.reject(cannotListen(e)))).server;
  else {
    if (old) fs.rmSync(o.socket, { force: true });
    current = await new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer(onConnection);
      server.once('error', (e) => reject(cannotListen(e)));
      const oldUmask = process.umask(0o177);
      server.listen(o.socket, () => {
        process.umask(oldUmask);
        fs.chmodSync(o.socket, 0o600);
        resolve(server);
      });
    });
  }
  let control: net.Server | undefined;
  const stop = () => {
    control?.close();
    current.close();
    for (const f of [o.socket, o.pidFile]) fs.rmSync(f, { force: true });
    process.exit(0);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, stop);
  // the kpm agent can take over only a socket it can replace in one rename (a short enough folder path)
  if (o.controlDir && renames) {
    control = await listenControl(o, o.controlDir, {
      serveAgain: async () => {
        const next = await listenRenamed(o.socket, onConnection);
        current.close(); // bound under a temporary name: closing it leaves the path alone
        current = next.server;
      },
    }).catch((e) => {
      o.policy.log(`the kpm agent cannot take this socket over (${(e as Error).message}); signatures go through it in two hops`);
      return undefined;
    });
  }
  writeFileAtomic(o.pidFile, new TextEncoder().encode(String(process.pid)));
  if (control && o.attach) await o.attach().catch(() => undefined);
  return current;
}

/**
 * The control socket the kpm agent connects to (src/ssh/control.ts), one controlling agent at a
 * time. When it goes (released, stopped or crashed) this process serves the socket again.
 */
async function listenControl(o: SshAgentOptions, controlDir: string, h: { serveAgain: () => Promise<void> }): Promise<net.Server> {
  ensureDir(controlDir);
  const bad = privateDirProblem(controlDir);
  if (bad) throw new Error(bad);
  const path = controlSocketPath(controlDir, o.socket);
  if (socketIno(path) !== undefined) fs.rmSync(path, { force: true }); // a stale one: only one kpm ssh-agent per socket runs
  let serial: Promise<unknown> = Promise.resolve();
  const inOrder = (f: () => Promise<void> | void) => (serial = serial.then(f).catch((e) => o.policy.log(`${(e as Error).message}`)));
  let busy = false;
  const server = net.createServer((sock) => {
    if (busy) return sock.destroy();
    busy = true;
    let taken = false; // the agent may have renamed its socket over ours
    let pid = 0;
    const giveBack = async () => {
      if (!taken) return;
      taken = false;
      await h.serveAgain().catch((e) => o.policy.log(`cannot serve ${o.socket} again: ${(e as Error).message}`));
    };
    const ch = new ControlChannel(sock, (m) => {
      switch (m.t) {
        case 'hello':
          inOrder(() => {
            pid = m.pid;
            if (m.v !== CONTROL_VERSION) {
              sock.destroy();
              return;
            }
            taken = true;
            ch.send({ t: 'config', socket: o.socket, knownHosts: o.policy.knownHosts });
          });
          return;
        case 'serving':
          o.policy.log(`the kpm agent (pid ${pid}) serves ${o.socket} itself now`);
          return;
        case 'declined':
          taken = false;
          o.policy.log(`the kpm agent does not serve ${o.socket} itself (${m.reason}); signatures go through it in two hops`);
          return;
        case 'confirm': {
          const key: SshIdentity = { blob: '', comment: '', name: m.name, vault: '', id: '', fingerprint: m.fingerprint, hosts: [], confirm: true };
          void o.policy.confirm({ key, host: m.host }).catch(() => false).then((allow) => ch.send({ t: 'answer', id: m.id, allow }));
          return;
        }
        case 'log':
          o.policy.log(m.line);
          return;
        case 'release':
          inOrder(async () => {
            await giveBack();
            ch.send({ t: 'released' });
          });
          return;
        default:
      }
    });
    sock.on('close', () => {
      inOrder(async () => {
        await giveBack();
        busy = false;
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const oldUmask = process.umask(0o177);
    server.listen(path, () => {
      process.umask(oldUmask);
      fs.chmodSync(path, 0o600);
      resolve();
    });
  });
  return server;
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
