// A fast lookup structure for zxcvbn-ts's dictionary matcher, giving the same matches
// (wired into the library by src/audit/zxcvbn-fast.ts).
//
// zxcvbn-ts looks every substring of the password up in each of its ~20 word lists, each a plain
// object of up to 90k keys, and does so again for every l33t variant, the reversed password and the
// word-sequence check: about 6 ms per password, 100 ms with its l33t table, and building the
// objects costs 0.5 s at start. That is fine for one password on `kpm add`, but not for auditing
// 10k entries. Here all lists go into one compact hash index (typed arrays, built in tens of
// milliseconds) plus a set of every word prefix, so the scan from a start position stops as soon as
// no word can begin there. The matcher's other rules (per-list length limits, search width, the
// user-inputs list, the word-sequence subset, match order) are kept as they are; the equivalence
// is checked against the stock matcher in test/unit/strength.test.ts. Levenshtein matching (off by
// default, and off in kpm) is not supported by the fast path.

type WordList = readonly (string | number)[];
export type Dictionaries = Record<string, WordList>;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const step = (h: number, code: number): number => Math.imul(h ^ code, FNV_PRIME) >>> 0;

/** A set of 32-bit hashes (open addressing); 0 marks an empty slot, so 0 is stored as 1. */
class HashSet32 {
  private readonly table: Uint32Array;
  private readonly mask: number;
  constructor(capacity: number) {
    let size = 1024;
    while (size < capacity * 2) size *= 2;
    this.table = new Uint32Array(size);
    this.mask = size - 1;
  }
  add(h: number): void {
    const v = h || 1;
    let i = v & this.mask;
    while (this.table[i] !== 0) {
      if (this.table[i] === v) return;
      i = (i + 1) & this.mask;
    }
    this.table[i] = v;
  }
  has(h: number): boolean {
    const v = h || 1;
    let i = v & this.mask;
    while (this.table[i] !== 0) {
      if (this.table[i] === v) return true;
      i = (i + 1) & this.mask;
    }
    return false;
  }
}

interface UserIndex {
  words: Map<string, number>;
  prefixes: Set<number>;
}

/**
 * The index proper: every (word, list) pair by an FNV-1a hash of the word (chained buckets), with
 * the word's place in its list and its characters. Built from the lists (indexWords, about 100 ms
 * for zxcvbn-ts's 236k words) or read from the build's data file (src/audit/dictindex-file.ts).
 */
export class IndexedWords {
  constructor(
    /** the lists' names, in the dictionaries' order */
    readonly names: string[],
    /** bucket (hash & (length - 1)) → first entry, -1 for none */
    readonly heads: Int32Array,
    readonly entryHash: Uint32Array,
    readonly entryDict: Uint16Array,
    /** the word's position in its list (its last, for a word listed twice): rank = index + 1 */
    readonly entryIndex: Int32Array,
    readonly entryNext: Int32Array,
    /** entry e's word is chars[wordStart[e], wordStart[e + 1]) (UTF-16 code units) */
    readonly wordStart: Uint32Array,
    readonly chars: Uint16Array,
  ) {}

  get entries(): number {
    return this.entryHash.length;
  }
}

/** The index of `dictionaries`' words. */
export function indexWords(dictionaries: Dictionaries): IndexedWords {
  const names = Object.keys(dictionaries);
  const lists = names.map((n) => dictionaries[n]);
  if (lists.length > 0xffff) throw new Error('too many word lists');
  const total = lists.reduce((a, l) => a + l.length, 0);
  let buckets = 1024;
  while (buckets < total * 2) buckets *= 2;
  const heads = new Int32Array(buckets).fill(-1);
  const entryHash = new Uint32Array(total);
  const entryDict = new Uint16Array(total);
  const entryIndex = new Int32Array(total);
  const entryNext = new Int32Array(total);
  let entries = 0;
  lists.forEach((list, d) => {
    for (let k = 0; k < list.length; k++) {
      const w = String(list[k]);
      let h = FNV_OFFSET;
      for (let c = 0; c < w.length; c++) h = step(h, w.charCodeAt(c));
      const b = h & (buckets - 1);
      let e = heads[b];
      // a word listed twice keeps its last rank, as in zxcvbn-ts's ranked dictionaries
      while (e !== -1 && !(entryHash[e] === h && entryDict[e] === d && String(list[entryIndex[e]]) === w)) e = entryNext[e];
      if (e !== -1) {
        entryIndex[e] = k;
        continue;
      }
      e = entries++;
      entryHash[e] = h;
      entryDict[e] = d;
      entryIndex[e] = k;
      entryNext[e] = heads[b];
      heads[b] = e;
    }
  });
  const wordStart = new Uint32Array(entries + 1);
  let chars = 0;
  for (let e = 0; e < entries; e++) {
    wordStart[e] = chars;
    chars += String(lists[entryDict[e]][entryIndex[e]]).length;
  }
  wordStart[entries] = chars;
  const text = new Uint16Array(chars);
  for (let e = 0; e < entries; e++) {
    const w = String(lists[entryDict[e]][entryIndex[e]]);
    for (let c = 0, at = wordStart[e]; c < w.length; c++) text[at + c] = w.charCodeAt(c);
  }
  return new IndexedWords(names, heads, entryHash.slice(0, entries), entryDict.slice(0, entries), entryIndex.slice(0, entries), entryNext.slice(0, entries), wordStart, text);
}

