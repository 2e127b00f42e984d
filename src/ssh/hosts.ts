// Which host an agent connection is for, and whether a key may be offered to it.
// OpenSSH ≥ 8.9 tells the agent the server's host key (session-bind@openssh.com); kpm maps that
// key to host names through known_hosts (plain and hashed "|1|salt|hash" entries), then matches the
// key's `hosts` patterns (ssh_config(5) PATTERNS: `*`, `?`, `!negation`, `[host]:port`).
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultKnownHostsFiles(): string[] {
  const h = homedir();
  return [join(h, '.ssh', 'known_hosts'), join(h, '.ssh', 'known_hosts2'), '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];
}

/** What known_hosts says about one host key: its plain names and its hashed entries. */
export interface HostNames {
  names: string[];
  hashed: { salt: Buffer; hash: Buffer }[];
}

/** Host names listed for this host key (base64 of the blob) in the known_hosts files. */
export function hostsForKey(keyBase64: string, files: string[]): HostNames {
  const out: HostNames = { names: [], hashed: [] };
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#') || line.startsWith('@')) continue; // @cert-authority, @revoked: not a plain host key
      const parts = line.split(/\s+/);
      if (parts.length < 3 || parts[2] !== keyBase64) continue;
      for (const p of parts[0].split(',')) {
        const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(p);
        if (m) out.hashed.push({ salt: Buffer.from(m[1], 'base64'), hash: Buffer.from(m[2], 'base64') });
        else if (p && !p.startsWith('!') && !/[*?]/.test(p)) out.names.push(p.toLowerCase());
      }
    }
  }
  return out;
}

function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
  return re.test(text);
}

/** ssh_config PATTERNS over one name: a negated match refuses; otherwise any positive match. */
export function matchPatterns(patterns: string[], name: string): boolean {
  let hit = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) hit = true;
  }
  return hit;
}

/** The forms a known_hosts name is matched in: "[h]:port" and the bare host h. */
function nameForms(n: string): string[] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(n);
  return m ? [n, m[1]] : [n];
}

/** Does a key restricted to `patterns` fit a host known by these names? */
export function hostAllowed(patterns: string[], host: HostNames): boolean {
  const candidates = host.names.flatMap(nameForms);
  if (candidates.some((n) => matchPatterns(patterns, n)) && !candidates.some((n) => patterns.some((p) => p.startsWith('!') && globMatch(p.slice(1), n)))) return true;
  // hashed entries can only be tested against literal patterns
  for (const p of patterns) {
    if (p.startsWith('!') || /[*?]/.test(p)) continue;
    for (const h of host.hashed) {
      if (createHmac('sha1', h.salt).update(p.toLowerCase()).digest().equals(h.hash)) return !patterns.some((q) => q.startsWith('!') && globMatch(q.slice(1), p));
    }
  }
  return false;
}

/** Printable description of where a connection goes (for prompts and logs). */
export function describeHost(host: HostNames | undefined): string {
  if (!host) return 'an unknown host (no session-bind from ssh)';
  if (host.names.length) return host.names.join(', ');
  if (host.hashed.length) return 'a host in known_hosts (hashed name)';
  return 'a host not in known_hosts';
}
