// The smallest possible agent client: one request, one response. The hot paths (`kpm get`,
// `kpm list`, `kpm add` … while unlocked) load only this, node:net and node:fs.
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { KpmError, EXIT, isErrorKind, type ExitCode } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';
import type { MethodName, ParamsOf, ResultOf } from './api.js';
import { rawHead } from './encode.js';
import { AGENT_PROTOCOL, locateAgent, tokenProtocol, type AgentPaths, type AgentResponse } from './socket.js';

export class AgentUnavailable extends Error {}

/**
 * The running agent speaks another protocol (it was started by another kpm version, typically
 * before an upgrade): it was stopped, keys wiped, and the user unlocks again. Exit 4 (locked).
 */
export class AgentMismatch extends KpmError {
  constructor(readonly agentProtocol: number) {
    super(`the running agent was started by another version of kpm (agent protocol ${agentProtocol}, this kpm speaks ${AGENT_PROTOCOL}); it was stopped: run \`kpm unlock\` again`, EXIT.locked);
  }
}

export interface CallOptions {
  /** do not print the agent's notice (the last background sync failure) on stderr */
  quiet?: boolean;
}

interface Located {
  ap: AgentPaths;
  token: string;
  protocol: number;
}

function locate(paths: KpmPaths): Located | KpmError | AgentUnavailable {
  try {
    const ap = locateAgent(paths);
    if (!ap) return new AgentUnavailable('agent not running');
    const token = readFileSync(ap.token, 'utf8');
    return { ap, token, protocol: tokenProtocol(token) };
  } catch (e) {
    if (e instanceof KpmError) return e;
    return new AgentUnavailable('agent not running');
  }
}

/**
 * One request/response exchange, without any protocol check (`lock` is the same in every version).
 * With `sink`, a raw answer (src/agent/encode.ts) is handed to it chunk by chunk as it comes, and
 * the exchange resolves with its length in bytes; a JSON answer is parsed as always.
 */
function exchange(socket: string, request: object, sink?: (chunk: Buffer) => void): Promise<AgentResponse | number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socket);
    const chunks: Buffer[] = [];
    let connected = false;
    // with a sink: 'head' while the first bytes do not yet tell a raw answer from JSON
    let mode: 'json' | 'head' | 'raw' = sink ? 'head' : 'json';
    let expected = 0;
    let got = 0;
    sock.on('connect', () => {
      connected = true;
      sock.write(JSON.stringify(request) + '\n');
    });
    sock.on('data', (c: Buffer) => {
      if (mode === 'raw') {
        got += c.length;
        if (got <= expected) sink!(c);
        return;
      }
      chunks.push(c);
      if (mode === 'json') return;
      const first = chunks.length === 1 ? c : Buffer.concat(chunks);
      const r = rawHead(first);
      if (r === undefined) return;
      if (r === null) return void (mode = 'json');
      mode = 'raw';
      chunks.length = 0;
      expected = r.length;
      const text = first.subarray(r.start);
      got = text.length;
      if (got > 0 && got <= expected) sink!(text);
    });
    sock.on('error', (e) => reject(connected ? new KpmError(`lost the connection to the agent: ${e.message}`, EXIT.error) : new AgentUnavailable(e.message)));
    sock.on('close', () => {
      if (!connected) return;
      if (mode === 'raw') {
        if (got === expected) resolve(expected);
        else reject(new KpmError('the agent closed the connection unexpectedly', EXIT.error));
        return;
      }
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as AgentResponse);
      } catch {
        reject(new KpmError('the agent closed the connection unexpectedly', EXIT.error));
      }
    });
  });
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `pid` runs a kpm agent (where /proc cannot tell, no: nothing else is ever signalled). */
function isAgentCmdline(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('__agent');
  } catch {
    return false;
  }
}

/**
 * Stops an agent of another protocol: `lock` (which every version understands: it sends what only
 * its data vaults' keys can seal, wipes its keys and exits), then waits for its process to end.
 */
async function stopOtherAgent(at: Located): Promise<void> {
  const pid = Number.parseInt(readFileSync(at.ap.pid, 'utf8'), 10);
  await exchange(at.ap.socket, { token: at.token, method: 'lock', params: [] }).catch(() => undefined);
  for (let i = 0; i < 300 && pid > 0 && alive(pid); i++) await sleep(10);
  if (pid > 0 && alive(pid) && isAgentCmdline(pid)) {
    try {
      process.kill(pid, 'SIGTERM'); // it checked our token file; its pid file is its lock (S9)
    } catch {
      /* gone meanwhile */
    }
    for (let i = 0; i < 200 && alive(pid); i++) await sleep(10);
  }
}

/**
 * One request to the running agent. Rejects with AgentUnavailable when there is none, with a
 * KpmError (exit 9) when its folder, socket or token file is not this user's alone (S2): nothing
 * is sent then, and with AgentMismatch (exit 4) when it speaks another protocol: it is stopped.
 * The request says whether this command runs offline (--offline, KPM_OFFLINE=1).
 */
export async function agentCall<K extends MethodName>(paths: KpmPaths, method: K, params: ParamsOf<K>, opts: CallOptions = {}): Promise<ResultOf<K>> {
  return (await call(paths, method, params, opts)) as ResultOf<K>;
}

/**
 * agentCall of a method that answers a text, asking for it raw (src/agent/encode.ts): its UTF-8
 * bytes go to `sink` as they come, and the call resolves with their number; from an agent that
 * answers in JSON (one from before raw answers), the text itself, nothing sent to `sink`.
 */
export function agentCallStream<K extends MethodName>(paths: KpmPaths, method: K, params: ParamsOf<K>, sink: (chunk: Buffer) => void, opts: CallOptions = {}): Promise<number | ResultOf<K>> {
  return call(paths, method, params, opts, sink);
}

async function call<K extends MethodName>(paths: KpmPaths, method: K, params: ParamsOf<K>, opts: CallOptions, sink?: (chunk: Buffer) => void): Promise<number | ResultOf<K>> {
  const at = locate(paths);
  if (at instanceof Error) throw at;
  if (at.protocol !== AGENT_PROTOCOL) {
    await stopOtherAgent(at);
    throw new AgentMismatch(at.protocol);
  }
  const offline = process.env.KPM_OFFLINE === '1';
  const request = { token: at.token, v: AGENT_PROTOCOL, method, params, ...(offline ? { offline } : {}), ...(sink ? { raw: true } : {}) };
  const res = await exchange(at.ap.socket, request, sink);
  if (typeof res === 'number') return res;
  if (res.notice && !opts.quiet) process.stderr.write(`kpm: ${res.notice}\n`);
  if ('error' in res) {
    if (res.error.kind === 'protocol') {
      await stopOtherAgent(at);
      throw new AgentMismatch(res.error.protocol ?? 0);
    }
    throw new KpmError(res.error.message, res.error.exitCode as ExitCode, res.error.hint, isErrorKind(res.error.kind) ? res.error.kind : undefined);
  }
  return res.ok as ResultOf<K>; // the agent answered this method (its dispatch is typed by the same table)
}
