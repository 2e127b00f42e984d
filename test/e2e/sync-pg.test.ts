// Sync through two kpm-server instances sharing one database (PostgreSQL when KPM_TEST_PG is set,
// and a SQLite file always): each device talks to its own instance. Then the database is dumped,
// every table's every row, and searched for the entries' plaintext (R16).
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initHome, kpm as runKpm, makeHome, MASTER, type RunResult } from '../helpers/kpm.js';
import { freshPgDatabase, dumpDatabase, PG_SKIP_REASON, PG_URL, registerAccount, startServer } from '../helpers/server.js';

const PW = 'Shared7Password';
const master = { KPM_MASTER_PASSWORD: MASTER };

for (const engine of ['sqlite', 'postgres'] as const) {
  describe.skipIf(engine === 'postgres' && !PG_URL)(`sync through two instances on one ${engine} database${engine === 'postgres' && !PG_URL ? ` (${PG_SKIP_REASON})` : ''}`, () => {
    it('device A on instance 1, device B on instance 2; the database holds no plaintext (R16)', async () => {
      const shared = engine === 'postgres' ? await freshPgDatabase() : join(mkdtempSync(join(os.tmpdir(), 'kpm-shared-')), 'shared.sqlite');
      const env = { KPM_SERVER_KEY: 'ab'.repeat(32) };
      const args = ['--database', shared, '--log-level', 'warn'];
      const [one, two] = await Promise.all([startServer({ args, env }), startServer({ args, env })]);
      const homeA = initHome(); // a vault as `kpm init` leaves it (the fixture home)
      const homeB = makeHome();
      /** the one runner (test/helpers/kpm.ts): exit `code`, no stack trace, the master password in no output */
      const kpm = (home: string, server: string, a: string[], code = 0, input?: string): Promise<RunResult> =>
        runKpm(home, a, code, { input, env: { ...master, KPM_SERVER: server }, secrets: [MASTER] });
      // the account through the server's API (registerAccount: `kpm register`/`activate` are tested in server-flow.test.ts)
      const email = await registerAccount(one, `pair-${engine}@example.org`, PW, 'NL');
      await kpm(homeA, one.url, ['login', email, '--password-stdin'], 0, PW + '\n');
      await kpm(homeA, one.url, ['add', 'pg-bank', '--username', 'pg-user-ann', '--url', 'https://bank.pg.example', '--password-stdin'], 0, 'pg-secret-1\n');
      await kpm(homeA, one.url, ['sync']);
      await kpm(homeB, two.url, ['login', email, '--password-stdin'], 0, PW + '\n');
      await kpm(homeB, two.url, ['sync']);
      expect((await kpm(homeB, two.url, ['get', 'pg-bank'])).stdout).toBe('pg-secret-1\n');
      await kpm(homeB, two.url, ['add', 'pg-mail', '--username', 'pg-user-bob', '--password-stdin'], 0, 'pg-secret-2\n');
      await kpm(homeA, one.url, ['sync']);
      expect((await kpm(homeA, one.url, ['get', 'pg-mail'])).stdout).toBe('pg-secret-2\n');
      const dump = await dumpDatabase(shared);
      expect(dump).toMatch(/sync_records|"rev"/);
      for (const plain of ['pg-bank', 'pg-mail', 'pg-user-ann', 'pg-user-bob', 'bank.pg.example', 'pg-secret-1', 'pg-secret-2', MASTER]) expect(dump.includes(plain), plain).toBe(false);
      await Promise.all([one.stop(), two.stop()]);
    }, 300_000); // two servers and two devices: 60 s was not enough at load 15
  });
}
