// The service-token client (src/sync/tokenvault.ts) against the in-process server: a profile syncs,
// a token is made for one vault, and TokenVault reads it — latest versions only, deleted entries
// gone, lookups by name and id prefix, other vaults refused (exit 9); a server that swaps the sealed
// key, serves another vault or alters records is caught (exit 8).
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CACHE_FOLDER, TokenCache, tokenCacheRoot } from '../../src/sync/tokencache.js';
import { testServer } from '../helpers/server.js';
import { account, device, newProfile, secondDevice, transport } from '../helpers/sync.js';
import { syncProfile } from '../../src/sync/engine.js';
import { newServiceToken, sealVaultForToken, tokenAuthHash, tokenAuthHeader, tokenKeys, TokenVault, type ServiceToken, type TokenTransport } from '../../src/sync/tokenvault.js';
import { fromBase64, fromHex, toBase64, utf8 } from '../../src/crypto/bytes.js';
import { open } from '../../src/crypto/aead.js';
import { unwrapForToken } from '../../src/sync/tokenvault.js';
import { rotateVaultKey } from '../../src/sync/rotate.js';
import { parseVaultEnvelope } from '../../src/sync/envelope.js';
import { decodeRecord, entryAad } from '../../src/vault/format.js';
import { KpmError, EXIT } from '../../src/core/errors.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import type { PullResultT, TokenVaultT } from '../../src/protocol/schemas.js';

const login = (name: string, password: string): EntryPayload =>
  ({ type: 'login', name, fields: { username: 'bot', password }, custom: [], tags: [], created: new Date().toISOString(), updated: new Date().toISOString() }) as unknown as EntryPayload;

async function setup() {
  const ts = await testServer();
  const acct = await account(ts);
  const s = await newProfile();
  await s.createVault('CI');
  const deploy = await s.add('CI', login('deploy', 'v1'));
  await s.update('CI', deploy.id, 1, login('deploy', 'v2'));
  await s.add('CI', login('gone', 'x'));
  await s.remove('gone', 'CI');
  await s.add('CI', login('db', 'db-secret'));
  await s.add('Personal', login('mine', 'personal'));
  const t = transport(ts, acct.token);
  await syncProfile(s, t, acct.accountId);
  const make = async (vault: string): Promise<ServiceToken> => {
    const tok = newServiceToken();
    const { authKey, wrapKey } = tokenKeys(tok);
    const sealed = sealVaultForToken(s, vault, tok.id, toBase64(wrapKey));
    const r = await ts.call('POST', '/v1/tokens', { id: tok.id, vaultId: sealed.vaultId, name: vault, expiresAt: new Date(ts.clock.now + 86_400_000).toISOString(), authHash: tokenAuthHash(authKey), wrappedKey: sealed.wrappedKey }, { token: acct.token });
    expect(r.status).toBe(201);
    return tok;
  };
  const transportOf = (tok: ServiceToken, tamper: { vault?: (b: TokenVaultT) => TokenVaultT; pull?: (b: PullResultT) => PullResultT } = {}): TokenTransport => {
    const headers = { authorization: tokenAuthHeader(tok.id, tokenKeys(tok).authKey) };
    return {
      vault: async () => {
        const r = await ts.call('GET', '/v1/token/vault', undefined, { headers });
        expect(r.status).toBe(200);
        return tamper.vault ? tamper.vault(r.body) : r.body;
      },
      pull: async (after) => {
        const r = await ts.call('POST', '/v1/token/pull', { after }, { headers });
        expect(r.status).toBe(200);
        return tamper.pull ? tamper.pull(r.body) : r.body;
      },
    };
  };
  return { ts, s, deploy, make, transportOf, t, acct };
}

const exitOf = async (p: Promise<unknown> | (() => unknown)): Promise<number | undefined> => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof KpmError) return e.exitCode;
    throw e;
  }
  return undefined;
};

