// A malicious server (docs/SECURITY.md "Sync"): the in-process server with a double in front of it
// that rewrites its answers. Every attack must end with exit 8 ("tampered"), nothing written on the
// device, and (where the attack comes before any upload) nothing sent. R11–R15.
import { beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { testServer, type TestServer } from '../helpers/server.js';
import { account, device, newProfile, secondDevice, tempPaths, transport, FAST, PW, type TestTransport } from '../helpers/sync.js';
import { syncProfile } from '../../src/sync/engine.js';
import { fromBase64, toBase64, utf8 } from '../../src/crypto/bytes.js';
import { parseKeyringEnvelope, sealKeyringEnvelope, parseVaultEnvelope } from '../../src/sync/envelope.js';
import { saveKeyringEnvelope } from '../../src/sync/state.js';
import { installDownloadedKeyring } from '../../src/sync/newdevice.js';
import { createKeyring } from '../../src/vault/keyring.js';
import { decodeKeyring, encodeKeyring, keyringBoundBytes } from '../../src/vault/format.js';
import { derivationCount } from '../../src/crypto/kdf.js';
import * as kdf from '../../src/crypto/kdf.js';
import { ApiClient } from '../../src/sync/http.js';
import { accountSigner, type Signer } from '../../src/crypto/sign.js';
import * as os from 'node:os';
import { fromHex, toHex } from '../../src/crypto/bytes.js';
import { accountSubkey, hmacSha256, vaultSubkey } from '../../src/crypto/keys.js';
import { seal } from '../../src/crypto/aead.js';
import { randomBytes } from '../../src/crypto/random.js';
import { initialSyncChain, nextSyncChain, sealManifest, sealVaultEnvelope } from '../../src/sync/envelope.js';
import { newServiceToken, sealVaultForToken, tokenKeys, unwrapForToken } from '../../src/sync/tokenvault.js';
import { encodeRecord, entryAad } from '../../src/vault/format.js';
import { rememberRemoval } from '../../src/sync/removal.js';
import { blobsDir, encryptFileToBlob, sealedBlobSize } from '../../src/vault/blobs.js';
import type { Session } from '../../src/vault/session.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { snapshot } from '../helpers/files.js';

const login = (name: string, password: string): EntryPayload => ({ type: 'login', name, fields: { username: 'ann', password, url: `https://${name}.example` }, custom: [], tags: [], created: new Date().toISOString(), updated: new Date().toISOString() } as unknown as EntryPayload);

interface World {
  ts: TestServer;
  acc: { email: string; accountId: string; token: string };
  a: Session;
  ta: TestTransport;
  b: Session;
  tb: TestTransport;
}

/** Device A with three entries, synced; device B synced too; then A changes one entry and syncs. */
async function world(): Promise<World> {
  const ts = await testServer();
  const acc = await account(ts);
  const a = await newProfile();
  for (const n of ['github', 'gitlab', 'bank']) await a.add(undefined, login(n, `pw-${n}`));
  const ta = transport(ts, acc.token);
  await syncProfile(a, ta, acc.accountId);
  const tb = transport(ts, await device(ts, acc.email));
  const b = await secondDevice(tb, acc.accountId);
  await syncProfile(b, tb, acc.accountId);
  await syncProfile(a, ta, acc.accountId); // takes B's re-wrapped keyring (R8), so later syncs of A are quiet
  const e = a.get('github');
  await a.update('Personal', e.id, e.version, { ...e.payload, fields: { ...e.payload.fields, password: 'pw-github-2' } });
  await a.add(undefined, login('mail', 'pw-mail'));
  await syncProfile(a, ta, acc.accountId);
  tb.writes.length = 0;
  return { ts, acc, a, ta, b, tb };
}

/** Syncs B with the tampering in place: exit 8, nothing written on B, nothing sent. */
async function expectTampered(w: World, what: RegExp = /tampered/): Promise<void> {
  const before = snapshot(w.b.paths.home);
  await expect(syncProfile(w.b, w.tb, w.acc.accountId)).rejects.toMatchObject({ exitCode: 8, message: expect.stringMatching(what) });
  expect(snapshot(w.b.paths.home)).toEqual(before);
  expect(w.tb.writes).toEqual([]);
}

const vaultOf = (w: World) => w.a.listVaults()[0].id;

describe('sync against a malicious server', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  it('the honest run works (control)', async () => {
    const r = await syncProfile(w.b, w.tb, w.acc.accountId);
    expect(r.vaults[0].pulled).toBe(2);
    expect(w.b.get('github').payload.fields.password).toBe('pw-github-2');
  });

  it('R9/R10: swapping two entries\' ciphertexts is detected', async () => {
    w.tb.tamper.pull = (_id, _after, p) => {
      // records are whole: entry id, version, flags, name tag and ONE sealed blob of every field
      [p.records[0], p.records[1]] = [p.records[1], p.records[0]];
      return p;
    };
    await expectTampered(w, /dropped, altered, reordered or replayed/);
  });

  it('R10: altering bytes inside a record (moving a field) is detected', async () => {
    w.tb.tamper.pull = (_id, _after, p) => {
      const raw = fromBase64(p.records[0]);
      raw[raw.length - 20] ^= 1;
      p.records[0] = toBase64(raw);
      return p;
    };
    await expectTampered(w);
  });

  it('R13: replaying an old version of an entry is detected', async () => {
    const old = await w.ta.pull(vaultOf(w), 0); // the first version of every entry
    w.tb.tamper.pull = (_id, _after, p) => {
      p.records[0] = old.records[0];
      return p;
    };
    await expectTampered(w);
  });

  it('R13: rolling the vault back to a state this device has seen is detected', async () => {
    await syncProfile(w.b, w.tb, w.acc.accountId); // B has now seen revision 5
    const a2 = w.a.get('bank');
    await w.a.update('Personal', a2.id, a2.version, { ...a2.payload, notes: 'x' } as EntryPayload);
    await syncProfile(w.a, w.ta, w.acc.accountId);
    const id = vaultOf(w);
    const stale = await w.ta.pull(id, 0);
    // the server answers with the log as it was at revision 3 (a genuine, MAC'd earlier manifest)
    const early = { ...stale, head: 3, records: stale.records.slice(0, 3), more: false };
    w.tb.tamper.state = (s) => ({ ...s, vaults: s.vaults.map((v) => ({ ...v, head: 3 })) });
    w.tb.tamper.pull = () => ({ ...early, from: 6 });
    w.tb.writes.length = 0;
    await expectTampered(w, /rolled back/);
  });

  it('R13: dropping an entry silently is detected', async () => {
    w.tb.tamper.pull = (_id, _after, p) => ({ ...p, head: p.head - 1, records: p.records.slice(1) });
    await expectTampered(w);
  });

  it('R13: altering counts or revisions the user sees is detected', async () => {
    w.tb.tamper.pull = (_id, _after, p) => ({ ...p, head: p.head + 1 });
    await expectTampered(w, /record count|manifest/);
  });

  it('altering the manifest time (what `kpm sync` shows as last change) is detected', async () => {
    w.tb.tamper.pull = (_id, _after, p) => {
      const m = fromBase64(p.manifest!);
      m[m.length - 97] ^= 1; // last byte of the time field, before the signer's key and the signature
      return { ...p, manifest: toBase64(m) };
    };
    await expectTampered(w, /manifest fails its signature check/);
  });

  it('R15: a sync answer with a key field the client does not know (public key, escrow) is refused, exit 8', async () => {
    const honest = await w.tb.state();
    const { createServer } = await import('node:http');
    const srv = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...honest, keyring: { ...honest.keyring, publicKey: 'AAAA' } }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const api = new ApiClient(`http://127.0.0.1:${(srv.address() as { port: number }).port}`);
    try {
      await expect(api.call('syncState', { token: 'kpa_' + 'x'.repeat(30) })).rejects.toMatchObject({ exitCode: 8, message: expect.stringMatching(/unknown field publicKey/) });
    } finally {
      await api.close();
      srv.close();
    }
  });

  it('R15: substituting the wrapped vault key is detected; on a new device nothing is created (R12)', async () => {
    const sub = (s: any) => {
      const env = parseVaultEnvelope(fromBase64(s.vaults[0].body));
      const kp = env.keyPart.slice();
      kp[kp.length - 60] ^= 1; // inside the wrapped vault key
      const body = env.body.slice();
      body.set(kp, body.length - 32 - kp.length); // the key part, then the signer's public key
      const out = new Uint8Array(body.length + 64);
      out.set(body);
      out.set(env.signature, body.length);
      s.vaults[0].body = toBase64(out);
      return s;
    };
    w.tb.tamper.state = sub;
    await expectTampered(w, /signature check/);
    // a new device: the key does not unwrap; no vault folder, no request but reads
    const tc = transport(w.ts, await device(w.ts, w.acc.email));
    const c = await secondDevice(tc, w.acc.accountId);
    tc.writes.length = 0;
    tc.tamper.state = sub;
    const before = snapshot(c.paths.home);
    await expect(syncProfile(c, tc, w.acc.accountId)).rejects.toMatchObject({ exitCode: 8 });
    expect(snapshot(c.paths.home)).toEqual(before);
    expect(tc.writes).toEqual([]);
  });

  it('R14: another account\'s validly encrypted vault is refused', async () => {
    const other = await account(w.ts);
    const x = await newProfile();
    await x.add(undefined, login('foreign', 'x'));
    const tx = transport(w.ts, other.token);
    await syncProfile(x, tx, other.accountId);
    const foreign = await tx.state();
    w.tb.tamper.state = (s) => ({ ...s, vaults: [...s.vaults, foreign.vaults[0]] });
    await expectTampered(w, /another profile/);
  });

  it('R11/R6: a keyring changed without a new epoch, or rolled back, is refused', async () => {
    w.tb.tamper.state = (s) => {
      const env = fromBase64(s.keyring!.body);
      env[20] ^= 1; // inside keyring.kpm (the salt/parameters)
      return { ...s, keyring: { ...s.keyring!, body: toBase64(env) } };
    };
    await expectTampered(w);
    w.tb.tamper.state = (s) => ({ ...s, keyring: { ...s.keyring!, epoch: s.keyring!.epoch - 1 } });
    await expectTampered(w, /epoch/);
  });

  it('R11: a keyring with weaker KDF parameters than this device uses is refused, even if MAC\'d', async () => {
    // Only a holder of the account key could make this envelope; the client still refuses it.
    const cur = decodeKeyring(fs.readFileSync(w.b.paths.keyring));
    const weak = encodeKeyring(keyringBoundBytes({ params: FAST, salt: cur.kdf.salt }, cur.profileId), cur.wrappedKey);
    const st = await w.tb.state();
    const forged = sealKeyringEnvelope(accountSigner(w.b.profile.accountKey), { epoch: st.keyring!.epoch + 1, keyring: weak });
    w.tb.tamper.state = (s) => ({ ...s, keyring: { epoch: st.keyring!.epoch + 1, body: toBase64(forged) } });
    await expectTampered(w, /weaker KDF parameters/);
  });

  it('R11/R12: a new device refuses a keyring below the KDF floor before deriving anything', async () => {
    const paths = tempPaths();
    const cur = decodeKeyring(fs.readFileSync(w.b.paths.keyring));
    const below = encodeKeyring(keyringBoundBytes({ params: { m: 8192, t: 1, p: 1 }, salt: cur.kdf.salt }, cur.profileId), cur.wrappedKey);
    saveKeyringEnvelope(paths, sealKeyringEnvelope(accountSigner(w.b.profile.accountKey), { epoch: 9, keyring: below }));
    const before = snapshot(paths.home);
    const n = kdf.derivationCount;
    await expect(installDownloadedKeyring(paths, utf8.encode(PW), w.acc.accountId)).rejects.toMatchObject({ exitCode: 8 });
    expect(kdf.derivationCount).toBe(n);
    expect(snapshot(paths.home)).toEqual(before);
    void derivationCount;
  });

  it('R12: a downloaded keyring altered by the server installs nothing', async () => {
    const paths = tempPaths();
    const st = await w.tb.state();
    const env = fromBase64(st.keyring!.body);
    env[env.length - 1] ^= 1; // the MAC
    saveKeyringEnvelope(paths, env);
    const before = snapshot(paths.home);
    await expect(installDownloadedKeyring(paths, utf8.encode(PW), w.acc.accountId)).rejects.toMatchObject({ exitCode: 8 });
    expect(fs.existsSync(paths.keyring)).toBe(false);
    expect(snapshot(paths.home)).toEqual(before);
    void parseKeyringEnvelope;
    void createKeyring;
  });
});

