// The string checks of the schema validator at every length (src/protocol/validate.ts): isBase64
// answers as its pattern below, across and above the lengths it checks with the expression itself;
// a string against a plain string schema gets the same answers as through a wider schema.
import { describe, expect, it } from 'vitest';
import { isBase64, validate } from '../../src/protocol/validate.js';
import { PullResult } from '../../src/protocol/schemas.js';

describe('schema string checks at every length', () => {
  it('isBase64 answers as ^[A-Za-z0-9+/]+={0,2}$ and ^[A-Za-z0-9+/]*={0,2}$ for short, record-long and long strings', () => {
    const pat = { plus: /^[A-Za-z0-9+/]+={0,2}$/u, star: /^[A-Za-z0-9+/]*={0,2}$/u };
    const bad = ['-', '_', ' ', '\n', '.', 'é', '\u0000', '\ud83d', '=', '==='];
    const tried: string[] = [];
    for (const n of [0, 1, 2, 3, 4, 63, 64, 65, 66, 300, 301, 4095, 4096, 4097, 4098, 10_000]) {
      const good = 'QUJD+/09az'.repeat(Math.ceil(n / 10) + 1).slice(0, n);
      tried.push(good, good + '=', good + '==', good + '===', '=' + good);
      for (const b of bad) for (const at of [0, Math.floor(n / 2), Math.max(0, n - 1)]) tried.push(good.slice(0, at) + b + good.slice(at + 1));
    }
    for (const s of tried) {
      expect(isBase64(s, true), `${s.length}: ${JSON.stringify(s.slice(0, 20))}`).toBe(pat.plus.test(s));
      expect(isBase64(s, false), `${s.length}: ${JSON.stringify(s.slice(0, 20))}`).toBe(pat.star.test(s));
    }
  });

  it('a record string gets the same problem as a field (the path, the length and the pattern checks)', () => {
    const page = (records: unknown[]) => ({ head: records.length, from: 1, records, manifest: null, more: false, generation: 1 });
    const long = 'QUJD'.repeat(100);
    expect(validate(PullResult, page([long, long]), { allowExtra: false })).toBeNull();
    expect(validate(PullResult, page([long, long.slice(0, 200) + '-' + long.slice(201)]), { allowExtra: false })).toBe('$.records[1]: does not match ^[A-Za-z0-9+/]+={0,2}$');
    expect(validate(PullResult, page([long, '']), { allowExtra: false })).toBe('$.records[1]: shorter than 1');
    expect(validate(PullResult, page([long, 7]), { allowExtra: false })).toBe('$.records[1]: expected string, got integer');
    expect(validate(PullResult, { ...page([long]), manifest: 'QU JD' }, { allowExtra: false })).toBe('$.manifest: does not match ^[A-Za-z0-9+/]+={0,2}$');
    expect(validate({ type: 'string', maxLength: 3 }, 'abcd')).toBe('$: longer than 3');
    expect(validate({ type: 'string', maxLength: 3 }, '😀😀😀')).toBeNull(); // code points, not UTF-16 units
    expect(validate({ type: 'string', enum: ['a'] }, 'b')).toBe('$: not one of a');
    expect(validate({ type: 'string', const: 'a' }, 'b')).toBe('$: expected "a"');
  });
});