describe('TokenVault', () => {
  it('reads the latest version of each live entry of its vault, by name or id prefix; nothing else', async () => {
    const { make, transportOf, deploy } = await setup();
    const tok = await make('CI');
    const v = await TokenVault.load(transportOf(tok), tok);
    expect(v.name).toBe('CI');
    expect(v.get('DEPLOY').payload.fields.password).toBe('v2');
    expect(v.get(deploy.id.slice(0, 8)).payload.name).toBe('deploy');
    expect(v.get('db', 'ci').vault).toBe('CI');
    expect(v.get('db', v.id).payload.fields.password).toBe('db-secret');
    expect(v.list().map((e) => e.name)).toEqual(['db', 'deploy']);
    expect(v.list({ search: 'dep' }).map((e) => e.name)).toEqual(['deploy']);
    expect(await exitOf(() => v.get('gone'))).toBe(EXIT.notFound);
    expect(await exitOf(() => v.get('mine'))).toBe(EXIT.notFound);
    expect(await exitOf(() => v.get('mine', 'Personal'))).toBe(EXIT.forbidden);
    expect(await exitOf(() => v.list({ vault: 'Personal' }))).toBe(EXIT.forbidden);
  });

  it('a server that swaps the sealed key, serves another vault, or alters records is caught (exit 8)', async () => {
    const { make, transportOf } = await setup();
    const ci = await make('CI');
    const personal = await make('Personal');
    const personalInfo = await transportOf(personal).vault();
    // another token's sealed key, or another vault of the account under this token
    expect(await exitOf(TokenVault.load(transportOf(ci, { vault: (b) => ({ ...b, wrappedKey: personalInfo.wrappedKey }) }), ci))).toBe(EXIT.corrupt);
    expect(await exitOf(TokenVault.load(transportOf(ci, { vault: (b) => ({ ...b, vault: personalInfo.vault }) }), ci))).toBe(EXIT.corrupt);
    // records dropped, reordered, or from the start of the log again
    expect(await exitOf(TokenVault.load(transportOf(ci, { pull: (b) => ({ ...b, records: b.records.slice(1), from: b.from }) }), ci))).toBe(EXIT.corrupt);
    expect(await exitOf(TokenVault.load(transportOf(ci, { pull: (b) => ({ ...b, records: [...b.records].reverse() }) }), ci))).toBe(EXIT.corrupt);
    expect(await exitOf(TokenVault.load(transportOf(ci, { pull: (b) => ({ ...b, head: b.head - 1, records: b.records.slice(0, -1) }) }), ci))).toBe(EXIT.corrupt);
    // a token's secret that is not the one the key was sealed for
    const wrong = { id: ci.id, secret: newServiceToken().secret };
    expect(await exitOf(TokenVault.load(transportOf(ci), wrong))).toBe(EXIT.corrupt);
    // and the honest answers still read
    expect((await TokenVault.load(transportOf(ci), ci)).get('deploy').payload.fields.password).toBe('v2');
  });
});

describe('vault key rotation (kpm vault rotate-key, offered by kpm token revoke)', () => {
  it('S3: after a rotation the old token reads nothing; its keys do not open what is written after, even served by the server; every record moved', async () => {
    const { ts, s, make, transportOf, t, acct } = await setup();
    const tok = await make('CI');
    const before = (await TokenVault.load(transportOf(tok), tok)).get('deploy').payload.fields.password;
    expect(before).toBe('v2');
    const oldKeys = await transportOf(tok).vault();
    const { wrapKey } = tokenKeys(tok);
    const held = unwrapForToken(wrapKey, fromBase64(oldKeys.wrappedKey), tok.id, oldKeys.vault.id, s.profile.profileId);
    const historyBefore = s.history('deploy', 'CI').map((e) => e.payload.fields.password);
    const trashBefore = s.trash('CI').map((e) => e.name);
    const r = await rotateVaultKey(s, 'CI');
    expect(r.vault.name).toBe('CI');
    expect(r.vault.id).not.toBe(r.oldId);
    expect(s.history('deploy', 'CI').map((e) => e.payload.fields.password)).toEqual(historyBefore);
    expect(s.trash('CI').map((e) => e.name)).toEqual(trashBefore);
    await s.add('CI', login('after-rotation', 'new-secret'));
    await syncProfile(s, t, acct.accountId);
    expect(parseVaultEnvelope(fromBase64((await t.state()).vaults.find((v) => v.id === r.oldId)!.body)).deleted).toBe(true);
    // another device takes the rotation: the old vault goes, the new one arrives with every record
    const tb = transport(ts, await device(ts, acct.email));
    const b = await secondDevice(tb, acct.accountId);
    await syncProfile(b, tb, acct.accountId);
    expect(b.listVaults().map((x) => x.id).sort()).toEqual(s.listVaults().map((x) => x.id).sort());
    expect(b.history('deploy', 'CI').map((e) => e.payload.fields.password)).toEqual(historyBefore);
    expect(b.get('after-rotation', 'CI').payload.fields.password).toBe('new-secret');
    // the old vault is deleted on the server: the token reads nothing
    expect(await exitOf(TokenVault.load(transportOf(tok), tok))).toBe(EXIT.notFound);
    // a server that serves the new vault to the old token: its keys open none of its records
    const fresh = (await t.pull(r.vault.id, 0)).records;
    expect(fresh.length).toBe(6); // the five records of CI (every version, the trash) and the new one
    for (const raw of fresh) {
      const rec = decodeRecord(fromBase64(raw));
      const aad = entryAad(s.profile.profileId, fromHex(r.vault.id), rec.entryId, rec.version, rec.flags, rec.nameTag);
      expect(() => open(held.recordKey, rec.sealed, aad)).toThrow();
    }
  });
});

