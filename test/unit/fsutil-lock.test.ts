// The vault writers' lock holds for async callers on every platform: sync passes an async function
// (vault/store.ts, sync/engine.ts), and before this the lock-file fallback used off Linux was
// released the moment that function returned its promise.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { withLock, withLockAsync, withVaultLock } from '../../src/core/fsutil.js';

const base = fs.mkdtempSync(join(os.tmpdir(), 'kpm-lock-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

const realPlatform = process.platform;
const setPlatform = (p: string) => Object.defineProperty(process, 'platform', { value: p, configurable: true });
afterEach(() => setPlatform(realPlatform));

/** Runs `n` async critical sections at once under `lock`; returns the most that were ever inside together. */
async function maxInside(lock: (fn: () => Promise<void>) => Promise<void>, n = 4): Promise<number> {
  let inside = 0;
  let most = 0;
  const section = async () => {
    inside++;
    most = Math.max(most, inside);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r)); // the section awaits several times
    inside--;
  };
  await Promise.all(Array.from({ length: n }, () => lock(section)));
  return most;
}

describe('vault lock', () => {
  for (const platform of ['linux', 'darwin', 'win32']) {
    it(`holds across an async function's awaits (${platform})`, async () => {
      if (platform !== 'linux') setPlatform(platform);
      const dir = fs.mkdtempSync(join(base, `${platform}-`));
      expect(await maxInside((fn) => withVaultLock(dir, fn, 10_000))).toBe(1);
      expect(fs.readdirSync(dir)).toEqual([]); // no lock file left behind
    });
  }

  it('withLockAsync keeps the lock file until the promise settles, also when it rejects', async () => {
    const dir = fs.mkdtempSync(join(base, 'async-'));
    expect(await maxInside((fn) => withLockAsync(dir, fn, 10_000))).toBe(1);
    await expect(
      withLockAsync(dir, async () => {
        await new Promise((r) => setImmediate(r));
        expect(fs.existsSync(join(dir, 'lock'))).toBe(true);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(fs.existsSync(join(dir, 'lock'))).toBe(false);
  });

  it('withLock refuses an async function instead of running it unlocked', () => {
    const dir = fs.mkdtempSync(join(base, 'sync-'));
    expect(() => withLock(dir, async () => 1)).toThrow(/use withLockAsync/);
    expect(withLock(dir, () => 2)).toBe(2);
  });
});
