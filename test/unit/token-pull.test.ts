// A token's first read pulls the whole vault (src/sync/vaultsync.ts pullVerifiedLog): the records are
// kept as one buffer of raw records, never decoded into objects, each checked as decodeRecord checks
// it (a malformed one is exit 8); the latest record of each entry is picked from that buffer
// (src/sync/tokencache.ts latestOfLog) as LatestRecords picks it; the server names where the next
// page starts (the x-kpm-pull-next header) so that the client asks for it before it has read the page,
// and a wrong or hostile hint changes nothing; the base64 check of the answer's schema is a loop that
// answers as its pattern; the cache is sealed in parts. The server's token pages: small first, then
// doubling (SQLite, and PostgreSQL when KPM_TEST_PG is set).
import { describe, expect, it } from 'vitest';
import { randomBytes } from '../../src/crypto/random.js';
import { concatBytes, toBase64, toHex } from '../../src/crypto/bytes.js';
import { open, sealParts } from '../../src/crypto/aead.js';
import { accountSigner } from '../../src/crypto/sign.js';
import { initialSyncChain, nextSyncChain, sealManifest } from '../../src/sync/envelope.js';
import { askPage, pullVerified, pullVerifiedLog, type PullFrom } from '../../src/sync/vaultsync.js';
import { latestOfLog, logOf, recordsOf } from '../../src/sync/tokencache.js';
import { isBase64, validate } from '../../src/protocol/validate.js';
import { PULL_NEXT_HEADER, PullResult, type PullResultT } from '../../src/protocol/schemas.js';
import { encodeRecord, FLAG_DELETED, RECORD_FIXED_BYTES } from '../../src/vault/format.js';
import { LatestRecords } from '../../src/vault/records.js';
import { EXIT, KpmError } from '../../src/core/errors.js';
import { tokenPageRecords } from '../../src/server/sync.js';
import { createAccount, ENGINES, loginTokens, testServer } from '../helpers/server.js';
import { newServiceToken, tokenAuthHash, tokenAuthHeader, tokenKeys } from '../../src/sync/tokenvault.js';

const vaultId = randomBytes(16);
const profileId = randomBytes(16);
const signer = accountSigner(randomBytes(32));

/** A record of `entry` (a small integer) at `version`, with 40 + `size` sealed bytes (40 at least, as a record has). */
const record = (entry: number, version: number, flags = 0, size = 8): Uint8Array => {
  const id = new Uint8Array(16);
  id[0] = entry;
  return encodeRecord(id, version, flags, randomBytes(16), randomBytes(40 + size));
};

/** A server of `raw` records in pages of `page`, signed honestly; `onNext` gets the hint `hint(after, pageEnd)` (none: undefined). */
function server(raw: Uint8Array[], page: number, o: { hint?: (after: number, end: number) => number | undefined; edit?: (p: PullResultT) => PullResultT } = {}) {
  let chain = initialSyncChain(vaultId);
  for (const r of raw) chain = nextSyncChain(chain, r);
  const manifest = raw.length ? toBase64(sealManifest(signer, { vaultId, profileId, generation: 1, revision: raw.length, chain, time: 1 })) : null;
  const asked: number[] = [];
  const pull = async (after: number, onNext?: (next: number) => void): Promise<PullResultT> => {
    asked.push(after);
    const end = Math.min(raw.length, after + page);
    const more = end < raw.length;
    const hint = o.hint ? o.hint(after, end) : more ? end : undefined;
    if (hint !== undefined) onNext?.(hint);
    await Promise.resolve();
    const p: PullResultT = { head: raw.length, from: after + 1, records: raw.slice(after, end).map(toBase64), manifest, more, generation: 1 };
    return o.edit ? o.edit(p) : p;
  };
  const from = (): PullFrom => ({ id: toHex(vaultId), name: 'CI', revision: 0, chain: initialSyncChain(vaultId), generation: undefined, time: 0, profileId, publicKey: signer.publicKey, pull });
  return { pull, from, asked, chain };
}

const exitOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof KpmError) return e.exitCode;
    throw e;
  }
  return undefined;
};

describe("a token's first read: the records as one buffer", () => {
  it('pullVerifiedLog verifies as pullVerified does and keeps the records as sent, one after the other', async () => {
    const raw = Array.from({ length: 23 }, (_, i) => record(i % 7, Math.floor(i / 7) + 1, i === 20 ? FLAG_DELETED : 0, 10 + i * 13));
    const s = server(raw, 5);
    const decoded = await pullVerified(s.from());
    const log = await pullVerifiedLog(s.from());
    expect(log.count).toBe(23);
    expect(Buffer.from(log.log)).toEqual(Buffer.from(concatBytes(...raw)));
    expect({ head: log.head, generation: log.generation, chain: toHex(log.chain) }).toEqual({ head: decoded.head, generation: decoded.generation, chain: toHex(decoded.chain) });
    expect(recordsOf(log).map((r) => toHex(r.raw))).toEqual(decoded.records.map((r) => toHex(r.raw)));
    const empty = await pullVerifiedLog(server([], 5).from());
    expect([empty.count, empty.log.length, empty.head]).toEqual([0, 0, 0]);
  });

  it('a malformed record (too short, a length past its end or short of it, two records in one, nothing) is exit 8, as before', async () => {
    const good = record(1, 1);
    const short = good.slice(0, 4 + RECORD_FIXED_BYTES + 39);
    new DataView(short.buffer).setUint32(0, RECORD_FIXED_BYTES + 39); // a valid frame, below the least record length
    const long = good.slice();
    new DataView(long.buffer).setUint32(0, good.length); // claims 4 bytes more than it has
    const under = good.slice();
    new DataView(under.buffer).setUint32(0, good.length - 5); // one byte left over after it
    const cases = [short, long, under, good.slice(0, 3), new Uint8Array(0), concatBytes(good, record(2, 1))];
    for (const bad of cases) {
      const raw = [record(3, 1), bad, record(4, 1)];
      const s = server(raw, 2);
      expect(await exitOf(pullVerified(s.from())), `${bad.length}`).toBe(EXIT.corrupt);
      expect(await exitOf(pullVerifiedLog(s.from())), `${bad.length}`).toBe(EXIT.corrupt);
    }
    // altered, dropped or reordered records: the chain does not match the signed manifest
    const raw = [record(1, 1), record(2, 1), record(3, 1)];
    const flip = server(raw, 2, { edit: (p) => ({ ...p, records: p.records.map((b, i) => (i === 0 && p.from === 1 ? toBase64(Uint8Array.from(Buffer.from(b, 'base64'), (x, j) => (j === 60 ? x ^ 1 : x))) : b)) }) });
    expect(await exitOf(pullVerifiedLog(flip.from()))).toBe(EXIT.corrupt);
    const swap = server(raw, 3, { edit: (p) => ({ ...p, records: [...p.records].reverse() }) });
    expect(await exitOf(pullVerifiedLog(swap.from()))).toBe(EXIT.corrupt);
  });

  it('latestOfLog keeps what LatestRecords keeps: a later version wins, an earlier or equal one is ignored, in the order of first appearance; the log itself when nothing is superseded', () => {
    for (let round = 0; round < 30; round++) {
      const raw = Array.from({ length: 1 + (round % 9) * 5 }, () => {
        const b = randomBytes(2);
        return record(b[0] % 6, 1 + (b[1] % 4), b[1] & 8 ? FLAG_DELETED : 0, 8 + (b[1] % 30));
      });
      const log = concatBytes(...raw);
      const l = new LatestRecords();
      for (const r of recordsOf({ log })) l.apply(r);
      expect(toHex(latestOfLog(log))).toBe(toHex(logOf([...l.latest.values()])));
    }
    const distinct = concatBytes(record(1, 3), record(2, 1), record(3, 9));
    expect(latestOfLog(distinct)).toBe(distinct);
    expect(latestOfLog(new Uint8Array(0)).length).toBe(0);
  });
});

