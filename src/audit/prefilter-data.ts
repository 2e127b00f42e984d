// What the audit's prefilter (src/audit/prefilter.ts) needs to know about zxcvbn-ts's set-up, in one
// compact form that loads in milliseconds: built once at build time (scripts/build.mjs writes it to
// dist/audit-prefilter.bin) instead of importing the dictionaries (≈ 1.7 MB of JavaScript) and
// indexing them on every audit.
//
// - `table`: every lower-case ASCII word of every dictionary, and every prefix of one, by an FNV-1a
//   hash of its characters and its length (open addressing, pairs [hash, value]); the value says
//   whether the string is a whole word, whether it is in a word-sequence list, and the least rank it
//   has in any list (zxcvbn-ts ranks a word by its last place in a list, from 1). Two strings with
//   the same hash and length share an entry, with the lesser rank and either's flags: the prefilter
//   then sees a word where there may be none, or a better rank, which can only make its bound
//   lower (never a wrong proof). Every word is in, so the table also answers the dictionary
//   index's question "does some word begin so?" (src/audit/dictindex.ts) for zxcvbn-ts itself.
// - the l33t table, the keyboard graphs (which key follows which, the graph's number of keys and
//   average degree as its spatial estimate computes them) and the score-4 line, as the library's
//   options hold them.
//
// The file ends with a SHA-256 of the rest and names the estimator it was built for (ESTIMATOR_ID):
// a damaged file, or one of another version, is not used (the data are then built from the
// library, slower, the same). From the TypeScript sources (the tests) there is no file and the
// data are always built from the library.
import { decodeDataFile, encodeDataFile, readDataFile, u32 } from './datafile.js';
import type { Dictionaries } from './dictindex.js';

export const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** one FNV-1a step over a UTF-16 code unit */
export const step = (h: number, code: number): number => Math.imul(h ^ code, FNV_PRIME) >>> 0;

export const WORD = 0x80000000;
export const SEQ = 0x40000000;
export const RANK_MASK = 0xffffff;
const LEN_SHIFT = 24;
const LEN_MASK = 0x3f;
/** the longest string the table can hold (its length is 6 bits of the value) */
export const MAX_WORD_LENGTH = LEN_MASK;

/** the slot of (hash, length) in a table of 2^bits slots */
export const slotOf = (h: number, len: number, bits: number): number => Math.imul(h ^ Math.imul(len, 0x9e3779b1), 0x85ebca6b) >>> (32 - bits);
export const lengthOf = (v: number): number => (v >>> LEN_SHIFT) & LEN_MASK;

export interface GraphData {
  name: string;
  /** zxcvbn's "starting positions": the number of keys */
  keys: number;
  /** zxcvbn's average degree */
  degree: number;
  /** adj[a * 128 + b] = 1 when b follows a in a keyboard walk of this graph (ASCII only) */
  adj: Uint8Array;
}

export interface PrefilterData {
  /** ESTIMATOR_ID of the estimator the data were taken from */
  estimator: string;
  /** log2 of the number of slots */
  bits: number;
  /** 2 × 2^bits: [hash, value] per slot, value 0 for an empty slot */
  table: Uint32Array;
  /** [substitution, letter]: zxcvbn-ts's l33t table */
  l33t: [string, string][];
  graphs: GraphData[];
  /** guesses below which zxcvbn-ts's score is 3 or less (its timeEstimationValues.scoring[3]) */
  scoreThree: number;
  /** the password length the estimator looks at (longer ones are cut) */
  maxLength: number;
}

/** The matchers zxcvbn-ts 4.2 runs, in its order; with any other set there is no prefilter. */
const EXPECTED_MATCHERS = ['date', 'dictionary', 'dictionaryL33t', 'dictionaryReverse', 'regex', 'repeat', 'sequence', 'spatial', 'separator', 'wordSequence'];

