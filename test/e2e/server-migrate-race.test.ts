// Several kpm-server processes starting at once on one new SQLite file (several instances may share
// one database): SQLite has no migration lock across processes, and kysely runs SQLite migrations one
// by one, so an instance could apply a migration another had applied but not yet recorded
// ("kpm-server: duplicate column name: password_usable", and the server exited). Found by
// test/e2e/share-pg.test.ts in a clean-clone run. Every start now holds a lock file beside the
// database while it migrates.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runServerCli } from '../helpers/server.js';

describe('kpm-server processes migrating one new SQLite file at once', () => {
  it('four `kpm-server admin list` on one new data folder together all succeed (8 rounds)', async () => {
    for (let round = 0; round < 8; round++) {
      const dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-migrate-'));
      const runs = await Promise.all([0, 1, 2, 3].map(() => runServerCli(['admin', 'list', '--json', '--data-dir', dir])));
      fs.rmSync(dir, { recursive: true, force: true });
      expect(runs.filter((r) => r.code !== 0).map((r) => r.stderr.trim()), `round ${round}`).toEqual([]);
    }
  });
});