export class DictionaryIndex {
  readonly names: string[];
  readonly maxWordSize: number[];
  readonly isWordSequence: boolean[];
  private readonly prefixes: HashSet32 | undefined; // every prefix of every word, the whole word included (unless `known` answers)
  /** when given: true for (hash, length) of every prefix of every word (src/audit/prefilter-data.ts's table) */
  private readonly known: ((h: number, len: number) => boolean) | undefined;
  private readonly sequencePrefixes: HashSet32; // the same for the word-sequence lists only
  private readonly heads: Int32Array;
  private readonly entryHash: Uint32Array;
  private readonly entryDict: Uint16Array;
  private readonly entryIndex: Int32Array;
  private readonly entryNext: Int32Array;
  private readonly wordStart: Uint32Array;
  private readonly chars: Uint16Array;
  private readonly userIndexes = new WeakMap<object, UserIndex>();

  /**
   * The index of `words` (the lists themselves, or their index already made: indexWords).
   * `known`, when given, must answer true for the hash and length of every prefix of every word
   * (false answers for other strings are not needed: it only cuts the search short): the
   * prefilter's table, read from the build, saves building the prefix set.
   */
  constructor(words: Dictionaries | IndexedWords, isWordSequence: (name: string) => boolean, known?: (h: number, len: number) => boolean) {
    const w = words instanceof IndexedWords ? words : indexWords(words);
    this.known = known;
    this.names = w.names;
    this.isWordSequence = this.names.map(isWordSequence);
    ({ heads: this.heads, entryHash: this.entryHash, entryDict: this.entryDict, entryIndex: this.entryIndex, entryNext: this.entryNext, wordStart: this.wordStart, chars: this.chars } = w);
    const n = w.entries;
    this.prefixes = known ? undefined : new HashSet32(Math.min(this.chars.length, n * 4));
    this.sequencePrefixes = new HashSet32(1024);
    this.maxWordSize = this.names.map(() => 0);
    for (let e = 0; e < n; e++) {
      const d = this.entryDict[e];
      const from = this.wordStart[e];
      const to = this.wordStart[e + 1];
      if (to - from > this.maxWordSize[d]) this.maxWordSize[d] = to - from;
      const seq = this.isWordSequence[d];
      if (!seq && !this.prefixes) continue;
      let h = FNV_OFFSET;
      for (let c = from; c < to; c++) {
        h = step(h, this.chars[c]);
        this.prefixes?.add(h);
        if (seq) this.sequencePrefixes.add(h);
      }
    }
  }

  /** (dictionary, rank) pairs of `word`, in dictionary order. */
  private hits(h: number, word: string, sequenceOnly: boolean, out: number[]): void {
    out.length = 0;
    for (let e = this.heads[h & (this.heads.length - 1)]; e !== -1; e = this.entryNext[e]) {
      if (this.entryHash[e] !== h) continue;
      const d = this.entryDict[e];
      if (sequenceOnly && !this.isWordSequence[d]) continue;
      const from = this.wordStart[e];
      if (this.wordStart[e + 1] - from !== word.length) continue;
      let c = 0;
      while (c < word.length && this.chars[from + c] === word.charCodeAt(c)) c++;
      if (c === word.length) out.push(d, this.entryIndex[e] + 1);
    }
    if (out.length > 2) {
      const pairs: [number, number][] = [];
      for (let x = 0; x < out.length; x += 2) pairs.push([out[x], out[x + 1]]);
      pairs.sort((a, b) => a[0] - b[0]);
      out.length = 0;
      for (const [d, r] of pairs) out.push(d, r);
    }
  }

  private userIndex(ranked: Record<string, number>): UserIndex {
    let u = this.userIndexes.get(ranked);
    if (!u) {
      u = { words: new Map(Object.entries(ranked)), prefixes: new Set() };
      for (const w of u.words.keys()) {
        let h = FNV_OFFSET;
        for (let c = 0; c < w.length; c++) u.prefixes.add((h = step(h, w.charCodeAt(c))));
      }
      this.userIndexes.set(ranked, u);
    }
    return u;
  }

