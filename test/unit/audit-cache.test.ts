// The audit's strength cache (src/audit/cache.ts): results kept between runs under keyed tags,
// sealed under a key from the account key; nothing in the file gives a password or a plain hash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_CACHE_FILE, StrengthCache, auditCacheKey, estimateWithCache } from '../../src/audit/cache.js';
import { ESTIMATOR_ID, estimateAll } from '../../src/audit/strength.js';
import { toBase64 } from '../../src/crypto/bytes.js';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(join(tmpdir(), 'kpm-audit-cache-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const seededKey = (seed: string) => new Uint8Array(createHash('sha256').update(seed).digest());
const JOBS = [
  { password: 'letmein123', inputs: ['github', 'someone'] },
  { password: 'Tr0ub4dor&3', inputs: ['forum'] },
  { password: 'kpm-clean-6f1d2a9c7b3e-zz', inputs: [] },
  { password: 'correct horse battery staple', inputs: ['bank', 'someone'] },
];

describe('audit strength cache', () => {
  it('the estimator id names the installed zxcvbn-ts and dictionary versions (an upgrade must change it)', () => {
    for (const pkg of ['core', 'language-common', 'language-en']) {
      const v = (JSON.parse(fs.readFileSync(join('node_modules', '@zxcvbn-ts', pkg, 'package.json'), 'utf8')) as { version: string }).version;
      expect(ESTIMATOR_ID).toContain(`${pkg}@${v}`);
    }
  });

  it('a second run reads the same estimates from the cache, which holds neither passwords nor their plain hashes', async () => {
    const dir = join(root, 'a');
    fs.mkdirSync(dir);
    const key = toBase64(auditCacheKey(seededKey('account a')));
    const first = await estimateWithCache(JOBS, { dataDir: dir, key });
    expect(first).toEqual(await estimateAll(JOBS));
    const file = join(dir, AUDIT_CACHE_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);

    // what is cached is what is returned: change one cached row and see it come back
    const c = StrengthCache.load(dir, auditCacheKey(seededKey('account a')), ESTIMATOR_ID);
    const tag = c.tag(JOBS[0].password, JOBS[0].inputs);
    expect(c.get(tag)).toEqual(first[0]);
    for (const j of JOBS.slice(1)) c.get(c.tag(j.password, j.inputs));
    c.set(tag, { ...first[0], warning: 'from the cache' });
    c.save();
    const second = await estimateWithCache(JOBS, { dataDir: dir, key });
    expect(second[0].warning).toBe('from the cache');
    expect(second.slice(1)).toEqual(first.slice(1));

    const bytes = fs.readFileSync(file);
    const text = bytes.toString('latin1');
    for (const j of JOBS) {
      expect(text).not.toContain(j.password);
      for (const alg of ['sha1', 'sha256']) {
        const h = createHash(alg).update(j.password).digest();
        expect(bytes.includes(h)).toBe(false);
        expect(text.toLowerCase()).not.toContain(h.toString('hex'));
        expect(text).not.toContain(h.toString('base64url').slice(0, 16));
      }
      expect(text).not.toContain(tag); // the tags themselves are sealed too
    }
  });

  it('another account key finds nothing (and its tags differ); a damaged file counts as empty and is replaced', async () => {
    const dir = join(root, 'b');
    fs.mkdirSync(dir);
    const a = auditCacheKey(seededKey('account b1'));
    const b = auditCacheKey(seededKey('account b2'));
    await estimateWithCache(JOBS, { dataDir: dir, key: toBase64(a) });
    const ca = StrengthCache.load(dir, a, ESTIMATOR_ID);
    const cb = StrengthCache.load(dir, b, ESTIMATOR_ID);
    expect(ca.tag('letmein123')).not.toBe(cb.tag('letmein123'));
    expect(ca.get(ca.tag(JOBS[1].password, JOBS[1].inputs))).toBeDefined();
    expect(cb.get(cb.tag(JOBS[1].password, JOBS[1].inputs))).toBeUndefined();
    // another estimator version: no hit either
    const other = StrengthCache.load(dir, a, `${ESTIMATOR_ID}-next`);
    expect(other.get(other.tag(JOBS[1].password, JOBS[1].inputs))).toBeUndefined();

    const file = join(dir, AUDIT_CACHE_FILE);
    const damaged = fs.readFileSync(file);
    damaged[damaged.length - 1] ^= 1;
    fs.writeFileSync(file, damaged);
    expect(await estimateWithCache(JOBS, { dataDir: dir, key: toBase64(a) })).toEqual(await estimateAll(JOBS));
    expect(StrengthCache.load(dir, a, ESTIMATOR_ID).get(StrengthCache.load(dir, a, ESTIMATOR_ID).tag(JOBS[2].password, JOBS[2].inputs))).toBeDefined();
  });

  it('keeps only the passwords of the last run, and user inputs are part of the tag', async () => {
    const dir = join(root, 'c');
    fs.mkdirSync(dir);
    const k = auditCacheKey(seededKey('account c'));
    await estimateWithCache(JOBS, { dataDir: dir, key: toBase64(k) });
    await estimateWithCache(JOBS.slice(0, 1), { dataDir: dir, key: toBase64(k) });
    const c = StrengthCache.load(dir, k, ESTIMATOR_ID);
    expect(c.get(c.tag(JOBS[0].password, JOBS[0].inputs))).toBeDefined();
    expect(c.get(c.tag(JOBS[1].password, JOBS[1].inputs))).toBeUndefined();
    expect(c.tag('x', ['a'])).not.toBe(c.tag('x', ['b']));
    expect(c.tag('x', ['ab'])).not.toBe(c.tag('xa', ['b'])); // separators, not concatenation
  });
});
