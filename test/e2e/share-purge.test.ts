// Purging a shared vault (docs/SHARING.md "Purging and compacting a shared vault") through the built
// binaries against one real kpm-server on loopback (SQLite): alice owns "Team", bob writes, carol
// reads. Only alice purges (bob and carol: exit 9, nothing changes on the server); after her purge
// the server's database (a dump of every row, and the bytes of its files) and carol's share.kpms
// after her next sync hold no ciphertext of a purged version.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASTER, stopAgent } from '../helpers/kpm.js';
import { shareTeam } from '../helpers/shareteam.js';
import { resolvePaths } from '../../src/core/paths.js';
import { unlockKeyring } from '../../src/vault/keyring.js';
import { accountShareSecrets } from '../../src/crypto/keys.js';
import { loadShareState } from '../../src/share/state.js';
import { utf8 } from '../../src/crypto/bytes.js';

describe('purging a shared vault (real server, built binaries)', () => {
  const team = shareTeam('purge.example.org');
  const { kpm, db, homes } = team;
  const rows = () => {
    const d = db();
    try {
      return d.prepare('SELECT rev, body FROM share_records ORDER BY rev').all() as { rev: number; body: string }[];
    } finally {
      d.close();
    }
  };
  /** Every row of every table, as text (what `sqlite3 .dump` would print of it). */
  const dump = () => {
    const d = db();
    try {
      const tables = (d.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
      return tables.map((t) => JSON.stringify(d.prepare(`SELECT * FROM "${t}"`).all())).join('\n');
    } finally {
      d.close();
    }
  };
  /** The bytes of the server's database files (the database, its WAL, its journal). */
  const files = () => Buffer.concat(['', '-wal', '-journal'].map((s) => join(team.srv.dataDir, `kpm-server.sqlite${s}`)).filter(existsSync).map((f) => readFileSync(f)));
  /** The records device `dev` keeps of the shared vault in its share.kpms (opened with its key). */
  const localRecords = async (dev: string): Promise<string[]> => {
    const paths = resolvePaths({ KPM_HOME: homes[dev] });
    const prof = await unlockKeyring(paths, utf8.encode(MASTER));
    return Object.values(loadShareState(paths, accountShareSecrets(prof.accountKey), prof.profileId).vaults).flatMap((v) => v.records);
  };
  let wrong: { rev: number; body: string };

  beforeAll(async () => {
    await team.setUp();
    await team.shareWithBobAndCarol('Team');
    await kpm('a1', ['add', 'deploy', '--vault', 'Team', '--username', 'bot', '--password-stdin'], 0, 'Wrong-Paste-Secret-1\n');
    await kpm('b1', ['edit', 'deploy', '--vault', 'Team', '--password-stdin'], 0, 'Deploy-Secret-2\n');
    await kpm('b1', ['add', 'db', '--vault', 'Team', '--username', 'db-admin', '--password-stdin'], 0, 'Db-Secret-1\n');
    await kpm('c1', ['sync']);
    wrong = rows()[0];
  }, 300_000);
  afterAll(() => stopAgent(homes.a1));

  it('a reader and a writer cannot purge: exit 9, nothing sent; the server\'s rows are unchanged', async () => {
    const before = rows();
    for (const dev of ['b1', 'c1']) {
      expect((await kpm(dev, ['history', 'purge', 'deploy', '--vault', 'Team', '--yes'], 9)).stderr).toMatch(/only the owner .* deletes versions of shared vault "Team"/);
      expect((await kpm(dev, ['trash', 'purge', '--vault', 'Team', '--yes'], 9)).stderr).toMatch(/only the owner/);
    }
    expect(rows()).toEqual(before);
    expect((await kpm('c1', ['history', 'deploy', '--vault', 'Team'])).stdout).toMatch(/by alice@purge\.example\.org/);
  });

  it('the owner purges the history: carol (offline meanwhile) sees only the current version after her next sync; no ciphertext of the purged version is in the server\'s dump, its files, or carol\'s share.kpms', async () => {
    expect(await localRecords('c1')).toContain(wrong.body);
    expect(dump()).toContain(wrong.body); // the searches find it while it is there
    const piece = Buffer.from(wrong.body.slice(200, 280));
    expect(files().includes(piece)).toBe(true);

    const r = await kpm('a1', ['history', 'purge', 'deploy', '--vault', 'Team', '--yes', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ vault: 'Team', dropped: 1 });
    expect(rows().map((x) => x.rev)).toEqual([2, 3]);
    expect(dump()).not.toContain(wrong.body);
    expect(files().includes(piece)).toBe(false);

    const h = await kpm('c1', ['history', 'deploy', '--vault', 'Team', '--json']);
    expect((JSON.parse(h.stdout) as { payload: { fields: { password: string } } }[]).map((x) => x.payload.fields.password)).toEqual(['Deploy-Secret-2']);
    expect(h.stderr).toMatch(/compacted by its owner \(generation 1\)/);
    expect(await localRecords('c1')).not.toContain(wrong.body);
    expect((await kpm('c1', ['get', 'deploy', '--vault', 'Team'])).stdout.trim()).toBe('Deploy-Secret-2');
    // bob writes on after it
    await kpm('b1', ['edit', 'db', '--vault', 'Team', '--password-stdin'], 0, 'Db-Secret-2\n');
    expect((await kpm('c1', ['get', 'db', '--vault', 'Team'])).stdout.trim()).toBe('Db-Secret-2');
  });

  it('the owner purges an entry from the trash: gone for every member, its records gone from the server', async () => {
    await kpm('b1', ['rm', 'db', '--vault', 'Team', '--yes']);
    expect((await kpm('c1', ['trash', '--vault', 'Team'])).stdout).toMatch(/^db {2}\[Team\]/m);
    expect((await kpm('a1', ['trash', 'purge', 'deploy', '--vault', 'Team', '--yes'], 2)).stderr).toMatch(/"deploy" is not in the trash/);
    const dbRows = rows().filter((x) => x.rev >= 3); // db's three versions (its add, bob's edit, its deletion); deploy is revision 2
    expect(dbRows.map((x) => x.rev)).toEqual([3, 4, 5]);
    const r = await kpm('a1', ['trash', 'purge', 'db', '--vault', 'Team', '--yes']);
    expect(r.stderr).toMatch(/Deleted for good: "db"/);
    expect(rows().map((x) => x.rev)).toEqual([2]);
    const d = dump();
    for (const x of dbRows) expect(d).not.toContain(x.body);
    const t = await kpm('c1', ['trash', '--vault', 'Team']);
    expect(t.stdout).not.toMatch(/^db/m);
    expect((await kpm('c1', ['list', '--vault', 'Team'])).stdout).toMatch(/deploy/);
    await kpm('c1', ['history', 'db', '--vault', 'Team'], 3); // no version of it is left to show
  });

  it('through the agent (alice unlocked, no master password): the agent signs the compaction statement (agent protocol 8) and the purge reaches carol', async () => {
    await kpm('a1', ['edit', 'deploy', '--vault', 'Team', '--password-stdin'], 0, 'Deploy-Secret-3\n');
    await kpm('c1', ['sync']);
    await kpm('a1', ['unlock', '--password-stdin'], 0, MASTER + '\n', {});
    const r = await kpm('a1', ['history', 'purge', 'deploy', '--vault', 'Team', '--yes', '--json'], 0, undefined, {});
    expect(JSON.parse(r.stdout)).toMatchObject({ vault: 'Team', dropped: 1 });
    const h = await kpm('c1', ['history', 'deploy', '--vault', 'Team', '--json']);
    expect((JSON.parse(h.stdout) as { payload: { fields: { password: string } } }[]).map((x) => x.payload.fields.password)).toEqual(['Deploy-Secret-3']);
    expect(h.stderr).toMatch(/compacted by its owner \(generation 3\)/);
  });
});
