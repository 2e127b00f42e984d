// Contact pins across an account's devices and a real `kpm share leave` (docs/SHARING.md "Contact
// pins across the account's devices", "Leaving a shared vault"), against the in-process server
// with a malicious-server double in front of it (answers rewritten) and direct database changes.
// Every attack ends with exit 8, nothing written on the device (share.kpms unchanged), nothing sent.
import { describe, expect, it } from 'vitest';
import { testServer, type TestServer } from '../helpers/server.js';
import { caller, entry, person, read, refused, run, secondDeviceOf, world, type Person } from '../helpers/share.js';
import { ShareClient } from '../../src/share/client.js';
import { fromBase64, fromHex, toBase64, toHex } from '../../src/crypto/bytes.js';
import { randomBytes } from '../../src/crypto/random.js';
import { accountShareSecrets } from '../../src/crypto/keys.js';
import { KpmError, EXIT } from '../../src/core/errors.js';
import { accountIdentity, encodeIdentity, fingerprintDigits } from '../../src/share/identity.js';
import { openBundle, openRecord, parseRecord } from '../../src/share/format.js';
import type { PinContent } from '../../src/share/pins.js';
import type { SharePinsT, ShareVaultT } from '../../src/protocol/share.js';
import { loadShareState } from '../../src/share/state.js';

// loaded when a test needs it (so the tests that only drive the share client also run against code without it)
const pins = () => import('../../src/share/pins.js');

/** The server answers `email`'s identity lookups with keys of its own (for `p` only). */
async function substitute(p: Person, email: string): Promise<Uint8Array> {
  const evil = accountIdentity(randomBytes(32), email);
  const body = toBase64(await encodeIdentity(evil));
  p.tamper.shareIdentityGet = (r) => (r.email === email ? { ...r, body } : r);
  return evil.fp;
}

/** The same device, but its pin writes never reach the server (as if it went offline before the end of the command). */
const pushesLost = (ts: TestServer, p: Person): Person => {
  const q: Person = { ...p, c: () => new ShareClient(p.paths, p.accountKey, p.profileId, p.email, async (name, o) => {
    if (name === 'sharePinsPut') throw new KpmError('the server cannot be reached', EXIT.network);
    return caller(ts, p)(name, o);
  }) };
  return q;
};

const stateOf = (p: Person) => loadShareState(p.paths, accountShareSecrets(p.accountKey), p.profileId);
const pinsRow = (ts: TestServer, p: Person) => ts.store.db.selectFrom('share_pins').select(['version', 'body']).where('account_id', '=', p.accountId).executeTakeFirst();
const contactsOf = async (p: Person) => (await run(p, (x) => x.listContacts())).map((x) => [x.email, x.verified]);

