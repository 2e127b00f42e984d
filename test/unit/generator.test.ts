import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import ts from 'typescript';
import { randomIndex, type ByteSource } from '../../src/crypto/random.js';
import {
  alphabetFor, classesFor, DIGITS, effWordlist, generatePassphrase, generatePassword, LOWER,
  passphraseEntropy, passwordEntropy, randomChars, SYMBOLS, UPPER, WORDLIST_SIZE,
} from '../../src/vault/generator.js';

const ALL94 = alphabetFor();

/** Upper tail of the chi-square distribution: Q(df/2, x/2), the regularized upper incomplete gamma. */
function chiSquarePValue(x: number, df: number): number {
  const a = df / 2, z = x / 2;
  const lnGammaA = lnGamma(a);
  if (z < a + 1) {
    let term = 1 / a, sum = term;
    for (let n = 1; n < 10_000 && term > sum * 1e-16; n++) sum += (term *= z / (a + n));
    return 1 - sum * Math.exp(-z + a * Math.log(z) - lnGammaA);
  }
  let b = z + 1 - a, c = 1e300, d = 1 / b, h = d; // Lentz continued fraction
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = 1 / (an * d + b);
    c = b + an / c;
    h *= d * c;
    if (Math.abs(d * c - 1) < 1e-16) break;
  }
  return Math.exp(-z + a * Math.log(z) - lnGammaA) * h;
}

function lnGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for x > 0.5.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  x -= 1;
  let s = c[0];
  for (let i = 1; i < 9; i++) s += c[i] / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(s);
}

function chiSquare(counts: number[], total: number): number {
  const expected = total / counts.length;
  return counts.reduce((acc, o) => acc + (o - expected) ** 2 / expected, 0);
}

function countSymbols(text: string, alphabet: string): number[] {
  const index = new Map([...alphabet].map((ch, i) => [ch, i] as const));
  const counts = new Array<number>(alphabet.length).fill(0);
  for (const ch of text) counts[index.get(ch)!]++;
  return counts;
}

/** A byte source that enumerates 0, 1, …, 255, 0, 1, … in order, however many bytes are asked for. */
function cyclicBytes(): ByteSource {
  let next = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = next++ & 0xff;
    return out;
  };
}

// Critical value of chi-square with df = 93 (94 symbols) at p = 1e-6, as given in R23.
const CHI2_DF93_P1E6 = 172.7;

describe('R23/R25: alphabet and option validation', () => {
  it('R23: the default alphabet is the 94 printable non-space ASCII characters, no duplicates', () => {
    const printable = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).join('');
    expect([...ALL94].sort().join('')).toBe(printable);
    expect(SYMBOLS).toHaveLength(32);
    expect(alphabetFor({ symbols: false, upper: false })).toBe(LOWER + DIGITS);
  });

  it('R25: rejects lengths outside 4..1024 and an empty class set with a RangeError', () => {
    for (const length of [0, 3, 1025, 20.5, Number.NaN]) expect(() => generatePassword({ length })).toThrow(/length must be an integer from 4 to 1024/);
    expect(() => generatePassword({ lower: false, upper: false, digits: false, symbols: false })).toThrow(RangeError);
    expect(generatePassword({ length: 4 })).toHaveLength(4);
    expect(generatePassword({ length: 1024 })).toHaveLength(1024);
    for (const words of [0, 65, 2.5]) expect(() => generatePassphrase({ words })).toThrow(/word count must be an integer from 1 to 64/);
  });
});

