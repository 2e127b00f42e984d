// Strength estimates: kpm's zxcvbn-ts set-up (dictionary index, src/audit/zxcvbn-fast.ts) must give
// exactly what the stock zxcvbn-ts gives with the same dictionaries; and the one-line warning that
// `kpm add` / `kpm edit` show.
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as commonPkg from '@zxcvbn-ts/language-common';
import * as enPkg from '@zxcvbn-ts/language-en';
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { installFastDictionary } from '../../src/audit/zxcvbn-fast.js';
import { indexWords, IndexedWords } from '../../src/audit/dictindex.js';
import { decodeIndexedWords, DICTIONARY_FILE, encodeIndexedWords, readIndexedWords } from '../../src/audit/dictindex-file.js';
import { encodeDataFile } from '../../src/audit/datafile.js';
import { expectDataFileGuards } from '../helpers/datafile.js';
import { cleanInputs, ESTIMATOR_ID, estimate, MAX_CHECKED_LENGTH, weakPasswordWarning } from '../../src/audit/strength.js';

const common = commonPkg as typeof commonPkg;
const en = enPkg as typeof enPkg;
const dictionary = { ...common.dictionary, ...en.dictionary };
const base = { graphs: common.adjacencyGraphs, translations: en.translations, maxLength: MAX_CHECKED_LENGTH };

// A deterministic corpus: common passwords, l33t, reversed, words, word sequences, dates,
// keyboard walks, repeats, user inputs, Unicode, random strings.
function corpus(): { pw: string; inputs?: string[] }[] {
  let seed = 7;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(a: readonly T[]) => a[Math.floor(rnd() * a.length)];
  const words = [...common.dictionary['passwords-common'].slice(0, 400), ...en.dictionary['commonWords-en'].slice(0, 400), ...en.dictionary['lastnames-en'].slice(0, 100)].map(String);
  const subs: Record<string, string[]> = { a: ['@', '4'], e: ['3'], i: ['1', '!', '|'], o: ['0', '()'], s: ['$', '5'], t: ['7', '+'], l: ['1', '|'], u: ['|_|'], h: ['|-|'] };
  const out: { pw: string; inputs?: string[] }[] = [
    'password', 'password1', 'P@ssw0rd!', 'p4$$w0rd', 'Tr0ub4dor&3', 'correct horse battery staple', 'drowssap', 'qwertyuiop',
    'zxcvbn', '1qaz2wsx', '123456789', 'aaaaaaaa', 'abcabcabc', 'onetwothree', 'mondaytuesdaywednesday', 'januaryFebruary',
    '1985-03-12', '12/03/1985', 'john1985', 'iloveyou!', 'letmein', 'dragon2020', 'monkey', 'sunshine', '|_|nicorn', 'h()use',
    '|-|ello', 'İstanbul2020', 'pässwört', 'Ärger', '密码123456', '🙂🙂🙂🙂', 'a', 'ab', '', 'constructor1', 'hasownproperty',
    'Xk3!vQ9#mZ2@pL7$wR4^', 'kpm-clean-6f1d2a9c7b3e', 'x'.repeat(120), 'correcthorsebatterystaple'.repeat(5),
  ].map((pw) => ({ pw }));
  out.push({ pw: 'octocat2020', inputs: ['octocat', 'github.com'] }, { pw: 'github-octocat', inputs: ['octocat', 'github'] }, { pw: 'Alice!1990', inputs: ['alice@example.com'] });
  for (let n = 0; n < 70; n++) {
    let w = pick(words);
    if (rnd() < 0.4) w += pick(['', '-', '_', '.', ' ']) + pick(words);
    w = [...w].map((c) => (subs[c] && rnd() < 0.5 ? pick(subs[c]) : rnd() < 0.15 ? c.toUpperCase() : c)).join('');
    if (rnd() < 0.3) w = [...w].reverse().join('');
    if (rnd() < 0.5) w += Math.floor(rnd() * 3000);
    out.push({ pw: w, inputs: rnd() < 0.2 ? [pick(words), 'user' + n] : undefined });
  }
  // digit-rich passwords: many l33t variants (bench/audit.sh's entries look like these)
  for (let n = 0; n < 12; n++) out.push({ pw: `pw-${n * 877}-${((n * 877 * 2654435761) >>> 0).toString(36)}` });
  out.push(...['h3ll0w0rld2020', '|_|nicorn|-|0rse', 'p|_|55y(@7', '5up3rm4n!', '7r0ub4d0r', 'l0ll1p0p1', '()()()()'].map((pw) => ({ pw })));
  for (let n = 0; n < 10; n++) {
    const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*';
    out.push({ pw: Array.from({ length: 8 + Math.floor(rnd() * 12) }, () => pick([...chars])).join('') });
  }
  return out;
}

