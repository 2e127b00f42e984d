// The three-way entry merge of sync (src/sync/merge.ts), and the engine using it with two devices
// of one account against the in-process server.
import { describe, expect, it } from 'vitest';
import { mergeEntry, resolveConflict, type Side } from '../../src/sync/merge.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { testServer } from '../helpers/server.js';
import { account, device, newProfile, secondDevice, transport } from '../helpers/sync.js';
import { syncProfile } from '../../src/sync/engine.js';

const T0 = '2026-11-25T10:00:00.000Z';
const card = (fields: Record<string, string>, more: Partial<EntryPayload> = {}): EntryPayload => ({ type: 'card', name: 'visa', fields, custom: [], tags: [], created: T0, updated: T0, ...more });
const side = (payload: EntryPayload, at = Date.parse(payload.updated), deleted = false): Side => ({ payload, at, deleted });
const BASE = card({ cardholder: 'Ann Smith', number: '4111111111111111', expiry: '01/28' });

describe('mergeEntry / resolveConflict', () => {
  it('different fields changed on the two sides: both changes kept', () => {
    const local = card({ ...BASE.fields, expiry: '02/30' }, { updated: '2026-11-25T10:05:00.000Z' });
    const remote = card({ ...BASE.fields, cardholder: 'Ann B. Smith' }, { updated: '2026-11-25T10:01:00.000Z' });
    const o = resolveConflict(side(BASE), side(local), side(remote));
    expect(o.kind).toBe('merged');
    if (o.kind !== 'merged') return;
    expect(o.payload.fields).toEqual({ cardholder: 'Ann B. Smith', number: '4111111111111111', expiry: '02/30' });
    expect(o.payload.updated).toBe('2026-11-25T10:05:00.000Z');
    expect(o.payload.created).toBe(T0);
    // symmetric: the other device computes the same fields
    const back = resolveConflict(side(BASE), side(remote), side(local));
    expect(back.kind === 'merged' && back.payload.fields).toEqual(o.payload.fields);
  });

  it('the same field changed on both sides to different values: the later whole entry wins (ties: the remote one)', () => {
    const local = card({ ...BASE.fields, expiry: '03/31', cardholder: 'X' }, { updated: '2026-11-25T10:05:00.000Z' });
    const remote = card({ ...BASE.fields, expiry: '04/32' }, { updated: '2026-11-25T10:01:00.000Z' });
    expect(resolveConflict(side(BASE), side(local), side(remote))).toEqual({ kind: 'local', conflicts: ['expiry'] });
    expect(resolveConflict(side(BASE), side(remote), side(local))).toEqual({ kind: 'remote', conflicts: ['expiry'] });
    expect(resolveConflict(side(BASE), side(local, 5), side(remote, 5)).kind).toBe('remote');
  });

  it('the same change on both sides is no conflict; a field removed on one side is removed', () => {
    const local = card({ cardholder: 'Ann Smith', number: '4111111111111111', expiry: '09/29' });
    const remote = card({ cardholder: 'Ann Smith', number: '4111111111111111', expiry: '09/29', pin: '1234' });
    const noExpiry = card({ cardholder: 'Ann Smith', number: '4111111111111111' });
    expect(mergeEntry(BASE, local, remote)).toEqual({ payload: expect.objectContaining({ fields: { ...remote.fields } }), conflicts: [] });
    expect(mergeEntry(BASE, noExpiry, card({ ...BASE.fields, pin: '1' })).payload.fields).toEqual({ cardholder: 'Ann Smith', number: '4111111111111111', pin: '1' });
    // removed here, changed there: a conflict
    expect(mergeEntry(BASE, noExpiry, card({ ...BASE.fields, expiry: '05/35' })).conflicts).toEqual(['expiry']);
  });

  it('name and type are fields too', () => {
    const m = mergeEntry(BASE, { ...BASE, name: 'Visa (work)' }, card({ ...BASE.fields, code: '123' }));
    expect(m).toMatchObject({ conflicts: [], payload: { name: 'Visa (work)', fields: { code: '123' } } });
    expect(mergeEntry(BASE, { ...BASE, name: 'a' }, { ...BASE, name: 'b' }).conflicts).toEqual(['name']);
  });

  it('custom fields merge per name, tags and files per item', () => {
    const base = card(BASE.fields, { custom: [{ name: 'PIN hint', value: 'birthday' }, { name: 'bank', value: 'B1' }], tags: ['money', 'old'] });
    const file = (blob: string) => ({ blob, key: 'k', name: `${blob}.pdf`, type: 'application/pdf', size: 1 });
    const local = { ...base, custom: [{ name: 'PIN hint', value: 'cat' }, { name: 'bank', value: 'B1' }, { name: 'branch', value: 'Main St' }], tags: ['money', 'old', 'travel'], files: [file('a'.repeat(32))] };
    const remote = { ...base, custom: [{ name: 'PIN hint', value: 'birthday' }], tags: ['money', 'family'], files: [file('b'.repeat(32))] };
    const m = mergeEntry(base, local, remote);
    expect(m.conflicts).toEqual([]);
    expect(m.payload.custom).toEqual([{ name: 'PIN hint', value: 'cat' }, { name: 'branch', value: 'Main St' }]); // "bank" removed there
    expect(m.payload.tags).toEqual(['money', 'travel', 'family']); // "old" removed there
    expect(m.payload.files!.map((f) => f.blob)).toEqual(['a'.repeat(32), 'b'.repeat(32)]);
    // one custom field changed on both sides: a conflict named after it
    const r2 = { ...base, custom: [{ name: 'PIN hint', value: 'dog' }, { name: 'bank', value: 'B1' }] };
    expect(mergeEntry(base, local, r2).conflicts).toEqual(['custom field pin hint']);
  });

  it('the password change time goes with the password', () => {
    const local = card({ ...BASE.fields, expiry: '02/30' });
    const base = { ...BASE, type: 'login' as const, fields: { password: 'old', username: 'ann' }, passwordChanged: T0 };
    const l = { ...base, fields: { password: 'old', username: 'bob' } };
    const r = { ...base, fields: { password: 'new', username: 'ann' }, passwordChanged: '2026-11-26T00:00:00.000Z' };
    expect(mergeEntry(base, l, r).payload).toMatchObject({ fields: { password: 'new', username: 'bob' }, passwordChanged: '2026-11-26T00:00:00.000Z' });
    expect(mergeEntry(base, r, l).payload.passwordChanged).toBe('2026-11-26T00:00:00.000Z');
    expect(local.fields.expiry).toBe('02/30');
  });

  it('a deletion on either side, or no base: the whole-entry rule', () => {
    const local = card({ ...BASE.fields, expiry: '02/30' }, { updated: '2026-11-25T10:05:00.000Z' });
    const remote = card({ ...BASE.fields, cardholder: 'B' }, { updated: '2026-11-25T10:01:00.000Z' });
    expect(resolveConflict(undefined, side(local), side(remote)).kind).toBe('local');
    expect(resolveConflict(side(BASE), side(local), side(remote, undefined, true)).kind).toBe('local');
    expect(resolveConflict(side(BASE), side(local, undefined, true), side(remote)).kind).toBe('local');
    expect(resolveConflict(side(BASE), side(remote), side(local, undefined, true)).kind).toBe('remote');
  });
});

