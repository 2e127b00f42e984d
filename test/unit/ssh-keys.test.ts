// SSH key formats against OpenSSH's own ssh-keygen: keys it makes (each type, passphrase-protected
// ones too) are read by kpm with the same public key and fingerprint; keys kpm makes or stores are
// read back by ssh-keygen; the wire encoding follows RFC 4251 §5.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, generateKey, parsePrivateFile, parsePublicLine, publicLine, serializePrivate, signRaw, verifySignature, SSH_AGENT_RSA_SHA2_256, SSH_AGENT_RSA_SHA2_512 } from '../../src/ssh/keys.js';
import { bcryptPbkdf, piWords } from '../../src/ssh/bcrypt.js';
import { WireReader, WireWriter } from '../../src/ssh/wire.js';
import { KpmError } from '../../src/core/errors.js';

const HAVE_KEYGEN = spawnSync('ssh-keygen', ['-?']).error === undefined;
const dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-sshkeys-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function keygen(name: string, args: string[]): { priv: string; pub: string; fp: string } {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-f', f, ...args], { stdio: 'pipe' });
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', f + '.pub'], { encoding: 'utf8' }).split(' ')[1];
  return { priv: fs.readFileSync(f, 'utf8'), pub: fs.readFileSync(f + '.pub', 'utf8').trim(), fp };
}

