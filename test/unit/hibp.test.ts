// Pwned Passwords: the range API client against a recording server on loopback (only 5-character
// prefixes leave the process), and the offline binary search over a generated sorted file of more
// than a million lines, which must give the same answers.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashFile } from '../../src/audit/hashfile.js';
import { BreachCheckError, checkRangeUrl, parseRange, RangeClient, sha1Hex } from '../../src/audit/hibp.js';
import { EXIT } from '../../src/core/errors.js';
import { BREACHED, CLEAN, deadUrl, sha1, startRangeServer, writeHashFile, type HashFileInfo, type RangeServer } from '../helpers/hibp.js';

const breachedByHash = Object.fromEntries(Object.entries(BREACHED).map(([pw, n]) => [sha1(pw), n]));
const allPasswords = [...Object.keys(BREACHED), ...CLEAN];
const allHashes = allPasswords.map(sha1);
const expected = new Map(Object.entries(BREACHED).map(([pw, n]) => [sha1(pw), n]));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpm-hibp-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sha1Hex and parseRange', () => {
  it('hashes UTF-8 to upper-case hex', () => {
    expect(sha1Hex('password')).toBe('5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8');
    expect(sha1Hex('ü')).toBe(sha1('ü'));
  });
  it('parses SUFFIX:COUNT lines, drops zero-count padding, accepts CRLF', () => {
    const m = parseRange('1E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004\r\n0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2\n');
    expect([...m]).toEqual([
      ['1E4C9B93F3F0682250B6CF8331B7EE68FD8', 10434004],
      ['00D4F6E8FA6EECAD2A3AA415EEC418D38EC', 2],
    ]);
    expect(() => parseRange('<html>oops</html>')).toThrow();
  });
  it('refuses plain http except to loopback', () => {
    expect(() => checkRangeUrl('http://api.pwnedpasswords.com')).toThrow(/https/);
    expect(() => checkRangeUrl('ftp://x')).toThrow();
    expect(() => checkRangeUrl('not a url')).toThrow();
    expect(checkRangeUrl('http://127.0.0.1:8080/').host).toBe('127.0.0.1:8080');
    expect(checkRangeUrl('http://localhost/mirror').pathname).toBe('/mirror');
    expect(checkRangeUrl('https://hibp.example.org/pp').protocol).toBe('https:');
  });
});

describe('range API client', () => {
  let server: RangeServer;
  beforeAll(async () => {
    server = await startRangeServer(breachedByHash, { delayMs: 15 });
  });
  afterAll(() => server.close());

  it('finds breached passwords with their counts, not clean ones, sending only 5-character prefixes', async () => {
    const client = new RangeClient(server.url, { concurrency: 3 });
    const found = await client.lookup(allHashes);
    expect(found).toEqual(expected);
    for (const pw of CLEAN) expect(found.has(sha1(pw))).toBe(false);

    const prefixes = new Set(allHashes.map((h) => h.slice(0, 5)));
    expect(server.requests.length).toBe(prefixes.size);
    for (const r of server.requests) {
      expect(r.method).toBe('GET');
      expect(r.url).toMatch(/^\/range\/[0-9A-F]{5}$/);
      expect(r.headers['add-padding']).toBe('true');
    }
    expect(new Set(server.requests.map((r) => r.url.slice(7)))).toEqual(prefixes);
    // Nothing on the wire but prefixes: no full hash, no suffix, no password, in any case.
    const raw = server.raw();
    const rawUpper = raw.toUpperCase();
    for (const [pw, h] of allPasswords.map((p) => [p, sha1(p)] as const)) {
      expect(rawUpper).not.toContain(h);
      expect(rawUpper).not.toContain(h.slice(5));
      expect(rawUpper).not.toContain(h.slice(5, 15)); // not even part of a suffix
      expect(raw).not.toContain(pw);
      expect(raw).not.toContain(encodeURIComponent(pw));
    }
    expect(server.maxInFlight()).toBeLessThanOrEqual(3);
  });

  it('fetches each prefix once per run (cache)', async () => {
    const before = server.requests.length;
    const client = new RangeClient(server.url);
    let last = [0, 0];
    await client.lookup(allHashes, (d, t) => (last = [d, t]));
    await client.lookup(allHashes.slice(0, 3));
    const prefixes = new Set(allHashes.map((h) => h.slice(0, 5)));
    expect(server.requests.length - before).toBe(prefixes.size);
    expect(last).toEqual([prefixes.size, prefixes.size]);
  });

  it('turns a server that is down into a typed error with the network exit code', async () => {
    const client = new RangeClient(await deadUrl());
    const e = await client.lookup(allHashes).catch((x) => x);
    expect(e).toBeInstanceOf(BreachCheckError);
    expect(e.exitCode).toBe(EXIT.network);
    expect(e.message).toMatch(/cannot reach the Pwned Passwords service/);
    expect(e.message).not.toContain('\n');
  });

  it('turns an HTTP error into a typed error', async () => {
    server.failWith(404);
    try {
      const e = await new RangeClient(server.url).lookup(allHashes).catch((x) => x);
      expect(e).toBeInstanceOf(BreachCheckError);
      expect(e.message).toMatch(/HTTP 404/);
    } finally {
      server.failWith(undefined);
    }
  });
});

