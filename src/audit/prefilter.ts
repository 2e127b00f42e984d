// The audit's prefilter: proves, without running all of zxcvbn-ts, that a password gets score 4.
//
// zxcvbn-ts's guesses for a password are the value of one way of cutting it into pieces (matches
// of its matchers, and "bruteforce" runs between them): l! × the product of the pieces' guesses
// + 10000^(l-1), for l pieces, as chosen by its search (scoring/index.cjs). Whatever cut it
// chooses, its value is at least the minimum of that formula over ALL cuts made of pieces at least
// as cheap as the real ones. So a lower bound comes from:
//   - the cheap matchers run for real (dictionary, reversed dictionary, dates, regex, sequences,
//     keyboard walks, separators) with their exact guesses (the library's own estimate);
//   - the costly ones replaced by a superset of their matches with a lower bound on each one's
//     guesses: the l33t matcher by every place where some l33t reading spells a listed word
//     (DictionaryIndex.l33tCandidates), guesses ≥ twice the word's rank (zxcvbn's l33t
//     variations are ≥ 2 for a token with a substitution); repeats (whose guesses are the
//     base token's guesses, ≥ 2, times the repeat count) at the places the library's own regexes
//     find them; word sequences need two words from the word-sequence lists, so with fewer than
//     two such words anywhere (plain, reversed or l33t) there are none, and otherwise the
//     prefilter gives up;
//   - every match's guesses are at least zxcvbn's minimum for its length (1 for the whole
//     password, 10 for one character, 50 otherwise), bruteforce runs exactly 10^length (≥ 11/51);
//   - cuts of 4 or more pieces cost at least 10000^3 = 10^12 whatever the pieces.
// When that bound reaches the score-4 threshold (10^10 + 5 by default, read from the options),
// zxcvbn-ts would say 4 too, and since its feedback for a score above 2 is always empty, the
// estimate is the same but for `guessesLog10`, which is the bound (≤ the real figure; a score-4
// password is never reported weak, so it is not shown). Otherwise (or for non-ASCII passwords,
// an unexpected library layout, a l33t search too large) the caller runs zxcvbn-ts as before.
// test/unit/strength-prefilter.test.ts compares it with plain zxcvbn-ts on a large seeded corpus.
import type { DictionaryIndex, L33tCandidate, L33tTrieNode } from './dictindex.js';

interface Match {
  i: number;
  j: number;
  token: string;
  pattern: string;
}
interface MatcherLike {
  match(o: { password: string; omniMatch: unknown; userInputsOptions?: unknown }): Match[] | Promise<Match[]>;
}
interface RepeatLike {
  getGreedyMatch(password: string, lastIndex: number): RegExpExecArray | null;
  getLazyMatch(password: string, lastIndex: number): RegExpExecArray | null;
  setMatchToken(greedy: RegExpExecArray, lazy: RegExpExecArray | null): { match: RegExpExecArray | null | undefined; baseToken: string };
}
interface OptionsLike {
  maxLength: number;
  trieNodeRoot?: L33tTrieNode;
  timeEstimationValues?: { scoring?: Record<number, number> };
  getUserInputsOptions(inputs?: (string | number)[]): { rankedDictionary: Record<string, number>; rankedDictionaryMaxWordSize: number };
  isWordSequence?: (name: string) => boolean;
}
interface FactoryLike {
  options?: OptionsLike;
  matching?: { matchers?: Record<string, unknown> };
}

