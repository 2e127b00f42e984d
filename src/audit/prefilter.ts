// The audit's prefilter: proves, without running zxcvbn-ts, that a password gets score 4.
//
// zxcvbn-ts's guesses for a password are the value of one way of cutting it into pieces (matches
// of its matchers, and "bruteforce" runs between them): l! × the product of the pieces' guesses
// + 10000^(l-1), for l pieces, as chosen by its search (scoring/index.cjs). Whatever cut it
// chooses, its value is at least the least value of that formula over ALL cuts made of pieces at
// least as cheap as the real ones. Here every match zxcvbn-ts can make is given a piece at the
// same place whose guesses are at most the match's (src/audit/prefilter-data.ts holds what it
// needs; test/unit/strength-prefilter.test.ts checks each matcher's matches against them):
//   - dictionary words, plain, l33t and user inputs: one search over every "reading" of the
//     password from each position, each character kept (lower-cased) or replaced by a l33t
//     substitution (the table walked on the original characters, as zxcvbn-ts does), for as long
//     as the reading is the prefix of some listed word. A reading without a substitution is the
//     plain dictionary match (guesses ≥ rank: its case variations are ≥ 1); with one, it stands
//     for a l33t match (≥ 2 × rank: its l33t variations are ≥ 2). zxcvbn-ts tries only some of
//     these readings (100 variants, the per-list length limits); every one it tries is here.
//   - reversed words: the same lookups in the reversed password, ≥ 2 × rank;
//   - word sequences (two or more words of the word-sequence lists, with '', ' ', '-', '_', '.' or
//     one capital between them): every chain of such words found above, ≥ 2 (its scoring: n! ×
//     2^(n-2));
//   - keyboard walks: the spatial matcher's chains are the longest runs of keys each next to the one
//     before in a graph; for a run of L ≥ 3 keys its estimate is at least (L-1) × keys × average
//     degree (the one-turn term; more turns and shifted keys only add);
//   - sequences (abc, 9753): the sequence matcher's own runs and its own formula;
//   - repeats: every stretch that is a string repeated k ≥ 2 times, ≥ 2k (the base token's
//     guesses are ≥ 2);
//   - recent years (regex): every 19xx/200x/201x/202x, at its distance from this year (≥ 21);
//     dates: every 4 to 8 digits and every place where the date matcher's regex with separators
//     accepts, at zxcvbn's least guesses for any date (21 × 365, × 4 with separators);
//   - separators and any other single character: 10, the least a one-character match can have;
//   - every piece at least zxcvbn's minimum for its length (1 for the whole password, 10 for one
//     character, 50 otherwise), bruteforce runs exactly 10^length;
//   - cuts of 4 or more pieces cost at least 10000^3 = 10^12 whatever the pieces.
// Collisions in the word table (two strings, one hash) can only add words or lower ranks, so only
// lower the bound. When the bound reaches the score-4 line (10^10 + 5 by default), zxcvbn-ts says 4
// too; since its feedback above score 2 is always empty, the estimate is the same but for
// `guessesLog10`, which is the bound (≤ the real figure; a score-4 password is never reported
// weak, so it is not shown). Otherwise (and for non-ASCII passwords, or a search over its step
// budget) the caller runs zxcvbn-ts as before.
import { FNV_OFFSET, lengthOf, RANK_MASK, SEQ, slotOf, step, WORD, type PrefilterData } from './prefilter-data.js';

/** A lower bound of log10(guesses) when the password is proven to score 4, else undefined. */
export type StrongProof = (password: string, userInputs?: readonly string[]) => number | undefined;

