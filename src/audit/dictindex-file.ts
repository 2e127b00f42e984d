// zxcvbn-ts's word lists as the dictionary index holds them (src/audit/dictindex.ts's IndexedWords),
// made once by the build (scripts/build.mjs writes dist/audit-dictionary.bin): a worker that loads
// the estimator for the audit then reads one file instead of unpacking 236k words from the
// language packages and hashing them (≈ 130 ms of CPU, on a core the audit's main thread shares).
// The file names the estimator it was made for (ESTIMATOR_ID); a damaged file or one of another
// estimator is not used, and the lists are loaded and indexed as before.
import { decodeDataFile, encodeDataFile, i32, readDataFile, u16, u32 } from './datafile.js';
import { IndexedWords } from './dictindex.js';

export const DICTIONARY_FILE = 'audit-dictionary.bin';
const MAGIC = 'kpm-audit-dictionary/1\n';

interface Header {
  estimator: string;
  names: string[];
  buckets: number;
  entries: number;
  chars: number;
}

export function encodeIndexedWords(w: IndexedWords, estimator: string): Buffer {
  const header: Header = { estimator, names: w.names, buckets: w.heads.length, entries: w.entries, chars: w.chars.length };
  return encodeDataFile(MAGIC, header, [w.heads, w.entryHash, w.entryIndex, w.entryNext, w.wordStart, w.entryDict, w.chars]);
}

export function decodeIndexedWords(file: Buffer, estimator: string): IndexedWords | undefined {
  const f = decodeDataFile<Header>(file, MAGIC, (h) => {
    const counts = [h.buckets, h.entries, h.chars];
    if (h.estimator !== estimator || !Array.isArray(h.names) || !h.names.every((n) => typeof n === 'string') || h.names.length > 0xffff) return undefined;
    if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0) || h.buckets < 1 || (h.buckets & (h.buckets - 1)) !== 0) return undefined;
    return [4 * h.buckets, 4 * h.entries, 4 * h.entries, 4 * h.entries, 4 * (h.entries + 1), 2 * h.entries, 2 * h.chars];
  });
  if (!f) return undefined;
  const { header: h, sections: s } = f;
  const w = new IndexedWords(h.names, i32(s[0]), u32(s[1]), u16(s[5]), i32(s[2]), i32(s[3]), u32(s[4]), u16(s[6]));
  return consistent(w) ? w : undefined;
}

/** Every link and word bound inside the arrays (a file with a good digest but wrong numbers must not make the index read out of bounds or loop). */
function consistent(w: IndexedWords): boolean {
  const n = w.entries;
  const lists = w.names.length;
  for (let b = 0; b < w.heads.length; b++) if (w.heads[b] < -1 || w.heads[b] >= n) return false;
  for (let e = 0; e < n; e++) {
    // links only go to earlier entries (each entry is put in front of its bucket's chain): no cycles
    if (w.entryNext[e] < -1 || w.entryNext[e] >= e || w.entryDict[e] >= lists || w.entryIndex[e] < 0) return false;
    if (w.wordStart[e] > w.wordStart[e + 1]) return false;
  }
  return w.wordStart[0] === 0 && w.wordStart[n] === w.chars.length;
}

/** The index of the build this module is part of, when there is a good one for `estimator`. */
export function readIndexedWords(estimator: string, base: string | URL = import.meta.url): IndexedWords | undefined {
  return readDataFile(DICTIONARY_FILE, base, (file) => decodeIndexedWords(file, estimator));
}