interface FactoryLike {
  options?: {
    l33tTable?: Record<string, string[]>;
    graphs?: Record<string, Record<string, (string | null)[]>>;
    timeEstimationValues?: { scoring?: Record<number, number> };
    isWordSequence?: (name: string) => boolean;
    useLevenshteinDistance?: boolean;
    maxLength?: number;
  };
  matching?: { matchers?: Record<string, unknown> };
}

/**
 * The prefilter's data for a zxcvbn-ts factory and the dictionaries its matchers use; undefined
 * when the library is not laid out as the prefilter was written for (then there is no prefilter).
 */
export function buildPrefilterData(factory: unknown, dictionaries: Dictionaries, estimator: string): PrefilterData | undefined {
  const f = factory as FactoryLike;
  const o = f.options;
  const matchers = f.matching?.matchers;
  if (!o || !matchers || Object.keys(matchers).join() !== EXPECTED_MATCHERS.join()) return undefined;
  if (o.useLevenshteinDistance || typeof o.isWordSequence !== 'function' || !o.l33tTable || !o.graphs) return undefined;
  if ('diceware' in dictionaries) return undefined; // scored 6^5/2 whatever the rank
  const scoreThree = o.timeEstimationValues?.scoring?.[3];
  if (typeof scoreThree !== 'number' || !Number.isFinite(scoreThree)) return undefined;
  const maxLength = o.maxLength;
  if (typeof maxLength !== 'number' || !(maxLength >= 1 && maxLength <= 256)) return undefined;

  // the least rank of each word over every list, and whether a word-sequence list has it
  const words = new Map<string, { rank: number; seq: boolean }>();
  for (const [name, list] of Object.entries(dictionaries)) {
    const seq = o.isWordSequence(name);
    const ranks = new Map<string, number>();
    list.forEach((w, k) => ranks.set(String(w), k + 1)); // the last place counts, as in buildRankedDictionary
    for (const [w, rank] of ranks) {
      if (w === '') continue;
      if (w.length > MAX_WORD_LENGTH) return undefined; // the table could not hold it
      const had = words.get(w);
      if (!had) words.set(w, { rank, seq });
      else {
        had.rank = Math.min(had.rank, rank);
        had.seq ||= seq;
      }
    }
  }
  // every (hash, length) of a word or prefix, into a table twice as large as it can need, then
  // into one of the right size
  let chars = 0;
  for (const w of words.keys()) chars += w.length;
  const put = (t: Uint32Array, tbits: number, h: number, len: number, merge: number): boolean => {
    const m = (1 << tbits) - 1;
    let x = slotOf(h, len, tbits);
    while (t[2 * x + 1] !== 0 && !(t[2 * x] === h && lengthOf(t[2 * x + 1]) === len)) x = (x + 1) & m;
    const fresh = t[2 * x + 1] === 0;
    let v = fresh ? (len << LEN_SHIFT) >>> 0 : t[2 * x + 1];
    if (merge & WORD) {
      const old = v & WORD ? v & RANK_MASK : RANK_MASK;
      v = ((v & ~RANK_MASK) | WORD | (merge & SEQ) | Math.min(old, merge & RANK_MASK)) >>> 0;
    }
    t[2 * x] = h;
    t[2 * x + 1] = v;
    return fresh;
  };
  let wide = 10;
  while (1 << wide < chars * 2) wide++;
  const scratch = new Uint32Array(2 << wide);
  let size = 0;
  for (const [w, { rank, seq }] of words) {
    let h = FNV_OFFSET;
    for (let c = 0; c < w.length; c++) {
      h = step(h, w.charCodeAt(c));
      // a lower rank than the real one (a rank past 2^24) only lowers the bound
      const merge = c === w.length - 1 ? (WORD | (seq ? SEQ : 0) | Math.min(rank, RANK_MASK)) >>> 0 : 0;
      if (put(scratch, wide, h, c + 1, merge)) size++;
    }
  }
  let bits = 10;
  while (1 << bits < size * 2.2) bits++;
  const table = new Uint32Array(2 << bits);
  const mask = (1 << bits) - 1;
  for (let x = 0; x < 1 << wide; x++) {
    const v = scratch[2 * x + 1];
    if (v === 0) continue;
    const h = scratch[2 * x];
    let y = slotOf(h, lengthOf(v), bits);
    while (table[2 * y + 1] !== 0) y = (y + 1) & mask; // (hash, length) pairs are distinct here
    table[2 * y] = h;
    table[2 * y + 1] = v;
  }

  const l33t: [string, string][] = [];
  for (const [letter, subs] of Object.entries(o.l33tTable)) for (const sub of subs) if (sub !== '' && letter !== '') l33t.push([sub, letter]);

  const graphs: GraphData[] = Object.entries(o.graphs).map(([name, graph]) => {
    const adj = new Uint8Array(128 * 128);
    let degrees = 0;
    const keys = Object.keys(graph);
    for (const key of keys) {
      const neighbours = graph[key];
      degrees += neighbours.filter((x) => !!x).length; // as calcAverageDegree
      if (key.length !== 1 || key.charCodeAt(0) >= 128) continue;
      const a = key.charCodeAt(0);
      for (const n of neighbours) if (n) for (const ch of n) if (ch.charCodeAt(0) < 128) adj[a * 128 + ch.charCodeAt(0)] = 1;
    }
    return { name, keys: keys.length, degree: degrees / Object.entries(graph).length, adj };
  });
  return { estimator, bits, table, l33t, graphs, scoreThree, maxLength };
}

