// The smallest possible agent client: one request, one response. The hot paths (`kpm get`,
// `kpm list` while unlocked) load only this, node:net and node:fs.
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { KpmError, EXIT, isErrorKind, type ExitCode } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';
import { locateAgent, type AgentResponse } from './socket.js';

export class AgentUnavailable extends Error {}

export interface CallOptions {
  /** do not print the agent's notice (the last background sync failure) on stderr */
  quiet?: boolean;
}

/**
 * One request to the running agent. Rejects with AgentUnavailable when there is none, and with a
 * KpmError (exit 9) when its folder, socket or token file is not this user's alone (S2): nothing
 * is sent then. The request says whether this command runs offline (--offline, KPM_OFFLINE=1).
 */
export function agentCall(paths: KpmPaths, method: string, params: unknown[] = [], opts: CallOptions = {}): Promise<unknown> {
  let token: string;
  let socket: string;
  try {
    const ap = locateAgent(paths);
    if (!ap) return Promise.reject(new AgentUnavailable('agent not running'));
    token = readFileSync(ap.token, 'utf8');
    socket = ap.socket;
  } catch (e) {
    if (e instanceof KpmError) return Promise.reject(e);
    return Promise.reject(new AgentUnavailable('agent not running'));
  }
  const offline = process.env.KPM_OFFLINE === '1';
  return new Promise((resolve, reject) => {
    const sock = net.connect(socket);
    const chunks: Buffer[] = [];
    let connected = false;
    sock.on('connect', () => {
      connected = true;
      sock.write(JSON.stringify(offline ? { token, method, params, offline } : { token, method, params }) + '\n');
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e) => reject(connected ? new KpmError(`lost the connection to the agent: ${e.message}`, EXIT.error) : new AgentUnavailable(e.message)));
    sock.on('close', () => {
      if (!connected) return;
      let res: AgentResponse;
      try {
        res = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reject(new KpmError('the agent closed the connection unexpectedly', EXIT.error));
      }
      if (res.notice && !opts.quiet) process.stderr.write(`kpm: ${res.notice}\n`);
      if ('error' in res) reject(new KpmError(res.error.message, res.error.exitCode as ExitCode, res.error.hint, isErrorKind(res.error.kind) ? res.error.kind : undefined));
      else resolve(res.ok);
    });
  });
}
