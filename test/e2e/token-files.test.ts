// Files through service tokens (README "Service tokens", docs/SECURITY.md "Service tokens": files),
// built binaries against a real kpm-server on loopback. An own vault's token and a shared vault's
// token read documents and attachments (`kpm doc list`, `kpm doc get`, `kpm attachments`) with the
// output and exit codes of a device; writes are refused (exit 9); a server (a proxy in front of the
// real one) that swaps, truncates, reorders or replays a file's chunks, or sends another file's or
// another vault's, is caught (exit 8) with nothing written; a revoked token is exit 4.
import SQLite from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initHome, kpm as runKpm, makeHome, MASTER, type RunResult } from '../helpers/kpm.js';
import { registerAccount, startServer, type RunningServer } from '../helpers/server.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { shareTeam } from '../helpers/shareteam.js';
import { parseServiceToken, tokenAuthHeader, tokenKeys } from '../../src/sync/tokenvault.js';

const tmp = () => fs.mkdtempSync(join(os.tmpdir(), 'kpm-tokenfiles-e2e-'));
const TOKEN_RE = /^kpm[ts]_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/;

/** A text file `n` bytes long, of lines holding `needle` (so stdout, a string, compares byte for byte). */
function fileWith(dir: string, name: string, needle: string, n: number): { path: string; bytes: Buffer } {
  const bytes = Buffer.alloc(n, 0x2e);
  for (let i = 0; i + needle.length + 1 <= n; i += needle.length + 1) bytes.write(`${needle}\n`, i);
  const path = join(dir, name);
  fs.writeFileSync(path, bytes);
  return { path, bytes };
}

/** The answers of one token blob route rewritten by `edit` (index → new answer), through the proxy. */
function tamperBlobs(proxy: Proxy, route: RegExp, edit: (index: number, answer: { data: string; last: boolean }, blob: string) => { data: string; last: boolean }): void {
  let n = 0;
  proxy.rewrite = (p, body) => {
    if (!route.test(p)) return body;
    const req = JSON.parse(proxy.requests[proxy.requests.length - 1]?.toString('utf8') || '{}') as { blob?: string; index?: number };
    const j = JSON.parse(body.toString('utf8')) as { data: string; last: boolean };
    if (typeof j.data !== 'string') return body;
    return Buffer.from(JSON.stringify(edit(req.index ?? n++, j, req.blob ?? '')));
  };
}

const flip = (b64: string, at: number) => {
  const b = Buffer.from(b64, 'base64');
  b[at % b.length] ^= 1;
  return b.toString('base64');
};

/** An answer of chunk `index` of `blob` as the real server sends it, straight from its database (a sealed chunk the server holds). */
function chunkFromDb(dataDir: string, table: 'sync_blob_chunks' | 'share_blob_chunks', where: string, ...args: unknown[]): { blob: string; body: string } {
  const d = new SQLite(join(dataDir, 'kpm-server.sqlite'), { readonly: true });
  try {
    const row = d.prepare(`SELECT blob_id, body FROM ${table} WHERE ${where}`).get(...args) as { blob_id: string; body: string } | undefined;
    if (!row) throw new Error(`no chunk where ${where}`);
    return { blob: row.blob_id, body: row.body };
  } finally {
    d.close();
  }
}

