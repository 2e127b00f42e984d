// Wires DictionaryIndex (src/audit/dictindex.ts) into zxcvbn-ts, for the same results faster.
//
// `installFastDictionary(factory, dictionaries)` replaces the `match` method of the library's
// dictionary matcher class (its l33t, reverse and word-sequence matchers call it too) with one that
// uses the index when the factory's options have one, and the original code otherwise; it refuses
// (returns false) when the library is not laid out as this was written against (@zxcvbn-ts/core 4.x).
//
// The l33t matcher calls the dictionary matcher once for each of up to 100 substituted variants
// of the password, builds a match object for every word found, and then drops most of them: those
// of one character, those with no substitution inside, and duplicates of earlier variants' (found
// by a linear scan). Knowing the password it works on (recorded by a wrapper around its `match`),
// the index does not return those in the first place, and the duplicate scan becomes a set lookup.
// The result is unchanged: test/unit/strength.test.ts compares with the stock library.
import { DictionaryIndex, type Dictionaries, type IndexedWords, type L33tVariantContext } from './dictindex.js';

interface MatchOptions {
  password: string;
  userInputsOptions?: { rankedDictionary: Record<string, number>; rankedDictionaryMaxWordSize: number };
  useLevenshtein?: boolean;
}
interface MatcherLike {
  options: FactoryOptions;
  wordSequenceCheck?: boolean;
  match(o: MatchOptions): unknown;
  getRangedDictionaries?: unknown;
  isAlreadyIncluded?: (matches: L33tMatchLike[], m: L33tMatchLike) => boolean;
}
interface FactoryOptions {
  useLevenshteinDistance?: boolean;
  isWordSequence?: (k: string) => boolean;
  l33tTable?: Record<string, string[]>;
}
interface L33tMatchLike {
  i: number;
  j: number;
  dictionaryName: string;
  matchedWord: string;
}
interface Installed {
  index: DictionaryIndex;
  /** true for a character no multi-character l33t substitution turns into */
  dropSingle: (c: string) => boolean;
}

const installed = new WeakMap<object, Installed>();
const PATCHED = Symbol.for('kpm.fastDictionaryMatch');

/**
 * Makes `factory` (built WITHOUT dictionaries) match against `dictionaries` (the word lists, or
 * their index already made: src/audit/dictindex-file.ts) through the index. Returns false, changing nothing, if zxcvbn-ts's internals are not laid out as expected.
 */
export function installFastDictionary(factory: unknown, dictionaries: Dictionaries | IndexedWords, known?: (h: number, len: number) => boolean): boolean {
  const f = factory as { options?: FactoryOptions; matching?: { matchers?: Record<string, MatcherLike & { dictionary?: unknown; dictionaryL33t?: MatcherLike }> } };
  const m = f.matching?.matchers;
  const options = f.options;
  if (!m || !options || typeof options.isWordSequence !== 'function' || options.useLevenshteinDistance || !options.l33tTable) return false;
  const dict = m.dictionary;
  const proto = dict && (Object.getPrototypeOf(dict) as MatcherLike & Record<symbol, boolean>);
  if (!proto || typeof proto.match !== 'function' || typeof proto.getRangedDictionaries !== 'function') return false;
  const l33ts = [m.dictionaryL33t, m.wordSequence?.dictionaryL33t];
  const derived = [...l33ts, m.dictionaryReverse].map((x) => x && Object.getPrototypeOf(Object.getPrototypeOf(x)));
  if (derived.some((p) => p !== proto)) return false;
  if (l33ts.some((x) => typeof x?.isAlreadyIncluded !== 'function')) return false;
  if (!(m.wordSequence?.dictionary instanceof (proto.constructor as new () => unknown))) return false;

  if (!proto[PATCHED]) {
    const original = proto.match;
    proto.match = function fastMatch(this: MatcherLike, o: MatchOptions) {
      const own = installed.get(this.options);
      if (!own || this.options.useLevenshteinDistance) return original.call(this, o);
      const fromL33t = typeof this.isAlreadyIncluded === 'function';
      const l33t = fromL33t ? { call: l33tCall, dropSingle: own.dropSingle } : undefined;
      return own.index.match(o.password, Boolean(this.wordSequenceCheck), o.userInputsOptions, l33t);
    };
    proto[PATCHED] = true;
  }
  const multiTargets = new Set(Object.entries(options.l33tTable).flatMap(([letter, subs]) => (subs.some((s) => s.length > 1) ? [letter] : [])));
  const isWordSequence = options.isWordSequence.bind(options);
  installed.set(options, { index: new DictionaryIndex(dictionaries, isWordSequence, known), dropSingle: (c) => !multiTargets.has(c) });
  for (const l of l33ts) {
    l!.isAlreadyIncluded = setIncludes();
    const l33tMatch = (Object.getPrototypeOf(l) as MatcherLike).match;
    l!.match = function recordingOriginal(this: MatcherLike, o: MatchOptions) {
      const outer = l33tCall;
      l33tCall = { original: o.password, lower: o.password.toLowerCase(), seen: new Set() };
      try {
        return l33tMatch.call(this, o);
      } finally {
        l33tCall = outer;
      }
    };
  }
  return true;
}

/** The password the l33t matcher is working on (it hands only its substituted variants down). */
let l33tCall: L33tVariantContext | undefined;

/** isAlreadyIncluded(matches, m) for a list that only ever grows: keys of its items kept in a set. */
function setIncludes(): (matches: L33tMatchLike[], m: L33tMatchLike) => boolean {
  const seen = new WeakMap<L33tMatchLike[], { n: number; keys: Set<string> }>();
  const key = (m: L33tMatchLike) => `${m.i}\u0000${m.j}\u0000${m.dictionaryName}\u0000${m.matchedWord}`;
  return (matches, m) => {
    let s = seen.get(matches);
    if (!s) seen.set(matches, (s = { n: 0, keys: new Set() }));
    while (s.n < matches.length) s.keys.add(key(matches[s.n++]));
    return s.keys.has(key(m));
  };
}

/** The index installed on `factory` (for the audit's prefilter, src/audit/prefilter.ts). */
export function fastIndexOf(factory: unknown): DictionaryIndex | undefined {
  const options = (factory as { options?: object }).options;
  return options ? installed.get(options)?.index : undefined;
}