describe('offline hash file (binary search)', () => {
  let big: HashFileInfo;
  beforeAll(() => {
    big = writeHashFile(join(dir, 'pwned-1m.txt'), 1_000_000, breachedByHash);
    expect(big.lines).toBe(1_000_000 + Object.keys(BREACHED).length);
  });

  it('gives the same answers as the range server', async () => {
    const f = new HashFile(big.path);
    try {
      const found = await f.lookup(allHashes);
      expect(found).toEqual(expected);
      // a few pages per lookup, never the whole file
      expect(f.bytesRead).toBeLessThan(big.bytes / 20);
    } finally {
      f.close();
    }
  });

  it('finds the first and the last line and lines in between; not absent hashes', async () => {
    const f = new HashFile(big.path);
    try {
      const wanted = [big.first, big.last, ...big.samples];
      const found = await f.lookup(wanted.map((x) => x.hash));
      for (const x of wanted) expect(found.get(x.hash), x.hash).toBe(x.count);
      const absent = ['0'.repeat(40), 'F'.repeat(40), ...CLEAN.map(sha1)];
      // neighbours of real lines: one more / one less in the last hex digit
      for (const x of [big.first, big.last, ...big.samples.slice(0, 10)]) {
        const lastDigit = parseInt(x.hash[39], 16);
        if (lastDigit < 15) absent.push(x.hash.slice(0, 39) + (lastDigit + 1).toString(16).toUpperCase());
        if (lastDigit > 0) absent.push(x.hash.slice(0, 39) + (lastDigit - 1).toString(16).toUpperCase());
      }
      const none = await f.lookup(absent.filter((h) => !wanted.some((w) => w.hash === h) && !expected.has(h)));
      expect([...none]).toEqual([]);
    } finally {
      f.close();
    }
  });

  it('handles CRLF line ends and a missing final newline', async () => {
    for (const o of [{ crlf: true }, { crlf: true, finalNewline: false }, { finalNewline: false }]) {
      const info = writeHashFile(join(dir, `small-${JSON.stringify(o).replace(/\W/g, '')}.txt`), 20_000, breachedByHash, o);
      const f = new HashFile(info.path);
      try {
        const found = await f.lookup([...allHashes, info.first.hash, info.last.hash]);
        expect(found).toEqual(new Map([...expected, [info.first.hash, info.first.count], [info.last.hash, info.last.count]]));
      } finally {
        f.close();
      }
    }
  });

  it('finds lines when the last line has no final newline and crosses a 4 KiB page boundary', async () => {
    // The layout on purpose: the last line starts a few bytes before offset 4096 and ends after it,
    // without a newline. The search for a hash after every line ends on that line's first byte.
    for (const eol of ['\n', '\r\n']) {
      const lines: string[] = [];
      let size = 0;
      for (let i = 0; ; i++) {
        const line = `${(i * 2 ** 20).toString(16).toUpperCase().padStart(8, '0')}${'A'.repeat(32)}:${i + 1}`;
        if (size + line.length + eol.length > 4096 - 10) {
          // the last line: starts before 4096, ends after it
          const last = `${'E'.repeat(40)}:1234567890123`;
          lines.push(last);
          const text = lines.join(eol);
          const path = join(dir, `boundary-${eol.length}.txt`);
          writeFileSync(path, text);
          const lastStart = text.length - last.length;
          expect(lastStart).toBeLessThan(4096);
          expect(text.length).toBeGreaterThan(4096);
          const f = new HashFile(path);
          try {
            const found = await f.lookup(['0'.repeat(40), lines[0].slice(0, 40), lines[5].slice(0, 40), 'E'.repeat(40), 'F'.repeat(40)]);
            expect(found).toEqual(new Map([[lines[0].slice(0, 40), 1], [lines[5].slice(0, 40), 6], ['E'.repeat(40), 1234567890123]]));
          } finally {
            f.close();
          }
          break;
        }
        lines.push(line);
        size += line.length + eol.length;
      }
    }
  });

  it('answers many hashes in one pass over the file (lookupDense), the same as the page search', async () => {
    // 1M lines: 3000 hashes call for the one-pass search; real lines, their neighbours and others
    const text = readFileSync(big.path, 'latin1');
    const lines = text.split('\n').filter(Boolean);
    const want = new Map<string, number>();
    const asked: string[] = [...allHashes];
    for (let k = 0; k < 1500; k++) {
      const [hash, count] = lines[Math.floor((k * lines.length) / 1500)].split(':');
      want.set(hash, Number(count));
      asked.push(hash);
      const d = parseInt(hash[39], 16);
      asked.push(hash.slice(0, 39) + ((d + 1) % 16).toString(16).toUpperCase()); // absent (1 in 16 collides with a real line: checked below)
    }
    asked.push(big.first.hash, big.last.hash, '0'.repeat(40), 'F'.repeat(40));
    want.set(big.first.hash, big.first.count).set(big.last.hash, big.last.count);
    for (const [h, n] of expected) want.set(h, n);
    const dense = new HashFile(big.path);
    const paged = new HashFile(big.path);
    try {
      const a = await dense.lookup(asked);
      expect(dense.probes).toBeGreaterThan(0); // the one-pass search ran
      const b = new Map<string, number>();
      for (const h of asked) for (const [k, v] of await paged.lookup([h])) b.set(k, v);
      expect(paged.probes).toBe(0); // one hash at a time: the page search
      expect(a).toEqual(b);
      for (const [h, n] of want) expect(a.get(h), h).toBe(n);
    } finally {
      dense.close();
      paged.close();
    }
  });

  it('one-pass search: CRLF, no final newline, lower-case hashes, and an unsorted file refused', async () => {
    for (const o of [{ crlf: true }, { crlf: true, finalNewline: false }, { finalNewline: false }]) {
      const info = writeHashFile(join(dir, `dense-${JSON.stringify(o).replace(/\W/g, '')}.txt`), 20_000, breachedByHash, o);
      const many = [...allHashes, info.first.hash, info.last.hash, ...info.samples.map((x) => x.hash), ...Array.from({ length: 40 }, (_, i) => sha1(`absent ${i}`))];
      const f = new HashFile(info.path);
      try {
        const found = await f.lookup(many);
        expect(f.probes).toBeGreaterThan(0);
        expect(found).toEqual(new Map([...expected, [info.first.hash, info.first.count], [info.last.hash, info.last.count], ...info.samples.map((x) => [x.hash, x.count] as [string, number])]));
      } finally {
        f.close();
      }
    }
    const info = writeHashFile(join(dir, 'dense-lower-src.txt'), 20_000, breachedByHash);
    const lowerPath = join(dir, 'dense-lower.txt');
    writeFileSync(lowerPath, readFileSync(info.path, 'latin1').toLowerCase());
    const lower = new HashFile(lowerPath);
    const many = [...allHashes, ...info.samples.map((x) => x.hash), ...Array.from({ length: 40 }, (_, i) => sha1(`absent ${i}`))];
    expect(await lower.lookup(many)).toEqual(new Map([...expected, ...info.samples.map((x) => [x.hash, x.count] as [string, number])]));
    lower.close();
    // sorted at the start and at the block ends, unsorted inside
    const hashes = Array.from({ length: 30_000 }, (_, i) => sha1(`pw${i}`));
    const head = [...hashes].sort().slice(0, 2);
    const partly = join(dir, 'dense-partly-sorted.txt');
    writeFileSync(partly, [...head, ...hashes].map((h, i) => `${h}:${i + 1}\n`).join(''));
    const f = new HashFile(partly);
    const err = await f.lookup(hashes.slice(0, 100)).catch((x) => x);
    f.close();
    expect(err).toBeInstanceOf(BreachCheckError);
    expect(err.message).toMatch(/not sorted by hash/);
  });

  it('makes the same hash file from the same seed, another from another seed', () => {
    const a = writeHashFile(join(dir, 'seed-a.txt'), 1000, {}, { seed: 'one' });
    const b = writeHashFile(join(dir, 'seed-b.txt'), 1000, {}, { seed: 'one' });
    const c = writeHashFile(join(dir, 'seed-c.txt'), 1000, {}, { seed: 'two' });
    expect(readFileSync(a.path)).toEqual(readFileSync(b.path));
    expect(readFileSync(a.path)).not.toEqual(readFileSync(c.path));
  });

  it('works on tiny files: empty, one line', async () => {
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '');
    const e = new HashFile(empty);
    expect(await e.lookup(allHashes)).toEqual(new Map());
    e.close();
    const one = join(dir, 'one.txt');
    writeFileSync(one, `${sha1('password')}:5\n`);
    const o = new HashFile(one);
    expect(await o.lookup(allHashes)).toEqual(new Map([[sha1('password'), 5]]));
    o.close();
  });

  it('refuses a file ordered by count, an NTLM file and garbage', async () => {
    // ordered by prevalence: counts descending, hashes in random order
    const byCount = join(dir, 'by-count.txt');
    const hashes = Array.from({ length: 5000 }, (_, i) => sha1(`pw${i}`));
    writeFileSync(byCount, hashes.map((h, i) => `${h}:${100000 - i}\r\n`).join(''));
    const e1 = (() => {
      try {
        const f = new HashFile(byCount);
        return f.lookup(allHashes).then(() => undefined, (x) => x);
      } catch (x) {
        return Promise.resolve(x);
      }
    })();
    const err = await e1;
    expect(err).toBeInstanceOf(BreachCheckError);
    expect(err.message).toMatch(/not sorted by hash/);

    // sorted at the start (so opening works), unsorted further in: found during the search
    const partly = join(dir, 'partly-sorted.txt');
    const sortedHead = [...hashes].sort().slice(0, 2);
    writeFileSync(partly, [...sortedHead, ...hashes].map((h, i) => `${h}:${i + 1}\n`).join(''));
    const f2 = new HashFile(partly);
    const err2 = await f2.lookup(allHashes).catch((x) => x);
    f2.close();
    expect(err2).toBeInstanceOf(BreachCheckError);
    expect(err2.message).toMatch(/ordered by prevalence \(count\) is not supported/);

    const ntlm = join(dir, 'ntlm.txt');
    writeFileSync(ntlm, '00000000CD9A3B9B7A1F1DB0E8C8A8E3:12\n00000001B2D4C9B8A4F1E2D3C4B5A697:3\n');
    expect(() => new HashFile(ntlm)).toThrow(/NTLM/);

    const junk = join(dir, 'junk.txt');
    writeFileSync(junk, 'hello world\n'.repeat(100));
    expect(() => new HashFile(junk)).toThrow(BreachCheckError);

    expect(() => new HashFile(join(dir, 'missing.txt'))).toThrow(/cannot open/);
  });
});
