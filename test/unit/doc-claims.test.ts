// Every claim in docs/ and the README names the test that proves it, as `test/…/x.test.ts` "test
// name …" (an ellipsis stands for words left out). This test fails when a named file is gone or a
// quoted test name no longer occurs in it, so a claim cannot outlive its test.
// Short forms: a doc may define `test/unit/share.test.ts` (U) or `test/unit/share.test.ts` = U, then
// write U "name …".
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

const PATH = /`(test\/[\w/.-]+\.test\.ts)`/g;
const SHORT_DEF = /`(test\/[\w/.-]+\.test\.ts)`\s*(?:\((\w{1,3})\)|=\s*(\w{1,3})\b)/g;
/** "a", "b" and "c" right after a reference (optionally inside a parenthesis) */
const NAMES = /^\s*\(?\s*"([^"]+)"(?:\s*(?:,|,?\s*and|or)\s*"([^"]+)")*/;

interface Ref {
  doc: string;
  file: string;
  name: string;
}

/** Test sources with escaped quotes undone and white space folded, as a reader sees the names. */
const sources = new Map<string, string>();
function source(file: string): string {
  if (!sources.has(file)) {
    sources.set(file, readFileSync(join(ROOT, file), 'utf8').replace(/\\(['"`])/g, '$1').replace(/\s+/g, ' '));
  }
  return sources.get(file)!;
}

function namesAfter(text: string, at: number): string[] {
  const m = NAMES.exec(text.slice(at, at + 2000));
  if (!m) return [];
  return [...m[0].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}

function references(doc: string): { files: { doc: string; file: string }[]; names: Ref[] } {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  const files: { doc: string; file: string }[] = [];
  const names: Ref[] = [];
  for (const m of text.matchAll(PATH)) {
    files.push({ doc, file: m[1] });
    for (const name of namesAfter(text, m.index! + m[0].length)) names.push({ doc, file: m[1], name });
  }
  for (const d of text.matchAll(SHORT_DEF)) {
    const short = d[2] ?? d[3];
    for (const m of text.matchAll(new RegExp(`(?<![\\w/.-])${short}(?= ")`, 'g'))) {
      for (const name of namesAfter(text, m.index! + short.length)) names.push({ doc, file: d[1], name });
    }
  }
  return { files, names };
}

/** The words of a quoted name that must occur in the file: the pieces between ellipses. */
const pieces = (name: string): string[] =>
  name
    .split(/…|\.\.\./)
    .map((s) => s.trim().replace(/\s+/g, ' '))
    .filter((s) => s.length >= 6);

describe('docs name tests that exist', () => {
  const all = DOCS.map(references);
  const files = all.flatMap((r) => r.files);
  const names = all.flatMap((r) => r.names);

  it('finds the references (the parser is not blind)', () => {
    expect(files.length).toBeGreaterThan(150);
    expect(names.length).toBeGreaterThan(150);
    expect(names.some((r) => r.doc === 'docs/SHARING.md' && r.file === 'test/unit/share.test.ts')).toBe(true);
  });

  it('every test file a doc names exists', () => {
    const missing = files.filter((r) => !existsSync(join(ROOT, r.file))).map((r) => `${r.doc}: ${r.file}`);
    expect([...new Set(missing)]).toEqual([]);
  });

  it('every quoted test name occurs in the file it is credited to', () => {
    const wrong = names
      .filter((r) => existsSync(join(ROOT, r.file)))
      .flatMap((r) => pieces(r.name).filter((p) => !source(r.file).includes(p)).map((p) => `${r.doc}: ${r.file} "${p}"`));
    expect([...new Set(wrong)]).toEqual([]);
  });
});