describe('sync engine: field-by-field merge between two devices', () => {
  it('A changes the cardholder, B the expiry: both devices end with both changes; the earlier versions stay in history', async () => {
    const ts = await testServer();
    const acc = await account(ts);
    const a = await newProfile();
    await a.add(undefined, BASE);
    const ta = transport(ts, acc.token);
    await syncProfile(a, ta, acc.accountId);
    const tb = transport(ts, await device(ts, acc.email));
    const b = await secondDevice(tb, acc.accountId);
    await syncProfile(b, tb, acc.accountId);

    const ea = a.get('visa');
    await a.update('Personal', ea.id, ea.version, { ...ea.payload, fields: { ...ea.payload.fields, cardholder: 'Ann B. Smith' }, updated: '2026-11-25T10:01:00.000Z' });
    const eb = b.get('visa');
    await b.update('Personal', eb.id, eb.version, { ...eb.payload, fields: { ...eb.payload.fields, expiry: '02/30' }, updated: '2026-11-25T10:05:00.000Z' });
    await syncProfile(a, ta, acc.accountId);
    const rb = await syncProfile(b, tb, acc.accountId);
    expect(rb.vaults[0].conflicts).toEqual([{ name: 'visa', kept: 'merged' }]);
    const ra = await syncProfile(a, ta, acc.accountId);
    expect(ra.vaults[0].conflicts).toEqual([]);
    for (const s of [a, b]) expect(s.get('visa').payload.fields).toEqual({ cardholder: 'Ann B. Smith', number: '4111111111111111', expiry: '02/30' });
    const hist = a.history('visa').map((h) => h.payload.fields);
    expect(hist).toEqual(expect.arrayContaining([expect.objectContaining({ cardholder: 'Ann B. Smith', expiry: '01/28' }), expect.objectContaining({ cardholder: 'Ann Smith', expiry: '02/30' })]));
    expect(hist).toEqual(b.history('visa').map((h) => h.payload.fields));
  });
});
