// The audit's strength cache: zxcvbn's estimate of every password audited, kept between runs so
// that only new or changed passwords are estimated again (about 1-3 ms of CPU each).
//
// One file per profile, `<data>/audit-cache.kpm` (0600, written atomically): XChaCha20-Poly1305
// under a key derived from the account key (HKDF, label kpm/v2/account/audit-cache, then one subkey
// to seal and one to tag), so only someone who can unlock the vault can read it. Inside, results
// are found by a keyed tag, HMAC-SHA256(tag key, JSON [estimator, password, user inputs]), cut to 128
// bits: no password, and no plain hash of one that could be looked up or guessed offline, is
// stored. The estimator id (zxcvbn-ts and dictionary versions) is part of every tag, so an upgrade
// finds nothing and estimates afresh. A file that fails to open (other key, damaged, older format)
// counts as empty and is replaced. Each run keeps only the passwords it saw, so the file never
// holds more than the vault's distinct passwords. docs/SECURITY.md "Audit strength cache".
import { dirname, join } from 'node:path';
import { open, seal, AuthError } from '../crypto/aead.js';
import { hkdf, hmacSha256 } from '../crypto/keys.js';
import { decodeUtf8, fromBase64, utf8, wipe } from '../crypto/bytes.js';
import { readFileOrNull, writeFileAtomic, ensureDir } from '../core/fsutil.js';
import { ESTIMATOR_ID, type StrengthEstimate } from './strength.js';

export const AUDIT_CACHE_LABEL = 'kpm/v2/account/audit-cache';
export const AUDIT_CACHE_FILE = 'audit-cache.kpm';
const AAD = utf8.encode('kpm/v2/audit-cache');
const FORMAT = 1;

/** The cache key of an account: what the agent hands the audit (never the account key itself). */
export const auditCacheKey = (accountKey: Uint8Array): Uint8Array => hkdf(accountKey, AUDIT_CACHE_LABEL);

type Row = [score: number, guessesLog10: number, warning: string, suggestions: string[]];

export class StrengthCache {
  private readonly rows = new Map<string, Row>();
  private readonly used = new Set<string>();
  private readonly sealKey: Uint8Array;
  private readonly tagKey: Uint8Array;
  private changed = false;

  private constructor(key: Uint8Array, private readonly path: string, private readonly estimator: string) {
    if (key.length !== 32) throw new RangeError('audit cache key must be 32 bytes');
    this.sealKey = hkdf(key, 'seal');
    this.tagKey = hkdf(key, 'tag');
  }

  /** The cache of `dataDir` for this estimator; empty when there is none or it does not open. */
  static load(dataDir: string, key: Uint8Array, estimator: string): StrengthCache {
    const c = new StrengthCache(key, join(dataDir, AUDIT_CACHE_FILE), estimator);
    const sealed = readFileOrNull(c.path);
    if (sealed) {
      try {
        const body = JSON.parse(decodeUtf8(open(c.sealKey, sealed, AAD))) as { format?: unknown; rows?: unknown };
        if (body.format === FORMAT && body.rows && typeof body.rows === 'object') {
          for (const [tag, row] of Object.entries(body.rows as Record<string, unknown>)) if (validRow(row)) c.rows.set(tag, row);
        }
      } catch (e) {
        if (!(e instanceof AuthError) && !(e instanceof SyntaxError)) throw e;
        c.changed = true; // rewritten by save()
      }
    }
    return c;
  }

  /** The keyed tag of one (password, user inputs) job. */
  tag(password: string, inputs: readonly string[] = []): string {
    const data = utf8.encode(JSON.stringify([this.estimator, password, inputs])); // unambiguous, whatever the characters
    const t = Buffer.from(hmacSha256(this.tagKey, data).subarray(0, 16)).toString('base64url');
    wipe(data);
    return t;
  }

  get(tag: string): StrengthEstimate | undefined {
    this.used.add(tag);
    const r = this.rows.get(tag);
    return r && { score: r[0], guessesLog10: r[1], warning: r[2], suggestions: [...r[3]] };
  }

  set(tag: string, e: StrengthEstimate): void {
    this.used.add(tag);
    this.rows.set(tag, [e.score, e.guessesLog10, e.warning, [...e.suggestions]]);
    this.changed = true;
  }

  /** Writes the results of the passwords seen in this run (others are dropped), if anything changed. */
  save(): void {
    for (const tag of this.rows.keys()) {
      if (!this.used.has(tag)) {
        this.rows.delete(tag);
        this.changed = true;
      }
    }
    if (!this.changed) return;
    const rows: Record<string, Row> = {};
    for (const [t, r] of this.rows) rows[t] = r;
    const plain = utf8.encode(JSON.stringify({ format: FORMAT, rows }));
    ensureDir(dirname(this.path));
    writeFileAtomic(this.path, seal(this.sealKey, plain, AAD));
    wipe(plain);
    this.changed = false;
  }

  close(): void {
    wipe(this.sealKey, this.tagKey);
  }
}

function validRow(r: unknown): r is Row {
  return Array.isArray(r) && r.length === 4 && Number.isInteger(r[0]) && r[0] >= 0 && r[0] <= 4 && typeof r[1] === 'number' && Number.isFinite(r[1]) && typeof r[2] === 'string' && Array.isArray(r[3]) && r[3].every((s) => typeof s === 'string');
}

/**
 * Estimates of `jobs`, in order: cached ones from the cache of `cache.dataDir` (when given), the
 * others from zxcvbn (on worker threads when there are many; the dictionaries are loaded only if
 * something is left to estimate), then the cache is rewritten. A cache that cannot be written is
 * left as it was: the audit does not fail for it.
 */
export async function estimateWithCache(
  jobs: readonly { password: string; inputs?: readonly string[] }[],
  cache: { dataDir: string; key: string } | undefined,
  onProgress?: (done: number, total: number) => void,
): Promise<StrengthEstimate[]> {
  const { estimateMany } = await import('./pool.js');
  if (!cache) return estimateMany(jobs, onProgress);
  const key = fromBase64(cache.key);
  let c: StrengthCache;
  try {
    c = StrengthCache.load(cache.dataDir, key, ESTIMATOR_ID);
  } finally {
    wipe(key);
  }
  try {
    const results: StrengthEstimate[] = new Array(jobs.length);
    const tags = jobs.map((j) => c.tag(j.password, j.inputs));
    const missing: number[] = [];
    tags.forEach((t, i) => {
      const hit = c.get(t);
      if (hit) results[i] = hit;
      else missing.push(i);
    });
    const hits = jobs.length - missing.length;
    if (hits) onProgress?.(hits, jobs.length);
    const fresh = missing.length ? await estimateMany(missing.map((i) => jobs[i]), onProgress && ((d) => onProgress(hits + d, jobs.length))) : [];
    missing.forEach((i, k) => {
      results[i] = fresh[k];
      c.set(tags[i], fresh[k]);
    });
    try {
      c.save();
    } catch {
      // read-only or full disk: the next run estimates again
    }
    return results;
  } finally {
    c.close();
  }
}