describe('what a device uploads (R15, R17, R18)', () => {
  it('no key in clear; the only wrapping of a vault key is the client\'s own, under the account key', async () => {
    const ts = await testServer();
    const acc = await account(ts);
    const a = await newProfile();
    await a.add(undefined, login('github', 'pw-github'));
    await a.createVault('Work');
    const t = transport(ts, acc.token);
    await syncProfile(a, t, acc.accountId);
    const keys = [a.profile.accountKey, ...a.listVaults().map((v) => a.openVault(v.id)!.exportKey())].map((k) => Buffer.from(k));
    const { decodeVaultKeyPart, AAD } = await import('../../src/vault/format.js');
    const { openKey } = await import('../../src/crypto/aead.js');
    const { concatBytes } = await import('../../src/crypto/bytes.js');
    const { accountSubkey } = await import('../../src/crypto/keys.js');
    let wrapped = 0;
    for (const w of t.writes) {
      const blobs: Buffer[] = [];
      const collect = (x: unknown): void => {
        if (typeof x === 'string' && /^[A-Za-z0-9+/]{16,}={0,2}$/.test(x)) blobs.push(Buffer.from(x, 'base64'));
        else if (Array.isArray(x)) x.forEach(collect);
        else if (x && typeof x === 'object') Object.values(x).forEach(collect);
      };
      collect(w.body);
      for (const b of blobs) for (const k of keys) expect(b.includes(k), `${w.route} carries a key in clear`).toBe(false);
      if (w.route === 'syncVault') {
        const env = parseVaultEnvelope(fromBase64(w.body.body));
        const kp = decodeVaultKeyPart(env.keyPart);
        const wk = accountSubkey(a.profile.accountKey, 'vaultKeyWrap');
        const vk = openKey(wk, kp.wrappedKey, concatBytes(AAD.vaultKey, kp.keyBoundBytes)); // the client's own wrapping
        expect(keys.some((k) => k.equals(Buffer.from(vk)))).toBe(true);
        wrapped++;
      }
      // a push and a compaction name the server log generation they build on (a number): nothing else is added
      expect(Object.keys(w.body ?? {}).sort()).toEqual(w.route === 'syncPush' || w.route === 'syncCompact' ? ['base', 'generation', 'manifest', 'records'] : ['body', 'epoch', 'expectedEpoch']);
    }
    expect(wrapped).toBe(2);
  });
});

