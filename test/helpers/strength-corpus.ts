// The seeded password corpus of test/unit/strength-prefilter.test.ts: every kind of password
// zxcvbn-ts has a matcher for, and random ones. Its zxcvbn-ts figures are kept in
// test/golden/strength-prefilter.json (written by that test with KPM_UPDATE_GOLDEN=1).
import * as commonPkg from '@zxcvbn-ts/language-common';
import * as enPkg from '@zxcvbn-ts/language-en';

const common = commonPkg as typeof commonPkg;
const en = enPkg as typeof enPkg;
const dictionary = { ...common.dictionary, ...en.dictionary };

export interface Case {
  pw: string;
  inputs?: string[];
  kind: string;
}

/** A deterministic corpus of every kind of password zxcvbn has a matcher for, and random ones. */
export function prefilterCorpus(size: number, seed0 = 20261202): Case[] {
  let seed = seed0;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const int = (a: number, b: number) => a + Math.floor(rnd() * (b - a + 1));
  const pick = <T>(a: readonly T[]) => a[Math.floor(rnd() * a.length)];
  const list = (name: string, top: number) => (dictionary as Record<string, readonly (string | number)[]>)[name].slice(0, top).map(String);
  const words = [...list('passwords-common', 3000), ...list('commonWords-en', 3000), ...list('firstnames-en', 500), ...list('lastnames-en', 500), ...list('wikipedia-en', 1000), ...list('diceware-common', 500)];
  const seqWords = ['cardinalNumbers-en', 'ordinalNumbers-en', 'daysOfWeek-en', 'months-en', 'seasons-en', 'rainbowColors-en', 'directions-en', 'planets-en', 'militaryAlphabet-en', 'zodiacSigns-en'].flatMap((n) => list(n, 50));
  const l33t: Record<string, string[]> = { a: ['4', '@'], b: ['8'], c: ['(', '{', '[', '<'], d: ['6', '|)'], e: ['3'], f: ['#'], g: ['6', '9', '&'], h: ['#', '|-|'], i: ['1', '!', '|'], k: ['<', '|<'], l: ['!', '1', '|', '7'], m: ['^^', 'nn', '2n', '/\\/\\'], n: ['//'], o: ['0', '()'], q: ['9'], u: ['|_|'], s: ['$', '5'], t: ['+', '7'], v: ['<', '>', '/'], w: ['^/', 'uu', 'vv', '2u', '2v', '\\/\\/'], x: ['%', '><'], z: ['2'] };
  const alphabets = ['abcdefghijklmnopqrstuvwxyz', 'abcdefghijklmnopqrstuvwxyz0123456789', 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '0123456789', 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()-_=+[]{};:,.<>/?|~', '!@#$%^&*()|_-+=<>/\\1234567890', ' -_.abc123'];
  const randomString = (len: number, alphabet = pick(alphabets)) => Array.from({ length: len }, () => alphabet[int(0, alphabet.length - 1)]).join('');
  const caps = (w: string) => {
    const r = rnd();
    if (r < 0.2) return w[0].toUpperCase() + w.slice(1);
    if (r < 0.3) return w.toUpperCase();
    if (r < 0.4) return w.slice(0, -1) + w.slice(-1).toUpperCase();
    if (r < 0.5) return [...w].map((c) => (rnd() < 0.3 ? c.toUpperCase() : c)).join('');
    return w;
  };
  const leet = (w: string, p = 0.5) => [...w].map((c) => (l33t[c] && rnd() < p ? pick(l33t[c]) : c)).join('');
  const graphs = common.adjacencyGraphs as unknown as Record<string, Record<string, (string | null)[]>>;
  const walk = (len: number) => {
    const g = graphs[pick(['qwerty', 'dvorak', 'keypad', 'azerty', 'qwertz', 'keypadMac'])];
    const keys = Object.keys(g);
    let c = pick(keys);
    let dir = int(0, 5);
    let out = '';
    for (let k = 0; k < len; k++) {
      const key = g[c] ? c : pick(keys);
      const shifted = rnd() < 0.15;
      out += shifted && key.length === 1 ? key.toUpperCase() : key;
      if (rnd() < 0.25) dir = int(0, (g[key]?.length ?? 1) - 1);
      const next = g[key]?.[dir];
      c = next ? next[shifted && next.length > 1 ? 1 : 0] : pick(keys);
    }
    return out;
  };
  const date = () => {
    const y = int(1900, 2049);
    const mo = int(1, 12);
    const d = int(1, 31);
    const yy = rnd() < 0.5 ? String(y) : String(y).slice(2);
    const pad = (x: number) => (rnd() < 0.6 ? String(x).padStart(2, '0') : String(x));
    const sep = pick(['', '', '-', '/', '.', '_', ' ', '\\']);
    const parts = rnd() < 0.5 ? [pad(d), pad(mo), yy] : rnd() < 0.5 ? [yy, pad(mo), pad(d)] : [pad(mo), pad(d), yy];
    return parts.join(sep);
  };
  const sequence = () => {
    const s = pick(['abcdefghijklmnopqrstuvwxyz', '0123456789', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'αβγδεζηθ']);
    const stepBy = pick([1, 1, 2, 3, -1, -2]);
    let at = int(0, s.length - 1);
    let out = '';
    for (let k = int(3, 9); k > 0; k--) {
      out += s[((at % s.length) + s.length) % s.length];
      at += stepBy;
    }
    return out;
  };
  const kinds: [string, () => Case][] = [
    ['random', () => ({ pw: randomString(int(4, 32)), kind: 'random' })],
    ['random near the score-4 line', () => ({ pw: randomString(int(8, 13)), kind: 'random near the score-4 line' })],
    ['word+caps+l33t+suffix', () => ({ pw: leet(caps(pick(words)), rnd()) + pick(['', '', '!', '1', '123', String(int(0, 9999)), pick(['?', '#', '$'])]), kind: 'word+caps+l33t+suffix' })],
    ['words', () => ({ pw: Array.from({ length: int(2, 4) }, () => caps(pick(words))).join(pick(['', ' ', '-', '_', '.'])), kind: 'words' })],
    ['word+random', () => ({ pw: pick([(a: string, b: string) => a + b, (a: string, b: string) => b + a])(leet(caps(pick(words)), 0.3), randomString(int(2, 10))), kind: 'word+random' })],
    ['reversed', () => ({ pw: [...(caps(pick(words)) + randomString(int(0, 4)))].reverse().join(''), kind: 'reversed' })],
    ['keyboard walk', () => ({ pw: walk(int(3, 16)) + (rnd() < 0.5 ? randomString(int(1, 6)) : ''), kind: 'keyboard walk' })],
    ['date', () => ({ pw: pick([() => date(), () => pick(words) + date(), () => date() + randomString(int(2, 8)), () => randomString(int(2, 6)) + date() + randomString(int(1, 6))])(), kind: 'date' })],
    ['repeat', () => ({ pw: pick(['', randomString(int(1, 5))]) + pick([randomString(int(1, 4)), pick(words)]).repeat(int(2, 6)) + pick(['', randomString(int(1, 8))]), kind: 'repeat' })],
    ['sequence', () => ({ pw: pick(['', randomString(int(1, 6))]) + sequence() + pick(['', randomString(int(1, 8)), sequence()]), kind: 'sequence' })],
    ['word sequence', () => ({ pw: Array.from({ length: int(2, 4) }, () => leet(caps(pick(seqWords)), 0.3)).join(pick(['', '', '-', '_', '.', ' '])) + pick(['', randomString(int(1, 6))]), kind: 'word sequence' })],
    ['user inputs', () => {
      const user = pick(words) + (rnd() < 0.5 ? String(int(0, 99)) : '');
      const site = pick(words);
      const inputs = [user, `${site}.example.com`, `https://${site}.com/login`];
      const pw = pick([() => user + randomString(int(2, 8)), () => leet(site, 0.5) + randomString(int(3, 9)), () => randomString(int(2, 6)) + caps(user) + date(), () => randomString(int(10, 20))])();
      return { pw, inputs: inputs.map((x) => x.toLowerCase()), kind: 'user inputs' };
    }],
    ['l33t symbols', () => ({ pw: randomString(int(4, 24), '1!|7+0()$5@4#3<>/\\^nuvw28_-{[9&%'), kind: 'l33t symbols' })],
    ['bench-like', () => {
      const i = int(0, 99999);
      return { pw: `pw-${i}-${((i * 2654435761) >>> 0).toString(36)}`, inputs: [`site${i}`, `user${i}`, `https://site${i}.example.com`], kind: 'bench-like' };
    }],
    ['mixed pieces', () => ({ pw: Array.from({ length: int(2, 4) }, () => pick([() => pick(words), () => date(), () => walk(int(3, 6)), () => sequence(), () => randomString(int(2, 6)), () => 'ab'.repeat(int(2, 3))])()).join(''), kind: 'mixed pieces' })],
  ];
  const fixed = ['password', 'P@ssw0rd!', 'Tr0ub4dor&3', 'correct horse battery staple', 'qwertyuiop', '1qaz2wsx', 'aaaaaaaaaaaaaaaaaaaaaa', 'abcabcabcabcabcabc', 'onetwothreefourfive', 'mondaytuesdaywednesday', '1985-03-12', 'Xk3!vQ9#mZ2@pL7$wR4^', 'kpm-clean-6f1d2a9c7b3e', 'x'.repeat(120), 'correcthorsebatterystaple'.repeat(5), '|_|nicorn|-|0rse', '1111111111111111', '||||||||||||||||||||', '!!!!!!!!!!!!1111111', 'İstanbul2020', 'pässwört-ÄÖÜ-2020', '密码123456', '🙂🙂🙂🙂', 'a', 'ab', 'zxcvbnm,./', 'qazwsxedcrfvtgb', '0123456789876543210', 'ZYXWVUTSRQPONMLK', 'Abcdefgh1!', '2u2v^/vvuu\\/\\/'];
  const out: Case[] = fixed.map((pw) => ({ pw, kind: 'fixed' }));
  while (out.length < size) {
    const [, make] = kinds[out.length % kinds.length];
    out.push(make());
  }
  return out;
}

