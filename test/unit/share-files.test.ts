// Files (documents, attachments) in shared vaults (docs/SHARING.md "Files in shared vaults"): the
// sealed blob's format and key, writers and the owner add files, every member reads them, and a
// malicious server (or a reader with its help) cannot substitute, truncate, reorder, replay or add
// a file: exit 8, nothing written. The in-process server with its database and a tampering double.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inject, run, world, type Person } from '../helpers/share.js';
import { ShareClient, type OpenedVault } from '../../src/share/client.js';
import { recordKey } from '../../src/share/format.js';
import { SHARE_BLOB_HEADER_BYTES, shareBlobKey, shareFrame, sharedBlobSize, type SharedFile } from '../../src/share/blobs.js';
import { decryptFramedToFile, encryptStreamFramed } from '../../src/vault/blobs.js';
import { BLOB_CHUNK_BYTES } from '../../src/protocol/schemas.js';
import { fromHex, toBase64, toHex, utf8 } from '../../src/crypto/bytes.js';
import { randomBytes } from '../../src/crypto/random.js';
import { KpmError, EXIT } from '../../src/core/errors.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { ENGINES, PG_SKIP_REASON, PG_URL, type TestServer } from '../helpers/server.js';

const T = '2026-12-01T10:00:00.000Z';
const doc = (name: string): EntryPayload => ({ type: 'document', name, fields: {}, custom: [], tags: [], created: T, updated: T });
const tmp = () => fs.mkdtempSync(join(os.tmpdir(), 'kpm-sharefiles-'));
const blobDir = (p: Person) => join(p.paths.data, 'blobs');

/** A file on disk with distinct, greppable content (`n` bytes). */
function fileOf(name: string, n: number, tag: string): { path: string; bytes: Buffer } {
  const bytes = Buffer.alloc(n);
  const pat = Buffer.from(`${tag}-`);
  for (let i = 0; i < n; i++) bytes[i] = pat[i % pat.length] ^ (Math.floor(i / pat.length) & 0x0f);
  const path = join(tmp(), name);
  fs.writeFileSync(path, bytes);
  return { path, bytes };
}

/** Adds a document with these files as member `p` (one signed record). */
async function addDoc(p: Person, name: string, paths: string[]): Promise<SharedFile[]> {
  return run(p, async (x) => {
    const v = await x.openForUse('Team');
    const files: SharedFile[] = [];
    for (const path of paths) files.push(await x.uploadFile(v, blobDir(p), path));
    await x.writeEntry(v, doc(name), { files });
    return files;
  });
}

/** What `kpm doc get` does (src/cli/commands/documents.ts): fetch and check against the record, then decrypt to `dest` (temp file, rename). */
async function getFile(p: Person, name: string, dest: string, file = 0): Promise<Buffer> {
  await run(p, async (x) => {
    const v = await x.openForUse('Team');
    const e = ShareClient.find(v, name);
    if (!e) throw new Error(`no ${name}`);
    const f = v.entries.get(e[0])!.files[file];
    const got = await x.downloadFile(v, blobDir(p), f);
    try {
      await decryptFramedToFile(got.fd, got.key, shareFrame(fromHex(v.id), f.epoch, fromHex(f.blob)), f, dest);
    } finally {
      got.remove();
    }
  });
  return fs.readFileSync(dest);
}

/** The download is refused with exit 8 and nothing is at `dest` (nor a temporary file beside it). */
async function refusedGet(p: Person, name: string, msg: RegExp, file = 0): Promise<void> {
  const dir = tmp();
  const dest = join(dir, 'out.bin');
  const e = await getFile(p, name, dest, file).then(() => null, (x) => x);
  expect(e).toBeInstanceOf(KpmError);
  expect((e as KpmError).message).toMatch(msg);
  expect((e as KpmError).exitCode).toBe(EXIT.corrupt);
  expect(fs.readdirSync(dir)).toEqual([]);
  expect(fs.readdirSync(blobDir(p)).filter((f) => f.includes('kpm-tmp'))).toEqual([]);
}

