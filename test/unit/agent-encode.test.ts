// The agent's answers on the wire (src/agent/encode.ts): the same bytes as JSON.stringify, the last
// large one kept encoded and never sent for another text.
import { describe, expect, it } from 'vitest';
import { encodeResponse } from '../../src/agent/encode.js';

const wire = (r: string | Buffer): string => (typeof r === 'string' ? r : r.toString('utf8'));
const listText = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `site${i}\tuser${i} "${tag}" \\ ü\n`).join('');

describe('encodeResponse', () => {
  it('a small answer or an error: one JSON line', () => {
    expect(encodeResponse({ ok: 'x' })).toBe('{"ok":"x"}\n');
    expect(encodeResponse({ ok: { a: 1 } })).toBe('{"ok":{"a":1}}\n');
    expect(encodeResponse({ error: { message: 'no', exitCode: 3 } })).toBe('{"error":{"message":"no","exitCode":3}}\n');
  });

  it('a large text: the same bytes as JSON, kept for the same text, encoded again for another of the same length', () => {
    const a = listText(5000, 'a');
    const first = encodeResponse({ ok: a });
    expect(wire(first)).toBe(JSON.stringify({ ok: a }) + '\n');
    expect(JSON.parse(wire(first)).ok).toBe(a);
    expect(encodeResponse({ ok: a.slice(0) })).toBe(first); // the same text (even another string of it): the kept bytes
    const b = listText(5000, 'b');
    expect(b.length).toBe(a.length);
    const second = encodeResponse({ ok: b });
    expect(JSON.parse(wire(second)).ok).toBe(b);
    expect(JSON.parse(wire(encodeResponse({ ok: a }))).ok).toBe(a);
  });

  it('a large text with a notice beside it: sent with the notice, not the kept bytes', () => {
    const a = listText(5000, 'n');
    encodeResponse({ ok: a });
    const withNotice = wire(encodeResponse({ ok: a, notice: 'the last background sync failed' }));
    expect(JSON.parse(withNotice)).toEqual({ ok: a, notice: 'the last background sync failed' });
  });
});
