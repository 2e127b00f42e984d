// Shared vaults through the ordinary entry commands (docs/SHARING.md "Shared vaults in the entry
// commands"), built binaries against one real kpm-server (SQLite): alice (two devices, the second
// one unlocked in the agent), bob (writer) and carol (read-only). `kpm list/get/show/read` find
// shared entries, `kpm add/edit/rm --vault` write as signed member writes, `kpm sync` pulls and
// verifies; a read-only member's write is refused before anything is sent, and a record the server
// altered makes `kpm get` exit 8.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentRequest, describeRun, makeHome, run, stopAgent, MASTER, type RunResult } from '../helpers/kpm.js';
import { registerAccount, type RunningServer } from '../helpers/server.js';
import { master, SHARE_ACCOUNT_PW as ACCOUNT, shareTeam } from '../helpers/shareteam.js';
import { fromBase64, fromHex, toBase64, toHex, utf8 } from '../../src/crypto/bytes.js';
import { resolvePaths } from '../../src/core/paths.js';
import { shareStateFile } from '../../src/share/state.js';
import { CONTROL_TABLE, METHOD_TABLE } from '../../src/agent/api.js';
import { unlockKeyring } from '../../src/vault/keyring.js';
import { accountSubkey } from '../../src/crypto/keys.js';
import { accountPublicKey, accountSigner, verifySignature } from '../../src/crypto/sign.js';
import { sealManifest, sealVaultEnvelope } from '../../src/sync/envelope.js';
import { sealAcceptance } from '../../src/share/format.js';

/** Every way `secret` could show in a reply: raw inside any base64 field, as hex, as base64. */
function holds(reply: unknown, secret: Uint8Array): boolean {
  const text = JSON.stringify(reply);
  const fields = text.replace(/[^A-Za-z0-9+/=]/g, ' ').split(' ').filter((x) => x.length >= 16);
  const raw = Buffer.from(secret).toString('latin1');
  return text.includes(toHex(secret)) || text.includes(toBase64(secret)) || fields.some((f) => Buffer.from(f, 'base64').toString('latin1').includes(raw));
}