const chunksOf = async (ts: TestServer, vault: string, blob: string) =>
  (await ts.store.db.selectFrom('share_blob_chunks').select(['idx', 'body']).where('vault_id', '=', vault).where('blob_id', '=', blob).orderBy('idx').execute()).map((r) => r.body);

async function setChunks(ts: TestServer, vault: string, blob: string, bodies: string[]): Promise<void> {
  await ts.store.db.deleteFrom('share_blob_chunks').where('vault_id', '=', vault).where('blob_id', '=', blob).execute();
  for (const [idx, body] of bodies.entries()) await ts.store.db.insertInto('share_blob_chunks').values({ vault_id: vault, blob_id: blob, idx, body }).execute();
  await ts.store.db.updateTable('share_blobs').set({ chunks: bodies.length }).where('vault_id', '=', vault).where('blob_id', '=', blob).execute();
}

/** A blob sealed the way a member of the epoch could seal it (every member, readers too, can derive the key). */
function sealAs(vaultKey: Uint8Array, vaultId: string, epoch: number, blobId: string, plain: Uint8Array): Buffer {
  const key = shareBlobKey(recordKey(vaultKey), fromHex(vaultId), epoch, fromHex(blobId));
  const parts: Uint8Array[] = [];
  let pos = 0;
  encryptStreamFramed(key, shareFrame(fromHex(vaultId), epoch, fromHex(blobId)), (buf) => {
    const n = Math.min(buf.length, plain.length - pos);
    buf.set(plain.subarray(pos, pos + n));
    pos += n;
    return n;
  }, (b) => parts.push(Uint8Array.from(b)));
  return Buffer.concat(parts);
}

const keysOf = async (p: Person): Promise<OpenedVault> => run(p, (x) => x.openForUse('Team'));

