// Service tokens on shared vaults (docs/SHARING.md "Service tokens on shared vaults") against the
// in-process server: a member seals what the token needs (the owner's pinned keys, the epochs'
// record keys) and ShareTokenVault reads through the token routes, verifying as a member does. A
// tampering transport stands for a malicious server (answers rewritten), direct database changes
// for a server that accepts what it should not: every attack is exit 8, nothing is shown.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenCache } from '../../src/sync/tokencache.js';
import { sql } from 'kysely';
import type { TestServer } from '../helpers/server.js';
import { entry, inject, person, run, world, makeShareToken } from '../helpers/share.js';
import { fromBase64, toBase64, toHex } from '../../src/crypto/bytes.js';
import { randomBytes } from '../../src/crypto/random.js';
import { KpmError, EXIT } from '../../src/core/errors.js';
import { accountIdentity } from '../../src/share/identity.js';
import { recordKey, sealMembership, parseMembership } from '../../src/share/format.js';
import { ShareTokenVault, type ShareTokenTransport } from '../../src/share/tokenvault.js';
import { formatServiceToken, parseServiceToken, tokenAuthHeader, tokenKeys, type ServiceToken } from '../../src/sync/tokenvault.js';
import type { SharePullT, TokenShareT } from '../../src/protocol/share.js';

type Tamper = { vault?: (b: TokenShareT) => TokenShareT | Promise<TokenShareT>; pull?: (b: SharePullT) => SharePullT };

function transportOf(ts: TestServer, t: ServiceToken, tamper: Tamper = {}): ShareTokenTransport & { statuses: number[] } {
  const headers = { authorization: tokenAuthHeader(t.id, tokenKeys(t).authKey) };
  const statuses: number[] = [];
  const fail = (r: { status: number; body: { error: string; message: string } }) => new KpmError(`HTTP ${r.status} ${r.body.error}: ${r.body.message}`, r.status === 403 ? EXIT.forbidden : r.status === 401 ? EXIT.locked : EXIT.network);
  return {
    statuses,
    vault: async () => {
      const r = await ts.call('GET', '/v1/token/share', undefined, { headers });
      statuses.push(r.status);
      if (r.status !== 200) throw fail(r);
      return tamper.vault ? tamper.vault(structuredClone(r.body)) : r.body;
    },
    pull: async (after) => {
      const r = await ts.call('POST', '/v1/token/share/pull', { after }, { headers });
      statuses.push(r.status);
      if (r.status !== 200) throw fail(r);
      return tamper.pull ? tamper.pull(structuredClone(r.body)) : r.body;
    },
  };
}

const load = (ts: TestServer, t: ServiceToken, tamper?: Tamper, cache?: TokenCache) => ShareTokenVault.load(transportOf(ts, t, tamper), t.id, tokenKeys(t).wrapKey, cache);

async function failure(p: Promise<unknown> | (() => unknown)): Promise<KpmError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof KpmError) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