describe('contact pins across the account\'s devices', () => {
  it('a contact added and verified on one device is verified on the account\'s second device; the server showing the second device another key for it is refused (exit 8)', async () => {
    const ts = await testServer();
    const [a, b] = [await person(ts), await person(ts)];
    await run(a, (x) => x.addContact(b.email));
    await run(a, (x) => x.verifyContact(b.email, fingerprintDigits(accountIdentity(b.accountKey, b.email).fp)));
    const a2 = await secondDeviceOf(ts, a);
    expect(await contactsOf(a2)).toEqual([[b.email, true]]);
    const c = await run(a2, (x) => x.addContact(b.email));
    expect([c.verified, c.firstUse]).toEqual([true, false]);
    // the attack per-device pins allowed: a new device of the account, shown another key for a contact
    const a3 = await secondDeviceOf(ts, a);
    await substitute(a3, b.email);
    await refused(a3, (x) => x.addContact(b.email), /other keys for .* than the ones pinned for this account/);
    await refused(a3, (x) => x.share('Team', b.email, 'writer', true), /other keys for/);
  });

  it('a rolled-back pin state (older than the version this device saw, or another one of the same version) is exit 8, nothing written, nothing sent', async () => {
    const ts = await testServer();
    const [a, b, c] = [await person(ts), await person(ts), await person(ts)];
    await run(a, (x) => x.addContact(b.email));
    const v1 = (await pinsRow(ts, a))!;
    expect(Number(v1.version)).toBe(1);
    await run(a, (x) => x.addContact(c.email));
    const a2 = await secondDeviceOf(ts, a);
    expect(await contactsOf(a2)).toEqual([b.email, c.email].sort().map((e) => [e, false]));
    // the server serves version 1 again (c's pin gone): to the device that pinned it, and to the one that saw version 2
    await ts.store.db.updateTable('share_pins').set({ version: 1, body: v1.body }).where('account_id', '=', a.accountId).execute();
    await refused(a, (x) => x.listContacts(), /version 1 of this account's contact pins, older than version 2 .* \(rolled back\)/);
    await refused(a2, (x) => x.addContact(c.email), /rolled back/);
    // no pin state at all
    await ts.store.db.deleteFrom('share_pins').where('account_id', '=', a.accountId).execute();
    await refused(a2, (x) => x.listContacts(), /older than version 2/);
    // the same version number, another state (a fork): a2's own blob of version 2 re-sealed by a device of the account is not what a2 saw
    const other = await (await pins()).sealPins(accountIdentity(a.accountKey, a.email).signer, accountShareSecrets(a.accountKey), 2, { contacts: {}, epochs: {}, left: {} });
    a2.tamper.sharePinsGet = (): SharePinsT => ({ version: 2, body: toBase64(other) });
    await refused(a2, (x) => x.listContacts(), /another version 2 .* \(a fork\)/);
  });

  it('a pin state not signed by the account (the server\'s own key, or an altered byte) is exit 8, nothing written, nothing sent', async () => {
    const ts = await testServer();
    const [a, b] = [await person(ts), await person(ts)];
    await run(a, (x) => x.addContact(b.email));
    const a2 = await secondDeviceOf(ts, a);
    // sealed under the account's pins key (as if the server had it) but signed by the server: refused for the signature alone
    const evil = accountIdentity(randomBytes(32), a.email);
    const content: PinContent = { contacts: { [b.email]: { sign: toHex(evil.signPublic), box: toHex(evil.boxPublic), verified: true, pinnedAt: '2026-12-01T00:00:00.000Z' } }, epochs: {}, left: {} };
    const forged = await (await pins()).sealPins(evil.signer, accountShareSecrets(a.accountKey), 2, content);
    a2.tamper.sharePinsGet = (): SharePinsT => ({ version: 2, body: toBase64(forged) });
    await refused(a2, (x) => x.listContacts(), /pin state \(contact pins\) is not signed by this account/);
    // the account's real blob with one byte of its ciphertext changed
    const real = fromBase64((await pinsRow(ts, a))!.body);
    real[real.length - 100] ^= 1;
    a2.tamper.sharePinsGet = (): SharePinsT => ({ version: 1, body: toBase64(real) });
    await refused(a2, (x) => x.listContacts(), /pin state fails its signature check/);
    // the server refuses to store a pin state not signed by the account, too (defence in depth)
    const r = await ts.call('POST', '/v1/share/pins', { base: 1, body: toBase64(forged) }, { token: a.token });
    expect([r.status, (await pinsRow(ts, a))!.version]).toEqual([403, 1]);
    // what a device holds opens only with the account's key
    const { openPins } = await pins();
    expect(() => openPins(forged, evil.signPublic, accountShareSecrets(b.accountKey), 2)).toThrow(/does not open with this account's key/);
  });

  it('concurrent changes from two devices merge: union of contacts, a verified mark wins, a stale write (409) is pulled, merged and written again', async () => {
    const ts = await testServer();
    const [a, b, c] = [await person(ts), await person(ts), await person(ts)];
    await run(a, (x) => x.addContact(b.email));
    const a2 = await secondDeviceOf(ts, a);
    const c2 = a2.c();
    await c2.addContact(c.email); // a2 read version 1
    await run(a, (x) => x.verifyContact(b.email, fingerprintDigits(accountIdentity(b.accountKey, b.email).fp))); // version 2
    a2.writes.length = 0;
    await c2.finish(); // base 1 is stale: 409, pull version 2, merge, write version 3
    expect(a2.writes.filter((w) => w === 'sharePinsPut').length).toBe(2);
    expect(Number((await pinsRow(ts, a))!.version)).toBe(3);
    const want = [[b.email, true], [c.email, false]].sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    expect(await contactsOf(a)).toEqual(want);
    expect(await contactsOf(a2)).toEqual(want);
    // the rules, as a function: verified wins for the same keys; the highest epoch per vault; a forked epoch is exit 8
    const k = { sign: 'aa', box: 'bb', pinnedAt: '2026-01-01' };
    const { mergePins, canonical } = await pins();
    const m = mergePins({ contacts: { x: { ...k, verified: false } }, epochs: { v: { epoch: 2, hash: 'h2' } }, left: {} }, { contacts: { x: { ...k, verified: true } }, epochs: { v: { epoch: 5, hash: 'h5' } }, left: { w: 3 } });
    expect(canonical(m)).toBe(canonical({ contacts: { x: { ...k, verified: true } }, epochs: { v: { epoch: 5, hash: 'h5' } }, left: { w: 3 } }));
    expect(() => mergePins({ contacts: {}, epochs: { v: { epoch: 5, hash: 'h5' } }, left: {} }, { contacts: {}, epochs: { v: { epoch: 5, hash: 'other' } }, left: {} })).toThrow(/two different membership epochs 5/);
    // the highest compaction generation per vault; the same generation with another statement is exit 8; none at all stays absent (the content of a state without it is unchanged)
    const none = { contacts: {}, epochs: {}, left: {} };
    expect(mergePins(none, none)).toEqual(none);
    expect(mergePins({ ...none, generations: { v: { generation: 1, hash: 'g1' } } }, { ...none, generations: { v: { generation: 3, hash: 'g3' }, w: { generation: 1, hash: 'w1' } } }).generations).toEqual({ v: { generation: 3, hash: 'g3' }, w: { generation: 1, hash: 'w1' } });
    expect(mergePins({ ...none, generations: { v: { generation: 3, hash: 'g3' } } }, none).generations).toEqual({ v: { generation: 3, hash: 'g3' } });
    expect(() => mergePins({ ...none, generations: { v: { generation: 2, hash: 'g2' } } }, { ...none, generations: { v: { generation: 2, hash: 'other' } } })).toThrow(/two different compaction statements of generation 2 of shared vault v \(a forked log\)/);
  });

  it('two devices that pinned different keys for the same contact: exit 8 naming the contact, until accept-change on one of them', async () => {
    const ts = await testServer();
    const [a, b] = [await person(ts), await person(ts)];
    const a2 = await secondDeviceOf(ts, a);
    // a2 pins a key the server made up for b, and its write of the pins is lost; a pins b's real key
    const evilFp = await substitute(a2, b.email);
    await run(pushesLost(ts, a2), (x) => x.addContact(b.email));
    delete a2.tamper.shareIdentityGet;
    await run(a, (x) => x.addContact(b.email));
    await run(a, (x) => x.verifyContact(b.email, fingerprintDigits(accountIdentity(b.accountKey, b.email).fp)));
    await refused(a2, (x) => x.listContacts(), new RegExp(`${b.email.replace(/\./g, '\\.')} is pinned with other keys on another device of this account`));
    await refused(a2, (x) => x.addContact(b.email), /pinned with other keys on another device/);
    // accept-change on a2 pins what the server gives now (b's real key), replacing both: every device agrees again
    const ch = await run(a2, (x) => x.acceptChange(b.email));
    expect(toHex(ch.fingerprint)).toBe(toHex(accountIdentity(b.accountKey, b.email).fp));
    expect(toHex(ch.previous!)).toBe(toHex(evilFp));
    expect(await contactsOf(a)).toEqual([[b.email, true]]); // the same keys: a's verified mark wins
    expect(await contactsOf(a2)).toEqual([[b.email, true]]);
  });

  it('a replayed older membership epoch to the account\'s second device (which never saw the vault) is exit 8: the epoch another device saw is pinned for the account', async () => {
    const { ts, a, b } = await world();
    let saved: ShareVaultT | undefined;
    b.tamper.shareVault = (r: ShareVaultT) => ((saved = structuredClone(r)), r);
    await run(b, (x) => x.openForUse('Team')); // epoch 2
    delete b.tamper.shareVault;
    const d = await person(ts);
    await run(a, (x) => x.share('Team', d.email, 'reader', false)); // epoch 3
    await run(b, (x) => x.openForUse('Team')); // b's first device sees epoch 3: the account's pin state says so
    const b2 = await secondDeviceOf(ts, b);
    b2.tamper.shareVault = () => saved!;
    await refused(b2, (x) => x.openForUse('Team'), /membership epoch 2 .* older than epoch 3 which a device of this account saw \(a replay\)/);
    delete b2.tamper.shareVault;
    expect(await read(b2, 'deploy')).toBe('pw-deploy-1');
  });
});

describe('leaving a shared vault', () => {
  it('leave: the member signs a leave statement; the owner\'s next command signs a membership without them and a new key; the leaver cannot read anything written afterwards (even with the database); their other device drops the vault', async () => {
    const { ts, a, b, c, id } = await world();
    const b2 = await secondDeviceOf(ts, b);
    expect(await read(b2, 'deploy')).toBe('pw-deploy-1');
    const before = await run(b, (x) => x.openForUse('Team'));
    const bKeys = before.keys.map((k) => k.slice());
    const bRow = await ts.store.db.selectFrom('share_members').selectAll().where('vault_id', '=', id).where('account_id', '=', b.accountId).executeTakeFirstOrThrow();
    await run(b, (x) => x.leave('Team'));
    const stmt = await ts.store.db.selectFrom('share_leaves').select(['epoch', 'body']).where('vault_id', '=', id).executeTakeFirstOrThrow();
    expect(Number(stmt.epoch)).toBe(2);
    // a server that still serves b's row to b's second device: it drops the vault anyway (the account's pin state says b left)
    await ts.store.db.insertInto('share_members').values(bRow).execute();
    await refused(b2, (x) => x.openForUse('Team'), /you left shared vault "Team"/, EXIT.forbidden);
    const r2 = await run(b2, (x) => x.usable({ online: true }));
    expect(r2.vaults).toEqual([]);
    expect(stateOf(b2).vaults).toEqual({}); // its copy (records, key bundle) is gone
    await refused(b2, (x) => x.openForUse('Team'), /no shared vault "Team"/, EXIT.notFound);
    await ts.store.db.deleteFrom('share_members').where('vault_id', '=', id).where('account_id', '=', b.accountId).execute();
    // the owner's next command: `kpm shares` acts on the statement
    const ac = a.c();
    const l = await ac.list();
    await ac.finish();
    expect(l.map((v) => [v.name, v.epoch, v.members])).toEqual([['Team', 3, 2]]);
    expect(ac.notes.join('\n')).toMatch(new RegExp(`${b.email.replace(/\./g, '\\.')} left shared vault "Team": signed membership epoch 3 without them, with a new vault key`));
    expect((await run(a, (x) => x.resolve('Team')))!.latest.members.map((m) => m.email)).toEqual([a.email, c.email]);
    expect(await ts.store.db.selectFrom('share_leaves').selectAll().where('vault_id', '=', id).execute()).toEqual([]);
    await run(a, (x) => x.write('Team', entry('after-leave', 'pw-after-leave')));
    expect(await read(c, 'after-leave')).toBe('pw-after-leave');
    // with the whole database: nothing written afterwards opens with any key b had, no bundle of epoch 3 opens for b
    const rows = await ts.store.db.selectFrom('share_records').select('body').where('vault_id', '=', id).execute();
    const later = rows.map((x) => parseRecord(fromBase64(x.body))).filter((p) => p.epoch > 2);
    expect(later.length).toBe(1);
    for (const p of later) for (const k of bKeys) expect(() => openRecord(p, k)).toThrow(/does not open/);
    const aId = accountIdentity(a.accountKey, a.email);
    for (const x of await ts.store.db.selectFrom('share_members').select('bundle').where('vault_id', '=', id).execute()) {
      await expect(openBundle(accountIdentity(b.accountKey, b.email), aId.signPublic, aId.boxPublic, fromHex(id), 3, fromBase64(x.bundle))).rejects.toThrow(/not this account/);
    }
  });

  it('a leave statement not signed by the member (forged by the server) is exit 8 for the owner, nothing changed, nothing sent; the server refuses one too', async () => {
    const { ts, a, b, c, id } = await world();
    const bFp = accountIdentity(b.accountKey, b.email).fp;
    // signed by a key of the server's, naming b's fingerprint; and signed by c, naming b
    for (const signer of [accountIdentity(randomBytes(32), b.email).signer, accountIdentity(c.accountKey, c.email).signer]) {
      const forged = await (await pins()).sealLeave(signer, bFp, fromHex(id), 2);
      await ts.store.db.insertInto('share_leaves').values({ vault_id: id, account_id: b.accountId, epoch: 2, body: toBase64(forged), created_at: 0 }).execute();
      await refused(a, (x) => x.resolve('Team'), new RegExp(`for ${b.email.replace(/\./g, '\\.')} is not signed by`));
      await refused(a, (x) => x.list(), /is not signed by/);
      const r = await ts.call('POST', `/v1/share/vaults/${id}/leave`, { body: toBase64(forged) }, { token: b.token });
      expect(r.status).toBe(403);
      await ts.store.db.deleteFrom('share_leaves').where('vault_id', '=', id).execute();
    }
    expect((await run(a, (x) => x.resolve('Team')))!.latest.epoch).toBe(2);
    expect(await read(b, 'deploy')).toBe('pw-deploy-1');
  });

  it('a replayed leave statement of an older epoch (from before the member was removed and added again) is exit 8, nothing changed', async () => {
    const { ts, a, b, id } = await world();
    await run(b, (x) => x.leave('Team'));
    const old = await ts.store.db.selectFrom('share_leaves').selectAll().where('vault_id', '=', id).executeTakeFirstOrThrow();
    await run(a, (x) => x.resolve('Team')); // epoch 3 without b
    await run(a, (x) => x.share('Team', b.email, 'writer', false)); // epoch 4: b again
    await run(b, (x) => x.accept('Team'));
    await ts.store.db.insertInto('share_leaves').values(old).execute();
    await refused(a, (x) => x.resolve('Team'), /is from epoch 2, before they were removed and added again \(a replay\)/);
    // a statement for an epoch that does not exist yet, signed by b
    await ts.store.db.updateTable('share_leaves').set({ epoch: 9, body: toBase64(await (await pins()).sealLeave(accountIdentity(b.accountKey, b.email).signer, accountIdentity(b.accountKey, b.email).fp, fromHex(id), 9)) }).where('vault_id', '=', id).execute();
    await refused(a, (x) => x.resolve('Team'), /names epoch 9, which does not exist/);
    await ts.store.db.deleteFrom('share_leaves').where('vault_id', '=', id).execute();
    expect((await run(a, (x) => x.resolve('Team')))!.latest.members.map((m) => m.email)).toContain(b.email);
    expect(await read(b, 'deploy')).toBe('pw-deploy-1');
  });
});
