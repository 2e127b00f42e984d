// SSH keys sync like every other entry: a key generated on device A reaches device B of the same
// account through the (in-process) server, and B's kpm agent keyring signs with it; a host rule set
// on B reaches A.
import { describe, expect, it } from 'vitest';
import { testServer } from '../helpers/server.js';
import { account, device, newProfile, secondDevice, transport } from '../helpers/sync.js';
import { syncProfile } from '../../src/sync/engine.js';
import { generateKey, verifySignature } from '../../src/ssh/keys.js';
import { keyPayload } from '../../src/ssh/entry.js';
import { SshKeyring } from '../../src/ssh/keyring.js';

describe('ssh-key entries and sync', () => {
  it('a key made on device A signs on device B; B\'s host rule reaches A', async () => {
    const ts = await testServer();
    const acc = await account(ts);
    const a = await newProfile();
    const key = generateKey('ed25519', undefined, 'synced@example.org');
    await a.add(undefined, keyPayload('synced', key, {}));
    const ta = transport(ts, acc.token);
    await syncProfile(a, ta, acc.accountId);
    const tb = transport(ts, await device(ts, acc.email));
    const b = await secondDevice(tb, acc.accountId);
    await syncProfile(b, tb, acc.accountId);

    const ringB = new SshKeyring(b);
    const ids = ringB.identities();
    expect(ids.map((i) => [i.name, i.comment, i.blob])).toEqual([['synced', 'synced@example.org', key.publicBlob.toString('base64')]]);
    const data = Buffer.from('to be signed');
    const sig = Buffer.from(ringB.sign(ids[0].blob, data.toString('base64'), 0), 'base64');
    expect(verifySignature(key.publicBlob, data, sig)).toBe(true);

    const v = b.get('synced');
    v.payload.fields.hosts = 'github.com';
    v.payload.updated = new Date(Date.now() + 1000).toISOString();
    await b.update(v.vault, v.id, v.version, v.payload);
    await syncProfile(b, tb, acc.accountId);
    await syncProfile(a, ta, acc.accountId);
    const ringA = new SshKeyring(a);
    expect(ringA.identities()[0].hosts).toEqual(['github.com']);
    expect(() => ringA.sign('AAAA', data.toString('base64'), 0)).toThrow(/no SSH key/);
  });
});
