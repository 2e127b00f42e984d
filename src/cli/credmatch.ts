// Which login entry answers a credential request from git or docker: the entry's URL must have
// the same host (and port), the same protocol when the entry names one, and a path that is a
// prefix (by segments) of the asked path. The most specific match wins; ties go to the newest.
import type { EntrySummary } from '../vault/entry.js';

export interface CredTarget {
  protocol?: string;
  host: string;
  path?: string;
  username?: string;
}

interface ParsedUrl {
  protocol?: string;
  host: string;
  path: string;
}

/** Parses an entry URL: "https://host:port/path", "host/path", "host". */
export function parseLoose(url: string): ParsedUrl | undefined {
  const m = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(?:[^@/]*@)?([^/?#]+)([^?#]*)/i.exec(url.trim());
  if (!m || !m[2]) return undefined;
  let host = m[2].toLowerCase();
  const protocol = m[1]?.toLowerCase();
  if ((protocol === 'https' && host.endsWith(':443')) || (protocol === 'http' && host.endsWith(':80'))) host = host.replace(/:\d+$/, '');
  return { protocol, host, path: m[3].replace(/^\/+|\/+$/g, '') };
}

function segmentsPrefix(prefix: string, path: string): boolean {
  if (!prefix) return true;
  const a = prefix.split('/');
  const b = path.replace(/\.git$/, '').split('/');
  const pa = a.map((s) => s.replace(/\.git$/, ''));
  return pa.length <= b.length && pa.every((s, i) => s === b[i]);
}

/** Ranks the login summaries that fit the request (best first). */
export function matchLogins(list: EntrySummary[], t: CredTarget): EntrySummary[] {
  const host = t.host.toLowerCase();
  const asked = (t.path ?? '').replace(/^\/+|\/+$/g, '');
  const scored: { s: EntrySummary; score: number }[] = [];
  for (const s of list) {
    if (s.type !== 'login' || !s.url) continue;
    const u = parseLoose(s.url);
    if (!u || u.host !== host) continue;
    if (u.protocol && t.protocol && u.protocol !== t.protocol.toLowerCase()) continue;
    if (t.username && s.username && s.username !== t.username) continue;
    if (u.path && t.path !== undefined && !segmentsPrefix(u.path, asked)) continue;
    // an entry for one repository does not answer for the whole host when git sends no path
    const score = (u.path ? (t.path !== undefined ? u.path.split('/').length : -1) : 0) * 10 + (u.protocol ? 1 : 0) + (t.username && s.username === t.username ? 5 : 0);
    scored.push({ s, score });
  }
  return scored.sort((a, b) => b.score - a.score || b.s.updated.localeCompare(a.s.updated)).map((x) => x.s);
}
