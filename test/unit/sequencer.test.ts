// The file order of the suite (test/sequencer.ts): slowest first, the rest largest first.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { TestSpecification } from 'vitest/node';
import SlowestFirst, { SLOW_FILES } from '../sequencer.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('test file order', () => {
  it('every file of the slow list exists (a renamed file would silently lose its place)', () => {
    expect(Object.keys(SLOW_FILES).filter((f) => !existsSync(join(ROOT, f)))).toEqual([]);
  });

  it('orders the listed files by their weight, slowest first, then the others by size, largest first', async () => {
    const spec = (rel: string) => ({ moduleId: join(ROOT, rel) }) as unknown as TestSpecification;
    const files = ['test/unit/mask.test.ts', 'test/e2e/sync.test.ts', 'test/unit/transfer-interop.test.ts', 'test/e2e/sync-firsthour.test.ts', 'test/e2e/entry-types.test.ts'];
    const seq = new SlowestFirst({ config: { root: ROOT } } as never);
    const sorted = (await seq.sort(files.map(spec))).map((s) => s.moduleId.slice(ROOT.length + 1));
    expect(sorted).toEqual(['test/e2e/sync.test.ts', 'test/e2e/sync-firsthour.test.ts', 'test/e2e/entry-types.test.ts', 'test/unit/transfer-interop.test.ts', 'test/unit/mask.test.ts']);
  });
});
