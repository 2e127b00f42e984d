// Service tokens end to end (README "Service tokens"), through the built binaries against the real
// kpm-server: a device creates a read-only token for vault CI; a throwaway KPM_HOME with nothing but
// KPM_TOKEN and KPM_SERVER reads that vault and nothing else; revoked and expired tokens stop at once;
// the token's secret is nowhere on the server; a server that alters what it sends is caught (exit 8).
import SQLite from 'better-sqlite3';
import * as fs from 'node:fs';
import { join } from 'node:path';
import * as os from 'node:os';
import { beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { copyHome, describeRun, initHome, kpm as runKpm, makeHome, run, MASTER, type RunResult } from '../helpers/kpm.js';
import { registerAccount, startServer, type RunningServer } from '../helpers/server.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { parseServiceToken, tokenAuthHeader, tokenKeys, unwrapForToken } from '../../src/sync/tokenvault.js';
import { decodeUtf8, fromBase64, fromHex, toBase64, utf8 } from '../../src/crypto/bytes.js';
import { open, seal } from '../../src/crypto/aead.js';
import { randomBytes } from '../../src/crypto/random.js';
import { accountSigner } from '../../src/crypto/sign.js';
import { initialSyncChain, nextSyncChain, parseVaultEnvelope, sealManifest, sealVaultEnvelope } from '../../src/sync/envelope.js';
import { decodeRecord, decodeVaultKeyPart, encodeRecord, entryAad } from '../../src/vault/format.js';

const ACCOUNT = 'Token7Password';
const EMAIL = 'ci@example.org';
const TOKEN_RE = /^kpmt_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/;

function filesUnder(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(fs.readFileSync(p));
  }
  return out;
}