describe('vault key rotation of a data vault (own password)', () => {
  it('keeps its own password (needed, and checked: exit 5 for a wrong one) and every entry; an interrupted rotation is finished by running it again', async () => {
    const s = await newProfile();
    await s.createVault('Private', utf8.encode('vault-pw-123'));
    await s.add('Private', login('hidden', 'h1'));
    const before = s.vault('Private').id;
    expect(await exitOf(rotateVaultKey(s, 'Private'))).toBe(EXIT.usage);
    expect(await exitOf(rotateVaultKey(s, 'Private', utf8.encode('wrong-password')))).toBe(EXIT.wrongPassword);
    expect(s.vault('Private').id).toBe(before);
    const r = await rotateVaultKey(s, 'Private', utf8.encode('vault-pw-123'));
    expect(r.vault).toMatchObject({ name: 'Private', ownPassword: true });
    expect(s.get('hidden', 'Private').payload.fields.password).toBe('h1');
    expect(s.listVaults().map((v) => v.name).sort()).toEqual(['Personal', 'Private']);
    // interrupted after the old vault went, before the rename: running it again on the copy finishes
    await s.renameVault('Private', 'Private (rotating key)');
    const copy = s.vault('Private (rotating key)').id;
    const again = await rotateVaultKey(s, 'Private (rotating key)', utf8.encode('vault-pw-123'));
    expect(again.vault.name).toBe('Private');
    expect(again.vault.id).not.toBe(copy); // rotated again, not only renamed
    expect(s.get('hidden', 'Private').payload.fields.password).toBe('h1');
  });
});

