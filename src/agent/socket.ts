// Where the agent listens and how clients prove they are the same user.
// Node cannot read SO_PEERCRED, so the check is by file permission: the socket sits in a 0700
// folder with mode 0600, and every request carries a 256-bit token from a 0600 file that only the
// same uid (or root) can read. See docs/SECURITY.md.
//
// The agent's folder is never one that another user could create first (S2): it is the profile's
// own run folder ($KPM_HOME/run), or, when a socket path there would be too long for a Unix socket,
// a folder with a random name that the agent creates itself (mkdtemp) in the temp folder and names
// in `run/agent.dir`. Before trusting anything, client and agent check with lstat (no symlinks)
// that the folder is this user's with mode 0700 and that the socket and token file are this user's.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { KpmPaths } from '../core/paths.js';
import { KpmError, EXIT } from '../core/errors.js';
import { ownFileProblem, privateDirProblem } from '../core/fscheck.js';
import { pidAlive, readTextOrNull } from '../core/fsutil.js';

export interface AgentPaths {
  /** the folder of the socket and the token */
  dir: string;
  socket: string;
  token: string;
  /** run/agent.pid: the agent's pid, and its lock (one agent per profile) */
  pid: string;
  /** run/agent.dir: where the socket folder is, when it is not the run folder */
  pointer: string;
}

/** Unix socket paths are limited to 107 bytes (108 with the NUL). */
export const MAX_SOCKET_PATH = 100;

const inDir = (dir: string) => ({ dir, socket: join(dir, 'agent.sock'), token: join(dir, 'agent.token') });

/** Whether the socket fits in the run folder itself. */
export function socketFitsInRun(paths: KpmPaths): boolean {
  return join(paths.run, 'agent.sock').length <= MAX_SOCKET_PATH;
}

/** The agent's files for a given socket folder. */
export function agentPathsIn(paths: KpmPaths, dir: string): AgentPaths {
  return { ...inDir(dir), pid: join(paths.run, 'agent.pid'), pointer: join(paths.run, 'agent.dir') };
}

/** The agent's files where they are now (its folder only if it is this user's, else the run folder); for clean-up. */
export function agentPaths(paths: KpmPaths): AgentPaths {
  if (socketFitsInRun(paths)) return agentPathsIn(paths, paths.run);
  const pointer = join(paths.run, 'agent.dir');
  const dir = ownFileProblem(pointer, 'file') ? '' : (readTextOrNull(pointer) ?? '').trim();
  return agentPathsIn(paths, dir && !privateDirProblem(dir) ? dir : paths.run);
}

export const untrusted = (problem: string, pid?: number) =>
  new KpmError(
    `refusing to talk to the agent: ${problem}`,
    EXIT.forbidden,
    `the agent's folder must be yours alone (mode 0700), and its socket and token yours (docs/SECURITY.md); stop that agent${pid ? ` (\`kill ${pid}\`)` : ''} and run \`kpm unlock\` again`,
  );

/**
 * The running agent's files, checked; undefined when no agent runs. Throws (exit 9) when an agent
 * seems to run but its folder, socket or token file is not this user's alone.
 */
export function locateAgent(paths: KpmPaths): AgentPaths | undefined {
  const runBad = privateDirProblem(paths.run);
  if (runBad) {
    if (!fs.existsSync(paths.run)) return undefined;
    throw untrusted(runBad);
  }
  let ap: AgentPaths;
  if (socketFitsInRun(paths)) ap = agentPathsIn(paths, paths.run);
  else {
    const pointer = join(paths.run, 'agent.dir');
    const bad = ownFileProblem(pointer, 'file');
    if (bad) {
      if (!fs.existsSync(pointer)) return undefined;
      throw untrusted(bad);
    }
    const dir = (readTextOrNull(pointer) ?? '').trim();
    if (!dir) return undefined;
    ap = agentPathsIn(paths, dir);
  }
  // No live agent (none started, or it crashed): nothing is trusted, nothing to refuse. A folder
  // left behind, or planted under a name a crashed agent used, is never talked to.
  const pid = Number.parseInt(readTextOrNull(ap.pid) ?? '', 10);
  if (!(pid > 0 && pidAlive(pid)) || !lexists(ap.token)) return undefined;
  const problem = privateDirProblem(ap.dir) ?? ownFileProblem(ap.token, 'file') ?? ownFileProblem(ap.socket, 'socket');
  if (problem) throw untrusted(problem, pid);
  return ap;
}

function lexists(path: string): boolean {
  try {
    fs.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The agent protocol this build speaks: the method table (agent/api.ts) and what each method means.
 * Bump it with every change there (test/unit/agent-methods.test.ts pins the table's fingerprint to
 * it). The agent writes it in its token file and refuses requests of another version (except
 * `lock`); a CLI that finds an agent of another version stops it and asks for `kpm unlock`.
 * Agents from before versioning (token file: the bare token) count as protocol 1.
 */
export const AGENT_PROTOCOL = 8;

/** The token file's text: `<protocol>:<token hex>`. The whole text is what a request carries. */
export function tokenFileText(protocol: number, tokenHex: string): string {
  return `${protocol}:${tokenHex}`;
}

/** The protocol an agent speaks, from its token file's text. */
export function tokenProtocol(text: string): number {
  const m = /^(\d{1,9}):[0-9a-f]{64}$/.exec(text);
  return m ? Number(m[1]) : 1;
}

export interface AgentRequest {
  token: string;
  /** the protocol of the CLI that sends it (absent: an older CLI, protocol 1) */
  v?: number;
  method: string;
  params: unknown[];
  /** the command runs with --offline / KPM_OFFLINE=1 (see the agent's sync hold) */
  offline?: boolean;
  /** a text answer may come raw (src/agent/encode.ts); an agent that does not know it answers in JSON */
  raw?: boolean;
}

export type AgentResponse = ({ ok: unknown } | { error: { message: string; exitCode: number; hint?: string; kind?: string; /** with kind 'protocol': the protocol the agent speaks */ protocol?: number } }) & {
  /** the last background sync failed: shown once, on the next command */
  notice?: string;
};
