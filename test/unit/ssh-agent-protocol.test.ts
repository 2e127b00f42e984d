// The SSH agent protocol as kpm speaks it (draft-miller-ssh-agent, OpenSSH PROTOCOL.agent):
// framing, identities and signatures in the wire format, refused add/remove/unlock, lock, the
// session-bind@openssh.com extension (verified host key signature, replay, forwarding) and the
// per-host rules it feeds (known_hosts, plain and hashed by ssh-keygen -H).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentConnection, Framer, frame, MSG, type AgentPolicy, type SshBackend } from '../../src/ssh/agentproto.js';
import { fingerprint, generateKey, signRaw, verifySignature, type SshPrivateKey } from '../../src/ssh/keys.js';
import { hostAllowed, hostsForKey, matchPatterns } from '../../src/ssh/hosts.js';
import type { SshIdentity } from '../../src/ssh/keyring.js';
import { WireReader, WireWriter } from '../../src/ssh/wire.js';

const dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-sshproto-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const ed = generateKey('ed25519', undefined, 'ed');
const rsa = generateKey('rsa', 2048, 'rsa');
const scoped = generateKey('ecdsa', 256, 'scoped');
const hostKey = generateKey('ed25519', undefined, 'host');

function ident(k: SshPrivateKey, name: string, hosts: string[] = [], confirm = false): SshIdentity {
  return { blob: k.publicBlob.toString('base64'), comment: k.comment, name, vault: 'Personal', id: name, fingerprint: fingerprint(k.publicBlob), hosts, confirm };
}

function setup(opts: { locked?: boolean; knownHosts?: string[]; confirm?: boolean } = {}) {
  const keys = [
    { k: ed, id: ident(ed, 'ed') },
    { k: rsa, id: ident(rsa, 'rsa', [], true) },
    { k: scoped, id: ident(scoped, 'scoped', ['git.example.org']) },
  ];
  const calls = { lock: 0, sign: 0, confirm: 0 };
  const logs: string[] = [];
  const backend: SshBackend = {
    identities: async () => (opts.locked ? 'locked' : keys.map((x) => x.id)),
    sign: async (blob, data, flags) => {
      calls.sign++;
      return signRaw(keys.find((x) => x.id.blob === blob)!.k, data, flags);
    },
    lock: async () => void calls.lock++,
  };
  const policy: AgentPolicy = {
    knownHosts: opts.knownHosts ?? [],
    confirm: async () => {
      calls.confirm++;
      return opts.confirm ?? false;
    },
    log: (l) => logs.push(l),
  };
  return { conn: new AgentConnection(backend, policy), calls, logs };
}

const listReq = () => Buffer.from([MSG.REQUEST_IDENTITIES]);
const signReq = (k: SshPrivateKey, data: Buffer, flags = 0) => new WireWriter().byte(MSG.SIGN_REQUEST).string(k.publicBlob).string(data).uint32(flags).toBuffer();

function parseIdentities(reply: Buffer): { blob: Buffer; comment: string }[] {
  const r = new WireReader(reply);
  expect(r.byte()).toBe(MSG.IDENTITIES_ANSWER);
  const n = r.uint32();
  const out = [];
  for (let i = 0; i < n; i++) out.push({ blob: Buffer.from(r.string()), comment: r.text() });
  r.end();
  return out;
}

function bindReq(sessionId: Buffer, opts: { forwarding?: boolean; badSig?: boolean; key?: SshPrivateKey } = {}): Buffer {
  const hk = opts.key ?? hostKey;
  const sig = signRaw(hk, opts.badSig ? Buffer.from('other') : sessionId, 0);
  return new WireWriter().byte(MSG.EXTENSION).string('session-bind@openssh.com').string(hk.publicBlob).string(sessionId).string(sig).bool(opts.forwarding ?? false).toBuffer();
}

