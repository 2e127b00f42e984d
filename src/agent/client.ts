// Talking to the agent: one connection per request, newline-delimited JSON.
import { spawn } from 'node:child_process';
import { KpmError, EXIT, type ExitCode } from '../vault/errors.js';
import { agentCall, AgentUnavailable } from './call.js';
import type { KpmPaths } from '../vault/paths.js';
import type { UnlockedProfile } from '../vault/keyring.js';
import { AGENT_METHODS, type VaultApi } from './api.js';
import { encodeHandover } from './handover.js';

export { agentCall, AgentUnavailable };

/** A VaultApi served by the running agent; rejects with AgentUnavailable when there is none. */
export function agentApi(paths: KpmPaths): VaultApi {
  const api: Record<string, unknown> = { viaAgent: true, close: async () => {} };
  for (const m of AGENT_METHODS) api[m] = (...params: unknown[]) => agentCall(paths, m, params);
  return api as unknown as VaultApi;
}

export async function agentStatus(paths: KpmPaths): Promise<{ pid: number; idleSeconds: number; entries: number } | null> {
  try {
    return (await agentCall(paths, 'status')) as { pid: number; idleSeconds: number; entries: number };
  } catch (e) {
    if (e instanceof AgentUnavailable) return null;
    throw e;
  }
}

/** The environment for kpm's own background processes: never the master password (R38). */
export function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.KPM_MASTER_PASSWORD;
  delete env.KPM_TOKEN;
  delete env.KPM_OFFLINE; // --offline is for one command; the agent follows the sync setting
  return env;
}

/** Starts a detached agent and hands it the keys through a pipe; resolves once it listens. */
export function startAgent(paths: KpmPaths, profile: UnlockedProfile, vaultKeys: Record<string, Uint8Array>, idleSeconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [process.argv[1], '__agent'], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() });
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
      if (out.includes('ready\n')) {
        child.stdout!.destroy();
        child.stderr!.destroy();
        child.unref();
        resolve();
      }
    });
    child.on('exit', (code) => fail(err.trim() || `exited with code ${code}`));
    const handover = encodeHandover(profile, vaultKeys, idleSeconds);
    child.stdin!.end(handover, () => handover.fill(0));
  });
}
