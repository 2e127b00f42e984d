// Pwned Passwords offline: a downloaded SHA-1 file in the "ordered by hash" text format (lines
// `HASH:COUNT`, 40 hex characters, sorted by hash, `\n` or `\r\n` line ends), searched by binary
// search over byte offsets with positioned reads, so the file (tens of GB for the full set) is
// never loaded. The "ordered by prevalence" (count) file cannot be searched this way: unsorted lines
// met during the search are detected and the file is refused.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { EXIT, usageError } from '../core/errors.js';
import { BreachCheckError, isHash, type BreachSource } from './hibp.js';

const PAGE = 4096;
const MAX_LINE = 256;
const MAX_CACHED_PAGES = 4096; // 16 MiB
const HASH_LEN = 40;
/** With a hash to look up for every this many bytes of file or more, the file is read in one pass. */
const DENSE_BYTES_PER_HASH = 64 * 1024;
const BLOCK = 1 << 20;

const hexValue = (b: number): number => (b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x41 && b <= 0x46 ? b - 55 : b >= 0x61 && b <= 0x66 ? b - 87 : -1);

/**
 * Binary search in a sorted `HASH:COUNT` file, by positioned reads through a small page cache.
 * SHA-1s are uniform, so each search starts where the hash should be in proportion to the file size
 * and widens from there until it brackets the hash (galloping), then halves the bracket: a few
 * nearby pages per lookup. The answer does not depend on that guess, only the number of reads.
 */
