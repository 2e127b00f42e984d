// Shared vaults through two kpm-server instances on one database (PostgreSQL when KPM_TEST_PG is set,
// and a SQLite file always): the owner and the writer talk to instance 1, the reader to instance 2.
// Share, accept, write, read, a reader's write refused, the reader's service token (refused once the
// reader is removed), revoke; then every row of every table is
// dumped and searched for plaintext (docs/SHARING.md).
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeRun, initHome, kpm as runKpm, makeHome, MASTER, run, type RunResult } from '../helpers/kpm.js';
import { freshPgDatabase, dumpDatabase, PG_SKIP_REASON, PG_URL, registerAccount, startServer } from '../helpers/server.js';

const PW = 'Share7Password';
const master = { KPM_MASTER_PASSWORD: MASTER };

for (const engine of ['sqlite', 'postgres'] as const) {
  describe.skipIf(engine === 'postgres' && !PG_URL)(`shared vaults through two instances on one ${engine} database${engine === 'postgres' && !PG_URL ? ` (${PG_SKIP_REASON})` : ''}`, () => {
    it('owner and writer on instance 1, reader on instance 2: share, accept, write, read, refused write, the reader\'s service token, revoke; no plaintext in the database', async () => {
      const shared = engine === 'postgres' ? await freshPgDatabase() : join(mkdtempSync(join(os.tmpdir(), 'kpm-shared-')), 'shared.sqlite');
      const env = { KPM_SERVER_KEY: 'cd'.repeat(32) };
      const args = ['--database', shared, '--log-level', 'warn'];
      const [one, two] = await Promise.all([startServer({ args, env }), startServer({ args, env })]);
      // the owner's vault is a copy of the fixture home (one per database: a second copy would be the same profile)
      const who = { owner: { home: initHome(), url: one.url, srv: one }, writer: { home: makeHome(), url: one.url, srv: one }, reader: { home: makeHome(), url: two.url, srv: two } };
      const mail = (w: string) => `${w}-${engine}@share-pg.example.org`;
      /** the one runner (test/helpers/kpm.ts) in `w`'s home, against `w`'s instance */
      const kpm = (w: keyof typeof who, a: string[], code = 0, input?: string, e: Record<string, string> = master): Promise<RunResult> =>
        runKpm(who[w].home, a, code, { input, env: { ...e, KPM_SERVER: who[w].url } }).catch((err: Error) => {
          throw new Error(`${w}: ${err.message}`);
        });
      for (const w of Object.keys(who) as (keyof typeof who)[]) {
        // through the server's API (registerAccount: `kpm register`/`activate` are tested in server-flow.test.ts)
        await registerAccount(who[w].srv, mail(w), PW, 'NL');
        if (w !== 'owner') await kpm(w, ['init', '--password-stdin'], 0, MASTER + '\n', {});
        await kpm(w, ['login', mail(w), '--password-stdin'], 0, PW + '\n', {});
        await kpm(w, ['whoami', '--fingerprint']);
      }
      await kpm('owner', ['share', 'Pg-Team', '--with', mail('writer')]);
      await kpm('owner', ['share', 'Pg-Team', '--with', mail('reader'), '--read-only']);
      await kpm('writer', ['share', 'accept', 'Pg-Team']);
      await kpm('reader', ['share', 'accept', 'Pg-Team']);
      await kpm('writer', ['share', 'put', 'Pg-Team', 'pg-deploy', '--username', 'pg-bot-user', '--password-stdin'], 0, 'pg-share-secret-1\n');
      expect((await kpm('reader', ['share', 'get', 'Pg-Team', 'pg-deploy'])).stdout).toBe('pg-share-secret-1\n');
      expect((await kpm('reader', ['share', 'put', 'Pg-Team', 'pg-deploy', '--password-stdin'], 9, 'pg-reader-write\n')).stderr).toMatch(/only read/);
      // the reader's service token (made through instance 2, read through instance 1), until the reader is removed
      const token = (await kpm('reader', ['token', 'create', '--vault', 'Pg-Team', '--expires', '1h'])).stdout.trim();
      const machine = makeHome();
      const ci = async (code: number) => {
        const r = await run(['read', 'kpm://Pg-Team/pg-deploy/password'], { home: machine, env: { KPM_HOME: join(machine, 'absent'), KPM_TOKEN: token, KPM_SERVER: one.url, KPM_CACHE_DIR: 'off' } });
        expect(r.code, describeRun(['read'], r)).toBe(code);
        return r;
      };
      expect((await ci(0)).stdout).toBe('pg-share-secret-1\n');
      await kpm('owner', ['share', 'revoke', 'Pg-Team', mail('reader')]);
      expect((await ci(9)).stderr).toMatch(/no longer a member of its shared vault/);
      await kpm('writer', ['share', 'put', 'Pg-Team', 'pg-after', '--password-stdin'], 0, 'pg-share-secret-2\n');
      expect((await kpm('owner', ['share', 'get', 'Pg-Team', 'pg-after'])).stdout).toBe('pg-share-secret-2\n');
      expect((await kpm('reader', ['share', 'get', 'Pg-Team', 'pg-after'], 9)).stderr).toMatch(/no longer a member/);
      const dump = await dumpDatabase(shared);
      expect(dump).toMatch(/share_records|KPSR|S1BTUg/); // the shared log is there (base64 of its magic)
      for (const s of ['pg-share-secret-1', 'pg-share-secret-2', 'pg-reader-write', 'pg-bot-user', 'Pg-Team', 'pg-deploy', 'pg-after']) expect(dump.includes(s), s).toBe(false);
      await Promise.all([one.stop(), two.stop()]);
    }, 400_000);

    it("contact pins across the owner's two devices (one per instance), a stale first write of the pin state (409), and leave: the owner's next command rotates", async () => {
      const shared = engine === 'postgres' ? await freshPgDatabase() : join(mkdtempSync(join(os.tmpdir(), 'kpm-shared-')), 'shared.sqlite');
      const env = { KPM_SERVER_KEY: 'ef'.repeat(32) };
      const args = ['--database', shared, '--log-level', 'warn'];
      const [one, two] = await Promise.all([startServer({ args, env }), startServer({ args, env })]);
      const who = { owner: { home: initHome(), url: one.url }, owner2: { home: makeHome(), url: two.url }, member: { home: makeHome(), url: two.url } };
      const mail = (w: string) => `pins-${w}-${engine}@share-pg.example.org`;
      const kpm = (w: keyof typeof who, a: string[], code = 0, input?: string, e: Record<string, string> = master): Promise<RunResult> =>
        runKpm(who[w].home, a, code, { input, env: { ...e, KPM_SERVER: who[w].url } }).catch((err: Error) => {
          throw new Error(`${w}: ${err.message}`);
        });
      await registerAccount(one, mail('owner'), PW, 'NL');
      await registerAccount(two, mail('member'), PW, 'NL');
      await kpm('owner', ['login', mail('owner'), '--password-stdin'], 0, PW + '\n', {});
      await kpm('owner', ['sync']); // the keyring to the server: the second device gets the account key from it
      await kpm('owner2', ['login', mail('owner'), '--password-stdin'], 0, PW + '\n', {});
      await kpm('owner2', ['unlock', '--password-stdin'], 0, MASTER + '\n', {});
      await kpm('member', ['init', '--password-stdin'], 0, MASTER + '\n', {});
      await kpm('member', ['login', mail('member'), '--password-stdin'], 0, PW + '\n', {});
      const fp = (await kpm('member', ['whoami', '--fingerprint'])).stdout.trim();
      await kpm('owner', ['contacts', 'add', mail('member')]);
      await kpm('owner', ['contacts', 'verify', mail('member'), fp]);
      expect((await kpm('owner2', ['contacts', 'list'])).stdout).toBe(`${mail('member')}  verified    ${fp}\n`);
      // a first write (base 0) of the pin state when the database has one already: 409 on this engine, nothing replaced
      const { resolvePaths } = await import('../../src/core/paths.js');
      const { unlockKeyring } = await import('../../src/vault/keyring.js');
      const { ApiClient, authedCall, loadSession } = await import('../../src/sync/http.js');
      const { accountShareSecrets } = await import('../../src/crypto/keys.js');
      const { accountIdentity } = await import('../../src/share/identity.js');
      const { sealPins } = await import('../../src/share/pins.js');
      const { toBase64, utf8 } = await import('../../src/crypto/bytes.js');
      const paths = resolvePaths({ KPM_HOME: who.owner.home });
      const prof = await unlockKeyring(paths, utf8.encode(MASTER));
      const session = loadSession(paths)!;
      const api = new ApiClient(session.server, false);
      try {
        const blob = await sealPins(accountIdentity(prof.accountKey, mail('owner')).signer, accountShareSecrets(prof.accountKey), 1, { contacts: {}, epochs: {}, left: {} });
        await expect(authedCall(paths, api, session, 'sharePinsPut', { body: { base: 0, body: toBase64(blob) } })).rejects.toThrow(/pin state changed meanwhile/);
        await expect(authedCall(paths, api, session, 'sharePinsPut', { body: { base: 5, body: toBase64(blob) } })).rejects.toThrow(/not 6/);
      } finally {
        await api.close();
      }
      expect((await kpm('owner2', ['contacts', 'list'])).stdout).toMatch(/ {2}verified {4}/);
      // leave through instance 2; the owner's second device (instance 2) acts on it, the first (instance 1) sees the new epoch
      await kpm('owner', ['share', 'Pins-Pg', '--with', mail('member'), '--require-verified']);
      await kpm('member', ['share', 'accept', 'Pins-Pg']);
      await kpm('member', ['share', 'leave', 'Pins-Pg']);
      expect((await kpm('owner2', ['shares'])).stderr).toMatch(/left shared vault "Pins-Pg": signed membership epoch 2 without them/);
      const l = await kpm('owner', ['share', 'list', 'Pins-Pg', '--json']);
      expect(JSON.parse(l.stdout)).toMatchObject({ epoch: 2, members: [{ email: mail('owner'), role: 'owner' }] });
      await Promise.all([one.stop(), two.stop()]);
    }, 400_000);
  });
}