describe('service tokens on shared vaults', () => {
  it("a reader's token reads the shared vault (by name, id prefix; list), a writer's later write is seen; another vault is exit 9; the token string is kpms_…", async () => {
    const { ts, b, c, id } = await world();
    const t = await makeShareToken(ts, c);
    expect(formatServiceToken(t)).toMatch(/^kpms_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    expect(parseServiceToken(formatServiceToken(t))).toEqual({ id: t.id, secret: t.secret, shared: true });
    let v = await load(ts, t);
    expect(v.name).toBe('Team');
    expect(v.id).toBe(id);
    expect(v.get('deploy').payload.fields).toEqual({ username: 'team', password: 'pw-deploy-1' });
    expect(v.get('DB', 'team').payload.fields.password).toBe('pw-db-1');
    expect(v.get(v.get('db').id.slice(0, 8), id).payload.name).toBe('db');
    expect(v.list().map((e) => `${e.vault}/${e.name}/${e.username}`)).toEqual(['Team/db/team', 'Team/deploy/team']);
    expect(v.warnings).toEqual([]);
    expect((await failure(() => v.get('nope'))).exitCode).toBe(EXIT.notFound);
    expect((await failure(() => v.get('db', 'Personal'))).exitCode).toBe(EXIT.forbidden);
    await run(b, (x) => x.write('Team', entry('later', 'pw-later-1')));
    v = await load(ts, t);
    expect(v.get('later').payload.fields.password).toBe('pw-later-1');
    // an own-vault token route does not serve it, nor does the share route serve an own-vault token
    const headers = { authorization: tokenAuthHeader(t.id, tokenKeys(t).authKey) };
    expect((await ts.call('GET', '/v1/token/vault', undefined, { headers })).status).toBe(404);
    // and a device session is no token
    expect((await ts.call('GET', '/v1/token/share', undefined, { token: c.token })).status).toBe(401);
  });

  it('a record written by a non-member, or by a read-only member, accepted by the server: exit 8', async () => {
    const { ts, b, c, id } = await world();
    const t = await makeShareToken(ts, b);
    const cv = await run(c, (x) => x.openForUse('Team'));
    await inject(ts, id, c.accountKey, c.email, cv.keys[cv.latest.epoch - 1], cv.latest.epoch);
    const e1 = await failure(load(ts, t));
    expect(e1.exitCode).toBe(EXIT.corrupt);
    expect(e1.message).toMatch(/read-only member: refused/);
    await ts.store.db.deleteFrom('share_records').where('vault_id', '=', id).where('rev', '=', 3).execute();
    await ts.store.db.updateTable('share_vaults').set({ head: 2 }).where('vault_id', '=', id).execute();
    const d = await person(ts);
    await inject(ts, id, d.accountKey, d.email, cv.keys[cv.latest.epoch - 1], cv.latest.epoch);
    const e2 = await failure(load(ts, t));
    expect(e2.exitCode).toBe(EXIT.corrupt);
    expect(e2.message).toMatch(/not a member's/);
  });

  it('a membership not signed by the owner (edited, or a whole chain the server signed with an owner key of its own), a substituted owner key: exit 8', async () => {
    const { ts, a, c } = await world();
    const t = await makeShareToken(ts, c);
    // an epoch the server edits: carol becomes a writer
    const edit = (b: TokenShareT) => {
      const raw = fromBase64(b.vault.memberships.at(-1)!);
      raw[raw.length - 100] ^= 1;
      return { ...b, vault: { ...b.vault, memberships: [...b.vault.memberships.slice(0, -1), toBase64(raw)] } };
    };
    expect((await failure(load(ts, t, { vault: edit }))).exitCode).toBe(EXIT.corrupt);
    // the server's own owner key: it re-signs every epoch as "the owner" (the email is the owner's)
    const evil = accountIdentity(randomBytes(32), a.email);
    const resign = async (b: TokenShareT) => {
      const out: string[] = [];
      for (const body of b.vault.memberships) {
        const m = parseMembership(fromBase64(body));
        const members = m.members.map((x) => (x.role === 'owner' ? { ...x, signPublic: evil.signPublic, boxPublic: evil.boxPublic } : x));
        out.push(toBase64(await sealMembership(evil.signer, { ...m, members })));
      }
      return { ...b, vault: { ...b.vault, memberships: out } };
    };
    const e = await failure(load(ts, t, { vault: resign }));
    expect(e.exitCode).toBe(EXIT.corrupt);
    expect(e.message).toMatch(/not signed by the vault's owner/);
    // another owner named for the vault
    expect((await failure(load(ts, t, { vault: (b) => ({ ...b, vault: { ...b.vault, owner: c.email } }) }))).exitCode).toBe(EXIT.corrupt);
    // another token's sealed keys, or another vault under this token
    const other = await makeShareToken(ts, c);
    const otherInfo = await transportOf(ts, other).vault();
    expect((await failure(load(ts, t, { vault: (b) => ({ ...b, wrappedKey: otherInfo.wrappedKey }) }))).message).toMatch(/do not open/);
    expect((await failure(load(ts, t, { vault: (b) => ({ ...b, vault: { ...b.vault, id: toHex(randomBytes(16)) } }) }))).exitCode).toBe(EXIT.corrupt);
  });

  it('a replayed older membership epoch, a log rolled back below what the creator verified, or reordered: exit 8', async () => {
    const { ts, a, b } = await world();
    const d = await person(ts);
    await run(a, (x) => x.share('Team', d.email, 'reader', false)); // epoch 3
    await run(d, (x) => x.accept('Team'));
    await run(a, (x) => x.revoke('Team', d.email)); // epoch 4: d removed
    const t = await makeShareToken(ts, b); // made at epoch 4
    expect((await load(ts, t)).epoch).toBe(4);
    const e = await failure(load(ts, t, { vault: (x) => ({ ...x, vault: { ...x.vault, memberships: x.vault.memberships.slice(0, 3) } }) }));
    expect(e.exitCode).toBe(EXIT.corrupt);
    expect(e.message).toMatch(/older than epoch 4 .*replay/);
    // the log: below the creator's revision 2, or reordered
    expect((await failure(load(ts, t, { vault: (x) => ({ ...x, vault: { ...x.vault, head: 1 } }), pull: (p) => ({ ...p, head: 1, records: p.records.slice(0, 1), more: false }) }))).message).toMatch(/rolled back/);
    expect((await failure(load(ts, t, { pull: (p) => ({ ...p, records: [...p.records].reverse() }) }))).exitCode).toBe(EXIT.corrupt);
    expect((await failure(load(ts, t, { pull: (p) => ({ ...p, records: p.records.slice(1) }) }))).exitCode).toBe(EXIT.corrupt);
  });

  it("after revoke (a new epoch, a new key) the token reads what it could, not what is written afterwards (exit 4); a token whose creator was removed, or left, is refused by the server (exit 9)", async () => {
    const { ts, a, b, c, id } = await world();
    const tb = await makeShareToken(ts, b);
    const tc = await makeShareToken(ts, c);
    await run(a, (x) => x.revoke('Team', c.email)); // epoch 3, a new key; carol removed
    // carol's token: the server serves it no more
    const tr = transportOf(ts, tc);
    const ec = await failure(ShareTokenVault.load(tr, tc.id, tokenKeys(tc).wrapKey));
    expect(ec.exitCode).toBe(EXIT.forbidden);
    expect(tr.statuses).toEqual([403]);
    // the signed membership, too: a server that serves it anyway is refused by the token (exit 9)
    await ts.store.db.insertInto('share_members').values({ vault_id: id, account_id: c.accountId, role: 'reader', bundle: 'AA==', accept: null }).execute();
    const ec2 = await failure(load(ts, tc));
    expect(ec2.exitCode).toBe(EXIT.forbidden);
    expect(ec2.message).toMatch(/no longer a member of shared vault "Team" \(membership epoch 3\)/);
    // bob's token: what was written before reads; what is written afterwards does not
    await run(a, (x) => x.write('Team', entry('after', 'pw-after-1')));
    let v = await load(ts, tb);
    expect(v.get('deploy').payload.fields.password).toBe('pw-deploy-1');
    const e = await failure(() => v.get('after'));
    expect(e.exitCode).toBe(EXIT.locked);
    expect(e.message).toMatch(/written after the vault got a new key/);
    expect(v.warnings.join('\n')).toMatch(/1 entry of shared vault "Team" changed after it got a new key/);
    expect(v.list().map((x) => x.name)).toEqual(['db', 'deploy']);
    // an entry changed afterwards: its old version is not served as if it were current
    await run(b, (x) => x.write('Team', entry('deploy', 'pw-deploy-2')));
    v = await load(ts, tb);
    expect((await failure(() => v.get('deploy'))).exitCode).toBe(EXIT.locked);
    expect(v.get('db').payload.fields.password).toBe('pw-db-1');
    // a new token, made by a member now, reads everything
    const tb2 = await makeShareToken(ts, b);
    const v2 = await load(ts, tb2);
    expect(v2.get('after').payload.fields.password).toBe('pw-after-1');
    expect(v2.get('deploy').payload.fields.password).toBe('pw-deploy-2');
    // bob leaves: his tokens are refused by the server
    await run(b, (x) => x.leave('Team'));
    expect((await failure(load(ts, tb2))).exitCode).toBe(EXIT.forbidden);
  });

  it("a dump of the server database holds no plaintext and no unwrapped key of a shared vault's token", async () => {
    const { ts, c } = await world();
    const t = await makeShareToken(ts, c);
    const v = await run(c, (x) => x.openForUse('Team'));
    const dump = JSON.stringify((await sql`select * from ${sql.table('service_tokens')}`.execute(ts.store.db)).rows);
    expect(dump).toContain(t.id);
    const decoded = Buffer.from(dump.replace(/[^A-Za-z0-9+/=]/g, ' ').split(' ').filter((s) => s.length >= 16).map((s) => Buffer.from(s, 'base64').toString('latin1')).join('\n'), 'latin1').toString('latin1');
    for (const s of ['pw-deploy-1', 'pw-db-1', 'Team']) expect(dump + decoded).not.toContain(s);
    const { wrapKey, authKey } = tokenKeys(t);
    for (const k of [...v.keys, ...v.keys.map(recordKey), wrapKey, authKey, t.secret, c.accountKey]) {
      expect(decoded).not.toContain(Buffer.from(k).toString('latin1'));
      expect(dump).not.toContain(toHex(k));
      expect(dump).not.toContain(toBase64(k));
    }
  });

  it('the token cache: a later read pulls only what is new; a server that serves an older head or epoch than the token saw is refused (exit 8); the file holds no plaintext; a tampered one is discarded', async () => {
    const { ts, a, b, c } = await world();
    const t = await makeShareToken(ts, c);
    const root = fs.mkdtempSync(join(tmpdir(), 'kpm-sharetokencache-'));
    const cache = () => new TokenCache(root, t);
    const afters: number[] = [];
    const counting: Tamper = { pull: (p) => (afters.push(p.from - 1), p) };
    expect((await load(ts, t, counting, cache())).get('deploy').payload.fields.password).toBe('pw-deploy-1');
    expect(afters).toEqual([0]);
    afters.length = 0;
    let v = await load(ts, t, counting, cache());
    expect(v.get('db').payload.fields.password).toBe('pw-db-1');
    expect(v.warnings).toEqual([]);
    expect(afters).toEqual([]); // the head did not move: nothing pulled
    await run(b, (x) => x.write('Team', entry('deploy', 'pw-deploy-2')));
    v = await load(ts, t, counting, cache());
    expect(afters).toEqual([2]); // only the new record
    expect(v.get('deploy').payload.fields.password).toBe('pw-deploy-2');
    expect(v.list().map((x) => x.name)).toEqual(['db', 'deploy']);
    // rollback: the head below what the cache saw, valid signatures and all
    const rolled = await failure(load(ts, t, { vault: (x) => ({ ...x, vault: { ...x.vault, head: 2 } }), pull: (p) => ({ ...p, head: 2, records: p.records.slice(0, 2), more: false }) }, cache()));
    expect(rolled.exitCode).toBe(EXIT.corrupt);
    expect(rolled.message).toMatch(/below revision 3 which this token verified before/);
    // an epoch the cache saw, then a replay of the one before
    const d = await person(ts);
    await run(a, (x) => x.share('Team', d.email, 'reader', false)); // epoch 3
    await load(ts, t, undefined, cache());
    const replay = await failure(load(ts, t, { vault: (x) => ({ ...x, vault: { ...x.vault, memberships: x.vault.memberships.slice(0, 2) } }) }, cache()));
    expect(replay.exitCode).toBe(EXIT.corrupt);
    expect(replay.message).toMatch(/older than epoch 3 which this token saw/);
    // the file: no plaintext; changed, it is discarded and the vault fetched again
    const [file] = fs.readdirSync(join(root, 'kpm-tokens')).map((f) => join(root, 'kpm-tokens', f));
    const bytes = fs.readFileSync(file);
    for (const s of ['pw-deploy-2', 'pw-db-1', 'Team', 'deploy', t.id]) expect(bytes.includes(Buffer.from(s)), s).toBe(false);
    bytes[bytes.length - 5] ^= 1;
    fs.writeFileSync(file, bytes);
    afters.length = 0;
    v = await load(ts, t, counting, cache());
    expect(afters).toEqual([0]);
    expect(v.warnings.join('\n')).toMatch(/cache was discarded: it does not open/);
    expect(v.get('deploy').payload.fields.password).toBe('pw-deploy-2');
  });
});