  /** What MatchDictionary.match returns for these options (Levenshtein matching aside). */
  match(
    password: string,
    sequenceOnly: boolean,
    userInputs?: { rankedDictionary: Record<string, number>; rankedDictionaryMaxWordSize: number },
    l33t?: { call: L33tVariantContext | undefined; dropSingle: (c: string) => boolean },
  ): DictionaryMatch[] {
    const matches: DictionaryMatch[] = [];
    const n = password.length;
    const lower = password.toLowerCase();
    // For the l33t matcher, which calls this once per substituted variant of the password: when no
    // multi-character substitution changed the length, positions line up with the original, and
    // - a word where the original reads the same (no substitution inside) is one it drops;
    // - a word at the same place as in an earlier variant is one it drops as a duplicate;
    // only the full-length match matters to it either way (it stops at one), so that one is kept.
    const dropSingle = l33t?.dropSingle;
    let seen: Set<string> | undefined;
    let nextDiff: Int32Array | undefined; // nextDiff[i]: first position >= i where the variant differs
    if (l33t?.call !== undefined && l33t.call.original.length === n && l33t.call.lower.length === n && lower.length === n) {
      seen = l33t.call.seen;
      const original = l33t.call.lower;
      nextDiff = new Int32Array(n + 1);
      nextDiff[n] = n;
      for (let k = n - 1; k >= 0; k--) nextDiff[k] = original.charCodeAt(k) !== lower.charCodeAt(k) ? k : nextDiff[k + 1];
    }
    const user = !sequenceOnly && userInputs ? this.userIndex(userInputs.rankedDictionary) : undefined;
    const userMax = user ? Math.max(userInputs!.rankedDictionaryMaxWordSize, 0) : 0;
    let width = userMax;
    this.names.forEach((_, d) => {
      if ((!sequenceOnly || this.isWordSequence[d]) && this.maxWordSize[d] > width) width = this.maxWordSize[d];
    });
    const prefixes = sequenceOnly ? this.sequencePrefixes : this.prefixes;
    const known = sequenceOnly ? undefined : this.known;
    const found: number[] = [];
    for (let i = 0; i < n; i++) {
      if (nextDiff !== undefined && i > 0 && nextDiff[i] === n) break; // unchanged from here on
      let h = FNV_OFFSET;
      for (let j = i; j < n; j++) {
        const len = j - i + 1;
        const full = i === 0 && j === n - 1;
        if (len > width && !full) break;
        h = step(h, lower.charCodeAt(j));
        const inBase = known ? known(h, len) : prefixes!.has(h);
        const inUser = user !== undefined && user.prefixes.has(h);
        if (!inBase && !inUser) break; // no word starts with lower[i..j], so none is longer either
        if (len === 1 && n > 1 && dropSingle?.(password[i])) continue;
        let word: string | undefined;
        if (nextDiff !== undefined && !full && j < nextDiff[i]) continue; // no substitution inside
        if (inBase) {
          word = lower.slice(i, j + 1);
          this.hits(h, word, sequenceOnly, found);
          if (seen !== undefined && found.length && !full) {
            const key = `${i},${word}`;
            if (seen.has(key)) continue; // user-input hits of this word were returned with it
            seen.add(key);
          }
          for (let x = 0; x < found.length; x += 2) {
            const d = found[x];
            if (len > this.maxWordSize[d] && !full) continue;
            matches.push(dictMatch(password, i, j, word, found[x + 1], this.names[d]));
          }
        }
        if (inUser) {
          word ??= lower.slice(i, j + 1);
          const rank = user!.words.get(word);
          if (rank !== undefined && (len <= userMax || full)) matches.push(dictMatch(password, i, j, word, rank, 'userInputs'));
        }
      }
    }
    return matches;
  }
}

export interface DictionaryMatch {
  pattern: 'dictionary';
  i: number;
  j: number;
  token: string;
  matchedWord: string;
  rank: number;
  dictionaryName: string;
  reversed: boolean;
  l33t: boolean;
}

const dictMatch = (password: string, i: number, j: number, word: string, rank: number, dictionaryName: string): DictionaryMatch => ({
  pattern: 'dictionary',
  i,
  j,
  token: password.slice(i, j + 1),
  matchedWord: word,
  rank,
  dictionaryName,
  reversed: false,
  l33t: false,
});

/** What the l33t matcher is working on: it hands only its substituted variants down. */
export interface L33tVariantContext {
  original: string;
  lower: string;
  /** `${i},${word}` of the words already returned for earlier variants */
  seen: Set<string>;
}