if (!PG_URL) it.skip(`PostgreSQL runs of this suite: ${PG_SKIP_REASON}`, () => {});
describe.each(ENGINES)('files in shared vaults on %s', (engine) => {
  it('format: the blob is "KPSB" ‖ 1 ‖ vault id ‖ epoch ‖ blob id ‖ 65536 then chunks; its size is 50 + size + 40 per chunk; the record (version 3) names blob, name, type, size, epoch and SHA-256 of the sealed blob, no key; the key is bound to vault, epoch and blob', async () => {
    const { ts, b, id } = await world(engine);
    const f = fileOf('plan.pdf', 70_000, 'PLAN-SECRET-77');
    const [sf] = await addDoc(b, 'plan', [f.path]);
    expect(Object.keys(sf).sort()).toEqual(['blob', 'epoch', 'name', 'sha256', 'size', 'type']);
    expect(sf).toMatchObject({ name: 'plan.pdf', type: 'application/pdf', size: 70_000, epoch: 2 }); // world(): epoch 1 named bob, epoch 2 carol
    const sealed = Buffer.concat((await chunksOf(ts, id, sf.blob)).map((c) => Buffer.from(c, 'base64')));
    expect(sealed.length).toBe(sharedBlobSize(70_000));
    expect(sealed.length).toBe(50 + 70_000 + 2 * 40);
    expect(SHARE_BLOB_HEADER_BYTES).toBe(50);
    const h = sealed.subarray(0, 50);
    expect(h.subarray(0, 4).toString()).toBe('KPSB');
    expect(h.readUInt16BE(4)).toBe(1);
    expect(toHex(h.subarray(6, 22))).toBe(id);
    expect(h.readBigUInt64BE(22)).toBe(2n);
    expect(toHex(h.subarray(30, 46))).toBe(sf.blob);
    expect(h.readUInt32BE(46)).toBe(65536);
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(sealed).digest('hex')).toBe(sf.sha256);
    // the key: another vault id, epoch or blob id gives another key
    const v = await keysOf(b);
    const rk = recordKey(v.keys[1]);
    const k = toHex(shareBlobKey(rk, fromHex(id), 2, fromHex(sf.blob)));
    expect(toHex(shareBlobKey(rk, randomBytes(16), 2, fromHex(sf.blob)))).not.toBe(k);
    expect(toHex(shareBlobKey(rk, fromHex(id), 1, fromHex(sf.blob)))).not.toBe(k);
    expect(toHex(shareBlobKey(rk, fromHex(id), 2, randomBytes(16)))).not.toBe(k);
    expect(toHex(shareBlobKey(recordKey(v.keys[0]), fromHex(id), 2, fromHex(sf.blob)))).not.toBe(k);
    // nothing of the plaintext in the server's chunks
    expect(sealed.includes(Buffer.from('PLAN-SECRET-77'))).toBe(false);
  });

  it('the owner and a writer add files; every member (the reader too, and a second device) reads both byte-identical', async () => {
    const { ts, a, b, c } = await world(engine);
    const big = fileOf('scan.tiff', BLOB_CHUNK_BYTES + 300_000, 'SCAN-BYTES-01'); // two transfer chunks
    const small = fileOf('notes.txt', 1234, 'NOTE-BYTES-02');
    const empty = fileOf('empty.bin', 0, 'x');
    await addDoc(a, 'owner-doc', [big.path, empty.path]);
    await addDoc(b, 'writer-doc', [small.path]);
    for (const p of [a, b, c]) {
      expect((await getFile(p, 'owner-doc', join(tmp(), 'o'))).equals(big.bytes)).toBe(true);
      expect((await getFile(p, 'owner-doc', join(tmp(), 'e'), 1)).length).toBe(0);
      expect((await getFile(p, 'writer-doc', join(tmp(), 'w'))).equals(small.bytes)).toBe(true);
    }
    // carol's second device (the same account key, no state of its own) reads them too
    const { secondDeviceOf } = await import('../helpers/share.js');
    const c2 = await secondDeviceOf(ts, c);
    expect((await getFile(c2, 'writer-doc', join(tmp(), 'w2'))).equals(small.bytes)).toBe(true);
  });

  it('a server substituting a blob (one a reader sealed with the derived key for that blob id, another file of the vault, or one of another vault), truncating, reordering or replaying chunks: exit 8, nothing written', async () => {
    const { ts, a, b, c, id } = await world(engine);
    const big = fileOf('big.bin', BLOB_CHUNK_BYTES + 100_000, 'BIG-PAYLOAD-9');
    const other = fileOf('other.txt', 5000, 'OTHER-FILE-33');
    const [fb] = await addDoc(b, 'big', [big.path]);
    const [fo] = await addDoc(a, 'other', [other.path]);
    const orig = await chunksOf(ts, id, fb.blob);
    expect(orig.length).toBe(2);
    const restore = () => setChunks(ts, id, fb.blob, orig);
    expect((await getFile(c, 'big', join(tmp(), 'ok'))).equals(big.bytes)).toBe(true);

    // a reader holds the epoch's key: a blob it seals for this blob id opens, but is not the one the writer signed
    const cv = await keysOf(c);
    const forged = sealAs(cv.keys[1], id, 2, fb.blob, Buffer.alloc(big.bytes.length, 0x41));
    await setChunks(ts, id, fb.blob, [forged.subarray(0, BLOB_CHUNK_BYTES), forged.subarray(BLOB_CHUNK_BYTES)].map((x) => toBase64(x)));
    await refusedGet(c, 'big', /not the one its writer signed/);
    await refusedGet(a, 'big', /not the one its writer signed/);

    // reordered transfer chunks
    await setChunks(ts, id, fb.blob, [orig[1], orig[0]]);
    await refusedGet(c, 'big', /not the one its writer signed/);
    // truncated: the last chunk dropped, or bytes cut
    await setChunks(ts, id, fb.blob, [orig[0]]);
    await refusedGet(c, 'big', /sent \d+ bytes of file "big.bin"; its signed record declares/);
    await setChunks(ts, id, fb.blob, [orig[0], toBase64(Buffer.from(orig[1], 'base64').subarray(0, 1000))]);
    await refusedGet(c, 'big', /its signed record declares/);
    // more than declared: a chunk appended, or bytes added
    await setChunks(ts, id, fb.blob, [...orig, orig[1]]);
    await refusedGet(c, 'big', /more (chunks|of file)/);
    await restore();
    // another file of the same vault served for it
    await setChunks(ts, id, fb.blob, await chunksOf(ts, id, fo.blob));
    await refusedGet(c, 'big', /its signed record declares|not the one its writer signed/);
    await restore();

    // a replay of the same file's first chunk in place of the second (the server answers index 1 with index 0)
    c.tamper.shareBlobGet = (body) => (body.last ? { data: orig[0], last: true } : body);
    await refusedGet(c, 'big', /more of file|not the one/);
    delete c.tamper.shareBlobGet;

    // a blob of another shared vault (same members, same epoch number): another header, key and hash
    await run(a, (x) => x.share('Other', c.email, 'reader', false));
    await run(c, (x) => x.accept('Other'));
    const ov = await run(a, (x) => x.openForUse('Other'));
    const ofile = await run(a, (x) => x.uploadFile(ov, blobDir(a), fileOf('o.bin', 2000, 'OTHER-VAULT-1').path));
    await run(a, (x) => x.writeEntry(ov, doc('o'), { files: [ofile] }));
    const foreign = await chunksOf(ts, ov.id, ofile.blob);
    await setChunks(ts, id, fo.blob, foreign);
    await refusedGet(c, 'other', /its signed record declares|not the one its writer signed/);
    // even with the record's hash and size made to match (a record the server cannot sign): the header names the other vault
    const { decryptFramedToFile: dec } = await import('../../src/vault/blobs.js');
    const sealedForeign = Buffer.concat(foreign.map((x) => Buffer.from(x, 'base64')));
    const fd = fs.openSync(join(tmp(), 'f'), 'w+');
    fs.writeSync(fd, sealedForeign);
    const k = shareBlobKey(recordKey(cv.keys[1]), fromHex(id), 2, fromHex(ofile.blob));
    await expect(dec(fd, k, shareFrame(fromHex(id), 2, fromHex(ofile.blob)), ofile, join(tmp(), 'x'))).rejects.toThrow(/bad header/);
    fs.closeSync(fd);
  });

  it('a blob of an older epoch replayed for a file added after a revoke: exit 8; after revoke new files are under the new epoch, which the removed member cannot open even with the database', async () => {
    const { ts, a, b, c, id } = await world(engine);
    const old = fileOf('old.txt', 3000, 'OLD-EPOCH-FILE');
    const [fOld] = await addDoc(b, 'old', [old.path]);
    const carolKeys = (await keysOf(c)).keys.map((k) => Uint8Array.from(k));
    await run(a, (x) => x.revoke('Team', c.email));
    const fresh = fileOf('new.txt', 3000, 'NEW-EPOCH-FILE');
    const [fNew] = await addDoc(b, 'new', [fresh.path]);
    expect(fOld.epoch).toBe(2);
    expect(fNew.epoch).toBe(3);
    expect((await getFile(a, 'new', join(tmp(), 'n'))).equals(fresh.bytes)).toBe(true);
    expect((await getFile(a, 'old', join(tmp(), 'o'))).equals(old.bytes)).toBe(true); // older files stay readable for members
    // the server serves the older epoch's blob (same size) for the new file
    const newChunks = await chunksOf(ts, id, fNew.blob);
    await setChunks(ts, id, fNew.blob, await chunksOf(ts, id, fOld.blob));
    await refusedGet(a, 'new', /not the one its writer signed/);
    await setChunks(ts, id, fNew.blob, newChunks);
    // carol: the server no longer serves her, and her keys (epoch 1) open nothing of the new file
    const e = await run(c, (x) => x.openForUse('Team')).then(() => null, (x) => x);
    expect((e as KpmError).exitCode).toBe(EXIT.forbidden);
    const sealed = Buffer.concat(newChunks.map((x) => Buffer.from(x, 'base64')));
    expect(carolKeys.length).toBe(2);
    const p = join(tmp(), 'sealed');
    fs.writeFileSync(p, sealed);
    for (const [ep, ck] of [[1, carolKeys[0]], [2, carolKeys[1]], [3, carolKeys[1]]] as const) {
      const fd = fs.openSync(p, 'r');
      const key = shareBlobKey(recordKey(ck), fromHex(id), ep, fromHex(fNew.blob));
      await expect(decryptFramedToFile(fd, key, shareFrame(fromHex(id), ep, fromHex(fNew.blob)), fNew, join(tmp(), 'x'))).rejects.toThrow(/tampered|bad header/);
      fs.closeSync(fd);
    }
    expect(sealed.includes(Buffer.from('NEW-EPOCH-FILE'))).toBe(false);
  });

  it('a reader cannot add a file: refused here (exit 9, nothing sent), by the server (403), and a blob and record it places in the database anyway are refused by every member (exit 8)', async () => {
    const { ts, a, b, c, id } = await world(engine);
    const f = fileOf('r.txt', 100, 'READER-FILE-1');
    // the client refuses before anything is sent
    c.writes.length = 0;
    const e = await run(c, async (x) => x.uploadFile(await x.openForUse('Team'), blobDir(c), f.path)).then(() => null, (x) => x);
    expect((e as KpmError).exitCode).toBe(EXIT.forbidden);
    expect(c.writes).toEqual([]);
    // the server refuses a reader's chunk (a modified client)
    const blob = toHex(randomBytes(16));
    const r = await ts.call('POST', `/v1/share/vaults/${id}/blobs/put`, { blob, index: 0, data: toBase64(Buffer.from('x')), last: true }, { token: c.token });
    expect(r.status).toBe(403);
    // a non-member: 404
    const { person } = await import('../helpers/share.js');
    const d = await person(ts);
    expect((await ts.call('POST', `/v1/share/vaults/${id}/blobs/put`, { blob, index: 0, data: 'eA==', last: true }, { token: d.token })).status).toBe(404);
    expect((await ts.call('POST', `/v1/share/vaults/${id}/blobs/get`, { blob, index: 0 }, { token: d.token })).status).toBe(404);
    // a complete blob never changes (409), and another writer cannot continue an incomplete one (403)
    const [wf] = await addDoc(b, 'w', [f.path]);
    expect((await ts.call('POST', `/v1/share/vaults/${id}/blobs/put`, { blob: wf.blob, index: 0, data: 'eA==', last: true }, { token: a.token })).status).toBe(409);
    expect((await ts.call('POST', `/v1/share/vaults/${id}/blobs/put`, { blob, index: 0, data: 'eA==', last: false }, { token: b.token })).status).toBe(200);
    expect((await ts.call('POST', `/v1/share/vaults/${id}/blobs/put`, { blob, index: 1, data: 'eA==', last: true }, { token: a.token })).status).toBe(403);
    // a server that accepts the reader's file anyway: the record naming it is signed by a reader, so every member refuses the vault
    const cv = await keysOf(c);
    const rb = toHex(randomBytes(16));
    const sealed = sealAs(cv.keys[1], id, 2, rb, Buffer.from('READER-INJECTED-BYTES'));
    await ts.store.db.insertInto('share_blobs').values({ vault_id: id, blob_id: rb, writer_id: c.accountId, chunks: 1, complete: 1, updated_at: 0 }).execute();
    await ts.store.db.insertInto('share_blob_chunks').values({ vault_id: id, blob_id: rb, idx: 0, body: toBase64(sealed) }).execute();
    const { createHash } = await import('node:crypto');
    const file: SharedFile = { blob: rb, name: 'r.txt', type: 'text/plain', size: 21, epoch: 2, sha256: createHash('sha256').update(sealed).digest('hex') };
    await inject(ts, id, c.accountKey, c.email, cv.keys[1], 2, utf8.encode(JSON.stringify({ v: 3, entry: doc('reader-doc'), files: [file] })));
    for (const p of [a, b, c]) {
      const x = await run(p, (y) => y.openForUse('Team')).then(() => null, (y) => y);
      expect((x as KpmError).exitCode).toBe(EXIT.corrupt);
      expect((x as KpmError).message).toMatch(/read-only member/);
    }
  });

  it('a record with malformed files signed by a legitimate writer (an epoch above the record\'s, a key, a bad hash, two files of one name): exit 8 for every member', async () => {
    const good: SharedFile = { blob: toHex(randomBytes(16)), name: 'a.txt', type: 'text/plain', size: 3, epoch: 2, sha256: '0'.repeat(64) };
    const bad: unknown[] = [
      [{ ...good, epoch: 3 }],
      [{ ...good, key: toBase64(randomBytes(32)) }],
      [{ ...good, sha256: 'xyz' }],
      [good, { ...good, blob: toHex(randomBytes(16)), name: 'A.TXT' }],
      [],
    ];
    for (const files of bad) {
      const { ts, a, b, id } = await world(engine);
      const bv = await keysOf(b);
      await inject(ts, id, b.accountKey, b.email, bv.keys[1], 2, utf8.encode(JSON.stringify({ v: 3, entry: doc('bad'), files })));
      const x = await run(a, (y) => y.openForUse('Team')).then(() => null, (y) => y);
      expect((x as KpmError).exitCode, JSON.stringify(files)).toBe(EXIT.corrupt);
    }
    // an own vault's file (with a key) in the entry is refused before anything is sent (exit 2)
    const { b } = await world(engine);
    const e = await run(b, (x) => x.write('Team', { ...doc('own'), files: [{ blob: good.blob, key: toBase64(randomBytes(32)), name: 'a', type: 't', size: 1 }] })).then(() => null, (y) => y);
    expect((e as KpmError).exitCode).toBe(EXIT.usage);
  });

  it('a revoke between sending a file and writing its record: the record is refused here (exit 7, nothing written), the command runs again under the new epoch; an entry without files is sealed again under it', async () => {
    const { a, b } = await world(engine);
    const f = fileOf('race.txt', 500, 'RACE-FILE-BYTES');
    const v = await run(b, (x) => x.openForUse('Team'));
    const sf = await run(b, (x) => x.uploadFile(v, blobDir(b), f.path));
    const vid = v.id;
    await run(a, async (x) => x.revoke('Team', (await x.openForUse('Team')).latest.members.find((m) => m.role === 'reader')!.email));
    const head = (await run(b, (x) => x.openForUse('Team'))).head;
    const e = await run(b, (x) => x.writeEntry(v, doc('race'), { files: [sf] })).then(() => null, (y) => y);
    expect((e as KpmError).exitCode).toBe(EXIT.conflict);
    expect((e as KpmError).message).toMatch(/changed \(epoch 3\) while "race.txt" was sent under epoch 2: nothing was written/);
    const after = await run(b, (x) => x.openForUse('Team'));
    expect(after.head).toBe(head);
    expect(after.id).toBe(vid);
    const [again] = await addDoc(b, 'race', [f.path]);
    expect(again.epoch).toBe(3);
    // an entry without files written from the vault as opened before the revoke: the server answers 409, the writer seals it again under epoch 3
    const r = await run(b, (x) => x.writeEntry(v, { type: 'note', name: 'late', fields: { notes: 'n' }, custom: [], tags: [], created: T, updated: T }));
    expect(r.vault.latest.epoch).toBe(3);
    expect(ShareClient.find(await run(a, (x) => x.openForUse('Team')), 'late')).toBeDefined();
  });

  it('an edit or deletion of a shared document keeps its files (the deletion carries them as they were)', async () => {
    const { a, b, c } = await world(engine);
    const f = fileOf('keep.txt', 999, 'KEEP-FILE-BYTES');
    const [sf] = await addDoc(b, 'keep', [f.path]);
    await run(a, async (x) => {
      const v = await x.openForUse('Team');
      const [eid, e] = ShareClient.find(v, 'keep')!;
      await x.writeEntry(v, { ...e, fields: { notes: 'edited' } }, { entryId: eid });
    });
    const v = await keysOf(c);
    const [eid, e] = ShareClient.find(v, 'keep')!;
    expect(e.fields.notes).toBe('edited');
    expect(v.entries.get(eid)!.files).toEqual([sf]);
    await run(b, (x) => x.write('Team', { name: 'keep' }, true));
    const after = await keysOf(c);
    expect(after.entries.get(eid)!.deleted).toBe(true);
    expect(after.entries.get(eid)!.files).toEqual([sf]);
  });
});