describe('shared vaults in kpm list/get/add/edit/rm/sync (real server, built binaries)', () => {
  let srv: RunningServer;
  let addDeploy: RunResult;
  const team = shareTeam('entries.example.org');
  const { homes, email, kpm, db } = team;
  const records = () => {
    const d = db();
    try {
      return d.prepare('SELECT vault_id, rev, body FROM share_records ORDER BY rev').all() as { vault_id: string; rev: number; body: string }[];
    } finally {
      d.close();
    }
  };

  /** Tokens of shared vault `vault` made on a device, and a CI machine (no home, no cache) reading with one. */
  const tokenMachine = (vault: string) => {
    const machine = makeHome();
    return {
      tokenOf: async (dev: string) => (await kpm(dev, ['token', 'create', '--vault', vault, '--expires', '1h'])).stdout.trim(),
      ci: async (tok: string, args: string[], code = 0): Promise<RunResult> => {
        const r = await run(args, { home: machine, env: { KPM_HOME: join(machine, 'absent'), KPM_TOKEN: tok, KPM_SERVER: srv.url, KPM_CACHE_DIR: 'off' } });
        expect(r.code, `machine: ${describeRun(args, r)}`).toBe(code);
        return r;
      },
    };
  };

  beforeAll(async () => {
    await team.setUp({ a2: 'signed-in' });
    srv = team.srv;
    await team.shareWithBobAndCarol('Team');
    // the entries every test starts from (a test that adds to or changes Team uses its own names and
    // takes them out again, or a vault of its own)
    addDeploy = await kpm('a1', ['add', 'deploy', '--vault', 'Team', '--username', 'bot', '--url', 'https://ci.example.org', '--password-stdin'], 0, 'Deploy-Secret-1\n');
    await kpm('b1', ['add', 'db', '--vault', 'Team', '--username', 'db-admin', '--password-stdin'], 0, 'Db-Secret-1\n');
    await kpm('b1', ['add', 'mine', '--password-stdin'], 0, 'Own-Secret-1\n');
  }, 300_000);
  afterAll(() => stopAgent(homes.a2));

  it('add --vault writes a signed member write; list, get, get --field, show and read find it on every member\'s devices', async () => {
    // the adds ran in beforeAll (a1: deploy, b1: db and the own entry mine)
    expect(addDeploy.stderr).toMatch(/Added Team\/deploy \(shared vault\)/);
    const list = await kpm('b1', ['list']);
    expect(list.stdout).toMatch(/^mine\n/);
    expect(list.stdout).toMatch(/\ndb +db-admin +\[Team\]\n/);
    expect(list.stdout).toMatch(/\ndeploy +bot +https:\/\/ci\.example\.org {2}\[Team\]\n/);
    expect(JSON.parse((await kpm('b1', ['list', '--vault', 'Team', '--json'])).stdout).map((e: { name: string; vault: string }) => `${e.vault}/${e.name}`)).toEqual(['Team/db', 'Team/deploy']);
    expect((await kpm('c1', ['get', 'deploy'])).stdout).toBe('Deploy-Secret-1\n');
    expect((await kpm('c1', ['get', 'db', '--field', 'username'])).stdout).toBe('db-admin\n');
    expect(JSON.parse((await kpm('c1', ['get', 'db', '--json'])).stdout)).toMatchObject({ vault: 'Team', type: 'login', name: 'db', fields: { username: 'db-admin', password: 'Db-Secret-1' } });
    expect((await kpm('c1', ['show', 'deploy'])).stdout).toMatch(/bot/);
    expect((await kpm('c1', ['read', 'kpm://Team/db/password'])).stdout).toBe('Db-Secret-1\n');
    // alice's second device never ran a share command: it finds the vault she owns on first use
    expect((await kpm('a2', ['get', 'db'])).stdout).toBe('Db-Secret-1\n');
    expect((await kpm('b1', ['get', 'mine'])).stdout).toBe('Own-Secret-1\n');
  }, 180_000);

  it('through the agent: get, list and read of shared entries work without the master password (the agent hands over the share.kpms key, and signs and does X25519 itself)', async () => {
    await kpm('a2', ['unlock', '--password-stdin'], 0, MASTER + '\n', {});
    expect((await kpm('a2', ['get', 'deploy', '--field', 'username'], 0, undefined, {})).stdout).toBe('bot\n');
    expect((await kpm('a2', ['get', 'db'], 0, undefined, {})).stdout).toBe('Db-Secret-1\n');
    expect((await kpm('a2', ['list'], 0, undefined, {})).stdout).toMatch(/deploy +bot .*\[Team\]/);
    expect((await kpm('a2', ['read', 'kpm://Team/deploy/url'], 0, undefined, {})).stdout).toBe('https://ci.example.org\n');
    // kpm run on the agent's hot path: a reference to a shared entry reaches the child (masked in its output)
    const ran = await kpm('a2', ['run', '--', 'sh', '-c', 'test "$DB" = Db-Secret-1 && echo "ok $DB"'], 0, undefined, { DB: 'kpm://Team/db/password' });
    expect(ran.stdout).toBe('ok <concealed by kpm>\n');
    await kpm('a2', ['add', 'a2-entry', '--vault', 'Team', '--password-stdin'], 0, 'From-A2-Agent\n', {});
    try {
      expect((await kpm('b1', ['get', 'a2-entry'])).stdout).toBe('From-A2-Agent\n');
    } finally {
      await kpm('b1', ['rm', 'a2-entry', '--vault', 'Team', '--yes']); // Team holds the base entries only again
    }
    // a name that is in no vault is still "not found" (exit 3), through the agent too
    expect((await kpm('a2', ['get', 'nowhere'], 3, undefined, {})).stderr).toMatch(/no entry named "nowhere"/);
  }, 180_000);

  it("S3: over the agent's socket, no read method's reply holds the account's signing seed; shareSign signs this account's sharing messages only", async () => {
    const home = homes.a2;
    await kpm('a2', ['unlock', '--password-stdin'], 0, MASTER + '\n', {}); // (or it is already unlocked: exit 0 too)
    const prof = await unlockKeyring(resolvePaths({ KPM_HOME: home }), utf8.encode(MASTER));
    const seed = accountSubkey(prof.accountKey, 'signing');
    const x25519Seed = accountSubkey(prof.accountKey, 'shareX25519');
    const vaultId = 'ab'.repeat(16);
    const ownAccept = (await sealAcceptance(accountSigner(prof.accountKey), fromHex(vaultId), 1)).subarray(0, -64);
    // every method that does not write, with parameters it accepts (those that change what the agent holds are left out)
    const leftOut = ['lock', 'setIdleTimeout', 'unlockVault', 'lockVault'];
    const params: Record<string, unknown[]> = {
      get: ['deploy'],
      list: [{}],
      listText: [{}, true],
      entries: [{}],
      trash: [null],
      listVaults: [],
      history: ['deploy'],
      sync: [],
      tokenKey: ['Personal', 'ab'.repeat(16), toBase64(new Uint8Array(32).fill(7))],
      auditCacheKey: [],
      shareSecrets: [],
      shareSign: [toBase64(ownAccept)],
      shareDh: [toBase64(fromHex('09'.padEnd(64, '0')))],
      status: [],
      getField: ['deploy', null, null],
      getFieldAll: ['deploy', null, null],
      listTextAll: [{}, true],
      listAll: [{}],
      sharedHeld: [],
      sshIdentities: [],
      sshSign: [toBase64(new Uint8Array(51)), toBase64(utf8.encode('data')), 0],
      sshAttach: [],
    };
    const table = { ...METHOD_TABLE, ...CONTROL_TABLE } as Record<string, { write: boolean }>;
    const reads = Object.keys(table).filter((m) => !table[m].write && !leftOut.includes(m));
    expect(Object.keys(params).sort()).toEqual(reads.sort()); // a new read method must be added here
    for (const method of reads) {
      const r = await agentRequest(home, { method, params: params[method] });
      expect(holds(r, seed), `${method} → the signing seed`).toBe(false);
      expect(holds(r, prof.accountKey), `${method} → the account key`).toBe(false);
      expect(holds(r, x25519Seed), `${method} → the X25519 seed`).toBe(false);
      if (method === 'shareSecrets' || method === 'shareSign' || method === 'shareDh' || method === 'auditCacheKey' || method === 'status') expect(r.error, `${method}: ${JSON.stringify(r)}`).toBeUndefined();
      if (method === 'shareSign') expect(verifySignature(accountPublicKey(prof.accountKey), ownAccept, fromBase64(r.ok as string))).toBe(true);
    }
    // an own vault's manifest or envelope (what S3's signed writes are), or arbitrary bytes: refused, exit 9
    const manifest = sealManifest(accountSigner(prof.accountKey), { vaultId: fromHex(vaultId), profileId: prof.profileId, revision: 1, chain: new Uint8Array(32), time: 1 });
    const envelope = sealVaultEnvelope(accountSigner(prof.accountKey), { vaultId: fromHex(vaultId), epoch: 1, deleted: true, keyPart: new Uint8Array(64) });
    for (const m of [manifest.subarray(0, -64), envelope.subarray(0, -64), utf8.encode('anything at all')]) {
      const r = await agentRequest(home, { method: 'shareSign', params: [toBase64(m)] });
      expect(r.error?.exitCode, JSON.stringify(r)).toBe(9);
      expect(r.error?.message).toMatch(/signs only this account's sharing messages/);
    }
  }, 180_000);

  it('a name in an own and a shared vault is ambiguous (exit 2); --vault picks', async () => {
    await kpm('b1', ['add', 'deploy', '--password-stdin'], 0, 'Own-Deploy-1\n');
    try {
      const amb = await kpm('b1', ['get', 'deploy'], 2);
      expect(amb.stderr).toMatch(/"deploy" matches 2 entries: Personal\/deploy \([0-9a-f]{8}\), Team\/deploy \([0-9a-f]{8}, shared\)/);
      expect((await kpm('b1', ['get', 'deploy', '--vault', 'Team'])).stdout).toBe('Deploy-Secret-1\n');
      expect((await kpm('b1', ['get', 'deploy', '--vault', 'Personal'])).stdout).toBe('Own-Deploy-1\n');
    } finally {
      await kpm('b1', ['rm', 'deploy', '--vault', 'Personal', '--yes']);
    }
  }, 120_000);

  it('a read-only member: add, edit and rm --vault are refused (exit 9) before anything is sent', async () => {
    const before = records();
    expect((await kpm('c1', ['add', 'carol-was-here', '--vault', 'Team', '--password-stdin'], 9, 'Carol-1\n')).stderr).toMatch(/you can only read shared vault "Team" \(role reader\)/);
    expect((await kpm('c1', ['edit', 'deploy', '--username', 'carol'], 9)).stderr).toMatch(/only read/);
    expect((await kpm('c1', ['rm', 'deploy', '--yes'], 9)).stderr).toMatch(/only read/);
    expect(records()).toEqual(before);
    expect((await kpm('b1', ['get', 'deploy', '--field', 'username'])).stdout).toBe('bot\n');
  }, 120_000);

  it('edit and rm of a shared entry by a writer reach every member; kpm sync pulls and verifies shared vaults; offline reads use the verified copy', async () => {
    // a vault of its own (Ops, shared as Team is), so that its entry count and the edits are this test's alone
    await kpm('a1', ['share', 'Ops', '--with', email('bob')]);
    await kpm('a1', ['share', 'Ops', '--with', email('carol'), '--read-only']);
    await kpm('b1', ['share', 'accept', 'Ops']);
    await kpm('c1', ['share', 'accept', 'Ops']);
    await kpm('a1', ['add', 'ops-deploy', '--vault', 'Ops', '--username', 'bot', '--password-stdin'], 0, 'Deploy-Secret-1\n');
    await kpm('b1', ['add', 'ops-db', '--vault', 'Ops', '--username', 'db-admin', '--password-stdin'], 0, 'Db-Secret-1\n');
    await kpm('b1', ['add', 'ops-third', '--vault', 'Ops', '--password-stdin'], 0, 'Third-Secret-1\n');
    await kpm('b1', ['edit', 'ops-deploy', '--username', 'bot2', '--password-stdin'], 0, 'Deploy-Secret-2\n');
    const sync = await kpm('c1', ['sync']);
    expect(sync.stderr).toMatch(/shared vault "Ops" \(alice@entries\.example\.org, reader\): 3 entries, revision \d+, membership epoch 2, verified/);
    expect(JSON.parse((await kpm('c1', ['sync', '--json'])).stdout).shared.filter((v: { name: string }) => v.name === 'Ops')).toMatchObject([{ name: 'Ops', role: 'reader', entries: 3 }]);
    expect((await kpm('c1', ['get', 'ops-deploy', '--field', 'username'], 0, undefined, { ...master, KPM_OFFLINE: '1' })).stdout).toBe('bot2\n');
    await kpm('b1', ['rm', 'ops-db', '--vault', 'Ops', '--yes']);
    expect((await kpm('a1', ['get', 'ops-db'], 3)).stderr).toMatch(/no entry named "ops-db"/);
    expect((await kpm('a1', ['get', 'ops-deploy'])).stdout).toBe('Deploy-Secret-2\n');
    // every entry type and custom fields go in a shared vault (test/e2e/share-types.test.ts has more)
    await kpm('b1', ['add', 'card', '--vault', 'Ops', '--type', 'card', '--field', 'number=4242424242424242'], 0, '');
    await kpm('b1', ['add', 'x', '--vault', 'Ops', '--field', 'pin=1234', '--password-stdin'], 0, 'X-Secret-1\n');
    expect((await kpm('c1', ['get', 'card'])).stdout).toBe('4242424242424242\n');
    expect((await kpm('c1', ['get', 'x', '--field', 'pin'])).stdout).toBe('1234\n');
  }, 240_000);

  it('an account with nothing shared: a name the agent does not have is still exit 3 (the server is asked once), and no share.kpms is made', async () => {
    homes.d1 = makeHome();
    await registerAccount(srv, email('dave'), ACCOUNT, 'DE');
    await kpm('d1', ['init', '--password-stdin'], 0, MASTER + '\n', {});
    await kpm('d1', ['login', email('dave'), '--password-stdin'], 0, ACCOUNT + '\n', {});
    await kpm('d1', ['add', 'own', '--password-stdin'], 0, 'Dave-Own-1\n');
    await kpm('d1', ['unlock', '--password-stdin'], 0, MASTER + '\n', {});
    try {
      expect((await kpm('d1', ['get', 'own'], 0, undefined, {})).stdout).toBe('Dave-Own-1\n');
      expect((await kpm('d1', ['get', 'deploy'], 3, undefined, {})).stderr).toMatch(/^kpm: no entry named "deploy"/);
      expect((await kpm('d1', ['token', 'create', '--vault', 'Team', '--expires', '1h'], 3)).stderr).toMatch(/Team/);
      await kpm('d1', ['sync'], 0, undefined, {});
      expect(existsSync(shareStateFile(resolvePaths({ KPM_HOME: homes.d1 })))).toBe(false);
      expect(existsSync(resolvePaths({ KPM_HOME: homes.d1 }).data)).toBe(true);
    } finally {
      stopAgent(homes.d1);
    }
  }, 120_000);

  it('service tokens on a shared vault: the reader creates one; KPM_TOKEN … kpm read/get/list/run/inject on a machine with no home and no agent; a write by the writer is seen; the server database holds no plaintext and no unwrapped key of it', async () => {
    const made = await kpm('c1', ['token', 'create', '--vault', 'Team', '--read-only', '--expires', '1h', '--name', 'team-ci']);
    const token = made.stdout.trim();
    expect(made.stdout).toBe(token + '\n');
    expect(token).toMatch(/^kpms_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    expect(made.stderr).toMatch(/read-only service token [0-9a-f]{8} \("team-ci"\) for shared vault "Team" \(owner alice@entries\.example\.org\)/);
    const listed = JSON.parse((await kpm('c1', ['token', 'list', '--json'])).stdout);
    expect(listed.filter((x: { name: string }) => x.name === 'team-ci')).toMatchObject([{ name: 'team-ci', status: 'active' }]);
    const machine = makeHome();
    const ci = async (args: string[], code = 0, input?: string, extra: Record<string, string> = {}): Promise<RunResult> => {
      const r = await run(args, { home: machine, env: { KPM_HOME: join(machine, 'absent'), KPM_TOKEN: token, KPM_SERVER: srv.url, KPM_CACHE_DIR: join(machine, 'cache'), ...extra }, input });
      expect(r.code, `machine: ${describeRun(args, r)}`).toBe(code);
      return r;
    };
    expect((await ci(['read', 'kpm://Team/deploy/password'])).stdout).toBe('Deploy-Secret-1\n');
    expect((await ci(['read', 'kpm://db/username'])).stdout).toBe('db-admin\n');
    expect((await ci(['get', 'db'])).stdout).toBe('Db-Secret-1\n');
    expect((await ci(['get', 'deploy', '--vault', 'team', '--field', 'url'])).stdout).toBe('https://ci.example.org\n');
    expect(JSON.parse((await ci(['list', '--json'])).stdout).map((e: { vault: string; name: string }) => `${e.vault}/${e.name}`)).toEqual(['Team/db', 'Team/deploy']);
    expect((await ci(['run', '--no-masking', '--', 'sh', '-c', 'printf "%s" "$DB"'], 0, undefined, { DB: 'kpm://Team/db/password' })).stdout).toBe('Db-Secret-1');
    expect((await ci(['inject'], 0, 'pw={{ kpm://Team/deploy/password }}\n')).stdout).toBe('pw=Deploy-Secret-1\n');
    // read-only, one vault: exit 9
    expect((await ci(['add', 'x', '--vault', 'Team', '--password-stdin'], 9, 'X-1\n')).stderr).toMatch(/only reads its vault/);
    expect((await ci(['get', 'mine', '--vault', 'Personal'], 9)).stderr).toMatch(/can only read vault "Team"/);
    // the writer writes: the token sees it
    await kpm('b1', ['add', 'tok-late', '--vault', 'Team', '--password-stdin'], 0, 'Tok-Late-1\n');
    try {
      expect((await ci(['read', 'kpm://Team/tok-late/password'])).stdout).toBe('Tok-Late-1\n');
    } finally {
      await kpm('b1', ['rm', 'tok-late', '--vault', 'Team', '--yes']); // Team holds the base entries only again
    }
    expect((await ci(['get', 'tok-late'], 3)).stderr).toMatch(/no entry named "tok-late"/);
    expect(existsSync(join(machine, 'absent'))).toBe(false);
    // only the token cache was written: sealed, no plaintext
    const cached = readdirSync(join(machine, 'cache', 'kpm-tokens'));
    expect(cached).toHaveLength(1);
    const cacheBytes = readFileSync(join(machine, 'cache', 'kpm-tokens', cached[0]));
    for (const s of ['Deploy-Secret-1', 'Db-Secret-1', 'Tok-Late-1', 'db-admin']) expect(cacheBytes.includes(Buffer.from(s)), s).toBe(false);
    // the server's database: no plaintext, and none of the keys (vault keys, their record keys, the token's own)
    const paths = resolvePaths({ KPM_HOME: homes.c1 });
    const prof = await unlockKeyring(paths, utf8.encode(MASTER));
    const { ApiClient, authedCall, loadSession } = await import('../../src/sync/http.js');
    const { ShareClient } = await import('../../src/share/client.js');
    const { recordKey } = await import('../../src/share/format.js');
    const { parseServiceToken, tokenKeys } = await import('../../src/sync/tokenvault.js');
    const session = loadSession(paths)!;
    const api = new ApiClient(session.server, false);
    let keys: Uint8Array[];
    try {
      const c = new ShareClient(paths, prof.accountKey, prof.profileId, email('carol'), (name, o = {}) => authedCall(paths, api, session, name, o));
      keys = (await c.openForUse('Team')).keys;
    } finally {
      await api.close();
    }
    const d = db();
    let dump: string;
    try {
      dump = JSON.stringify(d.prepare('SELECT * FROM service_tokens').all());
    } finally {
      d.close();
    }
    expect(dump).toContain(parseServiceToken(token).id);
    const t = parseServiceToken(token);
    const { wrapKey, authKey } = tokenKeys(t);
    for (const s of ['Deploy-Secret-1', 'Db-Secret-1', 'db-admin', 'Team']) expect(holds(dump, utf8.encode(s)), s).toBe(false);
    for (const k of [...keys, ...keys.map(recordKey), wrapKey, authKey, t.secret, prof.accountKey]) expect(holds(dump, k)).toBe(false);
    // revoked: at once (exit 4)
    await kpm('c1', ['token', 'revoke', t.id.slice(0, 8), '--no-rotate-key']);
    expect((await ci(['read', 'kpm://Team/deploy/password'], 4)).stderr).toMatch(/revoked or expired/);
  }, 240_000);

  it('a service token after kpm share revoke: it cannot read what is written afterwards (exit 4) and a member re-creates it; a token whose creator was removed (or left) is refused by the server (exit 9)', async () => {
    await kpm('a1', ['share', 'TokOps', '--with', email('bob')]);
    await kpm('a1', ['share', 'TokOps', '--with', email('carol'), '--read-only']);
    await kpm('b1', ['share', 'accept', 'TokOps']);
    await kpm('c1', ['share', 'accept', 'TokOps']);
    await kpm('a1', ['add', 'tok-old', '--vault', 'TokOps', '--password-stdin'], 0, 'Tok-Old-1\n');
    const { tokenOf, ci } = tokenMachine('TokOps');
    const [bob, carol] = [await tokenOf('b1'), await tokenOf('c1')];
    expect((await ci(carol, ['read', 'kpm://TokOps/tok-old/password'])).stdout).toBe('Tok-Old-1\n');
    await kpm('a1', ['share', 'revoke', 'TokOps', email('carol')]); // a new epoch, a new key
    for (const args of [['read', 'kpm://TokOps/tok-old/password'], ['list']]) expect((await ci(carol, args, 9)).stderr).toMatch(/no longer a member of its shared vault/);
    await kpm('b1', ['add', 'tok-new', '--vault', 'TokOps', '--password-stdin'], 0, 'Tok-New-1\n');
    expect((await ci(bob, ['read', 'kpm://TokOps/tok-old/password'])).stdout).toBe('Tok-Old-1\n');
    const sealed = await ci(bob, ['read', 'kpm://TokOps/tok-new/password'], 4);
    expect(sealed.stdout).toBe('');
    expect(sealed.stderr).toMatch(/written after the vault got a new key .*which this service token does not hold/);
    expect((await ci(bob, ['list'])).stderr).toMatch(/warning: 1 entry of shared vault "TokOps" changed after it got a new key/);
    // a new token by a member, from a device of bob's that never ran a share command (it asks the server, as the entry commands do)
    await kpm('b1', ['sync']);
    homes.b2 = makeHome();
    await kpm('b2', ['login', email('bob'), '--password-stdin'], 0, ACCOUNT + '\n', {});
    const again = await tokenOf('b2');
    expect((await ci(again, ['read', 'kpm://TokOps/tok-new/password'])).stdout).toBe('Tok-New-1\n');
    await kpm('b1', ['share', 'leave', 'TokOps']);
    expect((await ci(again, ['get', 'tok-new'], 9)).stderr).toMatch(/no longer a member of its shared vault/);
  }, 300_000);

  it('kpm share rotate: a new key and epoch with the same members; tokens made before cannot read what is written afterwards (exit 4), members can; token revoke --rotate-key does it for the owner; only the owner rotates (exit 9)', async () => {
    await kpm('a1', ['share', 'RotOps', '--with', email('bob')]);
    await kpm('b1', ['share', 'accept', 'RotOps']);
    await kpm('a1', ['add', 'rot-old', '--vault', 'RotOps', '--password-stdin'], 0, 'Rot-Old-1\n');
    const { tokenOf, ci } = tokenMachine('RotOps');
    const [mine, bobs] = [await tokenOf('a1'), await tokenOf('b1')];
    const epoch = async () => JSON.parse((await kpm('a1', ['share', 'list', 'RotOps', '--json'])).stdout) as { epoch: number; members: { email: string; role: string }[] };
    const before = await epoch();
    expect((await ci(bobs, ['read', 'kpm://RotOps/rot-old/password'])).stdout).toBe('Rot-Old-1\n');
    // a member cannot rotate: nothing is sent
    expect((await kpm('b1', ['share', 'rotate', 'RotOps'], 9)).stderr).toMatch(/only the owner \(alice@entries\.example\.org\) gives shared vault "RotOps" a new key/);
    expect(await epoch()).toEqual(before);
    // the owner revokes its own token and rotates in the same command
    const id = (mine.split('_')[1] ?? '').slice(0, 8);
    const revoked = await kpm('a1', ['token', 'revoke', id, '--rotate-key']);
    expect(revoked.stderr).toMatch(/Shared vault "RotOps" has a new key \(epoch \d+, the same members\)/);
    const after = await epoch();
    expect(after.epoch).toBe(before.epoch + 1);
    expect(after.members).toEqual(before.members);
    expect((await ci(mine, ['read', 'kpm://RotOps/rot-old/password'], 4)).stderr).toMatch(/revoked or expired/);
    // written under the new key: every member reads it, a token made before does not (its keys are epochs 1…E)
    await kpm('b1', ['add', 'rot-new', '--vault', 'RotOps', '--password-stdin'], 0, 'Rot-New-1\n');
    expect((await kpm('a1', ['get', 'rot-new', '--vault', 'RotOps'])).stdout).toBe('Rot-New-1\n');
    expect((await ci(bobs, ['read', 'kpm://RotOps/rot-old/password'])).stdout).toBe('Rot-Old-1\n');
    const sealed = await ci(bobs, ['read', 'kpm://RotOps/rot-new/password'], 4);
    expect(sealed.stdout).toBe('');
    expect(sealed.stderr).toMatch(/written after the vault got a new key .*which this service token does not hold/);
    // a plain rotate by the owner: one more epoch; a token made now reads everything
    expect((await kpm('a1', ['share', 'rotate', 'RotOps'])).stderr).toMatch(new RegExp(`Shared vault "RotOps" has a new key \\(epoch ${after.epoch + 1}, the same 2 members\\)`));
    const fresh = await tokenOf('b1');
    expect((await ci(fresh, ['read', 'kpm://RotOps/rot-new/password'])).stdout).toBe('Rot-New-1\n');
    expect((await kpm('b1', ['get', 'rot-new', '--vault', 'RotOps'])).stdout).toBe('Rot-New-1\n');
  }, 300_000);

  it('a record the server altered in a shared vault makes kpm get (and list, sync) exit 8 on a device that has not seen it', async () => {
    await kpm('b1', ['sync']); // bob has verified everything up to here
    await kpm('c1', ['sync']); // and so has carol: her verified copy answers offline below
    await kpm('b1', ['add', 'late', '--vault', 'Team', '--password-stdin'], 0, 'Late-Secret-1\n');
    const newest = records().at(-1)!;
    try {
      const n = fromBase64(newest.body);
      n[n.length - 80] ^= 1; // inside the sealed entry, before the signature
      const d = db();
      try {
        d.prepare('UPDATE share_records SET body = ? WHERE vault_id = ? AND rev = ?').run(toBase64(n), newest.vault_id, newest.rev);
    } finally {
      d.close();
    }
    for (const args of [['get', 'deploy'], ['get', 'late', '--vault', 'Team'], ['list'], ['sync']]) expect((await kpm('c1', args, 8)).stderr, args.join(' ')).toMatch(/sharing: shared record \d+ of "Team"/);
    // nothing was written: the verified copy still answers offline (deploy as beforeAll added it)
    expect((await kpm('c1', ['get', 'deploy'], 0, undefined, { ...master, KPM_OFFLINE: '1' })).stdout).toBe('Deploy-Secret-1\n');
    const d2 = db();
    try {
      d2.prepare('UPDATE share_records SET body = ? WHERE vault_id = ? AND rev = ?').run(newest.body, newest.vault_id, newest.rev);
    } finally {
      d2.close();
    }
    expect((await kpm('c1', ['get', 'late'])).stdout).toBe('Late-Secret-1\n');
    } finally {
      const d3 = db(); // (restored above when the test got that far; again in case it did not)
      try {
        d3.prepare('UPDATE share_records SET body = ? WHERE vault_id = ? AND rev = ?').run(newest.body, newest.vault_id, newest.rev);
      } finally {
        d3.close();
      }
      await kpm('b1', ['rm', 'late', '--vault', 'Team', '--yes']); // Team holds the base entries only again
    }
  }, 180_000);
});
