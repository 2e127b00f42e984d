// How the agent's answers go on the wire (src/agent/server.ts serveFramed): one JSON line, or a raw text.
import type { AgentResponse } from './socket.js';

/** Answers from this size on are kept encoded (see encodeResponse). */
const LARGE_ANSWER = 64 << 10;
let lastLarge: { ok: string; raw: boolean; bytes: Buffer } | undefined;

/**
 * A response as sent: one JSON line; or, when the request asked for it (`raw`, docs/PROTOCOL.md
 * "The agent socket: raw answers") and the answer is a text alone, the line `{"raw":N}` and the text's N bytes of
 * UTF-8 (no JSON escaping on either side: the client writes them out as they are). The last large
 * answer is kept encoded: a `kpm list` of 10k entries is ≈ 600 KB of text the session keeps while
 * nothing is committed (Session.listText), and encoding it again took ≈ 2 ms of every repeated list.
 */
export function encodeResponse(res: AgentResponse, raw = false): string | Buffer {
  const ok = 'ok' in res ? res.ok : undefined;
  if (typeof ok !== 'string' || Object.keys(res).length !== 1) return JSON.stringify(res) + '\n';
  if (ok.length < LARGE_ANSWER) return raw ? rawFrame(Buffer.from(ok)) : JSON.stringify(res) + '\n';
  if (lastLarge?.ok !== ok || lastLarge.raw !== raw) lastLarge = { ok, raw, bytes: raw ? rawFrame(Buffer.from(ok)) : Buffer.from(JSON.stringify(res) + '\n') };
  return lastLarge.bytes;
}

const rawFrame = (text: Buffer): Buffer => Buffer.concat([Buffer.from(`{"raw":${text.length}}\n`), text]);

/**
 * Where the first bytes of an answer stand: a raw answer's text length and where its text starts;
 * null for a JSON answer; undefined while too few bytes have come to tell.
 */
export function rawHead(bytes: Buffer): { length: number; start: number } | null | undefined {
  const n = Math.min(bytes.length, RAW_HEAD.length);
  if (!bytes.subarray(0, n).equals(RAW_HEAD.subarray(0, n))) return null;
  const nl = bytes.indexOf(0x0a);
  if (nl < 0) return bytes.length > 24 ? null : undefined;
  const m = /^\{"raw":(\d{1,15})\}$/.exec(bytes.toString('latin1', 0, nl));
  return m ? { length: Number(m[1]), start: nl + 1 } : null;
}
const RAW_HEAD = Buffer.from('{"raw":');