const MIN_GUESSES_BEFORE_GROWING_SEQUENCE = 10000;
const MARGIN = 1 + 1e-9; // the products are taken in another order than the library's: a hair of room
const DATE_MIN_GUESSES = 21 * 365;
const STEP_BUDGET = 20000;
const PIECE_BUDGET = 8192;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** the date matcher's separators, [\s/\\_.-], as far as printable ASCII goes */
const isDateSeparator = (c: number) => c === 0x20 || c === 0x2f || c === 0x5c || c === 0x5f || c === 0x2e || c === 0x2d;
/** the sequence matcher's base guesses for a run starting with character code c */
const sequenceBase = (c: number) => (c === 0x61 || c === 0x41 || c === 0x7a || c === 0x5a || c === 0x30 || c === 0x31 || c === 0x39 ? 4 : isDigit(c) ? 10 : 26);
/** a gap the word-sequence matcher accepts between two words of one character: ' ', '-', '_', '.' or a capital */
const isWordGap = (c: number) => c === 0x20 || c === 0x2d || c === 0x5f || c === 0x2e || (c >= 0x41 && c <= 0x5a);

/** The user inputs of one password and every prefix of each: hash, length, rank (0: a prefix only). */
class SmallTable {
  bits = 0;
  hash = new Uint32Array(0);
  len = new Int32Array(0);
  rank = new Int32Array(0);
  count = 0;
  reset(chars: number): void {
    let bits = 6;
    while (1 << bits < chars * 2 + 8) bits++;
    if (bits > this.bits) {
      this.bits = bits;
      this.hash = new Uint32Array(1 << bits);
      this.len = new Int32Array(1 << bits);
      this.rank = new Int32Array(1 << bits);
    } else this.len.fill(0);
    this.count = 0;
  }
  insert(h: number, len: number, rank: number): void {
    const m = (1 << this.bits) - 1;
    let s = slotOf(h, len, this.bits);
    while (this.len[s] !== 0 && !(this.hash[s] === h && this.len[s] === len)) s = (s + 1) & m;
    if (this.len[s] === 0) {
      this.hash[s] = h;
      this.len[s] = len;
      this.rank[s] = rank;
      this.count++;
    } else if (rank !== 0 && (this.rank[s] === 0 || rank < this.rank[s])) this.rank[s] = rank;
  }
  /** -1: no such prefix; 0: a prefix only; else the least rank of the inputs it spells */
  find(h: number, len: number): number {
    if (this.count === 0) return -1;
    const m = (1 << this.bits) - 1;
    for (let s = slotOf(h, len, this.bits); this.len[s] !== 0; s = (s + 1) & m) if (this.hash[s] === h && this.len[s] === len) return this.rank[s];
    return -1;
  }
}

/**
 * The prover for these data. `userInputs` are the user inputs as the estimator hands them to
 * zxcvbn-ts (already cleaned: lower-case; rank = place + 1).
 */
export function strongProver(data: PrefilterData): StrongProof {
  const p = new Prover(data);
  return (password, userInputs) => {
    const bound = p.bound(password, userInputs);
    return bound !== undefined && bound >= p.threshold ? Math.log10(bound) : undefined;
  };
}

/** Every piece the prover considers for a password ([i, j, guesses] triples) and its bound, or undefined where it gives up (tests). */
export function prefilterPieces(data: PrefilterData, password: string, userInputs?: readonly string[]): { pieces: number[]; bound: number } | undefined {
  const p = new Prover(data);
  p.record = [];
  const bound = p.bound(password, userInputs, true);
  return bound === undefined ? undefined : { pieces: p.record, bound };
}

class Prover {
  readonly threshold: number;
  private readonly table: Uint32Array;
  private readonly bits: number;
  private readonly mask: number;
  private readonly maxN: number;
  private readonly referenceYear = new Date().getFullYear();
  /** l33t substitutions by their first character: substitution, letter code */
  private readonly subsFrom: { sub: string; letter: number }[][] = Array.from({ length: 128 }, () => []);
  private readonly usable: boolean;
  private readonly graphs: { adj: Uint8Array; perStep: number }[];
  private readonly user = new SmallTable();
  /** the pieces considered, when asked (tests) */
  record: number[] | undefined;

