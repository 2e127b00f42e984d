// Files through service tokens (src/cli/tokenfiles.ts; docs/SECURITY.md "Service tokens": files).
// An own vault's file: the sealed blob fetched in transfer chunks is held to the size the entry
// declares (more bytes, more chunks, fewer bytes, a missing blob: exit 8, the temporary file gone),
// then every AEAD chunk to the entry's key. A shared vault's file through ShareTokenVault and the
// in-process server's token routes: read as a member reads it, the server's route serves the
// token's vault's files only, and a tampered blob is exit 8 before anything is decrypted.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, world, type Person, makeShareToken } from '../helpers/share.js';
import type { TestServer } from '../helpers/server.js';
import { KpmError, EXIT } from '../../src/core/errors.js';
import { fromHex, toBase64 } from '../../src/crypto/bytes.js';
import type { SharedFile } from '../../src/share/blobs.js';
import {  ShareTokenVault } from '../../src/share/tokenvault.js';
import {  tokenAuthHeader, tokenKeys, type ServiceToken } from '../../src/sync/tokenvault.js';
import { downloadOwnFile, TokenFiles, type TokenBlobCall } from '../../src/cli/tokenfiles.js';
import { decryptFramedToFile, encryptBytes, ownFrame, checkStoredFile, verifyFramed } from '../../src/vault/blobs.js';
import { BLOB_CHUNK_BYTES } from '../../src/protocol/schemas.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import type { SharePullT, TokenShareT } from '../../src/protocol/share.js';

const tmp = () => fs.mkdtempSync(join(os.tmpdir(), 'kpm-tokenfiles-'));
const T = '2026-12-01T10:00:00.000Z';
const doc = (name: string): EntryPayload => ({ type: 'document', name, fields: {}, custom: [], tags: [], created: T, updated: T });

async function failure(p: Promise<unknown>): Promise<KpmError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KpmError) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

/** A server double for one blob: its transfer chunks, `edit` rewriting the answers. */
function blobServer(blob: Uint8Array, edit: (index: number, a: { data: string; last: boolean }) => { data: string; last: boolean } = (_i, a) => a): TokenBlobCall {
  const n = Math.max(1, Math.ceil(blob.length / BLOB_CHUNK_BYTES));
  return async (_id, index) => {
    if (index >= n) throw Object.assign(new KpmError('no such chunk', EXIT.notFound), { code: 'not_found' });
    const data = blob.subarray(index * BLOB_CHUNK_BYTES, (index + 1) * BLOB_CHUNK_BYTES);
    return edit(index, { data: toBase64(data), last: index === n - 1 });
  };
}