describe('the next-page hint (x-kpm-pull-next)', () => {
  const raw = Array.from({ length: 17 }, (_, i) => record(i, 1));
  it('an honest hint: every page is asked for once, the next one before the page before it has arrived', async () => {
    const s = server(raw, 4);
    const order: string[] = [];
    const pull = s.pull;
    const from = { ...s.from(), pull: async (after: number, onNext?: (n: number) => void) => (order.push(`ask ${after}`), pull(after, onNext).then((p) => (order.push(`got ${after}`), p))) };
    const r = await pullVerifiedLog(from);
    expect(r.count).toBe(17);
    expect(s.asked).toEqual([0, 4, 8, 12, 16]);
    // the second page is asked for on the first page's hint, before the first page arrived
    expect(order.indexOf('ask 4')).toBeLessThan(order.indexOf('got 0'));
  });

  it('a wrong or hostile hint (ahead, behind, the same page, far off, not a number) is dropped: the right pages are read, at most one asked for ahead', async () => {
    const hints: ((after: number, end: number) => number | undefined)[] = [
      (_a, end) => end + 1, // skips a record
      (_a, end) => end - 1, // overlaps
      (after) => after, // the same page again
      (after) => after - 3,
      () => Number.MAX_SAFE_INTEGER,
      () => NaN,
      () => 2.5,
      (_a, end) => (end < 17 ? end : 40), // past the head on the last page
    ];
    for (const hint of hints) {
      const s = server(raw, 4, { hint });
      let open = 0;
      let most = 0;
      const pull = s.pull;
      const from = {
        ...s.from(),
        pull: async (after: number, onNext?: (n: number) => void) => {
          most = Math.max(most, ++open);
          try {
            return await pull(after, onNext);
          } finally {
            open--;
          }
        },
      };
      const r = await pullVerifiedLog(from);
      expect(Buffer.from(r.log)).toEqual(Buffer.from(concatBytes(...raw)));
      expect(most).toBeLessThanOrEqual(2);
      for (const after of [0, 4, 8, 12, 16]) expect(s.asked).toContain(after);
      expect(s.asked.length).toBeLessThanOrEqual(10); // each page, and at most one wrong guess per page
    }
    // a hint does not stand in for a check: a tampered page behind an honest hint is still exit 8
    const s = server(raw, 4, { edit: (p) => (p.from === 9 ? { ...p, records: p.records.slice(1) } : p) });
    expect(await exitOf(pullVerifiedLog(s.from()))).toBe(EXIT.corrupt);
    // the first page asked for early (askPage) takes its hint too
    const early = server(raw, 4);
    const first = askPage(early.pull, 0);
    expect((await pullVerifiedLog({ ...early.from(), firstPage: first })).count).toBe(17);
    expect(early.asked).toEqual([0, 4, 8, 12, 16]);
  });
});