describe("an own vault's service token reads its files (real server)", () => {
  const EMAIL = 'files-ci@example.org';
  const ACCOUNT = 'TokenFiles7Password';
  let srv: RunningServer;
  let proxy: Proxy;
  let home: string;
  let token = '';
  const src = { dir: '' };
  const f = {} as Record<'kube' | 'tls' | 'ca' | 'big' | 'passport', { path: string; bytes: Buffer }>;
  const dev = (args: string[], code = 0, input?: string): Promise<RunResult> => runKpm(home, args, code, { input, env: { KPM_SERVER: proxy.url, KPM_MASTER_PASSWORD: MASTER } });
  /** a CI machine: nothing of kpm but KPM_TOKEN and KPM_SERVER (and its own token cache) */
  const machine = makeHome();
  const ci = (args: string[], code = 0, tok = token, env: Record<string, string> = {}): Promise<RunResult> =>
    runKpm(machine, args, code, { env: { KPM_HOME: join(machine, 'absent'), KPM_TOKEN: tok, KPM_SERVER: proxy.url, KPM_CACHE_DIR: join(machine, 'cache'), ...env } });

  beforeAll(async () => {
    srv = await startServer();
    proxy = await startProxy(srv.url);
    home = initHome();
    src.dir = tmp();
    f.kube = fileWith(src.dir, 'kubeconfig.yaml', 'KUBE-NEEDLE-4c1d', 3_000);
    f.tls = fileWith(src.dir, 'tls.key', 'TLS-NEEDLE-77ab', 70_000); // two AEAD chunks
    f.ca = fileWith(src.dir, 'ca.pem', 'CA-NEEDLE-0e9f', 1_500);
    f.big = fileWith(src.dir, 'bundle.p12', 'BIG-NEEDLE-5a5a', 4 * 1024 * 1024 + 300_000); // two transfer chunks
    f.passport = fileWith(src.dir, 'passport.txt', 'PASSPORT-NEEDLE-1f2e', 1_500); // in Personal (another vault), as large as ca.pem
    await registerAccount(srv, EMAIL, ACCOUNT, 'DE');
    await dev(['login', EMAIL, '--password-stdin'], 0, ACCOUNT + '\n');
    await dev(['vault', 'create', 'CI']);
    await dev(['doc', 'add', 'kubeconfig', f.kube.path, '--vault', 'CI']);
    await dev(['doc', 'add', 'bundle', f.big.path, '--vault', 'CI']);
    await dev(['add', 'deploy', '--vault', 'CI', '--username', 'bot', '--password-stdin'], 0, 'deploy-secret-1\n');
    await dev(['attach', 'deploy', f.tls.path, f.ca.path, '--vault', 'CI']);
    await dev(['doc', 'add', 'passport', f.passport.path]);
    await dev(['sync']);
    token = (await dev(['token', 'create', '--vault', 'CI', '--read-only', '--expires', '30d', '--name', 'files'])).stdout.trim();
    expect(token).toMatch(TOKEN_RE);
  }, 300_000);

  afterEach(() => {
    proxy.rewrite = undefined;
  });

  it('doc list, attachments, doc get (-o FILE, -o DIR, -o -, stdout redirected): the output and files of a device', async () => {
    const list = JSON.parse((await ci(['doc', 'list', '--all', '--json'])).stdout) as { name: string; vault: string; files: { name: string; size: number; type: string }[] }[];
    expect(list.map((d) => [d.name, d.vault, d.files.map((x) => [x.name, x.size])])).toEqual([
      ['bundle', 'CI', [['bundle.p12', f.big.bytes.length]]],
      ['deploy', 'CI', [['tls.key', 70_000], ['ca.pem', 1_500]]],
      ['kubeconfig', 'CI', [['kubeconfig.yaml', 3_000]]],
    ]);
    expect(JSON.stringify(list)).not.toMatch(/"key"|"blob"/); // never a file key or blob id
    // the device prints the same (the Personal document is not the token's)
    const device = (await dev(['doc', 'list', '--vault', 'CI'])).stdout;
    expect((await ci(['doc', 'list'])).stdout).toBe(device);
    expect(device).toMatch(/kubeconfig {2}\[CI\]\n {2}kubeconfig\.yaml/);
    expect((await ci(['attachments', 'deploy'])).stdout).toBe((await dev(['attachments', 'deploy', '--vault', 'CI'])).stdout);
    expect(JSON.parse((await ci(['attachments', 'deploy', '--json'])).stdout)).toEqual([
      { name: 'tls.key', type: 'application/octet-stream', size: 70_000 },
      { name: 'ca.pem', type: 'application/x-pem-file', size: 1_500 },
    ]);
    expect((await ci(['attachments', 'kubeconfig', '--vault', 'CI', '--json'])).stdout).toBe((await dev(['attachments', 'kubeconfig', '--json'])).stdout);
    const out = tmp();
    const r = await ci(['doc', 'get', 'kubeconfig', '-o', join(out, 'kube')]);
    expect(r.stderr).toMatch(/Wrote .*kube \(2\.9 KiB\)\./);
    expect(fs.readFileSync(join(out, 'kube')).equals(f.kube.bytes)).toBe(true);
    expect((fs.statSync(join(out, 'kube')).mode & 0o777).toString(8)).toBe('600');
    await ci(['doc', 'get', 'deploy', '-o', join(out, 'd') + '/']); // both attachments into a directory
    expect(fs.readFileSync(join(out, 'd', 'tls.key')).equals(f.tls.bytes)).toBe(true);
    expect(fs.readFileSync(join(out, 'd', 'ca.pem')).equals(f.ca.bytes)).toBe(true);
    await ci(['doc', 'get', 'bundle', '-o', join(out, 'b.p12')]);
    expect(fs.readFileSync(join(out, 'b.p12')).equals(f.big.bytes)).toBe(true);
    expect((await ci(['doc', 'get', 'deploy', '--file', 'ca.pem', '-o', '-'])).stdout).toBe(f.ca.bytes.toString('utf8'));
    expect((await ci(['doc', 'get', 'kubeconfig'])).stdout).toBe(f.kube.bytes.toString('utf8')); // stdout is not a terminal: stdout
    // the device's rules: an existing file is not overwritten without --force (exit 2); stdout takes one file
    expect((await ci(['doc', 'get', 'kubeconfig', '-o', join(out, 'kube')], 2)).stderr).toMatch(/already exists/);
    await ci(['doc', 'get', 'kubeconfig', '-o', join(out, 'kube'), '--force']);
    expect((await ci(['doc', 'get', 'deploy', '-o', '-'], 2)).stderr).toMatch(/stdout takes one/);
    expect((await ci(['doc', 'get', 'deploy', '--file', 'nope.txt', '-o', '-'], 3)).stderr).toMatch(/no file "nope\.txt"/);
    expect((await ci(['doc', 'get', 'nothing-here', '-o', '-'], 3)).stderr).toMatch(/no entry named "nothing-here"/);
    // nothing was left behind: no KPM_HOME, no temporary file
    expect(fs.existsSync(join(machine, 'absent'))).toBe(false);
    expect(fs.readdirSync(out).filter((x) => x.includes('kpm-tmp'))).toEqual([]);
  });

  it('scoped and read-only: another vault and every file write are refused (exit 9)', async () => {
    expect((await ci(['doc', 'get', 'passport', '--vault', 'Personal', '-o', '-'], 9)).stderr).toMatch(/can only read vault "CI"/);
    await ci(['doc', 'list', '--vault', 'Personal'], 9);
    await ci(['attachments', 'passport', '--vault', 'Personal'], 9);
    await ci(['doc', 'get', 'passport', '-o', '-'], 3); // not in its vault
    expect((await ci(['doc', 'add', 'evil', f.ca.path], 9)).stderr).toMatch(/service token .*`kpm doc add` is not allowed/);
    await ci(['doc', 'rm', 'kubeconfig', '--yes'], 9);
    await ci(['attach', 'deploy', f.ca.path], 9);
    // the server: an own vault's token has no shared-vault blob route, a device route refuses it
    const t = parseServiceToken(token);
    const authorization = tokenAuthHeader(t.id, tokenKeys(t).authKey);
    const { blob } = chunkFromDb(srv.dataDir, 'sync_blob_chunks', 'idx = 0');
    const post = (path: string, body: unknown) => fetch(`${srv.url}${path}`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/v1/token/share/blobs/get', { blob, index: 0 })).status).toBe(404);
    expect((await post(`/v1/sync/blobs/${blob}/get`, { index: 0 })).status).toBe(403);
  });

  it('a server that swaps, truncates, reorders or replays chunks, or sends another file or another vault\'s file, is caught (exit 8): nothing written', async () => {
    const sealed1500 = Math.ceil((1_500 + 26 + 40) / 3) * 4; // ca.pem's and passport.txt's chunk, base64
    const kube = chunkFromDb(srv.dataDir, 'sync_blob_chunks', 'length(body) = ?', Math.ceil((3_000 + 26 + 40) / 3) * 4);
    const big0 = chunkFromDb(srv.dataDir, 'sync_blob_chunks', 'idx = 0 AND length(body) > 5000000');
    const big1 = chunkFromDb(srv.dataDir, 'sync_blob_chunks', 'idx = 1 AND blob_id = ?', big0.blob);
    /** AEAD chunks `a` and `b` (0-based, full ones) of the first transfer chunk: swapped, or `b` replaced by `a` */
    const aead = (data: string, a: number, b: number, swap: boolean) => {
      const buf = Buffer.from(data, 'base64');
      const at = (i: number) => 26 + i * (65536 + 40);
      const ca = Buffer.from(buf.subarray(at(a), at(a + 1)));
      const cb = Buffer.from(buf.subarray(at(b), at(b + 1)));
      if (swap) ca.copy(buf, at(b)), cb.copy(buf, at(a));
      else ca.copy(buf, at(b));
      return buf.toString('base64');
    };
    const route = /\/v1\/token\/blobs\/get/;
    const attack = async (name: string, args: string[], edit: Parameters<typeof tamperBlobs>[2], msg: RegExp) => {
      const out = tmp();
      tamperBlobs(proxy, route, edit);
      for (const dest of [join(out, 'x'), '-']) {
        const r = await ci(['doc', 'get', ...args, '-o', dest], 8);
        expect(r.stdout, name).toBe('');
        expect(r.stderr, name).toMatch(msg);
        expect(r.stderr, name).not.toMatch(/NEEDLE/);
      }
      expect(fs.readdirSync(out), name).toEqual([]); // not the file, no temporary file either
      proxy.rewrite = undefined;
    };
    await attack('a flipped bit', ['kubeconfig'], (_i, a) => ({ ...a, data: flip(a.data, 2000) }), /file "kubeconfig\.yaml" is corrupt or has been tampered with \(chunk 0 fails to authenticate\)/);
    await attack('truncated', ['kubeconfig'], (_i, a) => ({ data: Buffer.from(a.data, 'base64').subarray(0, 2000).toString('base64'), last: true }), /tampered.*kubeconfig\.yaml/);
    await attack('truncated by a whole AEAD chunk', ['deploy', '--file', 'tls.key'], (_i, a) => ({ data: Buffer.from(a.data, 'base64').subarray(0, 26 + 65536 + 40).toString('base64'), last: true }), /tampered/);
    await attack('padded', ['kubeconfig'], (_i, a) => ({ data: Buffer.concat([Buffer.from(a.data, 'base64'), Buffer.alloc(10)]).toString('base64'), last: true }), /more of file "kubeconfig\.yaml" than its entry declares/);
    await attack('another file of the vault', ['deploy', '--file', 'tls.key'], () => ({ data: kube.body, last: true }), /the server sent \d+ bytes of file "tls\.key"/);
    // passport.txt, of vault Personal, is as large as ca.pem: the sizes hold, its key and blob id do not
    await attack('a file of another vault', ['deploy', '--file', 'ca.pem'], (_i, _a, blob) => ({ data: chunkFromDb(srv.dataDir, 'sync_blob_chunks', 'length(body) = ? AND blob_id != ?', sealed1500, blob).body, last: true }), /file "ca\.pem" is corrupt or has been tampered with/);
    await attack('two transfer chunks reordered', ['bundle'], (i) => (i === 0 ? { data: big1.body, last: false } : { data: big0.body, last: true }), /file "bundle\.p12" is corrupt or has been tampered with/);
    await attack('the first transfer chunk replayed as the second', ['bundle'], (i, a) => (i === 1 ? { data: big0.body, last: true } : a), /more of file "bundle\.p12" than its entry declares/);
    await attack('two AEAD chunks swapped', ['bundle'], (i, a) => (i === 0 ? { ...a, data: aead(a.data, 1, 2, true) } : a), /bundle\.p12.*chunk 1 fails to authenticate/);
    await attack('an AEAD chunk replayed', ['bundle'], (i, a) => (i === 0 ? { ...a, data: aead(a.data, 1, 2, false) } : a), /bundle\.p12.*chunk 2 fails to authenticate/);
    // several files (tls.key, then ca.pem): every one is checked before the first is written, so a
    // tampered second file leaves not even the first behind
    const out = tmp();
    let n = 0;
    tamperBlobs(proxy, route, (_i, a) => (++n === 2 ? { ...a, data: flip(a.data, 100) } : a));
    expect((await ci(['doc', 'get', 'deploy', '-o', out + '/'], 8)).stderr).toMatch(/file "ca\.pem" is corrupt or has been tampered with/);
    expect(n).toBe(2);
    expect(fs.readdirSync(out)).toEqual([]);
    proxy.rewrite = undefined;
    // and the untouched server serves every file again
    expect((await ci(['doc', 'get', 'kubeconfig', '-o', '-'])).stdout).toBe(f.kube.bytes.toString('utf8'));
  });

  it('a file the server does not have is exit 8; a revoked token is exit 4 and writes nothing', async () => {
    // the server withholds the file (its blob incomplete: 404)
    const kube = chunkFromDb(srv.dataDir, 'sync_blob_chunks', 'length(body) = ?', Math.ceil((3_000 + 26 + 40) / 3) * 4);
    const d = new SQLite(join(srv.dataDir, 'kpm-server.sqlite'));
    d.prepare('UPDATE sync_blobs SET complete = 0 WHERE blob_id = ?').run(kube.blob);
    try {
      const r = await ci(['doc', 'get', 'kubeconfig', '-o', '-'], 8);
      expect(r.stderr).toMatch(/the server does not have \(all of\) the encrypted data of file "kubeconfig\.yaml"/);
      expect(r.stdout).toBe('');
    } finally {
      d.prepare('UPDATE sync_blobs SET complete = 1 WHERE blob_id = ?').run(kube.blob);
      d.close();
    }
    const fresh = (await dev(['token', 'create', '--vault', 'CI', '--expires', '1d', '--name', 'files-2'])).stdout.trim();
    expect((await ci(['doc', 'get', 'kubeconfig', '-o', '-'], 0, fresh)).stdout).toBe(f.kube.bytes.toString('utf8'));
    await dev(['token', 'revoke', parseServiceToken(fresh).id.slice(0, 10)]);
    const out = tmp();
    for (const args of [['doc', 'get', 'kubeconfig', '-o', join(out, 'k')], ['doc', 'list'], ['attachments', 'deploy']]) {
      const r = await ci(args, 4, fresh);
      expect(r.stderr).toMatch(/the service token is revoked or expired/);
      expect(r.stdout).toBe('');
    }
    expect(fs.readdirSync(out)).toEqual([]);
  });
});

describe("a shared vault's service token reads its files (real server)", () => {
  const team = shareTeam('tokenfiles.example.org');
  const { kpm } = team;
  const src = tmp();
  const plan = fileWith(src, 'plan.pdf', 'PLAN-NEEDLE-8d2c', 300_000);
  const kube = fileWith(src, 'kubeconfig', 'TEAMKUBE-NEEDLE-3e1f', 4_000);
  const ops = fileWith(src, 'ops.txt', 'OPS-NEEDLE-6b6b', 2_000);
  const later = fileWith(src, 'later.txt', 'LATER-NEEDLE-0c0c', 1_000);
  let proxy: Proxy;
  let token = '';
  let relToken = '';
  const machine = makeHome();
  const ci = (args: string[], code = 0, tok = token): Promise<RunResult> =>
    runKpm(machine, args, code, { env: { KPM_HOME: join(machine, 'absent'), KPM_TOKEN: tok, KPM_SERVER: proxy.url, KPM_CACHE_DIR: join(machine, 'cache') } });

  beforeAll(async () => {
    await team.setUp();
    await team.shareWithBobAndCarol('Team');
    await kpm('a1', ['doc', 'add', 'plan', plan.path, '--vault', 'Team']);
    await kpm('b1', ['add', 'cluster', '--vault', 'Team', '--username', 'ops', '--password-stdin'], 0, 'Cluster-Pw-9x\n');
    await kpm('b1', ['attach', 'cluster', kube.path, '--vault', 'Team']);
    // another shared vault of alice's, with a file: the Team token must never get it
    await kpm('a1', ['share', 'Ops', '--with', team.email('carol'), '--read-only']);
    await kpm('c1', ['share', 'accept', 'Ops']);
    await kpm('a1', ['doc', 'add', 'runbook', ops.path, '--vault', 'Ops']);
    // vault Rel: bob writes, carol reads; the revoke test removes bob from it
    await team.shareWithBobAndCarol('Rel');
    await kpm('b1', ['doc', 'add', 'before', plan.path, '--vault', 'Rel']);
    relToken = (await kpm('c1', ['token', 'create', '--vault', 'Rel', '--expires', '30d', '--name', 'rel-ci'])).stdout.trim();
    // carol, a reader, makes the team's CI token
    token = (await kpm('c1', ['token', 'create', '--vault', 'Team', '--expires', '30d', '--name', 'team-ci'])).stdout.trim();
    expect(token).toMatch(/^kpms_/);
    proxy = await startProxy(team.srv.url);
  }, 300_000);

  afterEach(() => {
    proxy.rewrite = undefined;
  });

  it('doc list, attachments, doc get of a shared vault: the output and files a member gets; writes refused (exit 9)', async () => {
    // what the member's device lists (a device lists a shared vault's entries in log order, the token by name)
    const byName = (text: string) => (JSON.parse(text) as { name: string; id: string; version: number }[]).map(({ id: _i, version: _v, ...d }) => d).sort((x, y) => x.name.localeCompare(y.name));
    expect(byName((await ci(['doc', 'list', '--all', '--json'])).stdout)).toEqual(byName((await kpm('c1', ['doc', 'list', '--all', '--vault', 'Team', '--json'])).stdout));
    expect((await ci(['doc', 'list'])).stdout).toBe((await kpm('c1', ['doc', 'list', '--vault', 'Team'])).stdout);
    expect(JSON.parse((await ci(['doc', 'list', '--json'])).stdout).map((d: { name: string; vault: string }) => [d.name, d.vault])).toEqual([['plan', 'Team']]);
    expect(JSON.parse((await ci(['attachments', 'cluster', '--json'])).stdout)).toEqual([{ name: 'kubeconfig', type: 'application/octet-stream', size: 4_000 }]);
    const out = tmp();
    await ci(['doc', 'get', 'plan', '-o', join(out, 'plan.pdf')]);
    expect(fs.readFileSync(join(out, 'plan.pdf')).equals(plan.bytes)).toBe(true);
    expect((await ci(['doc', 'get', 'cluster', '--file', 'kubeconfig'])).stdout).toBe(kube.bytes.toString('utf8'));
    await ci(['doc', 'get', 'cluster', '-o', out + '/']);
    expect(fs.readFileSync(join(out, 'kubeconfig')).equals(kube.bytes)).toBe(true);
    await ci(['doc', 'get', 'runbook', '--vault', 'Ops', '-o', '-'], 9);
    await ci(['doc', 'get', 'runbook', '-o', '-'], 3);
    await ci(['doc', 'add', 'evil', ops.path], 9);
    await ci(['attach', 'cluster', ops.path], 9);
    await ci(['doc', 'rm', 'plan', '--yes'], 9);
  });

  it("the server serves the token its vault's files only; another shared vault's file is 404", async () => {
    const t = parseServiceToken(token);
    const authorization = tokenAuthHeader(t.id, tokenKeys(t).authKey);
    const post = (path: string, body: unknown) => fetch(`${team.srv.url}${path}`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const teamId = ((await (await fetch(`${team.srv.url}/v1/token/share`, { headers: { authorization } })).json()) as { vault: { id: string } }).vault.id;
    const d = team.db();
    const blobs = d.prepare('SELECT vault_id, blob_id FROM share_blobs').all() as { vault_id: string; blob_id: string }[];
    d.close();
    expect(blobs.filter((b) => b.vault_id === teamId)).toHaveLength(2); // plan.pdf, kubeconfig
    expect(blobs.filter((b) => b.vault_id !== teamId).length).toBeGreaterThanOrEqual(2); // Ops's and Rel's
    for (const b of blobs) expect((await post('/v1/token/share/blobs/get', { blob: b.blob_id, index: 0 })).status).toBe(b.vault_id === teamId ? 200 : 404);
    expect((await post('/v1/token/blobs/get', { blob: blobs[0].blob_id, index: 0 })).status).toBe(404); // not an own vault's token's route
  });

  it("a server that swaps, truncates or pads a shared file, or sends another vault's file, is caught (exit 8): nothing written", async () => {
    const opsChunk = chunkFromDb(team.srv.dataDir, 'share_blob_chunks', 'length(body) = ?', Math.ceil((2_000 + 50 + 40) / 3) * 4);
    const attack = async (name: string, edit: Parameters<typeof tamperBlobs>[2], msg: RegExp) => {
      const out = tmp();
      tamperBlobs(proxy, /\/v1\/token\/share\/blobs\/get/, edit);
      for (const dest of [join(out, 'x'), '-']) {
        const r = await ci(['doc', 'get', 'plan', '-o', dest], 8);
        expect(r.stdout, name).toBe('');
        expect(r.stderr, name).toMatch(msg);
      }
      expect(fs.readdirSync(out), name).toEqual([]);
      proxy.rewrite = undefined;
    };
    await attack('a flipped bit', (_i, a) => ({ ...a, data: flip(a.data, 100_000) }), /not the one its writer signed/);
    await attack('truncated', (_i, a) => ({ data: Buffer.from(a.data, 'base64').subarray(0, 100_000).toString('base64'), last: true }), /the server sent 100000 bytes of file "plan\.pdf"/);
    await attack('padded', (_i, a) => ({ data: Buffer.concat([Buffer.from(a.data, 'base64'), Buffer.alloc(1)]).toString('base64'), last: true }), /more of file "plan\.pdf" than its signed record declares/);
    await attack("another shared vault's file", () => ({ data: opsChunk.body, last: true }), /the server sent \d+ bytes of file "plan\.pdf"|not the one its writer signed/);
    expect((await ci(['doc', 'get', 'plan', '-o', '-'])).stdout).toBe(plan.bytes.toString('utf8'));
  });

  it('after a member is removed (a new key), a file added later is exit 4 for the old token, a new token reads it; a revoked token is exit 4', async () => {
    await kpm('a1', ['share', 'revoke', 'Rel', team.email('bob')]);
    await kpm('a1', ['doc', 'add', 'later', later.path, '--vault', 'Rel']);
    const r = await ci(['doc', 'get', 'later', '-o', '-'], 4, relToken);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/a member must create a new token/);
    expect((await ci(['doc', 'get', 'before', '-o', '-'], 0, relToken)).stdout).toBe(plan.bytes.toString('utf8')); // written before: still readable
    const fresh = (await kpm('c1', ['token', 'create', '--vault', 'Rel', '--expires', '1d'])).stdout.trim();
    expect((await ci(['doc', 'get', 'later', '-o', '-'], 0, fresh)).stdout).toBe(later.bytes.toString('utf8'));
    await kpm('c1', ['token', 'revoke', parseServiceToken(fresh).id.slice(0, 10)]);
    expect((await ci(['doc', 'get', 'later', '-o', '-'], 4, fresh)).stderr).toMatch(/revoked or expired/);
  });
});