describe('zxcvbn-ts with the dictionary index', () => {
  let stock: ZxcvbnFactory;
  let fast: ZxcvbnFactory;
  beforeAll(() => {
    stock = new ZxcvbnFactory({ ...base, dictionary: dictionary as Record<string, (string | number)[]> });
    fast = new ZxcvbnFactory(base);
    expect(installFastDictionary(fast, dictionary)).toBe(true);
  });

  it('gives exactly the stock results (score, guesses, match sequence, feedback)', () => {
    const strip = (r: ReturnType<ZxcvbnFactory['check']>) => ({ ...r, calcTime: 0 });
    let compared = 0;
    for (const { pw, inputs } of corpus()) {
      // zxcvbn-ts treats Object.prototype's names ("constructor"…) as dictionary words of every
      // list (a lookup in plain objects); the index does not copy that bug.
      if (/constructor|__proto__|hasownproperty/i.test(pw)) continue;
      expect(strip(fast.check(pw, inputs)), JSON.stringify(pw)).toEqual(strip(stock.check(pw, inputs)));
      compared++;
    }
    expect(compared).toBeGreaterThan(110);
  });

  it("gives them too with the index read from the build's data file (dist/audit-dictionary.bin); a damaged file, or one of another estimator, is not used", () => {
    const words = indexWords(dictionary);
    const bytes = encodeIndexedWords(words, ESTIMATOR_ID);
    const back = decodeIndexedWords(bytes, ESTIMATOR_ID)!;
    expect(back).toBeInstanceOf(IndexedWords);
    expect(back.names).toEqual(Object.keys(dictionary));
    for (const k of ['heads', 'entryHash', 'entryDict', 'entryIndex', 'entryNext', 'wordStart', 'chars'] as const) expect(Buffer.from(back[k].buffer, back[k].byteOffset, back[k].byteLength).equals(Buffer.from(words[k].buffer, words[k].byteOffset, words[k].byteLength)), k).toBe(true);
    // zxcvbn-ts without any word list of its own, the words from the file only
    const fromFile = new ZxcvbnFactory(base);
    expect(installFastDictionary(fromFile, back)).toBe(true);
    const strip = (r: ReturnType<ZxcvbnFactory['check']>) => ({ ...r, calcTime: 0 });
    let compared = 0;
    for (const { pw, inputs } of corpus()) {
      if (/constructor|__proto__|hasownproperty/i.test(pw)) continue; // (see above)
      expect(strip(fromFile.check(pw, inputs)), JSON.stringify(pw)).toEqual(strip(stock.check(pw, inputs)));
      compared++;
    }
    expect(compared).toBeGreaterThan(110);

    expectDataFileGuards({ bytes, estimator: ESTIMATOR_ID, file: DICTIONARY_FILE, decode: decodeIndexedWords, read: readIndexedWords, id: (w) => w.entries, expected: words.entries });
    // a good digest over bad numbers (a chain looping back, a word past the characters, a list that is not there): not used either
    const header = { estimator: ESTIMATOR_ID, names: words.names, buckets: words.heads.length, entries: words.entries, chars: words.chars.length };
    const sections = (w: IndexedWords) => [w.heads, w.entryHash, w.entryIndex, w.entryNext, w.wordStart, w.entryDict, w.chars];
    expect(decodeIndexedWords(encodeDataFile('kpm-audit-dictionary/1\n', header, sections(words)), ESTIMATOR_ID)).toBeDefined();
    const spoiled = (k: 'entryNext' | 'wordStart' | 'entryDict', e: number, v: number) => {
      const copy = words[k].slice();
      copy[e] = v;
      return encodeDataFile('kpm-audit-dictionary/1\n', header, sections(Object.assign(Object.create(IndexedWords.prototype) as IndexedWords, words, { [k]: copy })));
    };
    expect(decodeIndexedWords(spoiled('entryNext', 10, 10), ESTIMATOR_ID)).toBeUndefined();
    expect(decodeIndexedWords(spoiled('wordStart', words.entries, words.chars.length + 1), ESTIMATOR_ID)).toBeUndefined();
    expect(decodeIndexedWords(spoiled('entryDict', 5, words.names.length), ESTIMATOR_ID)).toBeUndefined();
  });

  it('the build writes that file, with the words of the lists (the suite runs after its globalSetup built dist/)', () => {
    const built = new URL(`../../dist/${DICTIONARY_FILE}`, import.meta.url);
    expect(existsSync(built)).toBe(true);
    const w = decodeIndexedWords(readFileSync(built), ESTIMATOR_ID);
    expect(w?.entries).toBe(indexWords(dictionary).entries);
  });

  it('leaves other factories alone', () => {
    const other = new ZxcvbnFactory(base); // no dictionaries, no index: finds no words
    expect(other.check('password').sequence.some((m) => m.pattern === 'dictionary')).toBe(false);
    expect(fast.check('password').sequence[0].pattern).toBe('dictionary');
  });
});