// ---------------------------------------------------------------- S3, S4, S10 (security review)

/**
 * What a read-only service token of A's Personal vault gives its holder (as `kpm token create`
 * seals it), opened with the token's own secret: everything the holder has, on top of the server.
 */
function tokenHolder(w: World) {
  const tok = newServiceToken();
  const { wrapKey } = tokenKeys(tok);
  const sealed = sealVaultForToken(w.a, 'Personal', tok.id, toBase64(wrapKey));
  const profileId = w.a.profile.profileId;
  return { vaultId: sealed.vaultId, profileId, ...unwrapForToken(wrapKey, fromBase64(sealed.wrappedKey), tok.id, sealed.vaultId, profileId) };
}

/** The holder's best attempts at signing: its own key, or its own key claiming to be the account's. */
function forgedSigners(accountPk: Uint8Array): Signer[] {
  const own = accountSigner(randomBytes(32));
  return [own, { publicKey: accountPk, sign: (m) => own.sign(m) }];
}

describe('S3, S4, S10: writes only the account can make; removals and downloads a server cannot undo or inflate', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
    await syncProfile(w.b, w.tb, w.acc.accountId);
    w.tb.writes.length = 0;
  });

  it('S3: a read-only token holder with the server writes an entry version and manifest: refused (exit 8), device unchanged', async () => {
    const h = tokenHolder(w);
    const gh = w.b.get('github');
    const tag = hmacSha256(h.tagKey, utf8.encode('github')).subarray(0, 16);
    const version = gh.version + 1;
    const payload = { ...gh.payload, fields: { ...gh.payload.fields, password: 'ATTACKER-CHOSEN-PW', url: 'https://evil.example' } };
    // a record that decrypts and authenticates under the token's record key
    const raw = encodeRecord(fromHex(gh.id), version, 0, tag, seal(h.recordKey, utf8.encode(JSON.stringify(payload)), entryAad(h.profileId, fromHex(h.vaultId), fromHex(gh.id), version, 0, tag)));
    const all = await w.ta.pull(h.vaultId, 0); // the server's whole log, so the chain is right
    let chain = initialSyncChain(fromHex(h.vaultId));
    for (const r of [...all.records.map(fromBase64), raw]) chain = nextSyncChain(chain, r);
    for (const signer of forgedSigners(h.publicKey)) {
      const manifest = sealManifest(signer, { vaultId: fromHex(h.vaultId), profileId: h.profileId, revision: all.head + 1, chain, time: Date.now() });
      w.tb.tamper.state = (s) => ({ ...s, vaults: s.vaults.map((v) => ({ ...v, head: all.head + 1 })) });
      w.tb.tamper.pull = (_id, _after, p) => ({ ...p, head: all.head + 1, records: [...p.records, toBase64(raw)], manifest: toBase64(manifest) });
      await expectTampered(w, /manifest (is not signed by this account's key|fails its signature check)/);
    }
    expect(w.b.get('github').payload.fields.password).toBe('pw-github-2');
  });

  it('S3: a read-only token holder with the server writes a deletion envelope: refused (exit 8), the vault stays', async () => {
    const h = tokenHolder(w);
    for (const signer of forgedSigners(h.publicKey)) {
      w.tb.tamper.state = (s) => ({
        ...s,
        vaults: s.vaults.map((v) => {
          const env = parseVaultEnvelope(fromBase64(v.body));
          return { ...v, epoch: v.epoch + 1, body: toBase64(sealVaultEnvelope(signer, { vaultId: env.vaultId, epoch: v.epoch + 1, deleted: true, keyPart: env.keyPart })) };
        }),
      });
      await expectTampered(w, /not signed by this account's key|fails its signature check/);
    }
    expect(w.b.listVaults().map((v) => v.name)).toEqual(['Personal']);
  });

  it('S3: the token carries no key that signs, wraps or MACs: only the record and name-tag keys and the public key', () => {
    const h = tokenHolder(w);
    const v = w.a.vault('Personal');
    const vk = v.exportKey();
    const secret = [vk, w.a.profile.accountKey, accountSubkey(w.a.profile.accountKey, 'signing'), vaultSubkey(vk, 'headerMac')].map(toHex);
    for (const k of [h.recordKey, h.tagKey, h.publicKey]) expect(secret).not.toContain(toHex(k));
    expect(toHex(h.publicKey)).toBe(toHex(accountSigner(w.a.profile.accountKey).publicKey));
  });

  it('S4: a vault removed with `kpm vault rm` whose server row is restored is refused (exit 8), on the removing device and on the other', async () => {
    await w.a.createVault('Old');
    await w.a.add('Old', login('old-secret', 'pw-old'));
    await syncProfile(w.a, w.ta, w.acc.accountId);
    await syncProfile(w.b, w.tb, w.acc.accountId);
    const id = w.a.vault('Old').id;
    const row = (await w.ta.state()).vaults.find((v) => v.id === id)!;
    const records = await w.ta.pull(id, 0);
    rememberRemoval(w.a, 'Old');
    w.a.removeVault('Old');
    await syncProfile(w.a, w.ta, w.acc.accountId);
    await syncProfile(w.b, w.tb, w.acc.accountId);
    expect(w.b.listVaults().map((v) => v.name)).toEqual(['Personal']);
    // the server restores the vault's row (and log) as it was before the removal
    for (const [dev, t] of [[w.a, w.ta], [w.b, w.tb]] as const) {
      t.tamper.state = (s) => ({ ...s, vaults: s.vaults.map((v) => (v.id === id ? row : v)) });
      t.tamper.pull = (vid, after, p) => (vid === id ? { ...records, from: after + 1, records: records.records.slice(after) } : p);
      const before = snapshot(dev.paths.home);
      t.writes.length = 0;
      await expect(syncProfile(dev, t, w.acc.accountId)).rejects.toMatchObject({ exitCode: 8, message: expect.stringMatching(/was removed .* brought it back/) });
      expect(snapshot(dev.paths.home)).toEqual(before);
      expect(t.writes).toEqual([]);
      expect(dev.listVaults().map((v) => v.name)).toEqual(['Personal']);
    }
  });

  it('S4 (same pattern): a data vault known only from the server cannot be rolled back to before its password change', async () => {
    await w.a.createVault('Private', utf8.encode('old-vault-pw'));
    await w.a.add('Private', login('hidden', 'pw-hidden'));
    await syncProfile(w.a, w.ta, w.acc.accountId);
    const old = (await w.ta.state()).vaults.find((v) => v.id === w.a.vault('Private').id)!;
    await syncProfile(w.b, w.tb, w.acc.accountId); // B keeps it locked (it has no password for it)
    await w.a.changeVaultPassword('Private', utf8.encode('old-vault-pw'), utf8.encode('new-vault-pw'));
    await syncProfile(w.a, w.ta, w.acc.accountId);
    await syncProfile(w.b, w.tb, w.acc.accountId);
    w.tb.writes.length = 0;
    // the server offers the envelope from before the change: the old (perhaps leaked) password would open it
    w.tb.tamper.state = (st) => ({ ...st, vaults: st.vaults.map((v) => (v.id === old.id ? old : v)) });
    await expectTampered(w, /data vault .* rolled back/);
  });

  it('S10: a server serving 1,200 chunks for a 19-byte document is refused (exit 8); nothing beyond the declared size is written', async () => {
    const dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-doc-'));
    const src = join(dir, 'note.txt');
    fs.writeFileSync(src, 'nineteen bytes here');
    const f = await encryptFileToBlob(blobsDir(w.a.paths), src);
    await w.a.add(undefined, { ...login('doc', 'x'), type: 'document', fields: {}, files: [f] } as unknown as EntryPayload);
    await syncProfile(w.a, w.ta, w.acc.accountId);
    const declared = sealedBlobSize(19);
    expect(fs.statSync(join(blobsDir(w.a.paths), f.blob)).size).toBe(declared);
    let calls = 0;
    let sent = 0;
    w.tb.tamper.blobGet = (_id, index) => {
      calls++;
      sent += 1000;
      return { data: toBase64(new Uint8Array(1000)), last: index >= 1199 };
    };
    const before = snapshot(w.b.paths.home);
    await expect(syncProfile(w.b, w.tb, w.acc.accountId)).rejects.toMatchObject({ exitCode: 8, message: expect.stringMatching(/more (chunks )?of file/) });
    expect(snapshot(w.b.paths.home)).toEqual(before); // neither the file nor the entry naming it
    expect(calls).toBe(1);
    expect(sent).toBeLessThanOrEqual(1000);
    expect(fs.existsSync(blobsDir(w.b.paths)) ? fs.readdirSync(blobsDir(w.b.paths)) : []).toEqual([]);
    // many small chunks within the size: stopped at the chunk count (one for a 19-byte file)
    w.tb.tamper.blobGet = (_id, index) => ({ data: toBase64(new Uint8Array(1)), last: index >= 1199 });
    calls = 0;
    await expect(syncProfile(w.b, w.tb, w.acc.accountId)).rejects.toMatchObject({ exitCode: 8, message: expect.stringMatching(/more chunks of file/) });
    expect(fs.existsSync(blobsDir(w.b.paths)) ? fs.readdirSync(blobsDir(w.b.paths)) : []).toEqual([]);
    // and the honest server's copy arrives whole, with its entry
    delete w.tb.tamper.blobGet;
    await syncProfile(w.b, w.tb, w.acc.accountId);
    expect(fs.statSync(join(blobsDir(w.b.paths), f.blob)).size).toBe(declared);
    expect(w.b.get('doc').payload.name).toBe('doc');
  });
});
