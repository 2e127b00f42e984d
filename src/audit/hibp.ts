// Pwned Passwords: how many times a password appears in known breaches, by its SHA-1.
//
// Online, through the range API (k-anonymity): only the first 5 hex characters of the upper-case
// SHA-1 leave the process; the server answers with every suffix under that prefix, padded with
// fake zero-count suffixes (`Add-Padding: true`) so the response size says nothing either. Each
// prefix is fetched once per run, a bounded number at a time.
//
// Offline, against a downloaded Pwned Passwords SHA-1 file: src/audit/hashfile.ts.
import * as crypto from 'node:crypto';
import { EXIT, KpmError, usageError } from '../core/errors.js';

/** Upper-case hex SHA-1 of the UTF-8 password, as Pwned Passwords indexes them. */
export function sha1Hex(password: string): string {
  // one-shot hashing (Node ≥ 20.12) costs about half of a hash object per call
  return (oneShot ? oneShot('sha1', password, 'hex') : crypto.createHash('sha1').update(password, 'utf8').digest('hex')).toUpperCase();
}
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

/** A breach check could not be made (network, server, or an unusable file). */
export class BreachCheckError extends KpmError {}

export interface BreachSource {
  /** breach counts of the given SHA-1s (upper-case hex); hashes not found are absent */
  lookup(hashes: readonly string[], onProgress?: (done: number, total: number) => void): Promise<Map<string, number>>;
  close(): void;
}

export const isHash = (h: string) => /^[0-9A-F]{40}$/.test(h);

// ------------------------------------------------------------------ range API

export interface RangeClientOptions {
  /** parallel requests at most (default 8) */
  concurrency?: number;
  /** per-request timeout (default 15 s) */
  timeoutMs?: number;
  /** fetch implementation (tests); default the global fetch */
  fetch?: typeof fetch;
  userAgent?: string;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** Checks the base URL: https, or plain http to a loopback address only. */
export function checkRangeUrl(base: string): URL {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw usageError(`invalid Pwned Passwords URL "${base}"`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.test(u.hostname))) {
    throw usageError(`refusing ${u.protocol}//${u.host}: the Pwned Passwords URL must use https (plain http only to loopback)`);
  }
  if (u.search || u.hash || u.username || u.password) throw usageError('the Pwned Passwords URL must not carry a query, fragment or credentials');
  return u;
}

/** Parses a range response: `SUFFIX:COUNT` lines; padding entries (count 0) are dropped. */
export function parseRange(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of body.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^([0-9A-Fa-f]{35}):(\d+)$/.exec(line);
    if (!m) throw new Error(`unexpected line in range response: "${line.slice(0, 60)}"`);
    const count = Number(m[2]);
    if (count > 0) out.set(m[1].toUpperCase(), count);
  }
  return out;
}

export class RangeClient implements BreachSource {
  private readonly base: string;
  private readonly cache = new Map<string, Promise<Map<string, number>>>();
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly userAgent: string;

  constructor(baseUrl: string, o: RangeClientOptions = {}) {
    this.base = checkRangeUrl(baseUrl).href.replace(/\/+$/, '');
    this.concurrency = Math.max(1, o.concurrency ?? 8);
    this.timeoutMs = o.timeoutMs ?? 15_000;
    this.fetchFn = o.fetch ?? fetch;
    this.userAgent = o.userAgent ?? 'kpm-audit';
  }

  /** The suffixes under one 5-character prefix, fetched once per run. */
  range(prefix: string): Promise<Map<string, number>> {
    if (!/^[0-9A-F]{5}$/.test(prefix)) throw new Error('range prefix must be 5 upper-case hex characters');
    let p = this.cache.get(prefix);
    if (!p) {
      p = this.fetchRange(prefix);
      this.cache.set(prefix, p);
      p.catch(() => this.cache.delete(prefix));
    }
    return p;
  }

  private async fetchRange(prefix: string): Promise<Map<string, number>> {
    const url = `${this.base}/range/${prefix}`;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetchFn(url, {
          headers: { 'Add-Padding': 'true', 'User-Agent': this.userAgent, Accept: 'text/plain' },
          signal: AbortSignal.timeout(this.timeoutMs),
          redirect: 'error',
        });
      } catch (e) {
        if (attempt < 2) continue;
        throw new BreachCheckError(`cannot reach the Pwned Passwords service at ${this.base}: ${describeFetchError(e)}`, EXIT.network, 'check the network, set hibp_url to a reachable mirror, or use --offline with --hibp-file');
      }
      if (res.ok) {
        try {
          return parseRange(await res.text());
        } catch (e) {
          throw new BreachCheckError(`bad answer from the Pwned Passwords service at ${this.base}: ${(e as Error).message}`, EXIT.network);
        }
      }
      await res.body?.cancel().catch(() => undefined);
      if ((res.status === 429 || res.status >= 500) && attempt < 2) {
        const wait = Math.min(Number(res.headers.get('retry-after')) || 1, 5);
        await new Promise((r) => setTimeout(r, wait * 1000));
        continue;
      }
      throw new BreachCheckError(`the Pwned Passwords service at ${this.base} answered HTTP ${res.status}`, EXIT.network);
    }
  }

  async lookup(hashes: readonly string[], onProgress?: (done: number, total: number) => void): Promise<Map<string, number>> {
    const byPrefix = new Map<string, string[]>();
    for (const h of hashes) {
      if (!isHash(h)) throw new Error('lookup expects upper-case hex SHA-1 hashes');
      const list = byPrefix.get(h.slice(0, 5));
      if (list) list.push(h);
      else byPrefix.set(h.slice(0, 5), [h]);
    }
    const prefixes = [...byPrefix.keys()];
    const found = new Map<string, number>();
    let next = 0;
    let done = 0;
    let failed: unknown;
    const worker = async () => {
      while (next < prefixes.length && failed === undefined) {
        const prefix = prefixes[next++];
        try {
          const suffixes = await this.range(prefix);
          for (const h of byPrefix.get(prefix)!) {
            const count = suffixes.get(h.slice(5));
            if (count !== undefined) found.set(h, count);
          }
        } catch (e) {
          failed ??= e;
        }
        onProgress?.(++done, prefixes.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, prefixes.length) }, worker));
    if (failed !== undefined) throw failed;
    return found;
  }

  close(): void {
    this.cache.clear();
  }
}

function describeFetchError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return 'timed out';
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}