  // per password
  private password = '';
  private n = 0;
  private readonly code: Int32Array;
  private readonly lower: Int32Array;
  private readonly head: Int32Array; // pieces ending at j: a list through next
  private next = new Int32Array(256);
  private start = new Int32Array(256);
  private guesses = new Float64Array(256);
  private count = 0;
  private overflow = false;
  private steps = 0;
  private seqI: number[] = [];
  private seqJ: number[] = [];
  private readonly best: Float64Array[];
  private readonly brute: Float64Array[];
  private readonly stackPos: Int32Array;
  private readonly stackHash: Uint32Array;
  private readonly stackLen: Int32Array;
  private readonly stackSub: Uint8Array;

  constructor(data: PrefilterData) {
    this.table = data.table;
    this.bits = data.bits;
    this.mask = (1 << data.bits) - 1;
    this.threshold = (data.scoreThree + 5) * MARGIN;
    this.maxN = data.maxLength;
    for (const [sub, letter] of data.l33t) {
      const c = sub.charCodeAt(0);
      if (c < 128 && letter.length === 1) this.subsFrom[c].push({ sub, letter: letter.charCodeAt(0) });
    }
    // the search below substitutes one letter at a time; the table has no other kind
    this.usable = data.l33t.every(([, letter]) => letter.length === 1);
    this.graphs = data.graphs.map((g) => ({ adj: g.adj, perStep: g.keys * g.degree }));
    const n = this.maxN;
    this.code = new Int32Array(n + 1);
    this.lower = new Int32Array(n + 1);
    this.head = new Int32Array(n);
    this.best = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    this.brute = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    const stack = 16 * n + 16;
    this.stackPos = new Int32Array(stack);
    this.stackHash = new Uint32Array(stack);
    this.stackLen = new Int32Array(stack);
    this.stackSub = new Uint8Array(stack);
  }

  /** the least value over all cuts, or undefined when the prover gives up (or, unless `always`, cannot reach the line) */
  bound(full: string, userInputs: readonly string[] | undefined, always = false): number | undefined {
    if (!this.usable) return undefined;
    const password = full.length > this.maxN ? full.substring(0, this.maxN) : full;
    const n = password.length;
    // fewer than 10 characters: zxcvbn's bruteforce figure for the whole (10^n + 1) is below the line
    if (n === 0 || (!always && 10 ** n + 1 < this.threshold)) return undefined;
    this.password = password;
    this.n = n;
    for (let k = 0; k < n; k++) {
      const c = password.charCodeAt(k);
      if (c < 0x20 || c > 0x7e) return undefined;
      this.code[k] = c;
      this.lower[k] = c >= 0x41 && c <= 0x5a ? c + 32 : c;
    }
    this.count = 0;
    this.overflow = false;
    this.steps = 0;
    this.head.fill(-1, 0, n);
    this.seqI.length = 0;
    this.seqJ.length = 0;
    this.userInputs(userInputs);
    for (let start = 0; start < n; start++) if (!this.words(start)) return undefined;
    this.reversed();
    this.wordSequences();
    this.walks();
    this.sequences();
    this.repeats();
    this.dates();
    if (this.overflow) return undefined;
    return this.cut();
  }

  private add(i: number, j: number, g: number): void {
    const len = j - i + 1;
    const min = len >= this.n ? 1 : len === 1 ? 10 : 50;
    if (g < min) g = min;
    this.record?.push(i, j, g);
    if (this.count === this.next.length) {
      if (this.count >= PIECE_BUDGET) {
        this.overflow = true;
        return;
      }
      const grow = this.count * 2;
      const next = new Int32Array(grow);
      next.set(this.next);
      this.next = next;
      const start = new Int32Array(grow);
      start.set(this.start);
      this.start = start;
      const guesses = new Float64Array(grow);
      guesses.set(this.guesses);
      this.guesses = guesses;
    }
    const e = this.count++;
    this.start[e] = i;
    this.guesses[e] = g;
    this.next[e] = this.head[j];
    this.head[j] = e;
  }

