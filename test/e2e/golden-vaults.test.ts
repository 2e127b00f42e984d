// The golden vault files of docs/FORMAT.md "Golden files" (test/golden/vault/, written by
// scripts/golden-vaults.ts): the committed bytes are what the script writes; the valid profile
// opens with its expected contents; each malformed file, put in place of its file of the valid
// profile, gets the outcome manifest.json names: that exit code, one line on stderr (plus an
// optional hint), nothing on stdout (the table form of test/e2e/tamper.test.ts, over files).
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeRun, leaks, lines, makeHome, mapLimit, run, ROOT } from '../helpers/kpm.js';
import { writeGolden, type GoldenCase } from '../../scripts/golden-vaults.js';

const GOLDEN = join(ROOT, 'test', 'golden', 'vault');
const manifest = JSON.parse(readFileSync(join(GOLDEN, 'manifest.json'), 'utf8')) as { master: string; files: Record<GoldenCase['replaces'], string>; cases: GoldenCase[] };
const expected = JSON.parse(readFileSync(join(GOLDEN, 'expected.json'), 'utf8')) as { master: string; vault: string; entries: Record<string, Record<string, string>> };
const env = { KPM_MASTER_PASSWORD: manifest.master };

function tree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function homeWith(c?: GoldenCase): string {
  const home = makeHome();
  cpSync(join(GOLDEN, 'valid', 'data'), join(home, 'data'), { recursive: true });
  if (c) {
    const target = join(home, manifest.files[c.replaces]);
    if (c.file) writeFileSync(target, readFileSync(join(GOLDEN, c.file)));
    else rmSync(target);
  }
  return home;
}

describe('golden vault files', () => {
  it('are exactly what scripts/golden-vaults.ts writes (deterministic: seeded randomness, fixed clock)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kpm-golden-'));
    try {
      await writeGolden(join(dir, 'vault'));
      const fresh = tree(join(dir, 'vault'));
      const committed = tree(GOLDEN);
      expect([...fresh.keys()].sort()).toEqual([...committed.keys()].sort());
      for (const [f, b] of fresh) expect(b.equals(committed.get(f)!), f).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('docs/FORMAT.md "Golden files" lists every case with its outcome', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'FORMAT.md'), 'utf8');
    for (const c of manifest.cases) expect(doc, c.name).toContain(`| \`${c.name}\` | ${c.replaces} | ${c.why} | ${c.exit} (${c.kind}) |`);
  });

  it('the valid profile opens with the master password and holds the expected entries', async () => {
    const home = homeWith();
    for (const [name, fields] of Object.entries(expected.entries)) {
      const r = await run(['get', name, '--json'], { home, env });
      expect(r.code, describeRun(['get', name, '--json'], r)).toBe(0);
      const j = JSON.parse(r.stdout);
      expect([j.vault, j.fields]).toEqual([expected.vault, fields]);
    }
    const wrong = await run(['get', 'alpha'], { home, env: { KPM_MASTER_PASSWORD: 'not the master password' } });
    expect(wrong.code).toBe(5);
  });

  it('every malformed file of manifest.json gets its outcome', async () => {
    expect(manifest.cases.length).toBeGreaterThanOrEqual(20);
    const results = await mapLimit(manifest.cases, 2, async (c) => {
      const home = homeWith(c);
      const r = await run(['get', 'alpha'], { home, env });
      rmSync(home, { recursive: true, force: true });
      return r;
    });
    const failures: string[] = [];
    results.forEach((r, i) => {
      const c = manifest.cases[i];
      const what = `${c.name} (${c.why}): ${describeRun(['get', 'alpha'], r)}`;
      try {
        expect(r.code, what).toBe(c.exit);
        expect(r.stdout, what).toBe('');
        const ls = lines(r.stderr);
        expect(ls.length >= 1 && ls.length <= 2, what).toBe(true);
        expect(ls[0], what).toMatch(/^kpm: /);
        expect(ls[0], what).not.toMatch(/unexpected error/);
        if (ls.length === 2) expect(ls[1], what).toMatch(/^hint: /);
        if (/format-1$/.test(c.name)) expect(r.stderr, what).toMatch(/uses format version 1, which this kpm no longer reads/);
        expect(leaks(r, [manifest.master, ...Object.values(expected.entries).flatMap((f) => Object.values(f))]), what).toEqual([]);
      } catch (e) {
        failures.push((e as Error).message.split('\n').slice(0, 4).join('\n'));
      }
    });
    expect(failures, failures.join('\n\n')).toEqual([]);
  });
});
