// The stream masker of `kpm run`: every occurrence of a secret in the child's output becomes
// `<concealed by kpm>`. Works on bytes, so a secret split across writes (even inside a multi-byte
// character) is still found. Overlapping occurrences of several secrets merge into one marker, so
// no part of any secret shows. Only a tail that could be the start of a secret is held back (at
// most the longest secret's length − 1 bytes); everything else is passed on at once.
import { Transform } from 'node:stream';

export const CONCEALED = '<concealed by kpm>';
const MARKER = Buffer.from(CONCEALED, 'utf8');

export class StreamMasker {
  private readonly secrets: Buffer[];
  private readonly maxLen: number;
  private tail = Buffer.alloc(0);
  /** bytes at the start of `tail` already known to be covered by a secret */
  private coverEnd = 0;
  /** the last byte passed on was part of a concealed run (no second marker for its continuation) */
  private inRun = false;

  constructor(secrets: Iterable<string>) {
    const uniq = [...new Set([...secrets].filter((s) => s.length > 0))];
    this.secrets = uniq.map((s) => Buffer.from(s, 'utf8')).sort((a, b) => b.length - a.length);
    this.maxLen = this.secrets[0]?.length ?? 0;
  }

  push(chunk: Uint8Array): Buffer {
    return this.process(Buffer.concat([this.tail, chunk]), false);
  }

  /** Everything still held back (the stream ended: a partial secret is no secret). */
  end(): Buffer {
    return this.process(this.tail, true);
  }

  /** Where the held-back tail starts: the first position whose rest is a proper prefix of a secret. */
  private holdFrom(buf: Buffer): number {
    for (let p = Math.max(0, buf.length - this.maxLen + 1); p < buf.length; p++) {
      const rest = buf.length - p;
      for (const s of this.secrets) {
        if (s.length > rest && s[0] === buf[p] && buf.compare(s, 0, rest, p) === 0) return p;
      }
    }
    return buf.length;
  }

  private process(buf: Buffer, final: boolean): Buffer {
    if (this.maxLen === 0) return buf;
    const decided = final ? buf.length : this.holdFrom(buf);
    const covered = new Uint8Array(buf.length);
    covered.fill(1, 0, Math.min(this.coverEnd, buf.length));
    let maxEnd = this.coverEnd;
    for (const s of this.secrets) {
      for (let p = buf.indexOf(s); p >= 0; p = buf.indexOf(s, p + 1)) {
        covered.fill(1, p, p + s.length);
        maxEnd = Math.max(maxEnd, p + s.length);
      }
    }
    const parts: Buffer[] = [];
    let i = 0;
    while (i < decided) {
      let j = i;
      if (covered[i]) {
        while (j < decided && covered[j]) j++;
        if (!(i === 0 && this.inRun)) parts.push(MARKER);
      } else {
        while (j < decided && !covered[j]) j++;
        parts.push(buf.subarray(i, j));
      }
      i = j;
    }
    if (decided > 0) this.inRun = covered[decided - 1] === 1;
    this.coverEnd = Math.max(0, maxEnd - decided);
    this.tail = Buffer.from(buf.subarray(decided));
    return Buffer.concat(parts);
  }
}

/** A Transform stream around a StreamMasker (backpressure included). */
export function maskingStream(secrets: Iterable<string>): Transform {
  const m = new StreamMasker(secrets);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, m.push(chunk));
    },
    flush(cb) {
      cb(null, m.end());
    },
  });
}