  /** the table value of (hash, length): 0 when no listed word starts so */
  private lookup(h: number, len: number): number {
    const t = this.table;
    for (let s = slotOf(h, len, this.bits); ; s = (s + 1) & this.mask) {
      const v = t[2 * s + 1];
      if (v === 0) return 0;
      if (t[2 * s] === h && lengthOf(v) === len) return v;
    }
  }

  /** user inputs: rank = place + 1 (one listed twice: zxcvbn-ts takes the last place, here the first, a lower bound); every prefix of each */
  private userInputs(inputs: readonly string[] | undefined): void {
    const user = this.user;
    user.count = 0;
    if (!inputs || inputs.length === 0) return;
    const n = this.n;
    let chars = 0;
    for (let k = 0; k < inputs.length; k++) chars += Math.min(String(inputs[k]).length, n);
    user.reset(chars);
    for (let k = 0; k < inputs.length; k++) {
      const s = String(inputs[k]).toLowerCase();
      if (s.length > n) continue; // longer than the password: it matches no piece of it
      let h = FNV_OFFSET;
      for (let c = 0; c < s.length; c++) {
        h = step(h, s.charCodeAt(c));
        user.insert(h, c + 1, c === s.length - 1 ? k + 1 : 0);
      }
    }
  }

  /** the least rank of a word in the lists (table value v) or the user inputs (find's answer u); 0 for none */
  private static rankOf(v: number, u: number): number {
    const r = v & WORD ? v & RANK_MASK : 0;
    return u > 0 && (r === 0 || u < r) ? u : r;
  }

  /** dictionary words, plain and l33t, starting at `start`; false when over the step budget */
  private words(start: number): boolean {
    const n = this.n;
    const { stackPos, stackHash, stackLen, stackSub, code, lower, user } = this;
    const limit = stackPos.length - 1;
    stackPos[0] = start;
    stackHash[0] = FNV_OFFSET;
    stackLen[0] = 0;
    stackSub[0] = 0;
    let top = 1;
    while (top > 0) {
      top--;
      const pos = stackPos[top];
      const h = stackHash[top];
      const len = stackLen[top] + 1;
      const sub = stackSub[top];
      if (++this.steps > STEP_BUDGET) return false;
      // the character kept (lower-cased)
      const hk = step(h, lower[pos]);
      let v = this.lookup(hk, len);
      let u = user.find(hk, len);
      if (v !== 0 || u >= 0) {
        const r = Prover.rankOf(v, u);
        if (r !== 0 && (pos > start || n === 1)) this.add(start, pos, sub ? 2 * r : r);
        if ((v & (WORD | SEQ)) === (WORD | SEQ)) {
          this.seqI.push(start);
          this.seqJ.push(pos);
        }
        if (pos + 1 < n) {
          if (top >= limit) return false;
          stackPos[top] = pos + 1;
          stackHash[top] = hk;
          stackLen[top] = len;
          stackSub[top] = sub;
          top++;
        }
      }
      // or replaced by a letter: a substitution starting here
      const subs = this.subsFrom[code[pos]];
      for (let x = 0; x < subs.length; x++) {
        const { sub: src, letter } = subs[x];
        if (src.length > 1 && !this.password.startsWith(src, pos)) continue;
        const end = pos + src.length - 1;
        const hs = step(h, letter);
        v = this.lookup(hs, len);
        u = user.find(hs, len);
        if (v === 0 && u < 0) continue;
        const r = Prover.rankOf(v, u);
        if (r !== 0 && (end > start || n === 1)) this.add(start, end, 2 * r);
        if ((v & (WORD | SEQ)) === (WORD | SEQ)) {
          this.seqI.push(start);
          this.seqJ.push(end);
        }
        if (end + 1 < n) {
          if (top >= limit) return false;
          stackPos[top] = end + 1;
          stackHash[top] = hs;
          stackLen[top] = len;
          stackSub[top] = 1;
          top++;
        }
      }
    }
    return true;
  }