describe('R22: no clock or non-cryptographic randomness', () => {
  afterEach(() => vi.restoreAllMocks());

  it("R22: with Date.now, performance.now and Math's random() stubbed to constants, 1e4 passwords are all distinct", () => {
    const spies = [
      vi.spyOn(Date, 'now').mockReturnValue(1_600_000_000_000),
      vi.spyOn(performance, 'now').mockReturnValue(42),
      vi.spyOn(Math, 'random').mockReturnValue(0.5),
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) seen.add(generatePassword());
    expect(seen.size).toBe(10_000);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  });

  it("R22: no source file under src/ calls Math's random() (comments and strings ignored)", () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.(c|m)?(t|j)sx?$/.test(name)) files.push(path);
      }
    };
    walk('src');
    expect(files.length).toBeGreaterThan(0);
    const offenders = files.filter((file) => usesMathRandom(readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
    // The detector itself works:
    expect(usesMathRandom('const x = Math . random();')).toBe(true);
    expect(usesMathRandom("const x = Math['random']();")).toBe(true);
    const name = 'Math' + '.random'; // spelled in two parts so this file itself never contains the name
    expect(usesMathRandom(`// never ${name}\nconst s = "${name}";`)).toBe(false);
  });
});

/** True when the code (not its comments or string literals) reads Math's random, as `Math . random` or `Math['random']`. */
function usesMathRandom(code: string): boolean {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, /* skipTrivia */ true, ts.LanguageVariant.Standard, code);
  const tokens: { kind: ts.SyntaxKind; text: string }[] = [];
  for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
    tokens.push({ kind, text: scanner.getTokenText() });
  }
  return tokens.some((t, i) => t.text === 'Math' && (
    (tokens[i + 1]?.kind === ts.SyntaxKind.DotToken && tokens[i + 2]?.text === 'random') ||
    (tokens[i + 1]?.kind === ts.SyntaxKind.OpenBracketToken && /^['"`]random['"`]$/.test(tokens[i + 2]?.text ?? ''))
  ));
}

describe('R23: uniform characters (chi-square, p > 1e-6)', () => {
  it('R23: the 172.7 threshold is the chi-square critical value for df=93 at p=1e-6', () => {
    expect(chiSquarePValue(3.841, 1)).toBeCloseTo(0.05, 4); // textbook values check the p-value function
    expect(chiSquarePValue(18.307, 10)).toBeCloseTo(0.05, 4);
    expect(chiSquarePValue(CHI2_DF93_P1E6, 93)).toBeGreaterThan(0.98e-6);
    expect(chiSquarePValue(CHI2_DF93_P1E6, 93)).toBeLessThan(1.05e-6);
  });

  it('R23: 1e6 characters from the 94-character set pass chi-square with df=93 (statistic < 172.7)', () => {
    const n = 1_000_000;
    const counts = countSymbols(randomChars(ALL94, n), ALL94);
    const stat = chiSquare(counts, n);
    expect(stat).toBeLessThan(CHI2_DF93_P1E6);
  });

  // Statistical tests use requireEachClass: false, where every position is an independent uniform
  // draw. With requireEachClass: true the rejection step makes passwords without some class
  // impossible, which (slightly) changes the per-symbol distribution; that mode is tested below.
  it('R23: each position of 1e5 16-character passwords passes chi-square on its own', () => {
    const samples = 100_000, length = 16;
    const counts = Array.from({ length }, () => new Array<number>(94).fill(0));
    const index = new Map([...ALL94].map((ch, i) => [ch, i] as const));
    for (let s = 0; s < samples; s++) {
      const pw = generatePassword({ length, requireEachClass: false });
      for (let p = 0; p < length; p++) counts[p][index.get(pw[p])!]++;
    }
    for (let p = 0; p < length; p++) expect(chiSquare(counts[p], samples), `position ${p}`).toBeLessThan(CHI2_DF93_P1E6);
  });

  it('R23: requireEachClass (the default) always yields every chosen class', () => {
    const variants = [{}, { length: 4 }, { symbols: false, length: 5 }, { lower: false, upper: false, length: 4 }];
    for (const opts of variants) {
      const classes = classesFor(opts);
      for (let i = 0; i < 2_000; i++) {
        const pw = generatePassword(opts);
        for (const cls of classes) expect([...pw].some((ch) => cls.includes(ch))).toBe(true);
      }
    }
  });

  it('R23: class rules are met by regenerating, not by fixed positions (each class equally likely at every position)', () => {
    // With length 4 and 4 required classes each class appears exactly once, so by symmetry every
    // class sits at every position with probability 1/4. Reserving positions would break this.
    const samples = 10_000;
    const classes = [LOWER, UPPER, DIGITS, SYMBOLS];
    const counts = classes.map(() => [0, 0, 0, 0]);
    for (let s = 0; s < samples; s++) {
      const pw = generatePassword({ length: 4 });
      for (let p = 0; p < 4; p++) counts[classes.findIndex((c) => c.includes(pw[p]))][p]++;
    }
    // sd of each fraction is sqrt(0.25·0.75/1e4) ≈ 0.0043; allow 6 sd.
    for (const row of counts) for (const c of row) expect(Math.abs(c / samples - 0.25)).toBeLessThan(0.026);
  });
});

describe('R24: unbiased index selection (rejection sampling, no modulo bias)', () => {
  const alphabets: [number, string][] = [
    [10, DIGITS],
    [26, LOWER],
    [62, LOWER + UPPER + DIGITS],
    [94, ALL94],
  ];

  it.each(alphabets)('R24: enumerating all 256 byte values gives exactly equal counts for n=%i', (n, alphabet) => {
    expect(alphabet).toHaveLength(n);
    // One byte per draw; the values >= limit (the largest multiple of n ≤ 256) are rejected, so each
    // full cycle of accepted values 0..limit-1 hits every symbol exactly limit/n times.
    const limit = 256 - (256 % n);
    const cycles = 3;
    const viaIndex = new Array<number>(n).fill(0);
    const source = cyclicBytes();
    for (let i = 0; i < cycles * limit; i++) viaIndex[randomIndex(n, source)]++;
    expect(viaIndex).toEqual(new Array(n).fill((cycles * limit) / n));
    // The generator's own path (buffered source) draws exactly the same way.
    expect(countSymbols(randomChars(alphabet, cycles * limit, cyclicBytes()), alphabet)).toEqual(viaIndex);
    // Contrast: plain `byte % n` over the same 256 values is biased for every one of these n.
    const naive = new Array<number>(n).fill(0);
    for (let b = 0; b < 256; b++) naive[b % n]++;
    expect(Math.max(...naive)).toBeGreaterThan(Math.min(...naive));
  });
});

describe('R25: default strength', () => {
  it('R25: the default password is 20 characters from 94 symbols, ≥ 128 bits', () => {
    const pw = generatePassword();
    expect(pw).toHaveLength(20);
    expect(alphabetFor()).toHaveLength(94);
    expect(passwordEntropy(alphabetFor().length, pw.length)).toBeGreaterThanOrEqual(128);
    expect(passwordEntropy(94, 20)).toBeCloseTo(131.09, 2);
    expect(passwordEntropy(94, 20)).toBeCloseTo(Math.log2(94 ** 20), 9);
  });

  it('R25: the default passphrase is 6 EFF large-list words, ≥ 77.5 bits', () => {
    expect(effWordlist()).toHaveLength(WORDLIST_SIZE);
    expect(new Set(effWordlist()).size).toBe(7776);
    expect(effWordlist()[0]).toBe('abacus');
    const phrase = generatePassphrase({ separator: ' ' });
    const words = phrase.split(' ');
    expect(words).toHaveLength(6);
    for (const w of words) expect(effWordlist()).toContain(w);
    expect(passphraseEntropy(6)).toBeGreaterThanOrEqual(77.5);
    expect(passphraseEntropy(6)).toBeCloseTo(6 * Math.log2(7776), 9);
    expect(generatePassphrase()).toMatch(/^[a-z-]+$/);
    expect(generatePassphrase({ words: 3, separator: '.', capitalize: true })).toMatch(/^[A-Z][a-z-]*(\.[A-Z][a-z-]*){2}$/);
  });
});
