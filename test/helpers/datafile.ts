// The checks every reader of the audit's build-made data files (src/audit/datafile.ts) must pass:
// a damaged file (a changed byte anywhere, cut short) or one of another estimator is not used, and
// the build's file is found next to the build's entry or above its chunks, a damaged one passed over.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';

export function expectDataFileGuards<T>(o: {
  bytes: Buffer;
  estimator: string;
  /** the file's name in dist/ */
  file: string;
  decode: (bytes: Buffer, estimator: string) => T | undefined;
  read: (estimator: string, base: URL) => T | undefined;
  /** what tells the data read back from the file (compared with `expected`) */
  id: (d: T) => unknown;
  expected: unknown;
}): void {
  const { bytes, estimator } = o;
  for (const at of [3, 40, Math.floor(bytes.length / 2), bytes.length - 40, bytes.length - 1]) {
    const bad = Buffer.from(bytes);
    bad[at] ^= 0x10;
    expect(o.decode(bad, estimator), `byte ${at}`).toBeUndefined();
  }
  for (const cut of [1, 4]) expect(o.decode(bytes.subarray(0, bytes.length - cut), estimator), `${cut} bytes cut`).toBeUndefined();
  expect(o.decode(bytes, `${estimator}-next`)).toBeUndefined();
  const dir = mkdtempSync(join(tmpdir(), 'kpm-datafile-'));
  try {
    mkdirSync(join(dir, 'chunks'));
    const chunk = pathToFileURL(join(dir, 'chunks', 'x.mjs'));
    expect(o.read(estimator, chunk)).toBeUndefined();
    writeFileSync(join(dir, o.file), bytes);
    const found = o.read(estimator, chunk);
    expect(found && o.id(found)).toBe(o.expected);
    const beside = o.read(estimator, pathToFileURL(join(dir, 'kpm.mjs')));
    expect(beside && o.id(beside)).toBe(o.expected);
    const bad = Buffer.from(bytes);
    bad[bad.length >> 1] ^= 1;
    writeFileSync(join(dir, o.file), bad);
    expect(o.read(estimator, chunk)).toBeUndefined();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
