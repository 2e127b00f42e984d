// Every entry type in a shared vault (docs/SHARING.md "Record plaintext"): a shared record seals the
// same entry payload as an own vault's, checked with the entry registry's schema on every open; a
// record that does not hold a valid entry is exit 8 (tampered) even when its writer is a legitimate
// member; version-1 records (logins only, written before) still open.
import { describe, expect, it } from 'vitest';
import { entry, inject, refused, run, world } from '../helpers/share.js';
import { ShareClient } from '../../src/share/client.js';
import { utf8 } from '../../src/crypto/bytes.js';
import { EXIT } from '../../src/core/errors.js';
import { sharedPayloadProblem } from '../../src/share/format.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { ENTRY_TYPES } from '../../src/vault/types/index.js';

const T = '2026-11-25T10:00:00.000Z';
const card: EntryPayload = {
  type: 'card',
  name: 'team-visa',
  fields: { cardholder: 'Team Ops', number: '4242424242424242', expiry: '12/29', code: '731', brand: 'visa' },
  custom: [{ name: 'bank pin', value: 'Qx7-pin-4410-zz', kind: 'hidden' }, { name: 'branch', value: 'north' }],
  tags: ['finance', 'team'],
  created: T,
  updated: T,
};
const note: EntryPayload = { type: 'note', name: 'wifi', fields: { notes: 'ssid team / key hunter2-Kp9' }, custom: [], tags: ['office'], created: T, updated: T };
const login: EntryPayload = { type: 'login', name: 'ci', fields: { username: 'bot', password: 'Ci-Pw-8d7f', url: 'https://ci.example.org', totp: 'otpauth://totp/ci?secret=JBSWY3DPEHPK3PXP' }, custom: [], tags: [], created: T, updated: T, passwordChanged: T };

const plain = (o: unknown) => utf8.encode(JSON.stringify(o));

describe('shared vaults hold every entry type', () => {
  it('a card (secret custom field, tags), a note and a login with TOTP written by the owner and a writer read back the same for every member', async () => {
    const { a, b, c } = await world();
    await run(a, (x) => x.write('Team', card));
    await run(b, (x) => x.write('Team', note));
    await run(b, (x) => x.write('Team', login));
    for (const p of [a, b, c]) {
      const v = await run(p, (x) => x.openForUse('Team'));
      expect(ShareClient.find(v, 'team-visa')?.[1]).toEqual(card);
      expect(ShareClient.find(v, 'wifi')?.[1]).toEqual(note);
      expect(ShareClient.find(v, 'ci')?.[1]).toEqual(login);
    }
  });

  it("every type of the registry passes the shared check; an own vault's files (with keys), an unknown field or type are refused (exit 2) before anything is sent", async () => {
    for (const type of ENTRY_TYPES) expect(sharedPayloadProblem({ type, name: 'x', fields: { notes: 'n' }, custom: [], tags: [], created: T, updated: T })).toBeNull();
    const { b } = await world();
    const bad: [EntryPayload, RegExp][] = [
      [{ ...card, files: [{ blob: '0'.repeat(32), key: 'k', name: 'f.pdf', type: 'application/pdf', size: 1 }] }, /a shared vault's files are not an own vault's \(with keys\)/],
      [{ ...card, fields: { ...card.fields, colour: 'red' } }, /not a field of a card/],
      [{ ...card, type: 'spaceship' as never }, /entry\.type: not one of/],
    ];
    for (const [e, msg] of bad) await refused(b, (x) => x.write('Team', e), msg, EXIT.usage);
  });

  it('a record with an invalid payload shape signed by a legitimate writer: exit 8 for every member, nothing written, nothing sent', async () => {
    const shapes: unknown[] = [
      { v: 2, entry: { ...card, type: 'spaceship' } },
      { v: 2, entry: { ...card, fields: { number: 4242 } } },
      { v: 2, entry: { ...card, fields: { ...card.fields, colour: 'red' } } },
      { v: 2, entry: { ...card, custom: [{ name: 'x', value: 'y', kind: 'script' }] } },
      { v: 2, entry: { ...card, extra: true } },
      { v: 2, entry: { ...card, name: '   ' } },
      { v: 2, entry: { ...card, files: [{ blob: '0'.repeat(32), key: 'k', name: 'f', type: 't', size: 1 }] } },
      { v: 2, entry: { ...card, tags: 'finance' } },
      { v: 3, entry: card },
      { v: 2, entry: card, more: 1 },
      { v: 2 },
      [card],
      { name: 'legacy', password: 'p', updated: T, type: 'login' },
      { name: 'legacy', password: { evil: true }, updated: T },
    ];
    const { ts, b, c, id } = await world();
    const v = await run(b, (x) => x.openForUse('Team'));
    for (const shape of shapes) {
      await inject(ts, id, b.accountKey, b.email, v.keys[v.latest.epoch - 1], v.latest.epoch, plain(shape));
      for (const p of [b, c]) await refused(p, (x) => x.openForUse('Team'), /shared record \d+ is malformed/);
      // the server drops it again: the vault reads as before
      await ts.store.db.deleteFrom('share_records').where('vault_id', '=', id).where('rev', '=', v.head + 1).execute();
      await ts.store.db.updateTable('share_vaults').set({ head: v.head }).where('vault_id', '=', id).execute();
      expect(ShareClient.find(await run(c, (x) => x.openForUse('Team')), 'db')?.[1].fields.password).toBe('pw-db-1');
    }
  });

  it('the old login-only record shape (version 1, no "v") still opens, as a login', async () => {
    const { ts, b, c, id } = await world();
    const v = await run(b, (x) => x.openForUse('Team'));
    await inject(ts, id, b.accountKey, b.email, v.keys[v.latest.epoch - 1], v.latest.epoch, plain({ name: 'old-login', username: 'ops', password: 'Old-Pw-5r2q', url: 'https://old.example.org', notes: 'from before', updated: T }));
    const cv = await run(c, (x) => x.openForUse('Team'));
    expect(ShareClient.find(cv, 'old-login')?.[1]).toEqual({ type: 'login', name: 'old-login', fields: { username: 'ops', password: 'Old-Pw-5r2q', url: 'https://old.example.org', notes: 'from before' }, custom: [], tags: [], created: T, updated: T });
    // and an edit writes it in the new shape, which opens as well
    await run(b, (x) => x.write('Team', { ...ShareClient.find(cv, 'old-login')![1], tags: ['migrated'] }));
    expect(ShareClient.find(await run(c, (x) => x.openForUse('Team')), 'old-login')?.[1].tags).toEqual(['migrated']);
    expect(ShareClient.find(cv, 'deploy')?.[1]).toEqual(entry('deploy', 'pw-deploy-1'));
  });

  it('every version of a shared entry is kept (the log), a deletion carrying the entry as it was', async () => {
    const { a, b, c } = await world();
    await run(b, (x) => x.write('Team', { ...entry('deploy', 'pw-deploy-2') }));
    await run(a, (x) => x.write('Team', { name: 'deploy' }, true));
    const v = await run(c, (x) => x.openForUse('Team'));
    const id = [...v.versions.keys()].find((k) => v.versions.get(k)![0].entry.name === 'deploy')!;
    expect(v.versions.get(id)!.map((x) => [x.entry.fields.password, x.deleted, x.writer])).toEqual([
      ['pw-deploy-1', false, a.email],
      ['pw-deploy-2', false, b.email],
      ['pw-deploy-2', true, a.email],
    ]);
    expect(ShareClient.find(v, 'deploy')).toBeUndefined();
  });
});
