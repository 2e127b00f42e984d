// `get --copy` clears the clipboard later only if it still holds the copied value.
import { describe, expect, it } from 'vitest';
import { clearLater, clipboardDigest } from '../../src/cli/clipboard.js';

function fakeClipboard(initial: string) {
  let value = initial;
  return {
    read: async () => value,
    write: async (s: string) => {
      value = s;
    },
    get value() {
      return value;
    },
  };
}

describe('clipboard clearing', () => {
  it('clears the value kpm copied', async () => {
    const cb = fakeClipboard('s3cret');
    expect(await clearLater(0, clipboardDigest('s3cret'), cb)).toBe(true);
    expect(cb.value).toBe('');
  });

  it('leaves the clipboard alone when the user copied something else meanwhile', async () => {
    const cb = fakeClipboard('something the user copied');
    expect(await clearLater(0, clipboardDigest('s3cret'), cb)).toBe(false);
    expect(cb.value).toBe('something the user copied');
  });

  it('the clearer process is given a hash of the value, never the value', () => {
    expect(clipboardDigest('s3cret')).toMatch(/^[0-9a-f]{64}$/);
    expect(clipboardDigest('s3cret')).not.toContain('s3cret');
  });
});
