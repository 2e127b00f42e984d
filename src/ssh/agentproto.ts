// The SSH agent protocol (draft-miller-ssh-agent; OpenSSH PROTOCOL.agent): framing, messages,
// and what kpm's agent answers on one connection. Keys come from a backend (the unlocked kpm
// agent); this layer only decides what to offer and what to sign, and never sees a private key.
import type { Socket } from 'node:net';
import { EXIT, KpmError } from '../core/errors.js';
import { WireError, WireReader, WireWriter } from './wire.js';
import { verifySignature } from './keys.js';
import { describeHost, hostAllowed, hostsForKey, type HostNames } from './hosts.js';
import type { SshIdentity } from './keyring.js';

export const MSG = {
  FAILURE: 5,
  SUCCESS: 6,
  REQUEST_IDENTITIES: 11,
  IDENTITIES_ANSWER: 12,
  SIGN_REQUEST: 13,
  SIGN_RESPONSE: 14,
  ADD_IDENTITY: 17,
  REMOVE_IDENTITY: 18,
  REMOVE_ALL_IDENTITIES: 19,
  ADD_SMARTCARD_KEY: 20,
  REMOVE_SMARTCARD_KEY: 21,
  LOCK: 22,
  UNLOCK: 23,
  ADD_ID_CONSTRAINED: 25,
  ADD_SMARTCARD_KEY_CONSTRAINED: 26,
  EXTENSION: 27,
  EXTENSION_FAILURE: 28,
} as const;

/** OpenSSH's own limit on one agent message */
export const MAX_MESSAGE = 256 * 1024;

export interface SshBackend {
  /** the vault's keys; `locked` when the kpm agent is not running */
  identities(): Promise<SshIdentity[] | 'locked'>;
  sign(blob: string, data: Buffer, flags: number): Promise<Buffer>;
  /** `ssh-add -x`: locks kpm */
  lock(): Promise<void>;
}

export interface UseRequest {
  key: SshIdentity;
  host: string;
}

export interface AgentPolicy {
  knownHosts: string[];
  /** asks the user before a key marked `confirm` is used; resolves true to allow */
  confirm(req: UseRequest): Promise<boolean>;
  /** one line for the terminal running `kpm ssh-agent` */
  log(line: string): void;
}

/** Splits a byte stream into agent messages (uint32 length ‖ body). */
export class Framer {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (n === 0 || n > MAX_MESSAGE) throw new WireError(`agent message of ${n} bytes refused`);
      if (this.buf.length < 4 + n) break;
      out.push(this.buf.subarray(4, 4 + n));
      this.buf = this.buf.subarray(4 + n);
    }
    return out;
  }
}

