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

export class DictionaryIndex {
  readonly names: string[];
  private readonly lists: WordList[];
  readonly maxWordSize: number[];
  readonly isWordSequence: boolean[];
  private readonly prefixes: HashSet32 | undefined; // every prefix of every word, the whole word included (unless `known` answers)
  /** when given: true for (hash, length) of every prefix of every word (src/audit/prefilter-data.ts's table) */
  private readonly known: ((h: number, len: number) => boolean) | undefined;
  private readonly sequencePrefixes: HashSet32; // the same for the word-sequence lists only
  private readonly heads: Int32Array; // bucket → first entry
  private readonly entryHash: Uint32Array;
  private readonly entryDict: Uint16Array;
  private readonly entryIndex: Int32Array; // position in its list; rank = index + 1
  private readonly entryNext: Int32Array;
  private entries = 0;
  private readonly userIndexes = new WeakMap<object, UserIndex>();

  /**
   * `known`, when given, must answer true for the hash and length of every prefix of every word of
   * `dictionaries` (false answers for other strings are not needed: it only cuts the search short):
   * the prefilter's table, read from the build, saves building the prefix set.
   */
  constructor(dictionaries: Dictionaries, isWordSequence: (name: string) => boolean, known?: (h: number, len: number) => boolean) {
    this.known = known;
    this.names = Object.keys(dictionaries);
    this.lists = this.names.map((n) => dictionaries[n]);
    this.isWordSequence = this.names.map(isWordSequence);
    const total = this.lists.reduce((a, l) => a + l.length, 0);
    let chars = 0;
    for (const l of this.lists) for (const w of l) chars += String(w).length;
    this.prefixes = known ? undefined : new HashSet32(Math.min(chars, total * 4));
    this.sequencePrefixes = new HashSet32(1024);
    let buckets = 1024;
    while (buckets < total * 2) buckets *= 2;
    this.heads = new Int32Array(buckets).fill(-1);
    this.entryHash = new Uint32Array(total);
    this.entryDict = new Uint16Array(total);
    this.entryIndex = new Int32Array(total);
    this.entryNext = new Int32Array(total);
    this.maxWordSize = this.lists.map(() => 0);
    this.lists.forEach((list, d) => {
      const seq = this.isWordSequence[d];
      let max = 0;
      for (let k = 0; k < list.length; k++) {
        const w = String(list[k]);
        if (w.length > max) max = w.length;
        let h = FNV_OFFSET;
        for (let c = 0; c < w.length; c++) {
          h = step(h, w.charCodeAt(c));
          this.prefixes?.add(h);
          if (seq) this.sequencePrefixes.add(h);
        }
        this.insert(h, d, k, w);
      }
      this.maxWordSize[d] = list.length ? max : 0;
    });
  }

  private insert(h: number, d: number, k: number, w: string): void {
    const b = h & (this.heads.length - 1);
    for (let e = this.heads[b]; e !== -1; e = this.entryNext[e]) {
      // a word listed twice keeps its last rank, as in zxcvbn-ts's ranked dictionaries
      if (this.entryHash[e] === h && this.entryDict[e] === d && String(this.lists[d][this.entryIndex[e]]) === w) {
        this.entryIndex[e] = k;
        return;
      }
    }
    const e = this.entries++;
    this.entryHash[e] = h;
    this.entryDict[e] = d;
    this.entryIndex[e] = k;
    this.entryNext[e] = this.heads[b];
    this.heads[b] = e;
  }

  /** (dictionary, rank) pairs of `word`, in dictionary order. */
  private hits(h: number, word: string, sequenceOnly: boolean, out: number[]): void {
    out.length = 0;
    for (let e = this.heads[h & (this.heads.length - 1)]; e !== -1; e = this.entryNext[e]) {
      if (this.entryHash[e] !== h) continue;
      const d = this.entryDict[e];
      if (sequenceOnly && !this.isWordSequence[d]) continue;
      if (String(this.lists[d][this.entryIndex[e]]) === word) out.push(d, this.entryIndex[e] + 1);
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
