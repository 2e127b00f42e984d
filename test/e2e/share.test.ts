// Shared vaults end to end (docs/SHARING.md) through the built binaries against one real kpm-server
// (SQLite): three accounts (alice with two devices, bob, carol), share, accept, write from a writer,
// read from a reader, a reader's write refused (by the client, by the server, and by every member
// when the server's database has it anyway), revoke, and the revoked account cannot read anything
// written afterwards, even with the server's whole database.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer } from '../helpers/server.js';
import { shareTeam } from '../helpers/shareteam.js';
import { authedCall, loadSession } from '../../src/sync/http.js';
import { accountIdentity } from '../../src/share/identity.js';
import { openBundle, openRecord, parseRecord, sealRecord } from '../../src/share/format.js';
import { fromBase64, fromHex, toBase64 } from '../../src/crypto/bytes.js';
import { randomBytes } from '../../src/crypto/random.js';

describe('shared vaults (real server, SQLite, built binaries)', () => {
  let srv: RunningServer;
  const team = shareTeam('share.example.org');
  const { email, kpm, db, inProcess } = team;

  const fps: Record<string, string> = {};

  beforeAll(async () => {
    await team.setUp({ a2: 'unlocked' });
    srv = team.srv;
  }, 300_000);

  it('whoami --fingerprint prints 8 groups of 5 digits (the same on both of alice\'s devices); contacts add pins unverified, verify marks verified', async () => {
    for (const [who, dev] of [['alice', 'a1'], ['bob', 'b1'], ['carol', 'c1']]) {
      const r = await kpm(dev, ['whoami', '--fingerprint']);
      expect(r.stdout).toMatch(/^(\d{5} ){7}\d{5}\n$/);
      expect(r.stderr).toMatch(/full fingerprint [0-9a-f]{64}/);
      fps[who] = r.stdout.trim();
    }
    expect((await kpm('a2', ['whoami', '--fingerprint'])).stdout.trim()).toBe(fps.alice);
    const add = await kpm('a1', ['contacts', 'add', email('bob')]);
    expect(add.stdout.trim()).toBe(fps.bob);
    expect(add.stderr).toMatch(/UNVERIFIED/);
    const wrong = await kpm('a1', ['contacts', 'verify', email('bob'), fps.carol], 8);
    expect(wrong.stderr).toMatch(/does not match/);
    await kpm('a1', ['contacts', 'verify', email('bob'), fps.bob]);
    expect((await kpm('a1', ['contacts', 'list'])).stdout).toMatch(new RegExp(`${email('bob').replace('.', '\\.')}  verified`));
  }, 120_000);

  it('share, accept, write from a writer, read from a reader and from the owner\'s second device; a reader\'s write is refused', async () => {
    await kpm('a1', ['share', 'Ops-Team', '--with', email('bob')]);
    const unv = await kpm('a1', ['share', 'Ops-Team', '--with', email('carol'), '--read-only']);
    expect(unv.stderr).toMatch(/is not verified/);
    expect((await kpm('a1', ['share', 'Ops-Team', '--with', email('carol'), '--read-only', '--require-verified'], 9)).stderr).toMatch(/not verified/);
    expect((await kpm('b1', ['shares'])).stdout).toMatch(/Ops-Team .* invitation .* owner alice@share\.example\.org {2}writer/);
    expect((await kpm('b1', ['share', 'get', 'Ops-Team', 'x'], 9)).stderr).toMatch(/invitation/);
    await kpm('b1', ['share', 'accept', 'Ops-Team']);
    await kpm('c1', ['share', 'accept', 'Ops-Team']);
    await kpm('a1', ['share', 'put', 'Ops-Team', 'deploy', '--username', 'bot', '--password-stdin'], 0, 'deploy-secret-1\n');
    await kpm('b1', ['share', 'put', 'Ops-Team', 'db', '--username', 'db-admin', '--password-stdin'], 0, 'db-secret-1\n');
    expect((await kpm('c1', ['share', 'get', 'Ops-Team', 'deploy'])).stdout).toBe('deploy-secret-1\n');
    expect((await kpm('c1', ['share', 'get', 'Ops-Team', 'db', '--field', 'username'])).stdout).toBe('db-admin\n');
    expect((await kpm('a2', ['share', 'get', 'Ops-Team', 'db'])).stdout).toBe('db-secret-1\n');
    const refused = await kpm('c1', ['share', 'put', 'Ops-Team', 'deploy', '--password-stdin'], 9, 'carol-was-here\n');
    expect(refused.stderr).toMatch(/only read/);
    const members = await kpm('a1', ['share', 'list', 'Ops-Team']);
    expect(members.stdout).toMatch(/bob@share\.example\.org {2}writer {2}verified/);
    expect(members.stdout).toMatch(/carol@share\.example\.org {2}reader {2}UNVERIFIED/);
    expect((await kpm('b1', ['share', 'entries', 'Ops-Team'])).stdout).toBe('db  (user db-admin)  by bob@share.example.org\ndeploy  (user bot)  by alice@share.example.org\n');
  }, 120_000);

  it('a reader\'s write is refused by the server, and when the server\'s database has it anyway, every member refuses the vault (exit 8)', async () => {
    const { c, api, accountKey } = await inProcess('c1', 'carol');
    try {
      const v = await c.openForUse('Ops-Team');
      const rec = await sealRecord(accountIdentity(accountKey, email('carol')).signer, v.keys[v.latest.epoch - 1], { vaultId: fromHex(v.id), rev: v.head + 1, epoch: v.latest.epoch, prevChain: v.chainHash, entryId: randomBytes(16), deleted: false }, { type: 'login', name: 'deploy', fields: { password: 'carol-was-here' }, custom: [], tags: [], created: new Date().toISOString(), updated: new Date().toISOString() });
      await expect(c.write('Ops-Team', { type: 'login', name: 'x', fields: {}, custom: [], tags: [], created: '', updated: '' })).rejects.toThrow(/only read/);
      const { ROUTES } = await import('../../src/protocol/routes.js');
      await expect(authedCall(c['paths'], api, loadSession(c['paths'])!, 'sharePush', { params: { id: v.id }, body: { base: v.head, records: [toBase64(rec)] } })).rejects.toThrow(/read-only members cannot write/);
      void ROUTES;
      const d = db();
      try {
        d.prepare('INSERT INTO share_records (vault_id, rev, writer_id, body) VALUES (?, ?, ?, ?)').run(v.id, v.head + 1, 'x', toBase64(rec));
        d.prepare('UPDATE share_vaults SET head = ? WHERE vault_id = ?').run(v.head + 1, v.id);
      } finally {
        d.close();
      }
      for (const dev of ['b1', 'a2']) expect((await kpm(dev, ['share', 'get', 'Ops-Team', 'deploy'], 8)).stderr).toMatch(/read-only member: refused/);
      const d2 = db();
      try {
        d2.prepare('DELETE FROM share_records WHERE vault_id = ? AND rev = ?').run(v.id, v.head + 1);
        d2.prepare('UPDATE share_vaults SET head = ? WHERE vault_id = ?').run(v.head, v.id);
      } finally {
        d2.close();
      }
      expect((await kpm('b1', ['share', 'get', 'Ops-Team', 'deploy'])).stdout).toBe('deploy-secret-1\n');
    } finally {
      await api.close();
    }
  }, 120_000);

  it('revoke: carol cannot read anything written afterwards, even with the server\'s whole database; bob still can', async () => {
    const { c, api, accountKey } = await inProcess('c1', 'carol');
    const before = await c.openForUse('Ops-Team');
    c.save();
    await api.close();
    const r = await kpm('a1', ['share', 'revoke', 'Ops-Team', email('carol')]);
    expect(r.stderr).toMatch(/new key/);
    await kpm('a2', ['share', 'put', 'Ops-Team', 'after', '--password-stdin'], 0, 'after-revoke-secret\n');
    expect((await kpm('b1', ['share', 'get', 'Ops-Team', 'after'])).stdout).toBe('after-revoke-secret\n');
    expect((await kpm('c1', ['share', 'get', 'Ops-Team', 'after'], 9)).stderr).toMatch(/no longer a member/);
    expect((await kpm('c1', ['shares'])).stdout).toMatch(/Ops-Team .* removed/);
    // the whole database, and every key carol ever had
    const d = db();
    let rows: { body: string }[];
    let bundles: { bundle: string }[];
    try {
      rows = d.prepare('SELECT body FROM share_records WHERE vault_id = ?').all(before.id) as { body: string }[];
      bundles = d.prepare('SELECT bundle FROM share_members WHERE vault_id = ?').all(before.id) as { bundle: string }[];
    } finally {
      d.close();
    }
    const later = rows.map((x) => parseRecord(fromBase64(x.body))).filter((p) => p.epoch > before.latest.epoch);
    expect(later.length).toBe(1);
    for (const p of later) for (const k of before.keys) expect(() => openRecord(p, k)).toThrow(/does not open/);
    const me = accountIdentity(accountKey, email('carol'));
    const owner = before.latest.members.find((m) => m.role === 'owner')!;
    for (const b of bundles) await expect(openBundle(me, owner.signPublic, owner.boxPublic, fromHex(before.id), before.latest.epoch + 1, fromBase64(b.bundle))).rejects.toThrow();
  }, 120_000);

  it('a dump of the server database after sharing has no plaintext: no password, entry or vault name', () => {
    const files = fs.readdirSync(srv.dataDir).filter((f) => f.startsWith('kpm-server.sqlite'));
    const all = Buffer.concat(files.map((f) => fs.readFileSync(join(srv.dataDir, f))));
    for (const s of ['deploy-secret-1', 'db-secret-1', 'after-revoke-secret', 'carol-was-here', 'Ops-Team', 'db-admin']) expect(all.includes(Buffer.from(s)), s).toBe(false);
  });

  it('leave: bob leaves; the vault is gone from his list; a changed key for a pinned contact is refused (exit 8) until accept-change', async () => {
    await kpm('b1', ['share', 'leave', 'Ops-Team']);
    expect((await kpm('b1', ['shares'])).stdout).not.toMatch(/Ops-Team .* shared/);
    // the server hands out another key for bob, whom alice pinned and verified
    const d = db();
    const { encodeIdentity } = await import('../../src/share/identity.js');
    let old: string;
    try {
      const acct = d.prepare('SELECT id FROM accounts WHERE email = ?').get(email('bob')) as { id: string };
      old = (d.prepare('SELECT body FROM share_identities WHERE account_id = ?').get(acct.id) as { body: string }).body;
      d.prepare('UPDATE share_identities SET body = ? WHERE account_id = ?').run(toBase64(await encodeIdentity(accountIdentity(randomBytes(32), email('bob')))), acct.id);
    } finally {
      d.close();
    }
    expect((await kpm('a1', ['share', 'Ops-Team', '--with', email('bob')], 8)).stderr).toMatch(/other keys for bob@share\.example\.org than the ones pinned/);
    expect((await kpm('a1', ['contacts', 'add', email('bob')], 8)).stderr).toMatch(/accept-change/);
    const ch = await kpm('a1', ['contacts', 'accept-change', email('bob')]);
    expect(ch.stdout.trim()).not.toBe(fps.bob);
    void old!;
  }, 120_000);
});
