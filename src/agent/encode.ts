// How the agent's answers go on the wire (one JSON line, src/agent/server.ts serveFramed).
import type { AgentResponse } from './socket.js';

/** Answers from this size on are kept encoded (see encodeResponse). */
const LARGE_ANSWER = 64 << 10;
let lastLarge: { ok: string; bytes: Buffer } | undefined;

/**
 * A response as sent. The last large answer is kept encoded: a `kpm list` of 10k entries is
 * ≈ 600 KB of text the session keeps while nothing is committed (Session.listText), and encoding
 * it again took ≈ 2 ms of every repeated list.
 */
export function encodeResponse(res: AgentResponse): string | Buffer {
  const ok = 'ok' in res ? res.ok : undefined;
  if (typeof ok !== 'string' || ok.length < LARGE_ANSWER || Object.keys(res).length !== 1) return JSON.stringify(res) + '\n';
  if (lastLarge?.ok !== ok) lastLarge = { ok, bytes: Buffer.from(JSON.stringify(res) + '\n') };
  return lastLarge.bytes;
}