// Every test is independent of the others (they pass in any order, `--sequence.shuffle`): the
// beforeAll brings the device to a known state ONCE (signed in; vault CI with "deploy", Personal with
// "x", synced; one read-only token "ci" for CI; the server stopped), and each test runs on its own
// copy of it: a copy of the server's data folder, its own server and proxy, a copy of the device's
// home, a new machine and token cache.
describe('service tokens (real server, SQLite)', () => {
  let srv: RunningServer;
  let proxy: Proxy;
  let home: string;
  let token: string;
  const master = { KPM_MASTER_PASSWORD: MASTER };
  /** the device: the one runner (test/helpers/kpm.ts) in its home, through the proxy */
  const dev = (args: string[], code = 0, input?: string, env: Record<string, string> = master): Promise<RunResult> =>
    runKpm(home, args, code, { input, env: { KPM_SERVER: proxy.url, ...env } });
  // a machine with nothing of kpm: KPM_HOME does not even exist; the token cache goes to KPM_CACHE_DIR
  let machine: string;
  let cacheDir: string;
  const ci = (args: string[], code = 0, tok = token, input?: string): Promise<RunResult> =>
    runKpm(machine, args, code, { input, env: { KPM_HOME: join(machine, 'absent'), KPM_TOKEN: tok, KPM_SERVER: proxy.url, KPM_CACHE_DIR: cacheDir } });
  /** the known state the beforeAll made: the stopped server's data folder, the device's home, the token */
  const base = { dataDir: '', home: '', token: '' };

  beforeAll(async () => {
    srv = await startServer();
    proxy = await startProxy(srv.url);
    // a copy of the fixture home (no `kpm init`), the account through the server's API (registerAccount:
    // `kpm register`/`activate` are tested in server-flow.test.ts)
    home = initHome();
    await registerAccount(srv, EMAIL, ACCOUNT, 'DE');
    await dev(['login', EMAIL, '--password-stdin'], 0, ACCOUNT + '\n', {});
    await dev(['vault', 'create', 'CI']);
    await dev(['add', 'deploy', '--vault', 'CI', '--username', 'bot', '--password-stdin'], 0, 'deploy-secret-1\n');
    await dev(['add', 'x', '--password-stdin'], 0, 'personal-secret\n');
    const created = (await dev(['token', 'create', '--vault', 'CI', '--read-only', '--expires', '30d', '--name', 'ci'])).stdout.trim();
    expect(created).toMatch(TOKEN_RE);
    await srv.stop();
    await proxy.close();
    Object.assign(base, { dataDir: srv.dataDir, home, token: created });
  }, 300_000); // a hang guard: six kpm commands with Argon2id derivations, on a busy machine

  /** Before each test: its own copy of the known state (see above), stopped and removed when it ends. */
  beforeEach(async () => {
    const dataDir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-srv-'));
    fs.cpSync(base.dataDir, dataDir, { recursive: true });
    srv = await startServer({ dataDir });
    proxy = await startProxy(srv.url);
    home = copyHome(base.home);
    // the copy is signed in to the beforeAll's proxy (gone): the same session, this test's proxy
    const file = join(home, 'data', 'session.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), server: proxy.url }, null, 2) + '\n');
    token = base.token;
    machine = makeHome();
    cacheDir = join(makeHome(), 'cache');
    const [s, p] = [srv, proxy];
    onTestFinished(async () => {
      await s.stop();
      await p.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
  });

  it('kpm token create prints the token once on stdout (the vault is synced first)', async () => {
    const r = await dev(['token', 'create', '--vault', 'CI', '--read-only', '--expires', '30d', '--name', 'ci-2']);
    const token = r.stdout.trim();
    expect(token).toMatch(TOKEN_RE);
    expect(r.stdout).toBe(token + '\n');
    expect(r.stderr).toMatch(/read-only service token [0-9a-f]{8} \("ci-2"\) for vault "CI"/);
    expect(token).not.toBe(base.token);
    expect((await ci(['read', 'kpm://CI/deploy/password'], 0, token)).stdout).toBe('deploy-secret-1\n');
    expect(r.stderr).not.toContain(token.slice(38));
    // an expiry is required, and bounded
    expect((await dev(['token', 'create', '--vault', 'CI', '--expires', '400d'], 2)).stderr).toMatch(/at most 365d/);
    expect((await dev(['token', 'create', '--vault', 'CI'], 2)).stderr).toMatch(/--expires/);
    expect((await dev(['token', 'create', '--vault', 'Nope', '--expires', '1d'], 3)).stderr).toMatch(/Nope/);
  });

  it('a fresh machine with only KPM_TOKEN and KPM_SERVER reads its vault: read, get, list, run, inject', async () => {
    expect((await ci(['read', 'kpm://CI/deploy/password'])).stdout).toBe('deploy-secret-1\n');
    expect((await ci(['read', 'kpm://deploy/username'])).stdout).toBe('bot\n');
    expect((await ci(['get', 'deploy'])).stdout).toBe('deploy-secret-1\n');
    expect((await ci(['get', 'deploy', '--vault', 'ci', '--field', 'username'])).stdout).toBe('bot\n');
    const list = JSON.parse((await ci(['list', '--json'])).stdout);
    expect(list).toEqual([expect.objectContaining({ name: 'deploy', vault: 'CI', username: 'bot' })]);
    const r2 = await run(['run', '--no-masking', '--', process.execPath, '-e', 'process.stdout.write(process.env.DEPLOY + "|" + (process.env.KPM_TOKEN ?? "none"))'], {
      home: machine,
      env: { KPM_HOME: join(machine, 'absent'), KPM_TOKEN: token, KPM_SERVER: proxy.url, KPM_CACHE_DIR: cacheDir, DEPLOY: 'kpm://CI/deploy/password' },
    });
    expect(r2.code, describeRun(['run'], r2)).toBe(0);
    expect(r2.stdout).toBe('deploy-secret-1|none');
    expect((await ci(['inject'], 0, token, 'pw={{ kpm://CI/deploy/password }}\n')).stdout).toBe('pw=deploy-secret-1\n');
    expect((await ci(['show', 'deploy'])).stdout).toMatch(/bot/);
    expect((await ci(['generate', '--length', '12', '--raw'])).stdout).toHaveLength(12);
    // nothing was written: no KPM_HOME, nothing in the (empty) home; only the encrypted cache
    expect(fs.existsSync(join(machine, 'absent'))).toBe(false);
    expect(fs.readdirSync(machine)).toEqual([]);
    expect(fs.readdirSync(join(cacheDir, 'kpm-tokens')).filter((f) => f.endsWith('.kpmc'))).toHaveLength(1);
  });

  it('parallel steps share the cache: several reads at once all answer right, and the cache file holds no plaintext', async () => {
    fs.rmSync(cacheDir, { recursive: true, force: true });
    const env = { KPM_HOME: join(machine, 'absent'), KPM_TOKEN: token, KPM_SERVER: proxy.url, KPM_CACHE_DIR: cacheDir };
    const reads = await Promise.all(
      Array.from({ length: 6 }, (_, i) => run(i % 2 ? ['read', 'kpm://CI/deploy/password'] : ['get', 'deploy', '--field', 'username'], { home: machine, env })),
    );
    for (const [i, r] of reads.entries()) {
      expect(r.code, describeRun(['read'], r)).toBe(0);
      expect(r.stdout).toBe(i % 2 ? 'deploy-secret-1\n' : 'bot\n');
      expect(r.stderr).toBe('');
    }
    // again, all at once from the cache
    const again = await Promise.all(Array.from({ length: 4 }, () => run(['read', 'kpm://CI/deploy/password'], { home: machine, env })));
    for (const r of again) expect(r.stdout, describeRun(['read'], r)).toBe('deploy-secret-1\n');
    const files = fs.readdirSync(join(cacheDir, 'kpm-tokens'));
    expect(files.filter((f) => f.endsWith('.kpmc'))).toHaveLength(1);
    expect(files.filter((f) => f.includes('kpm-tmp'))).toEqual([]);
    expect(fs.statSync(join(cacheDir, 'kpm-tokens')).mode & 0o777).toBe(0o700);
    for (const b of filesUnder(cacheDir)) {
      for (const n of ['deploy-secret-1', 'deploy', 'bot', 'personal-secret', parseServiceToken(token).id]) expect(b.includes(n), n).toBe(false);
    }
  });

  it('scoped: another vault, any write, sync or token management is forbidden (exit 9)', async () => {
    expect((await ci(['read', 'kpm://Personal/x/password'], 9)).stderr).toMatch(/can only read vault "CI"/);
    await ci(['get', 'x', '--vault', 'Personal'], 9);
    await ci(['get', 'x'], 3); // not in its vault
    expect((await ci(['add', 'evil', '--password-stdin'], 9, token, 'x\n')).stderr).toMatch(/service token .* not allowed/);
    await ci(['edit', 'deploy', '--password-stdin'], 9, token, 'x\n');
    await ci(['rm', 'deploy', '--yes'], 9);
    await ci(['sync'], 9);
    await ci(['vault', 'create', 'Other'], 9);
    await ci(['init', '--password-stdin'], 9, token, MASTER + '\n');
    await ci(['token', 'list'], 9);
    await ci(['token', 'create', '--vault', 'CI', '--expires', '1d'], 9);
    // the token opens no device route on the server either (403 → exit 9), and is never an option
    const res = await fetch(`${srv.url}/v1/sync`, { headers: { authorization: `Token ${parseServiceToken(token).id}.${Buffer.from(tokenKeys(parseServiceToken(token)).authKey).toString('base64url')}` } });
    expect(res.status).toBe(403);
    await ci(['read', 'kpm://CI/deploy/password', '--token', token], 2);
  });

  it('changes made on the device reach the token at the next read', async () => {
    await dev(['edit', 'deploy', '--vault', 'CI', '--password-stdin'], 0, 'deploy-secret-2\n');
    await dev(['add', 'db', '--vault', 'CI', '--password-stdin'], 0, 'db-secret\n');
    expect((await ci(['read', 'kpm://CI/deploy/password'])).stdout).toBe('deploy-secret-2\n');
    expect((await ci(['read', 'kpm://CI/db/password'])).stdout).toBe('db-secret\n');
  });

  it("the token's secret is in no server file, log or request; the list shows its use", async () => {
    // the token in use: reads (a cold cache and a warm one), a list
    expect((await ci(['read', 'kpm://CI/deploy/password'])).stdout).toBe('deploy-secret-1\n');
    await ci(['list']);
    const t = parseServiceToken(token);
    const { authKey, wrapKey } = tokenKeys(t);
    const needles = [token.slice(38), Buffer.from(t.secret).toString('base64url'), Buffer.from(t.secret).toString('base64'), Buffer.from(t.secret).toString('hex'), Buffer.from(authKey).toString('base64url'), Buffer.from(authKey).toString('base64'), Buffer.from(wrapKey).toString('base64'), Buffer.from(wrapKey).toString('hex')];
    const hay = [...filesUnder(srv.dataDir), Buffer.from(srv.stdout()), Buffer.from(srv.stderr()), ...proxy.requests];
    for (const n of needles) for (const h of hay) expect(h.includes(n), `found ${n.slice(0, 6)}…`).toBe(false);
    const list = JSON.parse((await dev(['token', 'list', '--json'], 0, undefined, {})).stdout);
    expect(list).toEqual([expect.objectContaining({ id: t.id, name: 'ci', status: 'active', revoked: false })]);
    expect(list[0].lastUsedAt).not.toBeNull();
    expect((await dev(['token', 'list'], 0, undefined, {})).stdout).toMatch(new RegExp(`${t.id.slice(0, 8)}\\s+ci\\s+[0-9a-f]{8}\\s+active`));
  });

  it('a server that alters what it sends is caught (exit 8), nothing is shown', async () => {
    const tamper = async (path: RegExp, edit: (j: any) => void, msg: RegExp) => {
      proxy.rewrite = (p, body) => {
        if (!path.test(p)) return body;
        const j = JSON.parse(body.toString('utf8'));
        edit(j);
        return Buffer.from(JSON.stringify(j));
      };
      fs.rmSync(cacheDir, { recursive: true, force: true }); // a warm cache pulls nothing when nothing changed: fetch all
      try {
        const r = await ci(['read', 'kpm://CI/deploy/password'], 8);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(msg);
      } finally {
        proxy.rewrite = undefined;
      }
    };
    const flip = (b64: string, at: number) => {
      const b = Buffer.from(b64, 'base64');
      b[at] ^= 1;
      return b.toString('base64');
    };
    await tamper(/\/v1\/token\/pull/, (j) => (j.records[0] = flip(j.records[0], 60)), /do not match the manifest/);
    await tamper(/\/v1\/token\/pull/, (j) => (j.records = j.records.slice(1)), /tampered/);
    await tamper(/\/v1\/token\/pull/, (j) => (j.manifest = flip(j.manifest, 30)), /manifest/);
    await tamper(/\/v1\/token\/vault/, (j) => (j.wrappedKey = flip(j.wrappedKey, 30)), /does not open/);
    await tamper(/\/v1\/token\/vault/, (j) => (j.vault.body = flip(j.vault.body, j.vault.body.length > 100 ? 60 : 10)), /tampered/);
    expect((await ci(['read', 'kpm://CI/deploy/password'])).stdout).toBe('deploy-secret-1\n');
  });

  it('revoke stops the token at once (exit 4); so does expiry', async () => {
    const id = parseServiceToken(token).id;
    const cached = () => fs.readdirSync(join(cacheDir, 'kpm-tokens')).filter((f) => f.endsWith('.kpmc')).length;
    expect((await ci(['read', 'kpm://CI/deploy/password'])).stdout).toBe('deploy-secret-1\n');
    expect(cached()).toBe(1); // the read left its cache
    await dev(['token', 'revoke', id.slice(0, 10)], 0, undefined, {});
    // the server refuses it on every read, cache or not; and the cache of a dead token goes
    expect((await ci(['read', 'kpm://CI/deploy/password'], 4)).stderr).toMatch(/the service token is revoked or expired/);
    expect(cached()).toBe(0);
    expect(JSON.parse((await dev(['token', 'list', '--json'], 0, undefined, {})).stdout)[0]).toMatchObject({ revoked: true, status: 'revoked' });
    const short = (await dev(['token', 'create', '--vault', 'CI', '--expires', '1h'])).stdout.trim();
    await dev(['add', 'db', '--vault', 'CI', '--password-stdin'], 0, 'db-secret\n');
    expect((await ci(['read', 'kpm://CI/db/password'], 0, short)).stdout).toBe('db-secret\n');
    // Expiry without a sleep: the token's expiry is moved into the past in the server's database,
    // so the server's own clock (not a race against it) decides. The clock itself: server-tokens.test.ts.
    const db = new SQLite(join(srv.dataDir, 'kpm-server.sqlite'));
    try {
      const moved = db.prepare('UPDATE service_tokens SET expires_at = created_at - 1 WHERE id = ?').run(parseServiceToken(short).id);
      expect(moved.changes).toBe(1);
    } finally {
      db.close();
    }
    expect((await ci(['read', 'kpm://CI/db/password'], 4, short)).stderr).toMatch(/revoked or expired/);
    // a made-up token with a known id: the same answer
    const forged = short.slice(0, 38) + Buffer.alloc(32, 7).toString('base64url');
    await ci(['read', 'kpm://CI/db/password'], 4, forged);
    expect((await ci(['read', 'kpm://CI/db/password'], 2, 'kpmt_nonsense')).stderr).toMatch(/KPM_TOKEN is not a kpm service token/);
  });

  it('S3: revoke offers a new vault key; --rotate-key re-encrypts the vault under it, every entry kept, and the next sync removes the old one', async () => {
    const before = (await dev(['read', 'kpm://CI/deploy/password'])).stdout;
    const ids = JSON.parse((await dev(['vault', 'list', '--json'])).stdout).map((v: { id: string }) => v.id);
    const t2 = (await dev(['token', 'create', '--vault', 'CI', '--expires', '1h'])).stdout.trim();
    const quiet = await dev(['token', 'revoke', parseServiceToken(t2).id, '--no-rotate-key'], 0, undefined, {});
    expect(quiet.stderr).toMatch(/kpm vault rotate-key/);
    const t3 = (await dev(['token', 'create', '--vault', 'CI', '--expires', '1h'])).stdout.trim();
    const r = await dev(['token', 'revoke', parseServiceToken(t3).id, '--rotate-key']);
    expect(r.stderr).toMatch(/Vault "CI" has a new key/);
    const after = JSON.parse((await dev(['vault', 'list', '--json'])).stdout);
    const ciVault = after.find((v: { name: string }) => v.name === 'CI');
    expect(ids).not.toContain(ciVault.id);
    expect((await dev(['read', 'kpm://CI/deploy/password'])).stdout).toBe(before);
    await dev(['sync']);
    expect((await dev(['read', 'kpm://CI/deploy/password'])).stdout).toBe(before);
    // a token made now reads the vault under its new key
    const t4 = (await dev(['token', 'create', '--vault', 'CI', '--expires', '1h'])).stdout.trim();
    expect((await ci(['read', 'kpm://CI/deploy/password'], 0, t4)).stdout).toBe(before);
  });

  it('S3: a revoked read-only token\'s holder, with the server, writes an entry version and manifest, or a deletion: the device refuses (exit 8), files unchanged', async () => {
    const tok = parseServiceToken((await dev(['token', 'create', '--vault', 'CI', '--expires', '1h'])).stdout.trim());
    const { authKey, wrapKey } = tokenKeys(tok);
    const headers = { authorization: tokenAuthHeader(tok.id, authKey), 'content-type': 'application/json' };
    const info = await (await fetch(`${srv.url}/v1/token/vault`, { headers: { authorization: headers.authorization } })).json();
    const all = await (await fetch(`${srv.url}/v1/token/pull`, { method: 'POST', headers, body: JSON.stringify({ after: 0 }) })).json();
    expect(all.more).toBe(false);
    await dev(['token', 'revoke', tok.id, '--no-rotate-key'], 0, undefined, {}); // what the holder has stays with it
    // everything the holder has: the token's read keys and public key, and the server's data
    const env = parseVaultEnvelope(fromBase64(info.vault.body));
    const profileId = decodeVaultKeyPart(env.keyPart).profileId;
    const k = unwrapForToken(wrapKey, fromBase64(info.wrappedKey), tok.id, info.vault.id, profileId);
    const vid = fromHex(info.vault.id);
    let target: { r: ReturnType<typeof decodeRecord>; p: any } | undefined;
    for (const b of all.records) {
      const r = decodeRecord(fromBase64(b));
      const p = JSON.parse(decodeUtf8(open(k.recordKey, r.sealed, entryAad(profileId, vid, r.entryId, r.version, r.flags, r.nameTag))));
      if (p.name === 'deploy' && (!target || r.version > target.r.version)) target = { r, p };
    }
    const version = target!.r.version + 1;
    const payload = { ...target!.p, fields: { ...target!.p.fields, password: 'ATTACKER-CHOSEN-PW', url: 'https://evil.example' } };
    const raw = encodeRecord(target!.r.entryId, version, 0, target!.r.nameTag, seal(k.recordKey, utf8.encode(JSON.stringify(payload)), entryAad(profileId, vid, target!.r.entryId, version, 0, target!.r.nameTag)));
    let chain = initialSyncChain(vid);
    for (const b of [...all.records.map(fromBase64), raw]) chain = nextSyncChain(chain, b);
    const own = accountSigner(randomBytes(32)); // the holder's own key, claiming to be the account's
    const forger = { publicKey: k.publicKey, sign: (m: Uint8Array) => own.sign(m) };
    const manifest = sealManifest(forger, { vaultId: vid, profileId, revision: all.head + 1, chain, time: Date.now() });
    const deletion = sealVaultEnvelope(forger, { vaultId: vid, epoch: info.vault.epoch + 1, deleted: true, keyPart: env.keyPart });
    const password = (await dev(['read', 'kpm://CI/deploy/password'])).stdout;
    const vaultDir = join(home, 'data', 'vaults', info.vault.id);
    const files = () => fs.readdirSync(vaultDir).map((f) => fs.readFileSync(join(vaultDir, f)).toString('hex')).join();
    const before = files();
    const state = (edit: (v: any) => void) => (path: string, body: Buffer) => {
      if (path !== '/v1/sync') return body;
      const j = JSON.parse(body.toString());
      for (const v of j.vaults) if (v.id === info.vault.id) edit(v);
      return Buffer.from(JSON.stringify(j));
    };
    try {
      const head = state((v) => (v.head = all.head + 1));
      proxy.rewrite = (path, body) => {
        if (!path.endsWith(`/vaults/${info.vault.id}/pull`)) return head(path, body);
        const j = JSON.parse(body.toString());
        return Buffer.from(JSON.stringify({ ...j, head: all.head + 1, records: [...j.records, toBase64(raw)], manifest: toBase64(manifest), more: false }));
      };
      expect((await dev(['sync'], 8)).stderr).toMatch(/tampered.*manifest fails its signature check/);
      expect(files()).toBe(before);
      proxy.rewrite = state((v) => Object.assign(v, { epoch: v.epoch + 1, body: toBase64(deletion) }));
      expect((await dev(['sync'], 8)).stderr).toMatch(/tampered.*fails its signature check/);
      expect(files()).toBe(before);
    } finally {
      proxy.rewrite = undefined;
    }
    expect((await dev(['read', 'kpm://CI/deploy/password'])).stdout).toBe(password);
    await dev(['sync']);
  });
});