/** The matchers zxcvbn-ts 4.2 runs, in its order; with any other set the prefilter stays off. */
const EXPECTED = ['date', 'dictionary', 'dictionaryL33t', 'dictionaryReverse', 'regex', 'repeat', 'sequence', 'spatial', 'separator', 'wordSequence'];
/** run for real, guesses from the library's estimate (spatial only when a chain of 3 is possible) */
const EXACT = ['regex', 'sequence', 'spatial', 'separator'];
/** run for real, guesses at least rank × 2 if reversed (× the case variations, which are ≥ 1) */
const WORDS = ['dictionary', 'dictionaryReverse'];
const MIN_GUESSES_BEFORE_GROWING_SEQUENCE = 10000;
const MARGIN = 1 + 1e-9; // the products are taken in another order than the library's: a hair of room
/** bruteforce guesses of a run of `len` characters, as zxcvbn-ts's bruteforce scoring (len ≥ 1) */
const BRUTEFORCE = Array.from({ length: 400 }, (_, len) => Math.min(Math.max(10 ** len, len === 1 ? 11 : 51), Number.MAX_VALUE));
/**
 * Dates: the matcher's tokens are \d{4,8}, or \d{1,4} sep \d{1,2} sep \d{1,4} with the same
 * separator twice (its own regex, below), and it scores each max(|year - this year|, 21) × 365 (× 4 with
 * separators): at least 7665, whatever the date.
 */
const DATE_WITH_SEPARATORS = /^(\d{1,4})([\s/\\_.-])(\d{1,2})\2(\d{1,4})$/; // the matcher's own
const TWO_SEPARATORS = /[\s/\\_.-].*[\s/\\_.-]/;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const DATE_MIN_GUESSES = 21 * 365;

export type StrongProof = (password: string, userInputs?: string[]) => number | undefined;

/**
 * For a factory with kpm's dictionary index installed, and zxcvbn-ts's per-match estimate
 * (dist/scoring/estimate.cjs, not part of its public interface): a function returning a lower bound of
 * log10(guesses) when it proves the password gets score 4, undefined when it cannot. Undefined
 * itself when the library is not laid out as expected.
 */
export type EstimateMatch = (options: unknown, match: unknown, password: string) => { guesses: number };

