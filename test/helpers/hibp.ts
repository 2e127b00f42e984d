// Pwned Passwords fixtures for the audit tests (and bench/audit.sh): a sorted SHA-1 hash file of
// any size, generated sorted by construction, and a range API server on loopback that records
// every request it gets, down to the raw bytes.
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { seededBytes } from './seeded.js';

export const sha1 = (pw: string): string => createHash('sha1').update(pw, 'utf8').digest('hex').toUpperCase();

/** Known "breached" passwords and their counts, shared by the range server and the hash file. */
export const BREACHED: Record<string, number> = {
  password: 10_434_004,
  '123456': 37_359_195,
  qwerty: 4_611_786,
  'correct horse battery staple': 393,
  'Tr0ub4dor&3': 7,
  'p@ssw0rd!': 1_247,
  'hunter2': 30_000,
  'ünïcödé-pässwörd': 2,
};

/** Passwords that are in neither. */
export const CLEAN = ['kpm-clean-6f1d2a9c7b3e', 'Vq8#zL2!mN5@xR7$', 'another clean one 93721', 'ünïcödé-clean-ß'];

export interface HashFileInfo {
  path: string;
  lines: number;
  /** every line's hash would be too many: the first and the last, and some from the middle */
  first: { hash: string; count: number };
  last: { hash: string; count: number };
  samples: { hash: string; count: number }[];
  bytes: number;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'));

/**
 * Writes a HASH:COUNT file of `randomLines` random SHA-1-like hashes plus `extra` (merged in),
 * sorted by hash. Sorted by construction: line i's first 32 bits fall in the i-th of `randomLines`
 * equal slices of the 32-bit range, so nothing is ever sorted in memory. ~1 s per million lines.
 * The data is seeded (`o.seed`, by default derived from the arguments): the same file every run.
 */
export function writeHashFile(path: string, randomLines: number, extra: Record<string, number> = {}, o: { crlf?: boolean; finalNewline?: boolean; seed?: string } = {}): HashFileInfo {
  const randomBytes = seededBytes(o.seed ?? `hashfile:${randomLines}:${o.crlf ? 'crlf' : 'lf'}:${o.finalNewline === false ? 'nofinal' : 'final'}`);
  const eol = o.crlf ? '\r\n' : '\n';
  const fixtures = Object.entries(extra).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const fd = openSync(path, 'w', 0o600);
  const buf = Buffer.allocUnsafe(1 << 22);
  let off = 0;
  let lines = 0;
  let bytes = 0;
  let fx = 0;
  let first: { hash: string; count: number } | undefined;
  let last: { hash: string; count: number } = { hash: '', count: 0 };
  const samples: { hash: string; count: number }[] = [];
  const sampleEvery = Math.max(1, Math.floor(randomLines / 50));
  const emit = (hash: string, count: number) => {
    if (off > buf.length - 128) {
      writeSync(fd, buf, 0, off);
      bytes += off;
      off = 0;
    }
    off += buf.write(`${hash}:${count}${eol}`, off, 'latin1');
    first ??= { hash, count };
    last = { hash, count };
    lines++;
  };
  const rnd = randomBytes(Math.min(randomLines, 1 << 16) * 24);
  const slice = 2 ** 32 / Math.max(randomLines, 1);
  for (let i = 0; i < randomLines; i++) {
    const r = (i % (1 << 16)) * 24;
    if (r === 0 && i > 0) randomBytes(rnd.length).copy(rnd);
    const lo = Math.ceil(i * slice);
    const hi = Math.ceil((i + 1) * slice); // exclusive
    const top = lo + Math.floor((rnd.readUInt32BE(r) / 2 ** 32) * (hi - lo));
    let hash = top.toString(16).toUpperCase().padStart(8, '0');
    for (let k = 4; k < 20; k++) hash += HEX[rnd[r + k]];
    while (fx < fixtures.length && fixtures[fx][0] <= hash) {
      if (fixtures[fx][0] !== hash) emit(fixtures[fx][0], fixtures[fx][1]);
      fx++;
    }
    const count = 1 + (rnd.readUInt32BE(r + 20) % 100_000);
    emit(hash, count);
    if (i % sampleEvery === 0) samples.push({ hash, count });
  }
  while (fx < fixtures.length) emit(fixtures[fx][0], fixtures[fx][1]), fx++;
  if (o.finalNewline === false && off >= eol.length) off -= eol.length;
  writeSync(fd, buf, 0, off);
  bytes += off;
  closeSync(fd);
  return { path, lines, first: first ?? { hash: '', count: 0 }, last, samples, bytes };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface RangeServer {
  url: string;
  requests: RecordedRequest[];
  /** everything every client sent, as received on the sockets */
  raw: () => string;
  maxInFlight: () => number;
  /** answer every request with this HTTP status instead (e.g. 503); undefined for normal */
  failWith: (status: number | undefined) => void;
  close: () => Promise<void>;
}

/**
 * A Pwned Passwords range API on 127.0.0.1: GET /range/PREFIX answers every fixture suffix under
 * the prefix, a few random real-looking ones, and, with `Add-Padding: true`, zero-count padding.
 */
export async function startRangeServer(breached: Record<string, number> = BREACHED, o: { delayMs?: number } = {}): Promise<RangeServer> {
  const byPrefix = new Map<string, [string, number][]>();
  for (const [hash, count] of Object.entries(breached)) {
    const list = byPrefix.get(hash.slice(0, 5)) ?? [];
    list.push([hash.slice(5), count]);
    byPrefix.set(hash.slice(0, 5), list);
  }
  const requests: RecordedRequest[] = [];
  const chunks: Buffer[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let failStatus: number | undefined;
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const finish = () => {
      inFlight--;
      const m = /^\/range\/([0-9A-F]{5})$/.exec(req.url ?? '');
      if (failStatus !== undefined) return res.writeHead(failStatus).end('failure');
      if (req.method !== 'GET' || !m) return res.writeHead(404).end('not found');
      const out: string[] = [];
      const randomBytes = seededBytes(`range:${m[1]}`); // the same answer for a prefix every time
      for (const [suffix, count] of byPrefix.get(m[1]) ?? []) out.push(`${suffix}:${count}`);
      for (let i = 0; i < 5; i++) out.push(`${randomBytes(18).toString('hex').slice(0, 35).toUpperCase()}:${1 + i}`);
      if (String(req.headers['add-padding']).toLowerCase() === 'true') {
        for (let i = 0; i < 40; i++) out.push(`${randomBytes(18).toString('hex').slice(0, 35).toUpperCase()}:0`);
      }
      out.sort();
      res.writeHead(200, { 'content-type': 'text/plain' }).end(out.join('\r\n'));
    };
    if (o.delayMs) setTimeout(finish, o.delayMs);
    else finish();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    raw: () => Buffer.concat(chunks).toString('latin1'),
    maxInFlight: () => maxInFlight,
    failWith: (s) => (failStatus = s),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL nothing listens on (a port we bound and released). */
export async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