export class HashFile implements BreachSource {
  private fd: number | undefined;
  readonly size: number;
  private readonly pages = new Map<number, Buffer>();
  /** bytes read from the file so far (the search reads a few pages per lookup, never the file) */
  bytesRead = 0;
  /** lines compared by the one-pass search (lookupDense) so far */
  probes = 0;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw usageError(`cannot open the hash file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const st = fstatSync(this.fd);
    if (!st.isFile()) {
      this.close();
      throw usageError(`${path} is not a regular file`);
    }
    this.size = st.size;
    if (this.size > 0) this.checkFirstLines();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.pages.clear();
  }

  private fail(msg: string): never {
    throw new BreachCheckError(`${this.path}: ${msg}`, EXIT.error, 'use the Pwned Passwords SHA-1 file ordered by hash (as the PwnedPasswordsDownloader writes it, or pwned-passwords-sha1-ordered-by-hash-v8.txt)');
  }

  private page(n: number): Buffer {
    let p = this.pages.get(n);
    if (!p) {
      if (this.fd === undefined) throw new Error('hash file is closed');
      const buf = Buffer.allocUnsafe(Math.min(PAGE, this.size - n * PAGE));
      let got = 0;
      while (got < buf.length) {
        const r = readSync(this.fd, buf, got, buf.length - got, n * PAGE + got);
        if (r === 0) this.fail('the file changed size while being read');
        got += r;
        this.bytesRead += r;
      }
      if (this.pages.size >= MAX_CACHED_PAGES) this.pages.clear();
      this.pages.set(n, (p = buf));
    }
    return p;
  }

  /** The bytes [pos, pos + len) (clipped at the end of the file), across pages when needed. */
  private bytes(pos: number, len: number): Buffer {
    const end = Math.min(this.size, pos + len);
    const first = Math.floor(pos / PAGE);
    const last = Math.floor((end - 1) / PAGE);
    if (first === last) return this.page(first).subarray(pos - first * PAGE, end - first * PAGE);
    const parts: Buffer[] = [];
    for (let n = first; n <= last; n++) {
      const p = this.page(n);
      parts.push(p.subarray(n === first ? pos - first * PAGE : 0, n === last ? end - n * PAGE : p.length));
    }
    return Buffer.concat(parts);
  }

  /** The start of the first line that begins at or after `pos` (this.size when there is none). */
  private lineStartFrom(pos: number): number {
    if (pos <= 0) return 0;
    let p = pos - 1;
    for (let scanned = 0; p < this.size; scanned += PAGE) {
      const n = Math.floor(p / PAGE);
      const page = this.page(n);
      const nl = page.indexOf(0x0a, p - n * PAGE);
      if (nl >= 0) return n * PAGE + nl + 1;
      p = (n + 1) * PAGE;
      // the end of the file ends the last line (no final newline), even when it crosses a page
      if (p >= this.size) return this.size;
      if (scanned > MAX_LINE) this.fail(`no line break near offset ${pos}: not a HASH:COUNT text file`);
    }
    return this.size;
  }

  /** The 40-character hash of the line at `start`, upper-cased, checked to be hex followed by ':'. */
  private hashAt(start: number): Buffer {
    const b = this.bytes(start, HASH_LEN + 1);
    if (b.length < HASH_LEN + 1 || b[HASH_LEN] !== 0x3a) this.badLine(start);
    let upper: Buffer | undefined;
    for (let k = 0; k < HASH_LEN; k++) {
      const v = b[k];
      if (hexValue(v) < 0) this.badLine(start);
      if (v >= 0x61) (upper ??= Buffer.from(b.subarray(0, HASH_LEN)))[k] = v - 0x20;
    }
    return upper ?? b.subarray(0, HASH_LEN);
  }

  /** The whole line at `start`: hash, count, and where the next line starts. */
  private lineAt(start: number): { hash: string; count: number; next: number } {
    const buf = this.bytes(start, MAX_LINE);
    let nl = buf.indexOf(0x0a);
    if (nl < 0) {
      if (start + buf.length < this.size) this.fail(`line at offset ${start} is too long`);
      nl = buf.length; // last line without a final newline
    }
    const line = buf.toString('latin1', 0, nl).replace(/\r$/, '');
    const m = /^([0-9A-Fa-f]{40}):(\d+)$/.exec(line);
    if (!m) this.badLine(start);
    return { hash: m[1].toUpperCase(), count: Number(m[2]), next: start + nl + 1 };
  }

  private badLine(start: number): never {
    const line = this.bytes(start, 80).toString('latin1').split(/\r?\n/)[0];
    if (/^[0-9A-Fa-f]{32}:/.test(line)) this.fail('this is an NTLM hash file; kpm needs the SHA-1 file');
    this.fail(`line at offset ${start} is not "SHA1:COUNT": "${line.slice(0, 60)}"`);
  }

  private checkFirstLines(): void {
    const a = this.lineAt(0);
    if (a.next < this.size) this.checkOrder(Buffer.from(a.hash, 'latin1'), a.next);
  }

  /** `before` is the hash of the line before `next`: the two must be in order. */
  private checkOrder(before: Buffer, next: number): void {
    if (next < this.size && before.compare(this.hashAt(next)) >= 0) {
      this.fail(`lines are not sorted by hash (offset ${next}); the file ordered by prevalence (count) is not supported`);
    }
  }

  /**
   * P(pos): whether the first line starting at or after `pos` has a hash >= target (true past the
   * end). P only goes from false to true along the file when the file is sorted.
   */
  private atOrAfter(pos: number, target: Buffer): boolean {
    const s = this.lineStartFrom(pos);
    if (s >= this.size) return true;
    const h = this.hashAt(s);
    // Neighbouring lines must be in order: catches a file sorted by count on the first probes.
    const nl = this.lineStartFrom(s + 1);
    this.checkOrder(h, nl);
    return h.compare(target) >= 0;
  }

  /** The count of one hash (upper-case hex), or undefined; `from`: no answer lies before this line. */
  private find(hash: string, from = 0): { count?: number; at: number } {
    const target = Buffer.from(hash, 'latin1');
    let lo = from;
    let hi = this.size; // P(size) is true
    // Bracket by interpolation and galloping, then halve: the smallest p in [lo, hi] with P(p).
    if (hi - lo > 16 * PAGE) {
      const guess = Math.min(hi - 1, Math.max(lo, Math.floor((parseInt(hash.slice(0, 8), 16) / 2 ** 32) * this.size)));
      let step = 4 * PAGE;
      if (this.atOrAfter(guess, target)) {
        hi = guess;
        for (let a = guess - step; a > lo; step *= 2, a = guess - step) {
          if (!this.atOrAfter(a, target)) {
            lo = a;
            break;
          }
          hi = a;
        }
      } else {
        lo = guess;
        for (let b = guess + step; b < hi; step *= 2, b = guess + step) {
          if (this.atOrAfter(b, target)) {
            hi = b;
            break;
          }
          lo = b;
        }
      }
    }
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (this.atOrAfter(mid, target)) hi = mid;
      else lo = mid + 1;
    }
    const s = this.lineStartFrom(lo);
    if (s >= this.size) return { at: s };
    const line = this.lineAt(s);
    return { count: line.hash === hash ? line.count : undefined, at: s };
  }

  async lookup(hashes: readonly string[], onProgress?: (done: number, total: number) => void): Promise<Map<string, number>> {
    const sorted = [...new Set(hashes)].sort();
    for (const h of sorted) if (!isHash(h)) throw new Error('lookup expects upper-case hex SHA-1 hashes');
    const found = new Map<string, number>();
    if (this.size > 0 && sorted.length * DENSE_BYTES_PER_HASH >= this.size && this.lookupDense(sorted, found, onProgress)) return found;
    found.clear();
    let from = 0;
    sorted.forEach((h, k) => {
      const r = this.find(h, from);
      if (r.count !== undefined) found.set(h, r.count);
      from = r.at; // later hashes are larger: they cannot sit before this line
      if (onProgress && (k % 256 === 255 || k === sorted.length - 1)) onProgress(k + 1, sorted.length);
    });
    return found;
  }

  /**
   * Many hashes for the file's size (a 1M-line file and a 10k-entry vault): one pass over the file
   * in large blocks cut at line ends, and in each block a search per hash that falls in it, over
   * the block in memory (interpolation from the block's first and last hash, galloping, halving).
   * The same checks as the page search: every line a probe lands on must be `HASH:` with 40 hex
   * digits and in order with the line after it, and so must the lines either side of each block
   * boundary. A file with lower-case hashes is searched by pages instead (returns false).
   */
  private lookupDense(sorted: readonly string[], found: Map<string, number>, onProgress?: (done: number, total: number) => void): boolean {
    if (this.fd === undefined) throw new Error('hash file is closed');
    const buf = Buffer.allocUnsafe(BLOCK);
    const prevLast = Buffer.alloc(HASH_LEN); // the last hash of the block before
    let hasPrev = false;
    let q = 0;
    const targets = sorted.map((h) => Buffer.from(h, 'latin1'));
    /** the first 8 hex digits' value (of checked upper-case hex) */
    const prefix = (b: Uint8Array, s: number): number => {
      let v = 0;
      for (let k = 0; k < 8; k++) v = v * 16 + hexValue(b[s + k]);
      return v;
    };
    /** sign of a[ai, ai+40) - b[bi, bi+40), bytewise (plain loops: cheaper than Buffer.compare's call here) */
    const cmp = (x: Uint8Array, xi: number, y: Uint8Array, yi: number): number => {
      for (let k = 0; k < HASH_LEN; k++) {
        const d = x[xi + k] - y[yi + k];
        if (d !== 0) return d;
      }
      return 0;
    };
    /** the start of the line after the one containing `pos` (or `end`) */
    const nextLine = (pos: number): number => {
      for (let k = pos; k < end; k++) if (buf[k] === 0x0a) return k + 1;
      return end;
    };
    let lower = false;
    let at = 0;
    let end = 0;
    /** line at s of the block: checked as `HASH:` (upper-case hex) */
    const check = (s: number): void => {
      if (s + HASH_LEN >= end || buf[s + HASH_LEN] !== 0x3a) this.badLine(at + s);
      for (let k = s; k < s + HASH_LEN; k++) {
        const v = buf[k];
        if (!((v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x46))) {
          if (v >= 0x61 && v <= 0x66) lower = true;
          else this.badLine(at + s);
        }
      }
    };
    const unsorted = (off: number): never => this.fail(`lines are not sorted by hash (offset ${off}); the file ordered by prevalence (count) is not supported`);
    for (; at < this.size && q < sorted.length; at += end) {
      let len = 0;
      const want = Math.min(BLOCK, this.size - at);
      while (len < want) {
        const r = readSync(this.fd, buf, len, want - len, at + len);
        if (r === 0) this.fail('the file changed size while being read');
        len += r;
      }
      this.bytesRead += len;
      // whole lines only: cut after the last newline (the file's end ends its last line)
      end = len;
      if (at + len < this.size) {
        const nl = buf.lastIndexOf(0x0a, len - 1);
        if (nl < 0) this.fail(`no line break near offset ${at}: not a HASH:COUNT text file`);
        end = nl + 1;
      }
      const lastStart = end >= 2 ? buf.lastIndexOf(0x0a, end - 2) + 1 : 0;
      check(0);
      check(lastStart);
      if (lower) return false;
      if (hasPrev && cmp(prevLast, 0, buf, 0) >= 0) unsorted(at);
      if (lastStart > 0 && cmp(buf, 0, buf, lastStart) >= 0) unsorted(at + lastStart);
      buf.copy(prevLast, 0, lastStart, lastStart + HASH_LEN);
      hasPrev = true;
      const lineStart = (pos: number): number => (pos <= 0 ? 0 : nextLine(pos - 1));
      /** P(pos): the first line starting at or after pos has a hash >= target (true from lastStart on) */
      const atOrAfter = (pos: number, target: Buffer): boolean => {
        this.probes++;
        const s = lineStart(pos);
        if (s >= lastStart) return true;
        check(s);
        const next = nextLine(s);
        check(next);
        if (cmp(buf, s, buf, next) >= 0) unsorted(at + next);
        return cmp(buf, s, target, 0) >= 0;
      };
      const f0 = prefix(buf, 0);
      const f1 = prefix(buf, lastStart);
      let from = 0;
      // every hash up to the block's last one is answered here
      while (q < sorted.length && cmp(targets[q], 0, buf, lastStart) <= 0) {
        const target = targets[q];
        let lo = from;
        let hi = lastStart;
        const t = prefix(target, 0);
        const guess = Math.min(hi, Math.max(lo, f1 > f0 ? Math.floor(((t - f0) / (f1 - f0)) * lastStart) : lo));
        let step = 256;
        if (atOrAfter(guess, target)) {
          hi = guess;
          for (let x = guess - step; x > lo; step *= 2, x = guess - step) {
            if (!atOrAfter(x, target)) {
              lo = x;
              break;
            }
            hi = x;
          }
        } else {
          lo = guess;
          for (let x = guess + step; x < hi; step *= 2, x = guess + step) {
            if (atOrAfter(x, target)) {
              hi = x;
              break;
            }
            lo = x;
          }
        }
        while (lo < hi) {
          const mid = lo + ((hi - lo) >> 1);
          if (atOrAfter(mid, target)) hi = mid;
          else lo = mid + 1;
        }
        const s = Math.min(lineStart(lo), lastStart);
        from = s;
        check(s);
        if (lower) return false;
        if (cmp(buf, s, target, 0) === 0) {
          const nl = buf.indexOf(0x0a, s);
          const line = buf.toString('latin1', s, nl < 0 || nl >= end ? end : nl).replace(/\r$/, '');
          const m = /^[0-9A-F]{40}:(\d+)$/.exec(line);
          if (!m) this.badLine(at + s);
          found.set(sorted[q], Number(m[1]));
        }
        q++;
        if (onProgress && (q % 256 === 0 || q === sorted.length)) onProgress(q, sorted.length);
      }
      if (lower) return false;
    }
    if (onProgress && q < sorted.length) onProgress(sorted.length, sorted.length);
    return true;
  }
}
