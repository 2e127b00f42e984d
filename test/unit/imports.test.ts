// The shape of src/ (issue 18, item 4; README "Layout"): no import cycles between modules, type-only
// and dynamic imports included, and each top folder imports only the folders README allows it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { folderOf, importCycles, importGraph, importsOf } from '../helpers/imports.js';

/**
 * Cycles that are known and owned by other work in progress, each as its sorted member list. Every
 * entry here is a debt: remove it when the cycle is gone (the test fails on an entry that no longer
 * matches, so the list cannot go stale).
 *  - vault/blobs.ts ↔ vault/entry.ts: the entry-type registry work is rewriting vault/entry.ts
 *  - sync/blobsync.ts ↔ sync/vaultsync.ts: the vault write-side work is rewriting sync/vaultsync.ts
 */
const KNOWN_CYCLES: string[][] = [
];

/** README "Layout": its table says, for each folder of src/, which folders it may import. */
function readmeRules(): Record<string, readonly string[]> {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Layout'), readme.indexOf('## Credits'));
  const rows = [...section.matchAll(/^\| `src\/(\w+)` \|[^|]*\| ([^|]*) \|$/gm)];
  const folders = rows.map((r) => r[1]);
  return Object.fromEntries(
    rows.map(([, folder, may]) => [folder, may.trim() === 'everything but `server`' ? folders.filter((f) => f !== folder && f !== 'server') : [...may.matchAll(/`(\w+)`/g)].map((m) => m[1])]),
  );
}
const MAY_IMPORT = readmeRules();

describe('imports in src/', () => {
  const graph = importGraph();

  it('the walker sees every kind of import, and none in comments', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "import * as c from './c.js';",
      "export { d } from './d.js';",
      "export type { E } from './e.js';",
      "export * from './f.js';",
      "const g = await import('./g.js');",
      "type H = typeof import('./h.js');",
      "import './i.js';",
      "import {\n  j,\n  type J,\n} from './j.js';",
      "import { readFileSync } from 'node:fs';",
      "// import { x } from './commented.js';",
      "/* import('./block.js') */",
    ].join('\n');
    expect(importsOf(text).sort()).toEqual(['../b.js', './a.js', './c.js', './d.js', './e.js', './f.js', './g.js', './h.js', './i.js', './j.js']);
  });

  it('finds a cycle through type-only and dynamic imports', async () => {
    const { importCycles: cycles } = await import('../helpers/imports.js');
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
  });

  it('every import resolves to a module in src/', () => {
    const missing = [...graph].flatMap(([m, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${m} → ${d}`));
    expect(missing).toEqual([]);
  });

  it('has no import cycle, type-only imports included (apart from KNOWN_CYCLES)', () => {
    const cycles = importCycles(graph);
    const key = (c: string[]) => [...new Set(c)].sort().join(' ');
    const known = new Set(KNOWN_CYCLES.map(key));
    const found = new Set(cycles.map(key));
    expect(cycles.filter((c) => !known.has(key(c))).map((c) => c.join(' → '))).toEqual([]);
    expect(KNOWN_CYCLES.filter((c) => !found.has(key(c)))).toEqual([]); // a fixed cycle leaves the list
  });

  it('README "Layout" has a row for every folder of src/, and nothing else', () => {
    expect(Object.keys(MAY_IMPORT).sort()).toEqual([...new Set([...graph.keys()].map(folderOf))].sort());
  });

  it('each folder imports only what README "Layout" allows', () => {
    const folders = new Set([...graph.keys()].map(folderOf));
    expect([...folders].filter((f) => f.endsWith('.ts') || !(f in MAY_IMPORT)).sort()).toEqual([]); // every module lives in a described folder
    const wrong = [...graph].flatMap(([m, deps]) => deps.filter((d) => folderOf(d) !== folderOf(m) && !MAY_IMPORT[folderOf(m)]?.includes(folderOf(d))).map((d) => `${m} → ${d}`));
    expect(wrong).toEqual([]);
  });
});
