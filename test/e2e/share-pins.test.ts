// Contact pins across an account's devices and a real `kpm share leave` (docs/SHARING.md "Contact
// pins across the account's devices", "Leaving a shared vault"), through the built binaries against
// one real kpm-server (SQLite): alice on two devices (the second added by `kpm login`), bob, carol.
import { beforeAll, describe, expect, it } from 'vitest';
import { shareTeam } from '../helpers/shareteam.js';
import { accountIdentity, encodeIdentity } from '../../src/share/identity.js';
import { openBundle, openRecord, parseRecord } from '../../src/share/format.js';
import { fromBase64, fromHex, toBase64 } from '../../src/crypto/bytes.js';
import { randomBytes } from '../../src/crypto/random.js';

describe('contact pins across devices, and leave (real server, SQLite, built binaries)', () => {
  const team = shareTeam('pins.example.org');
  const { email, kpm, db } = team;
  const fps: Record<string, string> = {};

  beforeAll(async () => {
    await team.setUp({ a2: 'unlocked' });
    for (const [who, dev] of [['alice', 'a1'], ['bob', 'b1'], ['carol', 'c1']]) fps[who] = (await kpm(dev, ['whoami', '--fingerprint'])).stdout.trim();
  }, 300_000);

  it("a contact added and verified on alice's first device is verified on her second; a key the server substitutes for it is refused there (exit 8)", async () => {
    await kpm('a1', ['contacts', 'add', email('bob')]);
    await kpm('a1', ['contacts', 'verify', email('bob'), fps.bob]);
    // the server hands out another key for bob; alice's second device never pinned bob itself
    const d = db();
    let real: string;
    let bobId: string;
    try {
      bobId = (d.prepare('SELECT id FROM accounts WHERE email = ?').get(email('bob')) as { id: string }).id;
      real = (d.prepare('SELECT body FROM share_identities WHERE account_id = ?').get(bobId) as { body: string }).body;
      d.prepare('UPDATE share_identities SET body = ? WHERE account_id = ?').run(toBase64(await encodeIdentity(accountIdentity(randomBytes(32), email('bob')))), bobId);
    } finally {
      d.close();
    }
    try {
      expect((await kpm('a2', ['share', 'Pins-Probe', '--with', email('bob')], 8)).stderr).toMatch(/other keys for bob@pins\.example\.org than the ones pinned for this account: refused/);
      expect((await kpm('a2', ['contacts', 'add', email('bob')], 8)).stderr).toMatch(/accept-change/);
    } finally {
      const d2 = db(); // bob's real keys again, whatever happened (the next test shares with him)
      try {
        d2.prepare('UPDATE share_identities SET body = ? WHERE account_id = ?').run(real!, bobId!);
      } finally {
        d2.close();
      }
    }
    expect((await kpm('a2', ['contacts', 'list'])).stdout).toBe(`bob@pins.example.org  verified    ${fps.bob}\n`);
    expect((await kpm('a2', ['contacts', 'list', '--json'])).stdout).toMatch(/"verified": ?true/);
  }, 200_000);

  it("leave: bob signs a leave statement; alice's next command (kpm shares) signs a membership without him and a new key; bob cannot read anything written afterwards, even with the server's database", async () => {
    await kpm('a1', ['share', 'Pins-Team', '--with', email('bob')]);
    await kpm('a1', ['share', 'Pins-Team', '--with', email('carol'), '--read-only']);
    await kpm('b1', ['share', 'accept', 'Pins-Team']);
    await kpm('c1', ['share', 'accept', 'Pins-Team']);
    await kpm('a1', ['share', 'put', 'Pins-Team', 'before', '--password-stdin'], 0, 'pins-before-Qx7Lm2Vw\n');
    expect((await kpm('b1', ['share', 'get', 'Pins-Team', 'before'])).stdout).toBe('pins-before-Qx7Lm2Vw\n');
    // every key bob held, from his own device (what he could keep)
    const { c, api, accountKey } = await team.inProcess('b1', 'bob');
    const before = await c.openForUse('Pins-Team');
    await api.close();
    const left = await kpm('b1', ['share', 'leave', 'Pins-Team']);
    expect(left.stderr).toMatch(/owner's next sharing command signs a membership without you/);
    expect((await kpm('b1', ['shares'])).stdout).not.toMatch(/Pins-Team/);
    const shares = await kpm('a1', ['shares']);
    expect(shares.stderr).toMatch(/bob@pins\.example\.org left shared vault "Pins-Team": signed membership epoch 3 without them, with a new vault key/);
    expect(shares.stdout).toMatch(/Pins-Team .* epoch 3/);
    const list = await kpm('a2', ['share', 'list', 'Pins-Team']);
    expect(list.stdout).not.toMatch(/bob@/);
    expect(list.stdout).toMatch(/carol@pins\.example\.org {2}reader/);
    await kpm('a2', ['share', 'put', 'Pins-Team', 'after', '--password-stdin'], 0, 'pins-after-Rk3Tn8Zp\n');
    expect((await kpm('c1', ['share', 'get', 'Pins-Team', 'after'])).stdout).toBe('pins-after-Rk3Tn8Zp\n');
    expect((await kpm('b1', ['share', 'get', 'Pins-Team', 'after'], 3)).stderr).toMatch(/no shared vault "Pins-Team"/);
    // the server's whole database and every key bob had: nothing written after the leave opens
    const d = db();
    let rows: { body: string }[];
    let bundles: { bundle: string }[];
    try {
      rows = d.prepare('SELECT body FROM share_records WHERE vault_id = ?').all(before.id) as { body: string }[];
      bundles = d.prepare('SELECT bundle FROM share_members WHERE vault_id = ?').all(before.id) as { bundle: string }[];
      expect(d.prepare('SELECT count(*) AS n FROM share_leaves').get()).toEqual({ n: 0 });
    } finally {
      d.close();
    }
    const later = rows.map((x) => parseRecord(fromBase64(x.body))).filter((p) => p.epoch > before.latest.epoch);
    expect(later.length).toBe(1);
    for (const p of later) for (const k of before.keys) expect(() => openRecord(p, k)).toThrow(/does not open/);
    const me = accountIdentity(accountKey, email('bob'));
    const owner = before.latest.members.find((m) => m.role === 'owner')!;
    for (const b of bundles) await expect(openBundle(me, owner.signPublic, owner.boxPublic, fromHex(before.id), before.latest.epoch + 1, fromBase64(b.bundle))).rejects.toThrow();
  }, 300_000);
});
