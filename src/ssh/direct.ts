// The kpm agent serves the SSH agent socket of each running `kpm ssh-agent` itself (README "The SSH
// agent", docs/PROTOCOL.md "The SSH agent socket"): it connects to the control socket that
// `kpm ssh-agent` keeps in kpm's private SSH folder, learns the SSH socket's path and known_hosts
// files, and renames a socket of its own over that path (src/ssh/control.ts). A signature is then
// one request to the process that holds the unlocked vault, signed with a key it keeps parsed per
// entry version (src/ssh/keyring.ts). Questions for keys marked `confirm` and log lines go back to
// `kpm ssh-agent` over the control connection (its terminal or --confirm-command decide). When the
// agent stops it hands each socket back and waits (at most a second) until `kpm ssh-agent` serves
// it again, so a locked kpm answers "no identities" at once.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { Session } from '../vault/session.js';
import { EXIT, KpmError } from '../core/errors.js';
import { ownFileProblem, privateDirProblem } from '../core/fscheck.js';
import { serveAgentConnection, type AgentPolicy, type SshBackend, type UseRequest } from './agentproto.js';
import { canRename, CONTROL_NAME, CONTROL_VERSION, ControlChannel, listenRenamed, socketIno, type ControlMsg, type Listening } from './control.js';
import { sshKeyring } from './agentmethods.js';

/** What the kpm agent lends the SSH sockets it serves. */
export interface DirectHost {
  session: Session;
  /** false once the agent is stopping (its keys wiped): nothing is offered or signed */
  live(): boolean;
  /** a signature counts as use (the idle timeout) */
  touch(): void;
  /** `ssh-add -x`: locks kpm */
  lock(): void;
}

interface Link {
  control: string;
  ch: ControlChannel;
  socket?: string;
  knownHosts: string[];
  listening?: Listening;
  confirms: Map<number, (allow: boolean) => void>;
  onReleased?: () => void;
}

export class DirectSsh {
  private readonly links = new Map<string, Link>();
  private nextId = 1;
  private readonly backend: SshBackend;

  constructor(
    private readonly controlDir: () => string | undefined,
    private readonly host: DirectHost,
  ) {
    this.backend = {
      identities: async () => {
        if (!host.live()) return 'locked';
        host.session.refresh();
        return sshKeyring(host.session).identities();
      },
      sign: async (blob, data, flags) => {
        if (!host.live()) throw new KpmError('kpm is locked', EXIT.locked);
        host.touch();
        host.session.refresh();
        return sshKeyring(host.session).signBytes(blob, data, flags);
      },
      lock: async () => host.lock(),
    };
  }

  /** The SSH sockets this agent serves now. */
  get sockets(): string[] {
    return [...this.links.values()].flatMap((l) => (l.listening && l.socket ? [l.socket] : []));
  }

  /** Takes over the socket of every `kpm ssh-agent` not served yet (each attempt at most `timeoutMs`). */
  async attachAll(timeoutMs = 2000): Promise<void> {
    const dir = this.controlDir();
    if (!dir || privateDirProblem(dir)) return;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    const todo = names.filter((n) => CONTROL_NAME.test(n)).map((n) => join(dir, n)).filter((p) => !this.links.has(p));
    await Promise.all(todo.map((p) => this.attach(p, timeoutMs)));
  }

  private attach(control: string, timeoutMs: number): Promise<void> {
    if (ownFileProblem(control, 'socket')) return Promise.resolve();
    return new Promise((resolve) => {
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        resolve();
      };
      const sock = net.connect(control);
      const link: Link = { control, ch: new ControlChannel(sock, (m) => this.onMessage(link, m, done)), knownHosts: [], confirms: new Map() };
      const timer = setTimeout(() => {
        if (!link.listening) sock.destroy();
        done();
      }, timeoutMs);
      this.links.set(control, link);
      sock.on('connect', () => link.ch.send({ t: 'hello', v: CONTROL_VERSION, pid: process.pid }));
      sock.on('error', (e: NodeJS.ErrnoException) => {
        // nobody listens: a `kpm ssh-agent` that died without cleaning up; its control socket is ours (checked above)
        if (e.code === 'ECONNREFUSED') fs.rmSync(control, { force: true });
      });
      sock.on('close', () => {
        this.detach(link);
        done();
      });
    });
  }

  private onMessage(link: Link, m: ControlMsg, done: () => void): void {
    switch (m.t) {
      case 'config': {
        const decline = (reason: string) => {
          link.ch.send({ t: 'declined', reason });
          done();
        };
        if (link.socket) return; // one socket per control connection
        if (!isAbsolute(m.socket) || m.socket.includes('\0') || !canRename(m.socket)) return decline('the socket path cannot be replaced in one rename');
        link.socket = m.socket;
        link.knownHosts = m.knownHosts;
        listenRenamed(m.socket, (sock) => serveAgentConnection(sock, this.backend, this.policy(link))).then(
          (l) => {
            if (link.ch.closed || !this.host.live()) {
              l.server.close();
              if (socketIno(m.socket) === l.ino) fs.rmSync(m.socket, { force: true });
              return done();
            }
            link.listening = l;
            link.ch.send({ t: 'serving' });
            done();
          },
          (e: Error) => decline(e.message),
        );
        return;
      }
      case 'answer': {
        const f = link.confirms.get(m.id);
        link.confirms.delete(m.id);
        f?.(m.allow);
        return;
      }
      case 'released':
        link.onReleased?.();
        return;
      default:
    }
  }

  private policy(link: Link): AgentPolicy {
    return {
      knownHosts: link.knownHosts,
      confirm: (req: UseRequest) =>
        new Promise<boolean>((resolve) => {
          if (link.ch.closed) return resolve(false);
          const id = this.nextId++;
          link.confirms.set(id, resolve);
          link.ch.send({ t: 'confirm', id, name: req.key.name, fingerprint: req.key.fingerprint, host: req.host });
        }),
      log: (line: string) => link.ch.send({ t: 'log', line }),
    };
  }

  /** Stops serving a socket; removes it only if it is still ours (`kpm ssh-agent` gone without taking it back). */
  private detach(link: Link): void {
    if (this.links.get(link.control) !== link) return;
    this.links.delete(link.control);
    for (const f of link.confirms.values()) f(false);
    link.confirms.clear();
    link.ch.sock.destroy();
    if (link.listening && link.socket) {
      link.listening.server.close();
      if (socketIno(link.socket) === link.listening.ino) fs.rmSync(link.socket, { force: true });
    }
  }

  /** The agent stops: each socket goes back to its `kpm ssh-agent` (waiting at most `timeoutMs`). */
  async releaseAll(timeoutMs = 1000): Promise<void> {
    await Promise.all(
      [...this.links.values()].map(
        (link) =>
          new Promise<void>((resolve) => {
            const finish = () => {
              clearTimeout(timer);
              this.detach(link);
              resolve();
            };
            const timer = setTimeout(finish, link.listening ? timeoutMs : 0);
            if (!link.listening) return;
            link.onReleased = finish;
            link.ch.send({ t: 'release' });
          }),
      ),
    );
  }
}