const MAGIC = 'kpm-audit-prefilter/1\n';
interface Header {
  estimator: string;
  bits: number;
  l33t: [string, string][];
  graphs: { name: string; keys: number; degree: number }[];
  scoreThree: number;
  maxLength: number;
}

/** The file form (src/audit/datafile.ts): a JSON header, then the table and the graphs' adjacency as sections. */
export function encodePrefilterData(d: PrefilterData): Buffer {
  const header: Header = { estimator: d.estimator, bits: d.bits, l33t: d.l33t, graphs: d.graphs.map((g) => ({ name: g.name, keys: g.keys, degree: g.degree })), scoreThree: d.scoreThree, maxLength: d.maxLength };
  return encodeDataFile(MAGIC, header, [d.table, ...d.graphs.map((g) => g.adj)]);
}

/** The data back from encodePrefilterData's bytes; undefined when they are not such a file, damaged, or of another estimator. */
export function decodePrefilterData(file: Buffer, estimator: string): PrefilterData | undefined {
  const f = decodeDataFile<Header>(file, MAGIC, (h) => (h.estimator === estimator && Number.isInteger(h.bits) && h.bits >= 10 && h.bits <= 26 && Array.isArray(h.graphs) ? [8 << h.bits, ...h.graphs.map(() => 128 * 128)] : undefined));
  if (!f) return undefined;
  const { header: h, sections } = f;
  const graphs = h.graphs.map((g, k) => ({ ...g, adj: sections[k + 1] }));
  return { estimator: h.estimator, bits: h.bits, table: u32(sections[0]), l33t: h.l33t, graphs, scoreThree: h.scoreThree, maxLength: h.maxLength };
}

/** true for the hash and length of every prefix of every word of the data's dictionaries (and some others) */
export function prefixTest(d: PrefilterData): (h: number, len: number) => boolean {
  const { table, bits } = d;
  const mask = (1 << bits) - 1;
  return (h, len) => {
    for (let s = slotOf(h, len, bits); ; s = (s + 1) & mask) {
      const v = table[2 * s + 1];
      if (v === 0) return false;
      if (table[2 * s] === h && lengthOf(v) === len) return true;
    }
  };
}

export const PREFILTER_FILE = 'audit-prefilter.bin';

/** The data file of the build this module is part of, when there is a good one for `estimator`. */
export function readPrefilterFile(estimator: string, base: string | URL = import.meta.url): PrefilterData | undefined {
  return readDataFile(PREFILTER_FILE, base, (file) => decodePrefilterData(file, estimator));
}