describe("an own vault's file through a token: the sealed blob against its entry", () => {
  const plain = Buffer.alloc(BLOB_CHUNK_BYTES + 100_000, 7); // two transfer chunks
  for (let i = 0; i < plain.length; i += 4096) plain.writeUInt32BE(i, i);
  const { blob, file } = encryptBytes(plain, 'bundle.p12');

  it('the file as sent: fetched, checked and decrypted byte for byte', async () => {
    const dir = tmp();
    const got = await downloadOwnFile(blobServer(blob), dir, file);
    const dest = join(tmp(), 'out.p12');
    const key = checkStoredFile(file);
    try {
      await decryptFramedToFile(got.fd, key, ownFrame(fromHex(file.blob)), file, dest);
    } finally {
      got.remove();
    }
    expect(fs.readFileSync(dest).equals(plain)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('more bytes, more chunks, fewer bytes or a missing blob: exit 8, no temporary file left', async () => {
    const cases: [string, TokenBlobCall, RegExp][] = [
      ['padded', blobServer(blob, (i, a) => (i === 1 ? { ...a, data: toBase64(Buffer.concat([Buffer.from(a.data, 'base64'), Buffer.alloc(1)])) } : a)), /more of file "bundle\.p12" than its entry declares/],
      ['a chunk more', blobServer(blob, (_i, a) => ({ ...a, last: false })), /more chunks of file "bundle\.p12" than its entry declares \(2\)/],
      ['truncated', blobServer(blob, (i, a) => (i === 0 ? { ...a, last: true } : a)), /the server sent 4194304 bytes of file "bundle\.p12"/],
      ['missing', async () => Promise.reject(Object.assign(new KpmError('gone', EXIT.notFound), { code: 'not_found' })), /does not have \(all of\) the encrypted data of file "bundle\.p12"/],
    ];
    for (const [name, call, msg] of cases) {
      const dir = tmp();
      const e = await failure(downloadOwnFile(call, dir, file));
      expect(e.exitCode, name).toBe(EXIT.corrupt);
      expect(e.message, name).toMatch(msg);
      expect(fs.readdirSync(dir), name).toEqual([]);
    }
  });

  it('a chunk swapped, two transfer chunks reordered, another file of the same size: the sizes hold, the AEAD does not (exit 8)', async () => {
    const other = encryptBytes(plain, 'bundle.p12'); // the same size and name, another key and blob id
    const half = (i: number) => toBase64(blob.subarray(i * BLOB_CHUNK_BYTES, (i + 1) * BLOB_CHUNK_BYTES));
    const cases: [string, TokenBlobCall, RegExp][] = [
      // (byte 5 of the second transfer chunk is in AEAD chunk 63, which spans the 4 MiB boundary)
      ['a bit flipped', blobServer(blob, (i, a) => (i === 1 ? { ...a, data: toBase64(Buffer.from(Buffer.from(a.data, 'base64').map((b, j) => (j === 5 ? b ^ 1 : b)))) } : a)), /chunk 63 fails to authenticate/],
      ['another file', blobServer(other.blob), /bad header/],
      ['another file under the right header', blobServer(Buffer.concat([blob.subarray(0, 26), other.blob.subarray(26)])), /chunk 0 fails to authenticate/],
      ['reordered', blobServer(Buffer.concat([blob.subarray(BLOB_CHUNK_BYTES), blob.subarray(0, BLOB_CHUNK_BYTES)]), (i, a) => ({ ...a, last: i === 1 })), /bad header|fails to authenticate/],
      ['the first replayed', blobServer(blob, (i, a) => (i === 1 ? { data: half(0).slice(0, a.data.length), last: true } : a)), /fails to authenticate/],
    ];
    for (const [name, call, msg] of cases) {
      const dir = tmp();
      const got = await downloadOwnFile(call, dir, file); // every size holds
      const key = checkStoredFile(file);
      try {
        const e = await failure(verifyFramed(got.fd, key, ownFrame(fromHex(file.blob)), file));
        expect(e.exitCode, name).toBe(EXIT.corrupt);
        expect(e.message, name).toMatch(msg);
      } finally {
        got.remove();
      }
      expect(fs.readdirSync(dir), name).toEqual([]);
    }
  });
});


/** The token routes of the in-process server, as tokenapi.ts calls them; `edit` rewrites blob answers (a malicious server). */
function tokenCalls(ts: TestServer, t: ServiceToken, edit: (a: { data: string; last: boolean }) => { data: string; last: boolean } = (a) => a) {
  const headers = { authorization: tokenAuthHeader(t.id, tokenKeys(t).authKey) };
  const ok = <X>(r: { status: number; body: unknown }): X => {
    if (r.status === 200) return r.body as X;
    const b = r.body as { error: string; message: string };
    throw Object.assign(new KpmError(`HTTP ${r.status}: ${b.message}`, r.status === 404 ? EXIT.notFound : EXIT.error), { code: b.error });
  };
  return {
    transport: { vault: async () => ok<TokenShareT>(await ts.call('GET', '/v1/token/share', undefined, { headers })), pull: async (after: number) => ok<SharePullT>(await ts.call('POST', '/v1/token/share/pull', { after }, { headers })) },
    blob: (async (blob, index) => edit(ok(await ts.call('POST', '/v1/token/share/blobs/get', { blob, index }, { headers })))) as TokenBlobCall,
    raw: (path: string, body: unknown) => ts.call('POST', path, body, { headers }),
  };
}

async function addDoc(p: Person, vault: string, name: string, bytes: Buffer): Promise<SharedFile> {
  const path = join(tmp(), `${name}.txt`);
  fs.writeFileSync(path, bytes);
  return run(p, async (x) => {
    const v = await x.openForUse(vault);
    const f = await x.uploadFile(v, join(p.paths.data, 'blobs'), path);
    await x.writeEntry(v, doc(name), { files: [f] });
    return f;
  });
}

describe("a shared vault's file through a token (in-process server)", () => {
  it("reads a writer's file byte for byte; the route serves this vault's files only; a tampered blob is exit 8 before anything is decrypted", async () => {
    const { ts, b, c } = await world();
    const bytes = Buffer.from('TEAM-KUBECONFIG\n'.repeat(9000));
    const f = await addDoc(b, 'Team', 'kubeconfig', bytes);
    const t = await makeShareToken(ts, c);
    const calls = tokenCalls(ts, t);
    const v = await ShareTokenVault.load(calls.transport, t.id, tokenKeys(t).wrapKey);
    const tf = new TokenFiles(v, calls.blob);
    const found = tf.find('kubeconfig');
    expect(found.files).toEqual([{ name: 'kubeconfig.txt', type: 'text/plain', size: bytes.length }]);
    expect(tf.all({ type: 'document' }).map((d) => d.view.payload.name)).toEqual(['kubeconfig']);
    const dir = tmp();
    const got = await tf.fetch(found.files[0], dir);
    const dest = join(tmp(), 'kube');
    try {
      await decryptFramedToFile(got.fd, got.key, got.frame, got.file, dest);
    } finally {
      got.remove();
    }
    expect(fs.readFileSync(dest).equals(bytes)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
    // the token route: this vault's blob, not the own-vault route, not a made-up blob
    expect((await calls.raw('/v1/token/share/blobs/get', { blob: f.blob, index: 0 })).status).toBe(200);
    expect((await calls.raw('/v1/token/blobs/get', { blob: f.blob, index: 0 })).status).toBe(404);
    expect((await calls.raw('/v1/token/share/blobs/get', { blob: '0'.repeat(32), index: 0 })).status).toBe(404);
    // a malicious server: a bit flipped in the sealed blob (the SHA-256 of the signed record catches it)
    const bad = tokenCalls(ts, t, (a) => ({ ...a, data: toBase64(Buffer.from(Buffer.from(a.data, 'base64').map((x, j) => (j === 100 ? x ^ 1 : x)))) }));
    const tf2 = new TokenFiles(v, bad.blob);
    const dir2 = tmp();
    const e = await failure(tf2.fetch(tf2.find('kubeconfig').files[0], dir2));
    expect(e.exitCode).toBe(EXIT.corrupt);
    expect(e.message).toMatch(/not the one its writer signed/);
    expect(fs.readdirSync(dir2)).toEqual([]);
    // a file find() did not return is not fetched
    await expect(tf.fetch({ name: 'kubeconfig.txt', type: 'text/plain', size: bytes.length }, tmp())).rejects.toThrow(/not a file of this service token's vault/);
    v.close();
  });

  it("another shared vault's file is 404 for the token; after its creator leaves, 403", async () => {
    const { ts, a, c } = await world();
    const t = await makeShareToken(ts, c);
    const calls = tokenCalls(ts, t);
    // alice's second shared vault Ops, carol a reader of it too: its file is never served to Team's token
    await run(a, (x) => x.share('Ops', c.email, 'reader', false));
    await run(c, (x) => x.accept('Ops'));
    const ops = await addDoc(a, 'Ops', 'runbook', Buffer.from('OPS\n'.repeat(100)));
    expect((await calls.raw('/v1/token/share/blobs/get', { blob: ops.blob, index: 0 })).status).toBe(404);
    const f = await addDoc(a, 'Team', 'plan', Buffer.from('PLAN\n'.repeat(100)));
    expect((await calls.raw('/v1/token/share/blobs/get', { blob: f.blob, index: 0 })).status).toBe(200);
    await run(c, (x) => x.leave('Team'));
    const r = await calls.raw('/v1/token/share/blobs/get', { blob: f.blob, index: 0 });
    expect(r.status).toBe(403);
  });
});
