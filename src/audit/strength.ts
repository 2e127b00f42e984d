// Password strength: zxcvbn-ts with its common and English dictionaries.
//
// The dictionaries are a few MB of JavaScript, so they are imported only when a strength check is
// actually made (never by `kpm get` and friends), once per process. The estimator is built without
// the library's own ranked-dictionary objects and matches words through kpm's index instead
// (src/audit/dictindex.ts, wired in by src/audit/zxcvbn-fast.ts): the same results, 10-100× faster,
// and quicker to build. Should the library's internals ever change shape, the stock estimator is
// used instead: slower, same answers.
import type { ZxcvbnResult } from '@zxcvbn-ts/core';
import type { Dictionaries, IndexedWords } from './dictindex.js';
import { installFastDictionary } from './zxcvbn-fast.js';
import type { PrefilterData } from './prefilter-data.js';

export interface StrengthEstimate {
  /** 0 (too guessable) … 4 (very unguessable): zxcvbn's score */
  score: number;
  /** log10 of the estimated number of guesses an attacker needs */
  guessesLog10: number;
  /** what is wrong, if zxcvbn can say ('' when nothing specific) */
  warning: string;
  suggestions: string[];
}

export type Estimator = (password: string, userInputs?: readonly string[]) => StrengthEstimate;

/** Only the first characters count: zxcvbn's cost grows with the square of the length. */
export const MAX_CHECKED_LENGTH = 100;

/**
 * What the estimates depend on: the library and dictionary versions (package.json), the length
 * cut, kpm's user-input cleaning and the prefilter (src/audit/prefilter.ts). Part of every audit-cache tag (src/audit/cache.ts), so results
 * of another estimator are never reused; test/unit/audit-cache.test.ts checks the versions. The
 * prefilter's data file (src/audit/prefilter-data.ts) is used only when it names this same id.
 */
export const ESTIMATOR_ID = `zxcvbn-ts/core@4.2.0+language-common@4.1.3+language-en@4.1.1/max${MAX_CHECKED_LENGTH}/inputs1/prefilter2`;

let loading: Promise<Estimator> | undefined;

/**
 * zxcvbn-ts with kpm's dictionary index (src/audit/zxcvbn-fast.ts), or stock if its internals
 * changed. The index comes from the build's data file when there is a good one (then the word
 * lists are never loaded: only the library, its keyboard graphs and its messages), else from the lists.
 */
function load(): Promise<Estimator> {
  loading ??= (async () => {
    const [{ ZxcvbnFactory }, { readPrefilterFile, prefixTest }, { readIndexedWords }] = await Promise.all([import('@zxcvbn-ts/core').then(cjs), import('./prefilter-data.js'), import('./dictindex-file.js')]);
    // the build's word table tells the index where words begin (src/audit/prefilter-data.ts)
    const data = readPrefilterFile(ESTIMATOR_ID);
    const known = data && prefixTest(data);
    const words = known && readIndexedWords(ESTIMATOR_ID);
    let factory: InstanceType<typeof ZxcvbnFactory> | undefined;
    if (words) {
      const [graphs, translations] = await Promise.all([import('@zxcvbn-ts/language-common/dist/adjacencyGraphs.json.cjs').then(cjsValue), import('@zxcvbn-ts/language-en/dist/translations.cjs').then(cjsValue)]);
      factory = new ZxcvbnFactory({ graphs, translations, maxLength: MAX_CHECKED_LENGTH });
      if (!installFastDictionary(factory, words, known)) factory = undefined;
    }
    factory ??= (await fromLists(known)).factory;
    const f = factory;
    return (password, userInputs) => toEstimate(f.check(password, userInputs ? cleanInputs(userInputs) : undefined));
  })();
  return loading;
}

/** zxcvbn-ts from its language packages' word lists (the lists are needed too: the build, or no data file). */
async function fromLists(known?: (h: number, len: number) => boolean) {
  const [{ ZxcvbnFactory }, common, en] = await Promise.all([import('@zxcvbn-ts/core').then(cjs), import('@zxcvbn-ts/language-common').then(cjs), import('@zxcvbn-ts/language-en').then(cjs)]);
  const dictionary: Dictionaries = { ...common.dictionary, ...en.dictionary };
  const base = { graphs: common.adjacencyGraphs, translations: en.translations, maxLength: MAX_CHECKED_LENGTH };
  let factory = new ZxcvbnFactory(base);
  if (!installFastDictionary(factory, dictionary, known)) factory = new ZxcvbnFactory({ ...base, dictionary: dictionary as Record<string, (string | number)[]> });
  return { factory, dictionary };
}

/** The prefilter's data, from the library itself (slow: it loads and indexes the dictionaries). */
export async function prefilterDataFromLibrary(): Promise<PrefilterData | undefined> {
  const [{ factory, dictionary }, { buildPrefilterData }] = await Promise.all([fromLists(), import('./prefilter-data.js')]);
  return buildPrefilterData(factory, dictionary, ESTIMATOR_ID);
}

/** The dictionary index's words for the build's data file (src/audit/dictindex-file.ts), from the lists. */
export async function indexedWordsFromLibrary(): Promise<IndexedWords> {
  const [{ dictionary }, { indexWords }] = await Promise.all([fromLists(), import('./dictindex.js')]);
  return indexWords(dictionary);
}