/** what ssh-keygen derives as the public line from a private key file kpm wrote */
function keygenPublicOf(text: string): string {
  const f = join(dir, `k${Math.random().toString(36).slice(2)}`); // file name only, not a secret
  fs.writeFileSync(f, text, { mode: 0o600 });
  try {
    return execFileSync('ssh-keygen', ['-y', '-f', f], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } finally {
    fs.rmSync(f);
  }
}

describe('SSH wire encoding (RFC 4251 §5)', () => {
  it('mpint examples of RFC 4251', () => {
    const hex = (b: string) => new WireWriter().mpint(Buffer.from(b, 'hex')).toBuffer().toString('hex');
    expect(hex('')).toBe('00000000');
    expect(hex('09a378f9b2e332a7')).toBe('0000000809a378f9b2e332a7');
    expect(hex('80')).toBe('000000020080');
    expect(hex('0080')).toBe('000000020080');
    expect(new WireReader(Buffer.from('000000020080', 'hex')).mpint().toString('hex')).toBe('80');
    expect(() => new WireReader(Buffer.from('00000002edcc', 'hex')).mpint()).toThrow(/negative/);
  });
  it('truncated strings and trailing bytes are refused', () => {
    expect(() => new WireReader(Buffer.from('0000000561', 'hex')).string()).toThrow(/truncated/);
    const r = new WireReader(Buffer.from('0000000161ff', 'hex'));
    r.string();
    expect(() => r.end()).toThrow(/trailing/);
  });
});

describe('bcrypt_pbkdf', () => {
  it('pi words of Blowfish and the known vector (password, salt, 4 rounds)', () => {
    const w = piWords(1042);
    expect([w[0], w[17], w[18], w[1041]].map((x) => x.toString(16))).toEqual(['243f6a88', '8979fb1b', 'd1310ba6', '3ac372e6']);
    expect(bcryptPbkdf(Buffer.from('password'), Buffer.from('salt'), 32, 4).toString('hex')).toBe('5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9');
  });
});

describe.skipIf(!HAVE_KEYGEN)('OpenSSH private keys from ssh-keygen', () => {
  const made: Record<string, ReturnType<typeof keygen>> = {};
  beforeAll(() => {
    made.ed25519 = keygen('ed', ['-t', 'ed25519', '-N', '', '-C', 'alice@example.org']);
    made.rsa = keygen('rsa', ['-t', 'rsa', '-b', '2048', '-N', '', '-C', 'rsa key']);
    made.ecdsa256 = keygen('ec256', ['-t', 'ecdsa', '-b', '256', '-N', '', '-C', '']);
    made.ecdsa384 = keygen('ec384', ['-t', 'ecdsa', '-b', '384', '-N', '', '-C', 'e384']);
    made.ecdsa521 = keygen('ec521', ['-t', 'ecdsa', '-b', '521', '-N', '', '-C', 'e521']);
    made.protected = keygen('edp', ['-t', 'ed25519', '-N', 'correct pass phrase', '-C', 'locked']);
    made.rsaProtected = keygen('rsap', ['-t', 'rsa', '-b', '2048', '-N', 'rsa pass', '-C', 'locked rsa']);
  });

  for (const kind of ['ed25519', 'rsa', 'ecdsa256', 'ecdsa384', 'ecdsa521']) {
    it(`${kind}: same public key and fingerprint as ssh-keygen; kpm's serialisation reads back in ssh-keygen; signatures verify`, () => {
      const m = made[kind];
      const f = parsePrivateFile(m.priv);
      expect(f.encrypted).toBe(false);
      const k = f.open();
      expect(publicLine(k.publicBlob, k.comment)).toBe(m.pub);
      expect(fingerprint(k.publicBlob)).toBe(m.fp);
      expect(keygenPublicOf(serializePrivate(k))).toBe(publicLine(k.publicBlob, k.comment));
      const data = Buffer.from('data to sign');
      for (const flags of [0, SSH_AGENT_RSA_SHA2_256, SSH_AGENT_RSA_SHA2_512]) {
        const sig = signRaw(k, data, flags);
        expect(verifySignature(k.publicBlob, data, sig)).toBe(true);
        expect(verifySignature(k.publicBlob, Buffer.from('other data'), sig)).toBe(false);
      }
      if (kind === 'rsa') expect(new WireReader(signRaw(k, data, SSH_AGENT_RSA_SHA2_512)).text()).toBe('rsa-sha2-512');
    });
  }

  it('passphrase-protected keys (bcrypt + aes256-ctr) open with the passphrase only', () => {
    for (const [m, pass] of [[made.protected, 'correct pass phrase'], [made.rsaProtected, 'rsa pass']] as const) {
      const f = parsePrivateFile(m.priv);
      expect(f.encrypted).toBe(true);
      expect(() => f.open()).toThrow(/passphrase/);
      let err: unknown;
      try {
        f.open('wrong');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KpmError);
      expect((err as KpmError).exitCode).toBe(5);
      const k = f.open(pass);
      expect(publicLine(k.publicBlob, k.comment)).toBe(m.pub);
      // what kpm stores is unencrypted (only the vault's ciphertext protects it)
      expect(parsePrivateFile(serializePrivate(k)).encrypted).toBe(false);
    }
  });

  it('keys kpm generates are read by ssh-keygen (ed25519, rsa, ecdsa)', () => {
    for (const [kind, bits] of [['ed25519', undefined], ['rsa', 2048], ['ecdsa', 256], ['ecdsa', 384], ['ecdsa', 521]] as const) {
      const k = generateKey(kind, bits, `gen-${kind}`);
      const line = keygenPublicOf(serializePrivate(k));
      expect(line).toBe(publicLine(k.publicBlob, `gen-${kind}`));
      expect(parsePublicLine(line).blob.equals(k.publicBlob)).toBe(true);
    }
  });

  it('bad input: other formats, garbage, a corrupted key, bad options give one clear usage error', () => {
    const pem = execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519'], { encoding: 'utf8' });
    expect(() => parsePrivateFile(pem)).toThrow(/PKCS#8/);
    expect(() => parsePrivateFile('hello')).toThrow(/not an OpenSSH private key/);
    const body = made.ed25519.priv.split('\n').slice(1, -2).join('');
    const bytes = Buffer.from(body, 'base64');
    bytes[bytes.length - 70] ^= 1; // inside the private seed
    const bad = `-----BEGIN OPENSSH PRIVATE KEY-----\n${bytes.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
    expect(() => parsePrivateFile(bad).open()).toThrow(KpmError);
    expect(() => parsePrivateFile(`-----BEGIN OPENSSH PRIVATE KEY-----\n${bytes.subarray(0, 40).toString('base64')}\n-----END OPENSSH PRIVATE KEY-----`)).toThrow(/malformed/);
    expect(() => generateKey('dsa', undefined, '')).toThrow(/unknown key type/);
    expect(() => generateKey('rsa', 1024, '')).toThrow(/2048/);
    expect(() => generateKey('ecdsa', 300, '')).toThrow(/256, 384 or 521/);
  });
});