  /** reversed words: password[i..j] read backwards */
  private reversed(): void {
    const { n, lower, user } = this;
    for (let j = n - 1; j >= 0; j--) {
      let h = FNV_OFFSET;
      for (let i = j; i >= 0; i--) {
        const len = j - i + 1;
        h = step(h, lower[i]);
        const v = this.lookup(h, len);
        const u = user.find(h, len);
        if (v === 0 && u < 0) break;
        const r = Prover.rankOf(v, u);
        if (r !== 0 && (i < j || n === 1)) this.add(i, j, 2 * r);
        if ((v & (WORD | SEQ)) === (WORD | SEQ)) {
          this.seqI.push(i);
          this.seqJ.push(j);
        }
      }
    }
  }

  /** word sequences: chains of two or more words of the word-sequence lists, each gap '' or one accepted character */
  private wordSequences(): void {
    const { seqI, seqJ, code } = this;
    const m = seqI.length;
    if (m < 2) return;
    const order = Array.from({ length: m }, (_, k) => k).sort((a, b) => seqI[a] - seqI[b] || seqJ[a] - seqJ[b]);
    const starts: Set<number>[] = order.map(() => new Set());
    for (let y = 0; y < m; y++) {
      const c = order[y];
      for (let x = 0; x < y; x++) {
        const p = order[x];
        if (seqJ[p] >= seqI[c]) continue;
        const gap = seqI[c] - seqJ[p] - 1;
        if (gap > 1 || (gap === 1 && !isWordGap(code[seqJ[p] + 1]))) continue;
        starts[y].add(seqI[p]);
        for (const s of starts[x]) starts[y].add(s);
      }
    }
    for (let y = 0; y < m; y++) for (const s of starts[y]) this.add(s, seqJ[order[y]], 2);
  }

  /** keyboard walks: each graph's longest runs of adjacent keys, 3 keys or more */
  private walks(): void {
    const { n, code } = this;
    for (const g of this.graphs) {
      let runStart = 0;
      for (let k = 1; k <= n; k++) {
        if (k < n && g.adj[code[k - 1] * 128 + code[k]] === 1) continue;
        if (k - 1 - runStart >= 2) this.add(runStart, k - 1, (k - 1 - runStart) * g.perStep - 1);
        runStart = k;
      }
    }
  }

  /** sequences: the sequence matcher's runs of one difference, and its guesses */
  private sequences(): void {
    const { n, code } = this;
    if (n < 2) return;
    let i = 0;
    let last = code[1] - code[0];
    for (let k = 1; k < n; k++) {
      const delta = code[k] - code[k - 1];
      if (delta !== last) {
        this.sequence(i, k - 1, last);
        i = k - 1;
        last = delta;
      }
    }
    this.sequence(i, n - 1, last);
  }

  private sequence(a: number, b: number, delta: number): void {
    const abs = Math.abs(delta);
    if ((b - a > 1 || abs === 1) && abs > 0 && abs <= 5) this.add(a, b, sequenceBase(this.code[a]) * (delta < 0 ? 2 : 1) * (b - a + 1));
  }

  /** repeats: password[i..i+k·p-1] is a string of p characters k ≥ 2 times */
  private repeats(): void {
    const { n, code } = this;
    for (let p = 1; 2 * p <= n; p++) {
      let runStart = 0;
      for (let x = 0; x <= n - p; x++) {
        if (x < n - p && code[x] === code[x + p]) continue;
        // code[y] === code[y + p] for y in [runStart, x)
        if (x - runStart >= p) {
          for (let i = runStart; i + p <= x; i++) for (let k = 2; (k - 1) * p <= x - i; k++) this.add(i, i + k * p - 1, 2 * k);
        }
        runStart = x + 1;
      }
    }
  }

