// Shared vaults (docs/SHARING.md) against the in-process server, with a malicious-server double in
// front of it (answers rewritten) and direct database changes (a server that accepts what it
// should not). Every attack ends with exit 8 (or the documented refusal), nothing written on the
// device (its share.kpms unchanged) and nothing sent.
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { testServer } from '../helpers/server.js';
import * as fs from 'node:fs';
import { caller, entry, inject, person, read, refused, run, secondDeviceOf, world, type Person } from '../helpers/share.js';
import { ShareClient } from '../../src/share/client.js';
import { fromBase64, fromHex, toBase64, toHex, utf8 } from '../../src/crypto/bytes.js';
import { randomBytes } from '../../src/crypto/random.js';
import { KpmError, EXIT } from '../../src/core/errors.js';
import { accountIdentity, encodeIdentity, fingerprintDigits } from '../../src/share/identity.js';
import { openRecord, parseMembership, parseRecord, sealBundle, sealMembership, sealRecord, openBundle } from '../../src/share/format.js';
import { shareStateFile } from '../../src/share/state.js';
import type { ShareVaultT } from '../../src/protocol/share.js';
import { seeded } from '../helpers/seeded.js';

describe('shared vaults: keys, contacts, sharing, roles, revocation', () => {
  it('share, accept, write from a writer, read from a reader, second device, a reader\'s write refused before anything is sent', async () => {
    const { ts, a, b, c } = await world();
    expect(await read(c, 'deploy')).toBe('pw-deploy-1');
    expect(await read(c, 'db')).toBe('pw-db-1');
    expect(await read(a, 'db')).toBe('pw-db-1');
    // B's second device: same account key, its own pins; reads the vault it accepted on the first one
    const b2 = await secondDeviceOf(ts, b);
    expect(await read(b2, 'deploy')).toBe('pw-deploy-1');
    await run(b2, (x) => x.write('Team', entry('deploy', 'pw-deploy-2')));
    expect(await read(c, 'deploy')).toBe('pw-deploy-2');
    await refused(c, (x) => x.write('Team', entry('deploy', 'mine')), /only read/, EXIT.forbidden);
    // the server refuses it too (a client that skips its own check)
    const v = (await run(c, (x) => x.openForUse('Team')));
    const rec = await sealRecord(accountIdentity(c.accountKey, c.email).signer, v.keys[v.latest.epoch - 1], { vaultId: fromHex(v.id), rev: v.head + 1, epoch: v.latest.epoch, prevChain: v.chainHash, entryId: randomBytes(16), deleted: false }, entry('x', 'y'));
    const r = await ts.call('POST', `/v1/share/vaults/${v.id}/push`, { base: v.head, records: [toBase64(rec)] }, { token: c.token });
    expect(r.status).toBe(403);
    // a member list with roles and verification
    const list = (await run(a, (x) => x.resolve('Team')))!.latest.members.map((m) => `${m.email}:${m.role}`);
    expect(list).toEqual([`${a.email}:owner`, `${b.email}:writer`, `${c.email}:reader`]);
  });

  it('revoke: a new epoch and a new key; the removed member cannot read anything written afterwards, even with the whole database', async () => {
    const { ts, a, b, c, id } = await world();
    const before = await run(c, (x) => x.openForUse('Team'));
    const cKeys = before.keys.map((k) => k.slice());
    await run(a, (x) => x.revoke('Team', c.email));
    await run(a, (x) => x.write('Team', entry('after', 'pw-after-revoke')));
    expect(await read(b, 'after')).toBe('pw-after-revoke');
    await refused(c, (x) => x.openForUse('Team'), /no longer a member/, EXIT.forbidden);
    // with the server's whole database: no record written after the revocation opens with any key C ever had,
    // and no key bundle of the new epoch opens with C's account key
    const rows = await ts.store.db.selectFrom('share_records').select(['rev', 'body']).where('vault_id', '=', id).execute();
    const later = rows.map((x) => parseRecord(fromBase64(x.body))).filter((p) => p.epoch > before.latest.epoch);
    expect(later.length).toBeGreaterThan(0);
    for (const p of later) for (const k of cKeys) expect(() => openRecord(p, k)).toThrow(/does not open/);
    const bundles = await ts.store.db.selectFrom('share_members').select('bundle').where('vault_id', '=', id).execute();
    const cId = accountIdentity(c.accountKey, c.email);
    const aId = accountIdentity(a.accountKey, a.email);
    for (const x of bundles) await expect(openBundle(cId, aId.signPublic, aId.boxPublic, fromHex(id), before.latest.epoch + 1, fromBase64(x.bundle))).rejects.toThrow(/not this account/);
  });

  it('whoami fingerprint: 8 groups of 5 digits; verify: a wrong fingerprint is exit 8 and changes nothing, the right one marks the contact verified', async () => {
    const ts = await testServer();
    const [a, b] = [await person(ts), await person(ts)];
    const fpB = accountIdentity(b.accountKey, b.email).fp;
    expect(fingerprintDigits(fpB)).toMatch(/^(\d{5} ){7}\d{5}$/);
    const added = await run(a, (x) => x.addContact(b.email));
    expect(added.verified).toBe(false);
    const wrong = fingerprintDigits(accountIdentity(a.accountKey, a.email).fp);
    await refused(a, (x) => x.verifyContact(b.email, wrong), /does not match/);
    await run(a, (x) => x.verifyContact(b.email, fingerprintDigits(fpB)));
    expect((await run(a, async (x) => x.listContacts())).map((x) => [x.email, x.verified])).toEqual([[b.email, true]]);
    await run(a, (x) => x.verifyContact(b.email, toHex(fpB)));
  });
});

