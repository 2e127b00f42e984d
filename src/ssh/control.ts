// The control channel between `kpm ssh-agent` and the kpm agent (docs/PROTOCOL.md "The SSH agent
// socket"). `kpm ssh-agent` listens on a control socket in kpm's private SSH folder
// (c-<8 hex of the SSH socket's path>, 0600 in a 0700 folder); the kpm agent, when it starts or is
// asked (agent method sshAttach), connects to each one and takes over the SSH socket itself: it
// listens on a temporary name next to it and renames that over the SSH socket's path, so ssh
// reaches the process that holds the unlocked vault in one hop. Confirmation questions and log
// lines go back over this channel to `kpm ssh-agent` (its terminal, its --confirm-command); when the
// kpm agent stops it hands the socket back (release → released) and `kpm ssh-agent` serves the
// locked answers again. Newline-delimited JSON; nothing secret ever crosses it.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export const CONTROL_VERSION = 1;

/** The longest Unix socket path (sun_path is 108 bytes with the NUL). */
export const SUN_PATH_MAX = 107;

export type ControlMsg =
  | { t: 'hello'; v: number; pid: number }
  | { t: 'config'; socket: string; knownHosts: string[] }
  | { t: 'serving' }
  | { t: 'declined'; reason: string }
  | { t: 'confirm'; id: number; name: string; fingerprint: string; host: string }
  | { t: 'answer'; id: number; allow: boolean }
  | { t: 'log'; line: string }
  | { t: 'release' }
  | { t: 'released' };

const MAX_LINE = 1 << 16;

const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;

/** A message as received, checked field by field; undefined when malformed. */
export function parseControl(line: string): ControlMsg | undefined {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return undefined;
  switch (m.t) {
    case 'hello':
      return Number.isInteger(m.v) && Number.isInteger(m.pid) ? { t: 'hello', v: m.v as number, pid: m.pid as number } : undefined;
    case 'config':
      return isStr(m.socket) && Array.isArray(m.knownHosts) && m.knownHosts.length <= 64 && m.knownHosts.every((f) => isStr(f)) ? { t: 'config', socket: m.socket, knownHosts: m.knownHosts as string[] } : undefined;
    case 'serving':
    case 'release':
    case 'released':
      return { t: m.t };
    case 'declined':
      return isStr(m.reason) ? { t: 'declined', reason: m.reason } : undefined;
    case 'confirm':
      return Number.isInteger(m.id) && isStr(m.name) && isStr(m.fingerprint) && isStr(m.host) ? { t: 'confirm', id: m.id as number, name: m.name, fingerprint: m.fingerprint, host: m.host } : undefined;
    case 'answer':
      return Number.isInteger(m.id) && typeof m.allow === 'boolean' ? { t: 'answer', id: m.id as number, allow: m.allow } : undefined;
    case 'log':
      return isStr(m.line) ? { t: 'log', line: m.line } : undefined;
    default:
      return undefined;
  }
}

/** One control connection: messages out, messages in (a malformed or oversized line ends it). */
export class ControlChannel {
  private buf = '';
  constructor(
    readonly sock: net.Socket,
    onMessage: (m: ControlMsg) => void,
  ) {
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      if (this.buf.length > MAX_LINE) return sock.destroy();
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const m = parseControl(line);
        if (!m) return sock.destroy();
        onMessage(m);
      }
    });
  }

  send(m: ControlMsg): void {
    if (!this.sock.destroyed) this.sock.write(JSON.stringify(m) + '\n');
  }

  get closed(): boolean {
    return this.sock.destroyed;
  }
}

/** The control socket of the `kpm ssh-agent` that serves `sshSocket`, in kpm's private SSH folder. */
export function controlSocketPath(controlDir: string, sshSocket: string): string {
  return join(controlDir, 'c-' + createHash('sha256').update(sshSocket).digest('hex').slice(0, 8));
}

export const CONTROL_NAME = /^c-[0-9a-f]{8}$/;

/** The temporary name a listener is bound to before it is renamed over `path` (same folder). */
function tempName(path: string): string {
  return join(dirname(path), `.${basename(path).slice(0, 8)}.${randomBytes(4).toString('hex')}`);
}

/** Whether a listener for `path` can be bound under a temporary name and renamed over it. */
export function canRename(path: string): boolean {
  return join(dirname(path), `.${basename(path).slice(0, 8)}.00000000`).length <= SUN_PATH_MAX;
}

/** The inode of the socket at `path`, or undefined (nothing there, or not a socket). */
export function socketIno(path: string): number | undefined {
  try {
    const st = fs.lstatSync(path);
    return st.isSocket() ? st.ino : undefined;
  } catch {
    return undefined;
  }
}

export interface Listening {
  server: net.Server;
  /** the inode of the socket file at the path (to remove only our own later) */
  ino: number;
}

/**
 * Listens for `path` without ever leaving it unserved: the server is bound to a temporary name in
 * the same folder (0600 from the start: umask), then renamed over `path` in one step, replacing
 * the socket there. Closing the server later does not unlink `path` (Node unlinks the name it
 * bound, the temporary one, long gone). Refuses to replace anything but a socket.
 */
export function listenRenamed(path: string, onConnection: (sock: net.Socket) => void): Promise<Listening> {
  const tmp = tempName(path);
  return new Promise((resolve, reject) => {
    const server = net.createServer(onConnection);
    const oldUmask = process.umask(0o177);
    server.once('error', (e) => {
      process.umask(oldUmask);
      reject(e);
    });
    server.listen(tmp, () => {
      process.umask(oldUmask);
      try {
        fs.chmodSync(tmp, 0o600);
        let old: fs.Stats | undefined;
        try {
          old = fs.lstatSync(path);
        } catch {
          /* nothing there */
        }
        if (old && !old.isSocket()) throw new Error(`${path} exists and is not a socket`);
        fs.renameSync(tmp, path);
        resolve({ server, ino: fs.lstatSync(path).ino });
      } catch (e) {
        server.close();
        fs.rmSync(tmp, { force: true });
        reject(e);
      }
    });
  });
}