type Strong = (password: string, userInputs?: readonly string[]) => StrengthEstimate | undefined;
let loadingStrong: Promise<Strong> | undefined;

/**
 * The prefilter: from the build's data file when there is a good one (milliseconds, and zxcvbn-ts
 * is not loaded at all), else from the library.
 */
function loadStrong(): Promise<Strong> {
  loadingStrong ??= (async () => {
    const [{ readPrefilterFile }, { strongProver }] = await Promise.all([import('./prefilter-data.js'), import('./prefilter.js')]);
    const data = readPrefilterFile(ESTIMATOR_ID) ?? (await prefilterDataFromLibrary());
    const prove = data && strongProver(data);
    // score 4: zxcvbn's feedback is empty above 2; guessesLog10 is the proven lower bound
    return (password, userInputs) => {
      const bound = prove?.(password, userInputs ? cleanInputs(userInputs) : undefined);
      return bound === undefined ? undefined : { score: 4, guessesLog10: Math.floor(bound * 100) / 100, warning: '', suggestions: [] };
    };
  })();
  return loadingStrong;
}

/** The estimator, loading zxcvbn-ts and its dictionaries on first use. */
export async function loadEstimator(): Promise<Estimator> {
  return load();
}

/**
 * The audit's estimator: the same score as loadEstimator's for every password, and the same
 * estimate whenever the score is below 4; a password the prefilter proves to score 4 gets the
 * proven lower bound as guessesLog10 (a score-4 password is never reported weak).
 */
export async function loadAuditEstimator(): Promise<Estimator> {
  const [strong, full] = await Promise.all([loadStrong(), loadEstimator()]);
  return (password, userInputs) => strong(password, userInputs) ?? full(password, userInputs);
}

/** The audit's prefilter alone (src/audit/pool.ts runs it before sharing out the rest). */
export function loadStrongProof(): Promise<Strong> {
  return loadStrong();
}

/** The packages are CommonJS: bundled by esbuild, their exports sit on `default` only. */
function cjs<T extends object>(m: T): T {
  const d = (m as { default?: unknown }).default;
  return d && typeof d === 'object' ? (d as T) : m;
}
/** A CommonJS module whose exports are one value: `default` (with its own `default` when bundled). */
function cjsValue<T>(m: { default: T }): T {
  const d = m.default as { default?: T };
  return d && typeof d === 'object' && 'default' in d && Object.keys(d).length === 1 ? (d.default as T) : m.default;
}

const NOT_ALNUM = /[^\p{L}\p{N}]+/u;
// the same cut for a lower-cased ASCII string (its letters and digits are a-z and 0-9), quicker
const ASCII = /^[\x00-\x7f]*$/;
const NOT_ASCII_ALNUM = /[^a-z0-9]+/;

/** User inputs as zxcvbn wants them: non-empty, lower-case, with e-mail and URL parts split out. */
export function cleanInputs(inputs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of inputs) {
    const v = raw.trim().toLowerCase();
    if (!v) continue;
    out.add(v);
    for (const part of v.split(ASCII.test(v) ? NOT_ASCII_ALNUM : NOT_ALNUM)) if (part.length >= 3) out.add(part);
  }
  return [...out];
}

function toEstimate(r: ZxcvbnResult): StrengthEstimate {
  return {
    score: r.score,
    guessesLog10: Math.round(r.guessesLog10 * 100) / 100,
    warning: r.feedback.warning ?? '',
    suggestions: [...r.feedback.suggestions],
  };
}

/** Estimates the strength of one password; `userInputs` (user name, site…) make guesses cheaper when used. */
export async function estimate(password: string, userInputs?: readonly string[]): Promise<StrengthEstimate> {
  return (await loadEstimator())(password, userInputs);
}

/** A one-line explanation of why a password is weak: zxcvbn's warning, else its first suggestion. */
export function weaknessHint(e: StrengthEstimate): string {
  if (e.warning) return e.warning;
  if (e.suggestions.length) return e.suggestions[0];
  return e.guessesLog10 < 10 ? 'Too short or too predictable: use a longer password or a passphrase.' : '';
}

/**
 * For `kpm add` / `kpm edit` with a typed password: one line saying why the password is weak, or
 * undefined when its score reaches `minScore` (the audit_min_score setting).
 */
export async function weakPasswordWarning(password: string, minScore: number, userInputs?: readonly string[]): Promise<string | undefined> {
  if (password === '') return undefined;
  const e = await estimate(password, userInputs);
  if (e.score >= minScore) return undefined;
  const hint = weaknessHint(e);
  return `weak password (strength ${e.score}/4, about 10^${e.guessesLog10.toFixed(1)} guesses)${hint ? `: ${hint}` : ''}`;
}

/** Estimates many passwords (the audit), reporting progress now and then. */
export async function estimateAll(jobs: readonly { password: string; inputs?: readonly string[] }[], onProgress?: (done: number, total: number) => void): Promise<StrengthEstimate[]> {
  const est = await loadAuditEstimator();
  const out: StrengthEstimate[] = [];
  for (let i = 0; i < jobs.length; i++) {
    out.push(est(jobs[i].password, jobs[i].inputs));
    if (onProgress && (i % 25 === 24 || i === jobs.length - 1)) onProgress(i + 1, jobs.length);
  }
  return out;
}