export function strongProver(factory: unknown, index: DictionaryIndex | undefined, estimateMatch: EstimateMatch | undefined): StrongProof | undefined {
  const f = factory as FactoryLike;
  const options = f.options;
  const matching = f.matching;
  const m = matching?.matchers as Record<string, MatcherLike> | undefined;
  if (!index || !options || !m || typeof estimateMatch !== 'function') return undefined;
  if (Object.keys(m).join() !== EXPECTED.join()) return undefined;
  if (index.names.includes('diceware')) return undefined; // scored 6^5/2 whatever the rank
  const trie = options.trieNodeRoot;
  const repeat = m.repeat as unknown as RepeatLike;
  if (!trie || typeof trie.getChild !== 'function' || typeof options.getUserInputsOptions !== 'function' || typeof options.isWordSequence !== 'function') return undefined;
  if (['getGreedyMatch', 'getLazyMatch', 'setMatchToken'].some((k) => typeof (repeat as unknown as Record<string, unknown>)[k] !== 'function')) return undefined;
  const top = options.timeEstimationValues?.scoring?.[3];
  if (typeof top !== 'number' || !Number.isFinite(top)) return undefined;
  const threshold = (top + 5) * MARGIN;
  const isSeq = options.isWordSequence.bind(options);
  // keyboard walks: the spatial matcher keeps chains of 3 keys or more, each key adjacent to the
  // one before in the same graph; `adjacent[g]` holds every such pair of graph g
  const graphs = (options as { graphs?: Record<string, Record<string, (string | null)[]>> }).graphs;
  if (!graphs || typeof graphs !== 'object') return undefined;
  const adjacent = Object.values(graphs).map((g) => {
    const pairs = new Set<string>();
    for (const [key, adjs] of Object.entries(g)) for (const a of adjs) if (a) for (const c of a) pairs.add(key + c);
    return pairs;
  });
  const maybeSpatial = (p: string): boolean => {
    for (const pairs of adjacent) {
      let run = 0;
      for (let k = 1; k < p.length; k++) {
        run = pairs.has(p[k - 1] + p[k]) ? run + 1 : 0;
        if (run >= 2) return true;
      }
    }
    return false;
  };

  return (full, userInputs) => {
    const password = full.substring(0, options.maxLength);
    const n = password.length;
    if (n === 0 || n >= BRUTEFORCE.length || !/^[\x20-\x7e]+$/.test(password)) return undefined;
    const userInputsOptions = options.getUserInputsOptions(userInputs);
    const minGuesses = (len: number) => (len >= n ? 1 : len === 1 ? 10 : 50);
    // lower bounds of the pieces ending at each position: [i, guesses] pairs
    const ending: number[][] = Array.from({ length: n }, () => []);
    let sequenceWords = 0;
    for (const name of WORDS) {
      const found = m[name].match({ password, omniMatch: matching, userInputsOptions }) as (Match & { rank: number; reversed: boolean; dictionaryName: string })[];
      if (!Array.isArray(found)) return undefined;
      for (const x of found) {
        if (!(x.rank >= 1)) return undefined;
        ending[x.j].push(x.i, Math.max(x.rank * (x.reversed ? 2 : 1), minGuesses(x.j - x.i + 1)));
        if (isSeq(x.dictionaryName)) sequenceWords++;
      }
    }
    for (const name of EXACT) {
      if (name === 'spatial' && !maybeSpatial(password)) continue; // it would find nothing
      const found = m[name].match({ password, omniMatch: matching, userInputsOptions });
      if (!Array.isArray(found)) return undefined;
      for (const x of found) {
        const g = estimateMatch(options, x, password).guesses;
        if (!(g >= 1)) return undefined;
        ending[x.j].push(x.i, g);
      }
    }
    // dates: every place the date matcher's two regexes accept (it then also needs a valid day and month)
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n && j < i + 8 && isDigit(password.charCodeAt(j)); j++) if (j >= i + 3) ending[j].push(i, DATE_MIN_GUESSES);
    }
    if (TWO_SEPARATORS.test(password)) {
      for (let i = 0; i + 6 <= n; i++) for (let len = 6; len <= 10 && i + len <= n; len++) if (DATE_WITH_SEPARATORS.test(password.slice(i, i + len))) ending[i + len - 1].push(i, DATE_MIN_GUESSES);
    }
    const l33t: L33tCandidate[] = [];
    if (!index.l33tCandidates(password, trie, userInputsOptions, l33t)) return undefined;
    for (const c of l33t) {
      // a l33t match's guesses: rank × case variations (≥ 1) × l33t variations (≥ 2: it has a substitution)
      ending[c.j].push(c.i, Math.max(2 * c.rank, minGuesses(c.j - c.i + 1)));
      if (c.wordSequence) sequenceWords++;
    }
    if (sequenceWords >= 2) return undefined; // a word sequence is possible
    for (let last = 0; last < n; ) {
      const greedy = repeat.getGreedyMatch(password, last);
      if (greedy == null) break;
      const { match, baseToken } = repeat.setMatchToken(greedy, repeat.getLazyMatch(password, last));
      if (!match || !baseToken) return undefined;
      const i = match.index;
      const j = i + match[0].length - 1;
      ending[j].push(i, Math.max(2 * (match[0].length / baseToken.length), minGuesses(j - i + 1)));
      last = j + 1;
    }
    // best[l][k]: the least product of l pieces covering password[0..k]
    const best = [0, 1, 2].map(() => new Float64Array(n).fill(Infinity));
    for (let k = 0; k < n; k++) {
      const take = (i: number, g: number) => {
        if (i === 0) {
          if (g < best[0][k]) best[0][k] = g;
          return;
        }
        for (let l = 1; l < 3; l++) {
          const p = best[l - 1][i - 1] * g;
          if (p < best[l][k]) best[l][k] = p;
        }
      };
      const e = ending[k];
      for (let x = 0; x < e.length; x += 2) take(e[x], e[x + 1]);
      for (let i = 0; i <= k; i++) take(i, BRUTEFORCE[k - i + 1]);
    }
    let bound = MIN_GUESSES_BEFORE_GROWING_SEQUENCE ** 3; // four pieces or more
    for (let l = 1; l <= 3; l++) {
      const g = [1, 2, 6][l - 1] * best[l - 1][n - 1] + MIN_GUESSES_BEFORE_GROWING_SEQUENCE ** (l - 1);
      if (g < bound) bound = g;
    }
    return bound >= threshold ? Math.log10(bound) : undefined;
  };
}
