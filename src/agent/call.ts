// The smallest possible agent client: one request, one response. The hot paths (`kpm get`,
// `kpm list` while unlocked) load only this, node:net and node:fs.
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { KpmError, EXIT, type ExitCode } from '../vault/errors.js';
import type { KpmPaths } from '../vault/paths.js';
import { agentPaths, type AgentResponse } from './socket.js';

export class AgentUnavailable extends Error {}

export function agentCall(paths: KpmPaths, method: string, params: unknown[] = []): Promise<unknown> {
  const ap = agentPaths(paths);
  let token: string;
  try {
    token = readFileSync(ap.token, 'utf8');
  } catch {
    return Promise.reject(new AgentUnavailable('agent not running'));
  }
  return new Promise((resolve, reject) => {
    const sock = net.connect(ap.socket);
    const chunks: Buffer[] = [];
    let connected = false;
    sock.on('connect', () => {
      connected = true;
      sock.write(JSON.stringify({ token, method, params }) + '\n');
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
      if ('error' in res) reject(new KpmError(res.error.message, res.error.exitCode as ExitCode, res.error.hint));
      else resolve(res.ok);
    });
  });
}
