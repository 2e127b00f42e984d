// Talking to the agent: one connection per request, newline-delimited JSON.
import { spawn } from 'node:child_process';
import { KpmError, EXIT, type ExitCode } from '../core/errors.js';
import { agentCall, AgentMismatch, AgentUnavailable } from './call.js';
import type { KpmPaths } from '../core/paths.js';
import type { UnlockedProfile } from '../vault/keyring.js';
import { AGENT_METHODS, type AgentState, type MethodFns, type MethodName, type ParamsOf, type VaultApi } from './api.js';
import { encodeHandover } from './handover.js';
import { childEnv } from '../core/childenv.js';

export { childEnv };

export { agentCall, AgentMismatch, AgentUnavailable };
export type { AgentState };

/** The agent's methods `keys`, each a function sending its request (typed by the method table). */
export function agentMethods<K extends MethodName>(paths: KpmPaths, keys: readonly K[]): Pick<MethodFns, K> {
  const method = <M extends K>(m: M) => (...params: ParamsOf<M>) => agentCall(paths, m, params);
  const out: Partial<Record<K, unknown>> = {};
  for (const k of keys) out[k] = method(k); // method(k) is MethodFns[k]; the compiler does not follow it through the loop
  return out as Pick<MethodFns, K>;
}

/** A VaultApi served by the running agent; rejects with AgentUnavailable when there is none. */
export function agentApi(paths: KpmPaths): VaultApi {
  return { viaAgent: true, close: async () => {}, ...agentMethods(paths, AGENT_METHODS) };
}

export async function agentStatus(paths: KpmPaths): Promise<AgentState | null> {
  try {
    return await agentCall(paths, 'status', []);
  } catch (e) {
    if (e instanceof AgentUnavailable) return null;
    throw e;
  }
}

/**
 * Starts a detached agent and hands it the keys through a pipe; resolves once it listens: true, or
 * false when another agent of this profile runs already (one per profile; the new one exits at once).
 */
export function startAgent(paths: KpmPaths, profile: UnlockedProfile, vaultKeys: Record<string, Uint8Array>, idleSeconds: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [process.argv[1], '__agent'], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: childEnv({ agent: true }) });
    child.stdin!.on('error', () => {}); // a second agent exits without reading its keys
    let out = '';
    let err = '';
    const fail = (msg: string) => reject(new KpmError(`could not start the agent: ${msg}`, EXIT.error));
    child.on('error', (e) => fail(e.message));
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => (err += c));
    child.stdout!.on('data', (c: string) => {
      out += c;
      const failed = /^error (\d+) (.*)\n/.exec(out);
      if (failed) return reject(new KpmError(failed[2], Number(failed[1]) as ExitCode));
      if (out.startsWith('busy\n')) {
        child.unref();
        return resolve(false);
      }
      if (out.includes('ready\n')) {
        child.stdout!.destroy();
        child.stderr!.destroy();
        child.unref();
        resolve(true);
      }
    });
    child.on('exit', (code) => fail(err.trim() || `exited with code ${code}`));
    const handover = encodeHandover(profile, vaultKeys, idleSeconds);
    child.stdin!.end(handover, () => handover.fill(0));
  });
}