export function frame(body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

const failure = () => Buffer.from([MSG.FAILURE]);
const success = () => Buffer.from([MSG.SUCCESS]);

interface Binding {
  hostKey: Buffer;
  sessionId: Buffer;
  forwarding: boolean;
  host: HostNames;
}

/** One client connection: its session binding and the requests on it, answered in order. */
export class AgentConnection {
  private bindings: Binding[] = [];
  /** the identities the last list on this connection returned (ssh lists, then signs) */
  private listed: SshIdentity[] | undefined;
  constructor(
    private readonly backend: SshBackend,
    private readonly policy: AgentPolicy,
  ) {}

  private get bound(): Binding | undefined {
    return this.bindings.at(-1);
  }

  /** keys a key rule allows on this connection */
  private offered(keys: SshIdentity[]): SshIdentity[] {
    return keys.filter((k) => this.allowed(k));
  }

  private allowed(k: SshIdentity): boolean {
    if (!k.hosts.length) return true;
    const b = this.bound;
    // a host rule needs a verified binding to a host known_hosts names, directly (not forwarded)
    if (!b || b.forwarding || this.bindings.some((x) => x.forwarding)) return false;
    return hostAllowed(k.hosts, b.host);
  }

  async handle(msg: Buffer): Promise<Buffer> {
    try {
      const r = new WireReader(msg);
      const type = r.byte();
      switch (type) {
        case MSG.REQUEST_IDENTITIES:
          return await this.identities();
        case MSG.SIGN_REQUEST: {
          const blob = r.string();
          const data = r.string();
          const flags = r.uint32();
          return await this.sign(blob, data, flags);
        }
        case MSG.EXTENSION:
          return this.extension(r);
        case MSG.LOCK:
          await this.backend.lock();
          this.policy.log('ssh-add -x: kpm is locked now');
          return success();
        case MSG.ADD_IDENTITY:
        case MSG.ADD_ID_CONSTRAINED:
          this.policy.log('refused to add a key: keys come from the vault (`kpm ssh import NAME FILE`)');
          return failure();
        case MSG.REMOVE_IDENTITY:
        case MSG.REMOVE_ALL_IDENTITIES:
          this.policy.log('refused to remove keys: they live in the vault (`kpm rm NAME`, or `kpm lock`)');
          return failure();
        case MSG.UNLOCK:
          this.policy.log('refused ssh-add -X: unlock with `kpm unlock`');
          return failure();
        default:
          return failure();
      }
    } catch (e) {
      if (!(e instanceof WireError)) this.policy.log(`request failed: ${(e as Error).message}`);
      return failure();
    }
  }

  private async identities(): Promise<Buffer> {
    const keys = await this.backend.identities();
    this.listed = keys === 'locked' ? undefined : keys;
    const w = new WireWriter().byte(MSG.IDENTITIES_ANSWER);
    if (keys === 'locked') {
      this.policy.log('kpm is locked: no keys offered (run `kpm unlock`)');
      return w.uint32(0).toBuffer();
    }
    const offered = this.offered(keys);
    w.uint32(offered.length);
    for (const k of offered) w.string(Buffer.from(k.blob, 'base64')).string(k.comment);
    return w.toBuffer();
  }

  private async sign(blob: Buffer, data: Buffer, flags: number): Promise<Buffer> {
    const b64 = blob.toString('base64');
    // the rules of a key listed on this connection a moment ago; otherwise ask (one round trip less
    // per login). The signature itself always comes from the kpm agent, so a lock since then still fails.
    const keys = this.listed?.some((k) => k.blob === b64) ? this.listed : await this.backend.identities();
    if (keys === 'locked') {
      this.policy.log('kpm is locked: signature refused (run `kpm unlock`)');
      return failure();
    }
    const key = keys.find((k) => k.blob === b64);
    if (!key) return failure();
    if (!this.allowed(key)) {
      this.policy.log(`refused ${key.name}: its host rule (${key.hosts.join(',')}) does not match ${describeHost(this.bound?.host)}`);
      return failure();
    }
    // a host-restricted key signs only this session's user authentication (PROTOCOL.agent §2)
    if (key.hosts.length) {
      const sid = this.bound!.sessionId;
      const prefix = new WireWriter().string(sid).toBuffer();
      if (!data.subarray(0, prefix.length).equals(prefix)) {
        this.policy.log(`refused ${key.name}: a host-restricted key signs only logins of the bound session`);
        return failure();
      }
    }
    if (key.confirm) {
      const ok = await this.policy.confirm({ key, host: describeHost(this.bound?.host) });
      if (!ok) {
        this.policy.log(`use of ${key.name} refused by the user`);
        return failure();
      }
    }
    let sig: Buffer;
    try {
      sig = await this.backend.sign(b64, data, flags);
    } catch (e) {
      this.policy.log(`signature with ${key.name} failed: ${(e as Error).message}${e instanceof KpmError && e.exitCode === EXIT.locked ? ' (kpm is locked: run `kpm unlock`)' : ''}`);
      return failure();
    }
    return new WireWriter().byte(MSG.SIGN_RESPONSE).string(sig).toBuffer();
  }

  private extension(r: WireReader): Buffer {
    const name = r.text();
    if (name !== 'session-bind@openssh.com') return failure();
    const hostKey = Buffer.from(r.string());
    const sessionId = Buffer.from(r.string());
    const signature = r.string();
    const forwarding = r.bool();
    r.end();
    if (!verifySignature(hostKey, sessionId, signature)) {
      this.policy.log('session-bind refused: the host key signature does not verify');
      return failure();
    }
    if (this.bindings.some((b) => b.sessionId.equals(sessionId))) return failure(); // replayed binding
    if (this.bindings.length >= 16) return failure();
    this.bindings.push({ hostKey, sessionId, forwarding, host: hostsForKey(hostKey.toString('base64'), this.policy.knownHosts) });
    return success();
  }
}

/** Serves one client socket: its messages in order, one reply each; a bad frame ends it. */
export function serveAgentConnection(sock: Socket, backend: SshBackend, policy: AgentPolicy): void {
  const framer = new Framer();
  const conn = new AgentConnection(backend, policy);
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
}