describe('the service-token cache (src/sync/tokencache.ts)', () => {
  const cacheRoot = () => fs.mkdtempSync(join(tmpdir(), 'kpm-tokencache-'));
  /** a transport that counts pulls and records where each started */
  const counting = (t: TokenTransport) => {
    const pulls: number[] = [];
    return { pulls, t: { vault: () => t.vault(), pull: (after: number) => (pulls.push(after), t.pull(after)) } satisfies TokenTransport };
  };

  it('the second read pulls nothing when the head did not move, and only the new records when it did', async () => {
    const { s, make, transportOf, t, acct } = await setup();
    const tok = await make('CI');
    const root = cacheRoot();
    const first = counting(transportOf(tok));
    expect((await TokenVault.load(first.t, tok, new TokenCache(root, tok))).get('deploy').payload.fields.password).toBe('v2');
    expect(first.pulls).toEqual([0]);
    const second = counting(transportOf(tok));
    const v2 = await TokenVault.load(second.t, tok, new TokenCache(root, tok));
    expect(second.pulls).toEqual([]);
    expect(v2.get('deploy').payload.fields.password).toBe('v2');
    expect(v2.list().map((e) => e.name)).toEqual(['db', 'deploy']);
    const head = (await transportOf(tok).vault()).vault.head;
    await s.update('CI', s.get('deploy', 'CI').id, s.get('deploy', 'CI').version, login('deploy', 'v3'));
    await s.add('CI', login('later', 'l1'));
    await syncProfile(s, t, acct.accountId);
    const third = counting(transportOf(tok));
    const v3 = await TokenVault.load(third.t, tok, new TokenCache(root, tok));
    expect(third.pulls).toEqual([head]);
    expect(v3.get('deploy').payload.fields.password).toBe('v3');
    expect(v3.get('later').payload.fields.password).toBe('l1');
    expect(await exitOf(() => v3.get('gone'))).toBe(EXIT.notFound);
    // the same answers as a read without a cache
    expect(v3.list()).toEqual((await TokenVault.load(transportOf(tok), tok)).list());
  });

  it('the cache file holds no plaintext (no name, value, vault name or id), is 0600 in a 0700 folder, and opens only with its token', async () => {
    const { s, t, acct, make, transportOf } = await setup();
    // Needles of 10+ bytes: the file is ciphertext, and a 2-byte needle such as 'v2' turns up in a few
    // KiB of random bytes now and then (this test once failed so in CI).
    const VAULT = 'release-pipeline', NAME = 'production-database', VALUE = 'correct-horse-battery-staple';
    await s.createVault(VAULT);
    await s.add(VAULT, login(NAME, VALUE));
    await syncProfile(s, t, acct.accountId);
    const tok = await make(VAULT);
    const root = cacheRoot();
    const c = new TokenCache(root, tok);
    const v = await TokenVault.load(transportOf(tok), tok, c);
    expect(v.get(NAME).payload.fields.password).toBe(VALUE);
    const bytes = fs.readFileSync(c.file);
    for (const needle of [VAULT, NAME, VALUE, '"username":"bot"', v.id, tok.id, '"type":"login"']) {
      expect(bytes.includes(Buffer.from(needle)), needle).toBe(false);
      expect(bytes.includes(Buffer.from(needle).toString('base64')), needle).toBe(false);
    }
    expect(bytes.includes(Buffer.from(fromHex(v.id)))).toBe(false);
    expect(c.file).not.toContain(tok.id);
    expect(fs.statSync(c.file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(c.dir).mode & 0o777).toBe(0o700);
    // another token's cache object does not open this file
    const other = { id: tok.id, secret: newServiceToken().secret };
    const foreign = new TokenCache(root, other);
    fs.copyFileSync(c.file, foreign.file);
    expect(foreign.read()).toBeNull();
    expect(foreign.discarded).toMatch(/does not open/);
  });

  it('a tampered cache (a flipped byte, a truncated or a foreign file) is discarded and the vault fetched again; the answers stay right', async () => {
    const { make, transportOf } = await setup();
    const tok = await make('CI');
    const root = cacheRoot();
    const c = new TokenCache(root, tok);
    await TokenVault.load(transportOf(tok), tok, c);
    const good = fs.readFileSync(c.file);
    const damages: ((b: Buffer) => Buffer)[] = [
      (b) => {
        const x = Buffer.from(b);
        x[x.length - 100] ^= 1;
        return x;
      },
      (b) => b.subarray(0, b.length - 1),
      (b) => b.subarray(0, 3),
      () => Buffer.from('not a cache at all'),
    ];
    for (const damage of damages) {
      fs.writeFileSync(c.file, damage(good));
      const cc = new TokenCache(root, tok);
      const pulls = counting(transportOf(tok));
      const v = await TokenVault.load(pulls.t, tok, cc);
      expect(pulls.pulls).toEqual([0]); // fetched again, from the start
      expect(v.get('deploy').payload.fields.password).toBe('v2');
      expect(v.warnings.join()).toMatch(/cache was discarded/);
      expect(new TokenCache(root, tok).read()?.head).toBe((await transportOf(tok).vault()).vault.head); // and saved again, whole
    }
  });

  it('rollback: a server that serves an older head (or envelope) than the cache holds is refused (exit 8), and the cache keeps the highest head', async () => {
    const { s, make, transportOf, t, acct } = await setup();
    const tok = await make('CI');
    const root = cacheRoot();
    const honest = transportOf(tok);
    const oldInfo = await honest.vault();
    const oldPull = await honest.pull(0);
    await TokenVault.load(honest, tok, new TokenCache(root, tok));
    await s.add('CI', login('newer', 'n1'));
    await syncProfile(s, t, acct.accountId);
    await TokenVault.load(honest, tok, new TokenCache(root, tok));
    const highest = new TokenCache(root, tok).read()!.head;
    expect(highest).toBe(oldInfo.vault.head + 1);
    // the server replays the state of before (a correctly signed manifest, for the old head)
    const replay: TokenTransport = { vault: async () => oldInfo, pull: async () => oldPull };
    const r = TokenVault.load(replay, tok, new TokenCache(root, tok));
    await expect(r).rejects.toThrow(/rolled back to revision/);
    expect(await exitOf(TokenVault.load(replay, tok, new TokenCache(root, tok)))).toBe(EXIT.corrupt);
    // only the head in the vault answer lowered: the same
    expect(await exitOf(TokenVault.load(transportOf(tok, { vault: (b) => ({ ...b, vault: { ...b.vault, head: b.vault.head - 1 } }) }), tok, new TokenCache(root, tok)))).toBe(EXIT.corrupt);
    expect(new TokenCache(root, tok).read()!.head).toBe(highest);
    // a save with a lower head (a parallel read that was slower) leaves the higher one
    const cached = new TokenCache(root, tok).read()!;
    new TokenCache(root, tok).save({ ...cached, head: highest - 1 });
    expect(new TokenCache(root, tok).read()!.head).toBe(highest);
    expect((await TokenVault.load(honest, tok, new TokenCache(root, tok))).get('newer').payload.fields.password).toBe('n1');
  });

  it('a token whose vault was deleted (key rotation) reads nothing, and its cache is removed', async () => {
    const { s, make, transportOf, t, acct } = await setup();
    const tok = await make('CI');
    const root = cacheRoot();
    const c = new TokenCache(root, tok);
    await TokenVault.load(transportOf(tok), tok, c);
    expect(fs.existsSync(c.file)).toBe(true);
    await rotateVaultKey(s, 'CI');
    await syncProfile(s, t, acct.accountId);
    expect(await exitOf(TokenVault.load(transportOf(tok), tok, new TokenCache(root, tok)))).toBe(EXIT.notFound);
    expect(fs.existsSync(c.file)).toBe(false);
  });

  it('a cache folder that is not private (another mode, a symlink) is refused (exit 9); KPM_CACHE_DIR=off keeps nothing', async () => {
    const { make, transportOf } = await setup();
    const tok = await make('CI');
    const root = cacheRoot();
    fs.mkdirSync(join(root, CACHE_FOLDER), { mode: 0o755 });
    fs.chmodSync(join(root, CACHE_FOLDER), 0o755);
    expect(await exitOf(TokenVault.load(transportOf(tok), tok, new TokenCache(root, tok)))).toBe(EXIT.forbidden);
    const root2 = cacheRoot();
    fs.symlinkSync(root, join(root2, CACHE_FOLDER));
    expect(await exitOf(TokenVault.load(transportOf(tok), tok, new TokenCache(root2, tok)))).toBe(EXIT.forbidden);
    expect(tokenCacheRoot({ KPM_CACHE_DIR: 'off' })).toBeNull();
    expect(tokenCacheRoot({ KPM_CACHE_DIR: '/x/y' })).toBe('/x/y');
    expect(tokenCacheRoot({ KPM_HOME: '/h' })).not.toContain('/h'); // the user cache folder: a token machine needs no KPM_HOME
  });
  it('a compaction on the server (a new, signed log generation with a lower head) is followed, not taken for a rollback; an older generation is refused', async () => {
    const { s, make, transportOf, t, acct } = await setup();
    const tok = await make('CI');
    const root = cacheRoot();
    await TokenVault.load(transportOf(tok), tok, new TokenCache(root, tok)); // cached at generation 1
    const gen1: PullResultT[] = [];
    for (let after = 0; ; ) {
      const p = await transportOf(tok).pull(after);
      gen1.push(p);
      after += p.records.length;
      if (!p.more) break;
    }
    const vault1 = await transportOf(tok).vault();
    await s.purgeHistory('deploy', 'CI');
    await s.purgeTrash('gone', 'CI');
    await syncProfile(s, t, acct.accountId);
    const vault2 = await transportOf(tok).vault();
    expect(vault2.vault.generation).toBeGreaterThan(vault1.vault.generation);
    expect(vault2.vault.head).toBeLessThan(vault1.vault.head);
    const v = await TokenVault.load(transportOf(tok), tok, new TokenCache(root, tok));
    expect(v.get('deploy').payload.fields.password).toBe('v2');
    expect(v.list().map((e) => e.name)).toEqual(['db', 'deploy']);
    // the next read finds the new generation in the cache and pulls nothing
    const again = counting(transportOf(tok));
    await TokenVault.load(again.t, tok, new TokenCache(root, tok));
    expect(again.pulls).toEqual([]);
    // a server that serves the old generation again (validly signed, older) is refused
    const r = { vault: transportOf(tok, { vault: () => vault1 }).vault, pull: async (after: number) => structuredClone(gen1.find((p) => p.from === after + 1) ?? gen1[0]) } satisfies TokenTransport;
    await expect(TokenVault.load(r, tok, new TokenCache(root, tok))).rejects.toMatchObject({ exitCode: EXIT.corrupt, message: expect.stringMatching(/rolled back to log generation 1/) });
  });
});
