// The stream masker of `kpm run`: secrets split at every possible chunk boundary, overlapping and
// nested secrets, multi-byte characters, and how little it holds back.
import { describe, expect, it } from 'vitest';
import { CONCEALED, StreamMasker, maskingStream } from '../../src/cli/mask.js';
import { Readable } from 'node:stream';

const C = CONCEALED;

function maskChunks(secrets: string[], chunks: Array<string | Buffer>): string {
  const m = new StreamMasker(secrets);
  const out = chunks.map((c) => m.push(typeof c === 'string' ? Buffer.from(c) : c));
  out.push(m.end());
  return Buffer.concat(out).toString('utf8');
}

/** Masks `text` cut at every pair of positions (three chunks), expecting the same result each time. */
function everySplit(secrets: string[], text: string, want: string): void {
  const b = Buffer.from(text);
  for (let i = 0; i <= b.length; i++) {
    for (let j = i; j <= b.length; j++) {
      expect(maskChunks(secrets, [b.subarray(0, i), b.subarray(i, j), b.subarray(j)]), `cut at ${i},${j}`).toBe(want);
    }
  }
}

describe('StreamMasker', () => {
  it('conceals a secret wherever the stream is cut', () => {
    everySplit(['hunter2'], 'pw=hunter2; again hunter2!', `pw=${C}; again ${C}!`);
  });

  it('prefers the longest secret and merges overlapping ones into one marker', () => {
    everySplit(['abc', 'abcdef'], 'x abcdef y abc z', `x ${C} y ${C} z`);
    everySplit(['abcd', 'cdef'], '[abcdef] [cdab]', `[${C}] [cdab]`);
    everySplit(['aa'], 'aaaaa.', `${C}.`);
    everySplit(['ab', 'b'], 'abb-b', `${C}-${C}`);
  });

  it('works on bytes: multi-byte characters split anywhere', () => {
    everySplit(['päß€'], 'x päß€ y ä', `x ${C} y ä`);
  });

  it('leaves output without secrets untouched and holds back only a possible secret start', () => {
    const m = new StreamMasker(['secret']);
    expect(m.push(Buffer.from('Enter name: ')).toString()).toBe('Enter name: ');
    expect(m.push(Buffer.from('a sec')).toString()).toBe('a ');
    expect(m.push(Buffer.from('ond')).toString()).toBe('second');
    expect(m.push(Buffer.from('secre')).toString()).toBe('');
    expect(m.end().toString()).toBe('secre'); // a partial secret at the end is not the secret
    expect(maskChunks([], ['as is'])).toBe('as is');
    expect(maskChunks([''], ['empty secrets mask nothing'])).toBe('empty secrets mask nothing');
  });

  it('conceals a secret fed one byte at a time, with a marker per occurrence', () => {
    const text = 'tok=S3cr3t\nS3cr3tS3cr3t\n';
    expect(maskChunks(['S3cr3t'], [...Buffer.from(text)].map((b) => Buffer.from([b])))).toBe(`tok=${C}\n${C}\n`);
  });

  it('as a Transform stream', async () => {
    const src = Readable.from([Buffer.from('a tok'), Buffer.from('en-1 b'), Buffer.from(' token-')]);
    const chunks: Buffer[] = [];
    for await (const c of src.pipe(maskingStream(['token-1']))) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(`a ${C} b token-`);
  });
});