describe('agent framing', () => {
  it('splits a stream into messages, across chunk borders', () => {
    const f = new Framer();
    const a = frame(Buffer.from([11]));
    const b = frame(Buffer.from([13, 1, 2, 3]));
    const all = Buffer.concat([a, b]);
    expect(f.push(all.subarray(0, 3))).toEqual([]);
    const got = f.push(all.subarray(3, 7));
    expect(got.map((m) => [...m])).toEqual([[11]]);
    expect(f.push(all.subarray(7)).map((m) => [...m])).toEqual([[13, 1, 2, 3]]);
  });
  it('refuses empty and oversized messages (over 256 KiB, as OpenSSH)', () => {
    expect(() => new Framer().push(Buffer.from([0, 0, 0, 0]))).toThrow(/refused/);
    expect(() => new Framer().push(Buffer.from([0, 4, 0, 1]))).toThrow(/refused/);
  });
});

describe('agent requests', () => {
  it('identities: the vault keys without a host rule, in the wire format', async () => {
    const { conn } = setup();
    const ids = parseIdentities(await conn.handle(listReq()));
    expect(ids.map((i) => i.comment)).toEqual(['ed', 'rsa']);
    expect(ids[0].blob.equals(ed.publicBlob)).toBe(true);
  });

  it('sign: ed25519 and rsa-sha2-512 signatures that verify; an unknown key or truncated request fails', async () => {
    const { conn } = setup({ confirm: true });
    const data = Buffer.from('session data');
    const r = new WireReader(await conn.handle(signReq(ed, data)));
    expect(r.byte()).toBe(MSG.SIGN_RESPONSE);
    const sig = Buffer.from(r.string());
    expect(verifySignature(ed.publicBlob, data, sig)).toBe(true);
    const r2 = new WireReader(await conn.handle(signReq(rsa, data, 4)));
    expect(r2.byte()).toBe(MSG.SIGN_RESPONSE);
    const sig2 = Buffer.from(r2.string());
    expect(new WireReader(sig2).text()).toBe('rsa-sha2-512');
    expect(verifySignature(rsa.publicBlob, data, sig2)).toBe(true);
    expect([...(await conn.handle(signReq(hostKey, data)))]).toEqual([MSG.FAILURE]);
    expect([...(await conn.handle(signReq(ed, data).subarray(0, 10)))]).toEqual([MSG.FAILURE]);
  });

  it('confirmation: a key marked confirm is asked about each time; "no" fails without signing', async () => {
    const { conn, calls, logs } = setup({ confirm: false });
    expect([...(await conn.handle(signReq(rsa, Buffer.from('x'), 2)))]).toEqual([MSG.FAILURE]);
    expect(calls).toMatchObject({ confirm: 1, sign: 0 });
    expect(logs.join('\n')).toMatch(/use of rsa refused by the user/);
    await conn.handle(signReq(ed, Buffer.from('x')));
    expect(calls).toMatchObject({ confirm: 1, sign: 1 });
  });

  it('add, remove, remove-all, unlock, smartcard are refused; lock locks kpm', async () => {
    const { conn, calls, logs } = setup();
    for (const t of [MSG.ADD_IDENTITY, MSG.ADD_ID_CONSTRAINED, MSG.REMOVE_IDENTITY, MSG.REMOVE_ALL_IDENTITIES, MSG.UNLOCK, MSG.ADD_SMARTCARD_KEY, 99]) {
      expect([...(await conn.handle(Buffer.from([t, 0, 0, 0, 0])))]).toEqual([MSG.FAILURE]);
    }
    expect(logs.join('\n')).toMatch(/kpm ssh import/);
    expect([...(await conn.handle(new WireWriter().byte(MSG.LOCK).string('ignored').toBuffer()))]).toEqual([MSG.SUCCESS]);
    expect(calls.lock).toBe(1);
  });

  it('locked: no identities, no signatures, and the reason is logged', async () => {
    const { conn, logs } = setup({ locked: true });
    expect(parseIdentities(await conn.handle(listReq()))).toEqual([]);
    expect([...(await conn.handle(signReq(ed, Buffer.from('x'))))]).toEqual([MSG.FAILURE]);
    expect(logs.join('\n')).toMatch(/kpm is locked.*kpm unlock/);
  });
});