describe("the answer's base64 check and the cache's sealing", () => {
  it('isBase64 answers as the schema pattern for every string tried; a bad record is named by its index', () => {
    const alphabet = 'AZaz09+/=-_ .é\n\u0000\ud83d';
    const pat = { plus: /^[A-Za-z0-9+/]+={0,2}$/u, star: /^[A-Za-z0-9+/]*={0,2}$/u };
    const tried = ['', '=', '==', '===', 'A', 'A=', 'A==', 'A===', 'QUJD', 'QUJD=', 'QU=JD', '=QUJD', 'QUJD\n', 'QUJ-'];
    for (let i = 0; i < 3000; i++) {
      const b = randomBytes(1 + (i % 12));
      tried.push(Array.from(b.subarray(1), (x) => (x & 1 ? 'QUJD'[x % 4] : alphabet[x % alphabet.length])).join(''));
    }
    for (const s of tried) {
      expect(isBase64(s, true), JSON.stringify(s)).toBe(pat.plus.test(s));
      expect(isBase64(s, false), JSON.stringify(s)).toBe(pat.star.test(s));
    }
    const page = { head: 3, from: 1, records: ['QUJD', 'QUJD', 'QU JD'], manifest: null, more: false, generation: 1 };
    expect(validate(PullResult, page, { allowExtra: false })).toBe('$.records[2]: does not match ^[A-Za-z0-9+/]+={0,2}$');
    expect(validate(PullResult, { ...page, records: ['QUJD'] }, { allowExtra: false })).toBeNull();
  });

  it('sealParts is prefix ‖ seal of the parts one after the other: it opens as one', () => {
    const key = randomBytes(32);
    const aad = randomBytes(9);
    const parts = [randomBytes(100), new Uint8Array(0), randomBytes(70_000)];
    const out = sealParts(key, Uint8Array.of(1, 2, 3), parts, aad);
    expect([...out.subarray(0, 3)]).toEqual([1, 2, 3]);
    expect(Buffer.from(open(key, out.subarray(3), aad))).toEqual(Buffer.from(concatBytes(...parts)));
    expect(() => open(key, out.subarray(3), randomBytes(9))).toThrow();
  });
});

describe.each(ENGINES)("the server's token pages (%s)", (engine) => {
  it('small first, then as many records as come before them; each page but the last names where the next starts', async () => {
    expect([0, 1, 499, 500, 501, 4000].map(tokenPageRecords)).toEqual([500, 500, 500, 500, 501, 4000]);
    const ts = await testServer({ engine });
    const email = `pages-${engine}@example.org`;
    await createAccount(ts, email);
    const access = (await loginTokens(ts, email)).accessToken as string;
    const vid = toHex(randomBytes(16));
    expect((await ts.call('POST', `/v1/sync/vaults/${vid}`, { expectedEpoch: 0, epoch: 1, body: toBase64(randomBytes(64)) }, { token: access })).status).toBe(200);
    const bodies = Array.from({ length: 1203 }, (_, i) => toBase64(record(i % 250, 1 + Math.floor(i / 250), 0, 8)));
    for (let base = 0; base < bodies.length; base += 400) {
      const push = await ts.call('POST', `/v1/sync/vaults/${vid}/push`, { base, records: bodies.slice(base, base + 400), manifest: toBase64(randomBytes(64)) }, { token: access });
      expect(push.status).toBe(200);
    }
    const t = newServiceToken();
    const { authKey } = tokenKeys(t);
    const made = await ts.call('POST', '/v1/tokens', { id: t.id, vaultId: vid, name: 'ci', expiresAt: new Date(ts.clock.now + 86_400_000).toISOString(), authHash: tokenAuthHash(authKey), wrappedKey: toBase64(randomBytes(80)) }, { token: access });
    expect(made.status).toBe(201);
    const headers = { authorization: tokenAuthHeader(t.id, authKey) };
    const pages: { from: number; n: number; more: boolean; next: unknown }[] = [];
    const got: string[] = [];
    for (let after = 0; ; ) {
      const r = await ts.call('POST', '/v1/token/pull', { after }, { headers });
      expect(r.status).toBe(200);
      expect(validate(PullResult, r.body, { allowExtra: false })).toBeNull();
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      pages.push({ from: r.body.from, n: r.body.records.length, more: r.body.more, next: r.headers[PULL_NEXT_HEADER] });
      got.push(...r.body.records);
      after += r.body.records.length;
      if (!r.body.more) break;
    }
    expect(pages).toEqual([
      { from: 1, n: 500, more: true, next: '500' },
      { from: 501, n: 500, more: true, next: '1000' },
      { from: 1001, n: 203, more: false, next: undefined },
    ]);
    expect(got).toEqual(bodies);
    // a device's pull is paged as before (by size only): one page here
    const device = await ts.call('POST', `/v1/sync/vaults/${vid}/pull`, { after: 0 }, { token: access });
    expect([device.body.records.length, device.body.more, device.headers[PULL_NEXT_HEADER]]).toEqual([1203, false, undefined]);
  });
});
