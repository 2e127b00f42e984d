// Where the agent listens and how clients prove they are the same user.
// Node cannot read SO_PEERCRED, so the check is by file permission: the socket sits in a 0700
// folder with mode 0600, and every request carries a 256-bit token from a 0600 file that only the
// same uid (or root) can read. See docs/SECURITY.md.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KpmPaths } from '../vault/paths.js';

export interface AgentPaths {
  dir: string;
  socket: string;
  token: string;
  pid: string;
}

export function agentPaths(paths: KpmPaths): AgentPaths {
  let dir = paths.run;
  // Unix socket paths are limited to 107 bytes; fall back to a short private folder.
  if (join(dir, 'agent.sock').length > 100) {
    const h = fnv1a(paths.run);
    dir = join(tmpdir(), `kpm-${process.getuid?.() ?? 0}-${h}`);
  }
  return { dir, socket: join(dir, 'agent.sock'), token: join(dir, 'agent.token'), pid: join(dir, 'agent.pid') };
}

export interface AgentRequest {
  token: string;
  method: string;
  params: unknown[];
}

export type AgentResponse = { ok: unknown } | { error: { message: string; exitCode: number; hint?: string } };

/** FNV-1a: a short, stable folder name for a long path (not a security function). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