describe('session-bind and per-host keys', () => {
  const kh = join(dir, 'known_hosts');
  fs.writeFileSync(kh, `# comment\n@cert-authority *.example.org ssh-ed25519 AAAAfake\ngit.example.org,192.0.2.7 ssh-ed25519 ${hostKey.publicBlob.toString('base64')} host\n`);
  const sid = Buffer.from('0123456789abcdef0123456789abcdef');
  const userauth = Buffer.concat([new WireWriter().string(sid).toBuffer(), Buffer.from([50, 1, 2, 3])]);

  it('a verified binding to a host known_hosts names offers its key, which signs that session only', async () => {
    const { conn } = setup({ knownHosts: [kh] });
    expect([...(await conn.handle(bindReq(sid)))]).toEqual([MSG.SUCCESS]);
    expect(parseIdentities(await conn.handle(listReq())).map((i) => i.comment)).toEqual(['ed', 'rsa', 'scoped']);
    expect(new WireReader(await conn.handle(signReq(scoped, userauth))).byte()).toBe(MSG.SIGN_RESPONSE);
    expect([...(await conn.handle(signReq(scoped, Buffer.from('not this session'))))]).toEqual([MSG.FAILURE]);
  });

  it('a bad host key signature, a replayed session id, a forwarded binding or an unknown host key: the scoped key is not offered', async () => {
    const bad = setup({ knownHosts: [kh] });
    expect([...(await bad.conn.handle(bindReq(sid, { badSig: true })))]).toEqual([MSG.FAILURE]);
    expect(parseIdentities(await bad.conn.handle(listReq())).map((i) => i.comment)).toEqual(['ed', 'rsa']);
    const replay = setup({ knownHosts: [kh] });
    await replay.conn.handle(bindReq(sid));
    expect([...(await replay.conn.handle(bindReq(sid)))]).toEqual([MSG.FAILURE]);
    const fwd = setup({ knownHosts: [kh] });
    await fwd.conn.handle(bindReq(sid, { forwarding: true }));
    expect(parseIdentities(await fwd.conn.handle(listReq())).map((i) => i.comment)).toEqual(['ed', 'rsa']);
    const unknown = setup({ knownHosts: [kh] });
    await unknown.conn.handle(bindReq(sid, { key: ed }));
    expect(parseIdentities(await unknown.conn.handle(listReq())).map((i) => i.comment)).toEqual(['ed', 'rsa']);
    expect([...(await unknown.conn.handle(signReq(scoped, userauth)))]).toEqual([MSG.FAILURE]);
  });

  it('ssh_config patterns: wildcards, negation, [host]:port', () => {
    expect(matchPatterns(['*.example.org'], 'git.example.org')).toBe(true);
    expect(matchPatterns(['*.example.org', '!bad.example.org'], 'bad.example.org')).toBe(false);
    expect(matchPatterns(['git?.example.org'], 'git1.example.org')).toBe(true);
    expect(matchPatterns(['example.org'], 'example.org.evil')).toBe(false);
    expect(hostAllowed(['127.0.0.1'], { names: ['[127.0.0.1]:2222'], hashed: [] })).toBe(true);
    expect(hostAllowed(['[127.0.0.1]:2222'], { names: ['[127.0.0.1]:2222'], hashed: [] })).toBe(true);
    expect(hostAllowed(['*', '!192.0.2.7'], { names: ['git.example.org', '192.0.2.7'], hashed: [] })).toBe(false);
  });

  it.skipIf(spawnSync('ssh-keygen', ['-?']).error !== undefined)('hashed known_hosts (ssh-keygen -H): literal patterns still match', () => {
    const hashed = join(dir, 'known_hosts_hashed');
    fs.writeFileSync(hashed, `git.example.org ssh-ed25519 ${hostKey.publicBlob.toString('base64')}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', hashed], { stdio: 'ignore' });
    expect(fs.readFileSync(hashed, 'utf8')).toMatch(/^\|1\|/);
    const names = hostsForKey(hostKey.publicBlob.toString('base64'), [hashed]);
    expect(names.names).toEqual([]);
    expect(hostAllowed(['git.example.org'], names)).toBe(true);
    expect(hostAllowed(['other.example.org'], names)).toBe(false);
    expect(hostAllowed(['*.example.org'], names)).toBe(false); // a wildcard cannot be tested against a hash
  });
});
