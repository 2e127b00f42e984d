// The keyring the kpm agent signs with on the SSH socket it serves itself (src/ssh/direct.ts): one
// parsed key per entry version, never a stale one; a vault that locks on its idle clock (time
// injected) takes its keys with it at once; the agent's stop drops them all. The control channel
// between the kpm agent and `kpm ssh-agent` refuses anything but its own messages.
import { describe, expect, it } from 'vitest';
import { newProfile, FAST } from '../helpers/sync.js';
import { generateKey, verifySignature } from '../../src/ssh/keys.js';
import { keyPayload } from '../../src/ssh/entry.js';
import { dropSshKeys, pruneSshKeys, sshKeyring } from '../../src/ssh/agentmethods.js';
import { parseControl } from '../../src/ssh/control.js';

const utf8 = new TextEncoder();

describe('the kpm agent keyring (SSH socket served by the agent itself)', () => {
  it('a key replaced in the same entry (a new version): the new key signs at once, the old one no longer; one parsed key held', async () => {
    const s = await newProfile();
    const a = generateKey('ed25519', undefined, 'a@example.org');
    const added = await s.add(undefined, keyPayload('deploy', a, {}));
    const ring = sshKeyring(s);
    const data = Buffer.from('session data');
    const blobA = a.publicBlob.toString('base64');
    expect(verifySignature(a.publicBlob, data, ring.signBytes(blobA, data, 0))).toBe(true);
    expect(ring.size).toBe(1);
    const b = generateKey('ecdsa', 256, 'b@example.org');
    const v = s.get(added.id, added.vault);
    const next = keyPayload('deploy', b, {});
    await s.update(v.vault, v.id, v.version, { ...next, created: v.payload.created, updated: v.payload.updated }); // same id, same timestamp
    expect(ring.identities().map((i) => i.blob)).toEqual([b.publicBlob.toString('base64')]);
    expect(() => ring.signBytes(blobA, data, 0)).toThrow(/no SSH key/);
    expect(verifySignature(b.publicBlob, data, ring.signBytes(b.publicBlob.toString('base64'), data, 0))).toBe(true);
    expect(ring.size).toBe(1);
    await s.remove('deploy');
    expect(ring.identities()).toEqual([]);
    expect(ring.size).toBe(0);
    s.close();
  });

  it('a data vault locked by its idle clock (injected time) drops its parsed keys at once; the agent stop drops every key', async () => {
    const s = await newProfile();
    await s.createVault('Work', utf8.encode('correct horse battery staple work'), FAST);
    const personal = generateKey('ed25519', undefined, 'home');
    const work = generateKey('ed25519', undefined, 'office');
    await s.add('Personal', keyPayload('home', personal, {}));
    await s.add('Work', keyPayload('office', work, {}));
    const ring = sshKeyring(s);
    const data = Buffer.from('x');
    ring.signBytes(work.publicBlob.toString('base64'), data, 0);
    ring.signBytes(personal.publicBlob.toString('base64'), data, 0);
    expect(ring.size).toBe(2);
    expect(s.lockIdleDataVaults(60_000, Date.now() + 3_600_000)).toEqual(['Work']); // an hour later, by the injected clock
    pruneSshKeys(s); // what the agent's idle clock does right after
    expect(ring.size).toBe(1);
    expect(ring.identities().map((i) => i.name)).toEqual(['home']);
    expect(() => ring.signBytes(work.publicBlob.toString('base64'), data, 0)).toThrow(/no SSH key/);
    dropSshKeys(s);
    expect(ring.size).toBe(0);
    expect(sshKeyring(s)).not.toBe(ring);
    s.close();
  });
});

describe('the control channel (kpm agent ↔ kpm ssh-agent)', () => {
  it('accepts its own messages only: unknown types, missing or mistyped fields, non-objects are refused', () => {
    expect(parseControl('{"t":"hello","v":1,"pid":42}')).toEqual({ t: 'hello', v: 1, pid: 42 });
    expect(parseControl('{"t":"config","socket":"/run/a.sock","knownHosts":["/k"]}')).toEqual({ t: 'config', socket: '/run/a.sock', knownHosts: ['/k'] });
    expect(parseControl('{"t":"answer","id":3,"allow":true}')).toEqual({ t: 'answer', id: 3, allow: true });
    for (const bad of ['', 'null', '[]', '"x"', '{"t":"sign"}', '{"t":"hello","v":"1","pid":1}', '{"t":"answer","id":1,"allow":"yes"}', '{"t":"config","socket":5,"knownHosts":[]}', '{"t":"confirm","id":1,"name":"n","fingerprint":"f"}', '{"t":"log","line":' + JSON.stringify('x'.repeat(5000)) + '}']) {
      expect(parseControl(bad), bad).toBeUndefined();
    }
  });
});