describe('cleanInputs', () => {
  it('cuts inputs into lower-case words as the Unicode rule does, ASCII or not', () => {
    const unicode = (inputs: string[]) => {
      const out = new Set<string>();
      for (const raw of inputs) {
        const v = raw.trim().toLowerCase();
        if (!v) continue;
        out.add(v);
        for (const part of v.split(/[^\p{L}\p{N}]+/u)) if (part.length >= 3) out.add(part);
      }
      return [...out];
    };
    const cases = [['Alice.Smith@Example.COM', ' bob_99 ', 'https://git.example.org/a-b/c'], ['Jürgen Müller', 'İstanbul-2020', 'ª-º-x12'], ['', '  ', 'ab', 'a.b.c'], ['用户名-abc', 'naïve_café']];
    for (const c of cases) expect(cleanInputs(c), JSON.stringify(c)).toEqual(unicode(c));
  });
});

describe('estimate and weakPasswordWarning', () => {
  it('estimates', async () => {
    const weak = await estimate('password1');
    expect(weak.score).toBe(0);
    expect(weak.guessesLog10).toBeLessThan(3);
    expect(weak.warning).toMatch(/common/i);
    const strong = await estimate('Xk3!vQ9#mZ2@pL7$wR4^');
    expect(strong.score).toBe(4);
    expect(strong.guessesLog10).toBeGreaterThan(10);
    const withInputs = await estimate('octocat2020', ['octocat']);
    expect(withInputs.score).toBeLessThan((await estimate('octocat2020')).score + 1);
  });

  it('warns in one line on weak passwords only', async () => {
    const w = await weakPasswordWarning('letmein', 3);
    expect(w).toMatch(/^weak password \(strength 0\/4, about 10\^\d\.\d guesses\)/);
    expect(w).not.toContain('\n');
    expect(await weakPasswordWarning('correct horse battery staple', 3)).toBeUndefined();
    expect(await weakPasswordWarning('', 3)).toBeUndefined();
    expect(await weakPasswordWarning('letmein', 0)).toBeUndefined();
  });
});
