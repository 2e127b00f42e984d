// Errors are told apart by a kind or a code, never by their message text (issue 18, item 3): a
// reworded message must not change what the code does with the error.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT, KpmError, isKind } from '../../src/core/errors.js';
import { sealManifest, tampered, verifyManifest } from '../../src/sync/envelope.js';
import { accountSigner } from '../../src/crypto/sign.js';
import { ACCOUNT_PW, createAccount, loginTokens, testServer, totpCode } from '../helpers/server.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { utf8 } from '../../src/crypto/bytes.js';
import { TEST_KDF } from '../helpers/kdf.js';
import { resolvePaths } from '../../src/core/paths.js';
import { createKeyring } from '../../src/vault/keyring.js';
import { Session } from '../../src/vault/session.js';
import type { EntryPayload } from '../../src/vault/entry.js';

const SRC = join(__dirname, '..', '..', 'src');
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });

describe('error kinds', () => {
  it('no code in src/ branches on the text of an error message', () => {
    // `e.message` (or `err`, `error`, a cast of either) fed to a regex, includes, startsWith or a comparison
    const ERR = String.raw`\(?\s*(?:e|err|error)\b(?:\s+as\s+[\w.]+\s*\))?\s*\)?\.message`;
    const patterns = [new RegExp(String.raw`\.test\(\s*${ERR}`), new RegExp(`${ERR}\\s*\\.(?:includes|startsWith|endsWith|match|search)\\(`), new RegExp(`${ERR}\\s*[!=]==`)];
    const hits = sources(SRC).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, where: `${relative(SRC, f)}:${i + 1}` }))
        .filter(({ line }) => patterns.some((p) => p.test(line)))
        .map(({ where, line }) => `${where}: ${line.trim()}`),
    );
    expect(hits).toEqual([]);
  });

  it('a tampered envelope keeps its own reason (kind "tampered"), a malformed one is named as such', () => {
    const signer = accountSigner(new Uint8Array(32).fill(1));
    const manifest = sealManifest(signer, { vaultId: new Uint8Array(16), profileId: new Uint8Array(16), revision: 1, chain: new Uint8Array(32), time: 0 });
    const other = accountSigner(new Uint8Array(32).fill(2));
    const err = (fn: () => unknown): KpmError => {
      try {
        fn();
      } catch (e) {
        return e as KpmError;
      }
      throw new Error('no error');
    };
    const wrongKey = err(() => verifyManifest(other.publicKey, manifest));
    expect([isKind(wrongKey, 'tampered'), wrongKey.exitCode]).toEqual([true, EXIT.corrupt]);
    expect(wrongKey.message).toMatch(/not signed by this account's key/); // not re-wrapped as "malformed"
    const truncated = err(() => verifyManifest(signer.publicKey, manifest.subarray(0, manifest.length - 70)));
    expect([isKind(truncated, 'tampered'), truncated.exitCode]).toEqual([true, EXIT.corrupt]);
    expect(isKind(tampered('x'), 'tampered')).toBe(true);
  });

  it('the server marks an OTP failure that ends the sign-in (signInAgain), and not a wrong code the ticket survives', async () => {
    const s = await testServer({ check: { after: 100 } }); // no security check after the wrong codes
    await createAccount(s, 'ann@example.org');
    const t = await loginTokens(s, 'ann@example.org');
    const setup = await s.call('POST', '/v1/2fa/totp', { password: ACCOUNT_PW }, { token: t.accessToken });
    expect((await s.call('POST', '/v1/2fa/totp/confirm', { code: totpCode(setup.body.secret, s.clock.now) }, { token: t.accessToken })).status).toBe(200);
    const ticket = async () => (await s.call('POST', '/v1/sessions', { email: 'ann@example.org', password: ACCOUNT_PW, deviceName: 'x' })).body.ticket as string;
    const wrong = (tk: string) => s.call('POST', '/v1/sessions/otp', { ticket: tk, code: '000000' === totpCode(setup.body.secret, s.clock.now) ? '111111' : '000000' });
    const live = await ticket();
    const once = await wrong(live);
    expect([once.body.error, once.body.signInAgain]).toEqual(['invalid_otp', undefined]);
    for (let i = 0; i < 4; i++) await wrong(live);
    const spent = await wrong(live); // the sixth try: the ticket is used up
    expect([spent.body.error, spent.body.signInAgain]).toEqual(['invalid_otp', true]);
    const old = await ticket();
    s.clock.advance(24 * 3600_000);
    const expired = await wrong(old);
    expect([expired.body.error, expired.body.signInAgain]).toEqual(['invalid_otp', true]);
  });

  it('a name that is taken is kind "name_taken" (a vault, an entry, and restore over a live entry), whatever the message says', async () => {
    const paths = resolvePaths({ KPM_HOME: mkdtempSync(join(tmpdir(), 'kpm-kinds-')) });
    const profile = await createKeyring(paths, utf8.encode('correct horse battery staple'), { ...TEST_KDF });
    const s = await Session.open(paths, profile);
    await s.createVault('Personal');
    const now = new Date().toISOString();
    const login = (name: string, password: string): EntryPayload => ({ type: 'login', name, fields: { password }, custom: [], tags: [], created: now, updated: now, passwordChanged: now });
    const kindOf = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        return e instanceof KpmError ? [e.exitCode, e.kind] : e;
      }
      return 'ok';
    };
    expect(await kindOf(() => s.createVault('personal'))).toEqual([EXIT.conflict, 'name_taken']);
    await s.add(undefined, login('github', 'one'));
    expect(await kindOf(() => s.add(undefined, login('github', 'two')))).toEqual([EXIT.conflict, 'name_taken']);
    const gone = await s.remove('github');
    await s.add(undefined, login('github', 'three'));
    expect(await kindOf(() => s.restore(gone.id))).toEqual([EXIT.conflict, 'name_taken']); // `kpm restore` adds its hint on this kind
  });
});