  /** recent years (the regex matcher), dates without separators (4 to 8 digits) and with them */
  private dates(): void {
    const { n, code } = this;
    for (let i = 0; i + 4 <= n; i++) {
      let digits = 0;
      while (digits < 8 && i + digits < n && isDigit(code[i + digits])) digits++;
      if (digits < 4) continue;
      for (let len = 4; len <= digits; len++) this.add(i, i + len - 1, DATE_MIN_GUESSES);
      const y = (code[i] - 48) * 1000 + (code[i + 1] - 48) * 100 + (code[i + 2] - 48) * 10 + (code[i + 3] - 48);
      if (y >= 1900 && y <= 2029) this.add(i, i + 3, Math.max(Math.abs(y - this.referenceYear) - 1, 21));
    }
    // /^(\d{1,4})([\s/\\_.-])(\d{1,2})\2(\d{1,4})$/ over every 6 to 10 characters: digits, a
    // separator, one or two digits, the same separator, digits
    for (let i = 0; i + 6 <= n; i++) {
      let a = 0;
      while (a < 5 && i + a < n && isDigit(code[i + a])) a++;
      if (a < 1 || a > 4 || i + a >= n) continue;
      const sep = code[i + a];
      if (!isDateSeparator(sep)) continue;
      const b0 = i + a + 1;
      let b = 0;
      while (b < 3 && b0 + b < n && isDigit(code[b0 + b])) b++;
      if (b < 1 || b > 2 || b0 + b >= n || code[b0 + b] !== sep) continue;
      const c0 = b0 + b + 1;
      for (let c = 1; c <= 4 && c0 + c <= n && isDigit(code[c0 + c - 1]); c++) {
        const len = c0 + c - i;
        if (len >= 6 && len <= 10) this.add(i, c0 + c - 1, 4 * DATE_MIN_GUESSES);
      }
    }
  }

  /**
   * The least l! × product + 10000^(l-1) over every cut of pieces: best[l][k] is the least product
   * of l + 1 pieces covering password[0..k]; brute[l][k] the same with a bruteforce run of two
   * characters or more last.
   */
  private cut(): number {
    const { n, best, brute, head } = this;
    for (let l = 0; l < 3; l++) {
      best[l].fill(Infinity, 0, n);
      brute[l].fill(Infinity, 0, n);
    }
    const one = n === 1 ? 1 : 10; // any one-character match has at least 10; its bruteforce 11
    for (let k = 0; k < n; k++) {
      // bruteforce runs of ≥ 2 characters ending at k: brute[l][k] = min over 1 ≤ i ≤ k-1 of best[l-1][i-1] × 10^(k-i+1)
      if (k >= 1) {
        brute[0][k] = 10 ** (k + 1);
        if (k >= 2) for (let l = 1; l < 3; l++) brute[l][k] = Math.min(10 * brute[l][k - 1], 100 * best[l - 1][k - 2]);
      }
      for (let l = 0; l < 3; l++) if (brute[l][k] < best[l][k]) best[l][k] = brute[l][k];
      if (k === 0) {
        if (one < best[0][0]) best[0][0] = one;
      } else {
        for (let l = 1; l < 3; l++) {
          const g = best[l - 1][k - 1] * one;
          if (g < best[l][k]) best[l][k] = g;
        }
      }
      for (let e = head[k]; e !== -1; e = this.next[e]) {
        const i = this.start[e];
        const g = this.guesses[e];
        if (i === 0) {
          if (g < best[0][k]) best[0][k] = g;
        } else {
          for (let l = 1; l < 3; l++) {
            const p = best[l - 1][i - 1] * g;
            if (p < best[l][k]) best[l][k] = p;
          }
        }
      }
    }
    let bound = MIN_GUESSES_BEFORE_GROWING_SEQUENCE ** 3; // four pieces or more
    const factorial = [1, 2, 6];
    for (let l = 0; l < 3; l++) {
      const g = factorial[l] * best[l][n - 1] + MIN_GUESSES_BEFORE_GROWING_SEQUENCE ** l;
      if (g < bound) bound = g;
    }
    return bound;
  }
}