describe('shared vaults: a malicious server', () => {
  it('a substituted public key for a pinned contact: exit 8, nothing written, nothing sent; accept-change re-pins it, unverified', async () => {
    const ts = await testServer();
    const [a, b] = [await person(ts), await person(ts)];
    await run(a, (x) => x.addContact(b.email));
    const evil = accountIdentity(randomBytes(32), b.email);
    const evilRecord = toBase64(await encodeIdentity(evil));
    a.tamper.shareIdentityGet = (r) => ({ ...r, body: evilRecord });
    await refused(a, (x) => x.share('Team', b.email, 'writer', false), /other keys for .* than the ones pinned/);
    await refused(a, (x) => x.addContact(b.email), /other keys/);
    const ch = await run(a, (x) => x.acceptChange(b.email));
    expect(toHex(ch.fingerprint)).toBe(toHex(evil.fp));
    expect(ch.verified).toBe(false);
  });

  it('a substituted key on first contact: caught when fingerprints are compared, and by the real member\'s device', async () => {
    const ts = await testServer();
    const [a, b] = [await person(ts), await person(ts)];
    const realFp = accountIdentity(b.accountKey, b.email).fp;
    // the server publishes its own key as B's (it can write its database)
    const evilKey = randomBytes(32);
    const real = await ts.store.db.selectFrom('share_identities').select('body').where('account_id', '=', b.accountId).executeTakeFirstOrThrow();
    await ts.store.db.updateTable('share_identities').set({ body: toBase64(await encodeIdentity(accountIdentity(evilKey, b.email))) }).where('account_id', '=', b.accountId).execute();
    await refused(a, (x) => x.verifyContact(b.email, fingerprintDigits(realFp)), /does not match/);
    await run(a, (x) => x.share('Team', b.email, 'writer', false)); // unverified: a warning
    await ts.store.db.updateTable('share_identities').set({ body: real.body }).where('account_id', '=', b.accountId).execute();
    await refused(b, (x) => x.accept('Team'), /names a key for you .* that is not yours/);
  });

  it('a membership list not signed by the owner (edited, or signed by the server): exit 8', async () => {
    const { b, c } = await world();
    const evil = accountIdentity(randomBytes(32), 'server@example.org');
    b.tamper.shareVault = async (r: ShareVaultT) => {
      const last = parseMembership(fromBase64(r.memberships[r.memberships.length - 1]));
      const forged = await sealMembership(evil.signer, { ...last, members: [...last.members.map((m) => (m.role === 'owner' ? { ...m, signPublic: evil.signPublic } : m)), { email: 'server@example.org', signPublic: evil.signPublic, boxPublic: evil.boxPublic, role: 'writer' }] });
      r.memberships[r.memberships.length - 1] = toBase64(forged);
      return r;
    };
    await refused(b, (x) => x.openForUse('Team'), /not signed by the vault's owner/);
    c.tamper.shareVault = (r: ShareVaultT) => {
      const m = fromBase64(r.memberships[0]);
      m[40] ^= 1;
      r.memberships[0] = toBase64(m);
      return r;
    };
    await refused(c, (x) => x.openForUse('Team'), /signature|malformed|not signed/);
  });

  it('a replayed older membership epoch (re-adding a removed member): exit 8', async () => {
    const { ts, a, b, c, id } = await world();
    await run(b, (x) => x.openForUse('Team')); // B saw epoch 2
    const old = await ts.store.db.selectFrom('share_members').select('bundle').where('vault_id', '=', id).where('account_id', '=', b.accountId).executeTakeFirstOrThrow();
    await run(a, (x) => x.revoke('Team', c.email));
    await run(b, (x) => x.openForUse('Team')); // B saw epoch 3
    b.tamper.shareVault = (r: ShareVaultT) => ({ ...r, memberships: r.memberships.slice(0, 2), bundle: old.bundle });
    await refused(b, (x) => x.openForUse('Team'), /older than epoch 3 .* replay/);
  });

  it('the server adding another account (or itself) as member: that account is in no signed membership; members ignore it; its device refuses it', async () => {
    const { ts, a, b, id } = await world();
    const d = await person(ts);
    const bRow = await ts.store.db.selectFrom('share_members').selectAll().where('vault_id', '=', id).where('account_id', '=', b.accountId).executeTakeFirstOrThrow();
    await ts.store.db.insertInto('share_members').values({ ...bRow, account_id: d.accountId, role: 'writer' }).execute();
    await refused(d, (x) => x.list(), /does not name you/);
    const members = (await run(a, (x) => x.resolve('Team')))!.latest.members.map((m) => m.email);
    expect(members).not.toContain(d.email);
    // D pushes through the server (which lets it): every member refuses the vault
    const dKey = randomBytes(32);
    await inject(ts, id, d.accountKey, d.email, dKey, 2);
    await refused(b, (x) => x.openForUse('Team'), /not a member's|does not open/);
  });

  it('a write by a read-only member accepted by the server (injected into the database): every member refuses it, exit 8', async () => {
    const { ts, b, c, id } = await world();
    const v = await run(c, (x) => x.openForUse('Team'));
    await inject(ts, id, c.accountKey, c.email, v.keys[v.latest.epoch - 1], v.latest.epoch);
    await refused(b, (x) => x.openForUse('Team'), /read-only member: refused/);
    await refused(c, (x) => x.openForUse('Team'), /read-only member: refused/);
  });

  it('a vault key wrapped for a key that is not the member\'s (another member\'s bundle, or one the server made): exit 8', async () => {
    const { ts, a, b, c, id } = await world();
    const bRow = await ts.store.db.selectFrom('share_members').select('bundle').where('vault_id', '=', id).where('account_id', '=', b.accountId).executeTakeFirstOrThrow();
    c.tamper.shareVault = (r: ShareVaultT) => ({ ...r, bundle: bRow.bundle });
    await refused(c, (x) => x.openForUse('Team'), /wrapped for a key that is not this account's/);
    // the server wraps a key of its own for C's real key: not signed by the owner
    const fake = accountIdentity(randomBytes(32), a.email);
    const cId = accountIdentity(c.accountKey, c.email);
    c.tamper.shareVault = async (r: ShareVaultT) => ({ ...r, bundle: toBase64(await sealBundle(fake, cId, fromHex(id), 2, { name: 'Team', keys: [randomBytes(32), randomBytes(32)] })) });
    await refused(c, (x) => x.openForUse('Team'), /not signed by the vault's owner/);
  });

  it('a removed member\'s key still used after revocation (a write under the old epoch): exit 8', async () => {
    const { ts, a, b, id } = await world();
    const old = await run(b, (x) => x.openForUse('Team'));
    await run(a, (x) => x.revoke('Team', b.email));
    await inject(ts, id, b.accountKey, b.email, old.keys[old.latest.epoch - 1], old.latest.epoch);
    await refused(a, (x) => x.openForUse('Team'), /epoch 3 is in force there/);
  });

  it('a writer\'s record whose entry is not an entry (fields of the wrong type): exit 8, not shown', async () => {
    const { ts, b, c, id } = await world();
    const v = await run(b, (x) => x.openForUse('Team'));
    await inject(ts, id, b.accountKey, b.email, v.keys[v.latest.epoch - 1], v.latest.epoch, { name: 'deploy', password: { evil: true }, updated: 'x' } as never);
    await refused(c, (x) => x.openForUse('Team'), /malformed/);
  });

  it('the server rolling back or altering the log: exit 8', async () => {
    const { ts, b, c, id } = await world();
    expect((await run(c, (x) => x.openForUse('Team'))).head).toBe(2);
    await ts.store.db.updateTable('share_vaults').set({ head: 1 }).where('vault_id', '=', id).execute();
    await refused(c, (x) => x.openForUse('Team'), /rolled back/);
    await ts.store.db.updateTable('share_vaults').set({ head: 2 }).where('vault_id', '=', id).execute();
    const b2 = await secondDeviceOf(ts, b); // has seen nothing yet
    b2.tamper.sharePull = (r) => ({ ...r, records: r.records.reverse() });
    await refused(b2, (x) => x.openForUse('Team'), /out of place|does not follow/);
  });

  it('a dump of the server database after sharing contains no plaintext and no unwrapped key', async () => {
    const { ts, a, b, c } = await world();
    const v = await run(a, (x) => x.openForUse('Team'));
    const tables = ['share_identities', 'share_vaults', 'share_memberships', 'share_members', 'share_records'];
    let dump = '';
    for (const t of tables) dump += JSON.stringify((await sql`select * from ${sql.table(t)}`.execute(ts.store.db)).rows);
    // every base64 field decoded (a chance match of 4+ random bytes is ~2^-32 per position)
    const decoded = Buffer.from(dump.replace(/[^A-Za-z0-9+/=]/g, ' ').split(' ').filter((s) => s.length >= 16).map((s) => Buffer.from(s, 'base64').toString('latin1')).join('\n'), 'latin1').toString('latin1');
    for (const secret of ['pw-deploy-1', 'pw-db-1']) expect(dump + decoded).not.toContain(secret); // '-' is not base64: no chance match in the text
    for (const secret of ['Team', 'deploy', 'team']) expect(decoded).not.toContain(secret);
    for (const k of v.keys) {
      expect(decoded).not.toContain(Buffer.from(k).toString('latin1'));
      expect(dump).not.toContain(toHex(k));
      expect(dump).not.toContain(toBase64(k));
    }
    for (const p of [a, b, c]) {
      const seed = (await import('../../src/crypto/keys.js')).accountSubkey(p.accountKey, 'shareX25519');
      expect(decoded).not.toContain(Buffer.from(seed).toString('latin1'));
      expect(decoded).not.toContain(Buffer.from(p.accountKey).toString('latin1'));
    }
  });
});

describe('shared vaults in the entry commands (src/cli/shared.ts): the share client paths they use', () => {
  /** Every way `secret` could show in a reply: raw inside any base64 field, as hex, as base64. */
  const leaks = (reply: unknown, secret: Uint8Array): boolean => {
    const text = JSON.stringify(reply);
    const fields = text.replace(/[^A-Za-z0-9+/=]/g, ' ').split(' ').filter((x) => x.length >= 16);
    const raw = Buffer.from(secret).toString('latin1');
    return text.includes(toHex(secret)) || text.includes(toBase64(secret)) || fields.some((f) => Buffer.from(f, 'base64').toString('latin1').includes(raw));
  };

  it("S3: the agent never hands out the account's signing seed (nor the X25519 seed): shareSecrets has only the share.kpms key", async () => {
    const { c } = await world();
    const { accountSubkey } = await import('../../src/crypto/keys.js');
    const { sessionApi } = await import('../../src/agent/local.js');
    const api = sessionApi({ profile: { accountKey: c.accountKey, profileId: c.profileId } } as never);
    const reply = await api.shareSecrets();
    expect(leaks(reply, accountSubkey(c.accountKey, 'signing'))).toBe(false);
    expect(leaks(reply, c.accountKey)).toBe(false);
    expect(leaks(reply, accountSubkey(c.accountKey, 'shareX25519'))).toBe(false);
    expect(leaks(reply, accountSubkey(c.accountKey, 'shareState'))).toBe(true); // what it does hand out (docs/SECURITY.md "Sharing keys and signatures")
  });

  it('what the agent gives (share.kpms key, shareSign, shareDh) serves the share client as the account key does: same identity, state, reads and signed writes', async () => {
    const { ts, b, c } = await world();
    const { sessionApi } = await import('../../src/agent/local.js');
    const { agentShare } = await import('../../src/cli/shared.js');
    const viaAgent = async (p: Person, signed: Uint8Array[]) => {
      const api = sessionApi({ profile: { accountKey: p.accountKey, profileId: p.profileId } } as never);
      const spy = { ...api, shareSign: async (m: string) => (signed.push(fromBase64(m)), api.shareSign(m)) };
      const { profileId, share } = await agentShare(spy);
      return new ShareClient(p.paths, share, profileId, p.email, caller(ts, p));
    };
    const cs: Uint8Array[] = [];
    const cc = await viaAgent(c, cs);
    expect(toHex(cc.me.fp)).toBe(toHex(accountIdentity(c.accountKey, c.email).fp));
    const r = await cc.usable({ online: true });
    expect(r.vaults.map((v) => [v.name, v.role, ShareClient.find(v, 'db')?.[1].fields.password])).toEqual([['Team', 'reader', 'pw-db-1']]);
    cc.close();
    // a writer's write and identity record, signed by the agent
    const bs: Uint8Array[] = [];
    const bc = await viaAgent(b, bs);
    await bc.publish();
    await bc.write('Team', entry('via-agent', 'pw-agent'));
    bc.save();
    bc.close();
    expect(bs.map((m) => Buffer.from(m.subarray(0, 4)).toString('latin1'))).toEqual(['KPID', 'KPSR']);
    expect(await read(c, 'via-agent')).toBe('pw-agent');
  });

  it("S3: shareSign signs only this account's sharing messages: own-vault manifests and envelopes, arbitrary bytes and other accounts' messages are refused (exit 9)", async () => {
    const { a, b, id } = await world();
    const { sessionApi } = await import('../../src/agent/local.js');
    const { accountSigner, accountPublicKey, verifySignature } = await import('../../src/crypto/sign.js');
    const env = await import('../../src/sync/envelope.js');
    const { sealAcceptance, sealMembership: sealM } = await import('../../src/share/format.js');
    const api = sessionApi({ profile: { accountKey: b.accountKey, profileId: b.profileId } } as never);
    const me = accountIdentity(b.accountKey, b.email);
    const body = (signed: Uint8Array) => signed.subarray(0, signed.length - 64);
    const refuse = async (m: Uint8Array, what: string) => {
      const e = await api.shareSign(toBase64(m)).then(() => null, (x: unknown) => x);
      expect(e, what).toBeInstanceOf(KpmError);
      expect((e as KpmError).exitCode, what).toBe(EXIT.forbidden);
      expect((e as KpmError).message, what).toMatch(/signs only this account's sharing messages/);
    };
    const own = accountSigner(b.accountKey);
    const manifest = env.sealManifest(own, { vaultId: randomBytes(16), profileId: b.profileId, revision: 3, chain: randomBytes(32), time: 1 });
    const vaultEnv = env.sealVaultEnvelope(own, { vaultId: randomBytes(16), epoch: 1, deleted: false, keyPart: randomBytes(80) });
    const keyring = env.sealKeyringEnvelope(own, { epoch: 1, keyring: randomBytes(200) });
    for (const [m, what] of [[manifest, 'manifest'], [vaultEnv, 'vault envelope'], [keyring, 'keyring envelope']] as const) {
      await refuse(body(m), `the body of a ${what}`);
      await refuse(m, `a whole ${what}`);
    }
    await refuse(new Uint8Array(0), 'nothing');
    await refuse(seeded('share-sign-garbage', 200), 'random bytes'); // the same bytes every run: which check refuses them cannot vary
    await refuse(utf8.encode('KPSA'), 'a bare magic');
    // sharing messages, but not this account's: another's acceptance, a membership another owns
    const aId = accountIdentity(a.accountKey, a.email);
    await refuse(body(await sealAcceptance(aId.signer, fromHex(id), 1)), "another account's acceptance");
    const rows = (await sealM(accountIdentity(a.accountKey, a.email).signer, { vaultId: fromHex(id), epoch: 9, head: 0, prev: new Uint8Array(32), members: [{ email: a.email, signPublic: accountPublicKey(a.accountKey), boxPublic: aId.boxPublic, role: 'owner' }, { email: b.email, signPublic: me.signPublic, boxPublic: me.boxPublic, role: 'writer' }] }));
    const swapped = body(rows).slice();
    swapped.set(me.signPublic, swapped.length - 32); // signed as B, but owned by A
    await refuse(swapped, "a membership another account owns");
    const ownAccept = body(await sealAcceptance(me.signer, fromHex(id), 1));
    await refuse(new Uint8Array([...ownAccept, 0]), 'an acceptance with a trailing byte');
    const idBody = body(await encodeIdentity({ ...me, boxPublic: aId.boxPublic }));
    await refuse(idBody, 'an identity record naming another encryption key');
    // this account's own acceptance is signed, with the account's key
    const sig = fromBase64(await api.shareSign(toBase64(ownAccept)));
    expect(verifySignature(accountPublicKey(b.accountKey), ownAccept, sig)).toBe(true);
  });

  it('usable: a second device of a member finds the vault accepted on the first (pinned on first use); invitations are left out', async () => {
    const { ts, a, b } = await world();
    const d = await person(ts);
    await run(a, (x) => x.share('Team', d.email, 'reader', false)); // d never accepts
    expect((await run(d, (x) => x.usable({ online: true }))).vaults).toEqual([]);
    const b2 = await secondDeviceOf(ts, b);
    const r = await run(b2, (x) => x.usable({ online: true }));
    expect(r.vaults.map((v) => v.name)).toEqual(['Team']);
    expect(r.offline).toBe(false);
  });

  it('usable offline re-verifies the copy in share.kpms without the server; a copy altered on disk is exit 8', async () => {
    const { c } = await world();
    await run(c, (x) => x.usable({ online: true }));
    const noServer: Person = { ...c, writes: [], tamper: {}, c: () => new ShareClient(c.paths, c.accountKey, c.profileId, c.email, async () => { throw new KpmError('unreachable', EXIT.network); }) };
    const r = await run(noServer, (x) => x.usable({ online: true })); // the server cannot be reached: the verified copy
    expect(r.offline).toBe(true);
    expect(ShareClient.find(r.vaults[0], 'deploy')?.[1].fields.password).toBe('pw-deploy-1');
    const bytes = fs.readFileSync(shareStateFile(c.paths));
    bytes[bytes.length - 20] ^= 1;
    fs.writeFileSync(shareStateFile(c.paths), bytes);
    expect(() => noServer.c()).toThrow(/corrupt or was altered/);
  });

  it('writeEntry by a read-only member is refused (exit 9) before anything is sent; a writer\'s write is verified by every member', async () => {
    const { a, b, c } = await world();
    const rc = await run(c, (x) => x.usable({ online: true }));
    await refused(c, (x) => x.writeEntry(rc.vaults[0], entry('deploy', 'carol-was-here'), { entryId: ShareClient.find(rc.vaults[0], 'deploy')![0] }), /you can only read shared vault "Team" \(role reader\)/, EXIT.forbidden);
    const rb = await run(b, (x) => x.usable({ online: true }));
    const id = ShareClient.find(rb.vaults[0], 'deploy')![0];
    await run(b, (x) => x.writeEntry(rb.vaults[0], { ...entry('deploy-renamed', 'pw-deploy-9') }, { entryId: id }));
    const ra = await run(a, (x) => x.usable({ online: true }));
    expect(ShareClient.find(ra.vaults[0], 'deploy')).toBeUndefined();
    expect(ShareClient.find(ra.vaults[0], 'deploy-renamed')).toEqual([id, expect.objectContaining({ fields: { username: 'team', password: 'pw-deploy-9' } })]);
  });

  it('usable online: a record the server altered is exit 8, nothing written; a write by a read-only member injected into the database too', async () => {
    const { ts, b, c, id } = await world();
    await run(c, (x) => x.usable({ online: true }));
    await run(b, (x) => x.write('Team', entry('late', 'pw-late-1')));
    c.tamper.sharePull = (r) => {
      const rec = fromBase64(r.records[r.records.length - 1]);
      rec[rec.length - 80] ^= 1;
      r.records[r.records.length - 1] = toBase64(rec);
      return r;
    };
    await refused(c, (x) => x.usable({ online: true }), /shared record \d+ of "Team"/);
    c.tamper = {};
    const cv = (await run(c, (x) => x.usable({ online: true }))).vaults[0];
    await inject(ts, id, c.accountKey, c.email, cv.keys[cv.latest.epoch - 1], cv.latest.epoch);
    await refused(b, (x) => x.usable({ online: true }), /read-only member: refused/);
  });
});
