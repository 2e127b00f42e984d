// `kpm share VAULT --with EMAIL` where VAULT is one of the user's own vaults (docs/SHARING.md
// "Sharing an own vault"), built binaries against one real kpm-server (SQLite): without --move it
// is refused (it would make a separate, empty shared vault of the same name); with --move the
// entries go into a new shared vault, which the member reads, and the own vault is deleted, on the
// owner's other device too; its files are sealed for the shared vault; the only vault is not moved.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { shareTeam } from '../helpers/shareteam.js';
import { filesUnder } from '../helpers/files.js';

describe('kpm share OWN-VAULT --with EMAIL [--move] (real server, built binaries)', () => {
  const team = shareTeam('move.example.org');
  const { email, kpm } = team;

  beforeAll(async () => {
    await team.setUp({ a2: 'signed-in' });
    await kpm('b1', ['whoami', '--fingerprint']);
  }, 300_000);

  it('without --move: exit 2, naming --move; no shared vault is made, the own vault is untouched', async () => {
    await kpm('a1', ['vault', 'create', 'Work']);
    await kpm('a1', ['add', 'jira', '--vault', 'Work', '--username', 'ann', '--password-stdin'], 0, 'Jira-Pw-77aa-own\n');
    const r = await kpm('a1', ['share', 'Work', '--with', email('bob')], 2);
    expect(r.stderr).toMatch(/^kpm: "Work" is one of your own vaults: sharing it by name would make a separate, empty shared vault "Work"$/m);
    expect(r.stderr).toMatch(/--move/);
    expect((await kpm('a1', ['shares', '--json'])).stdout.trim()).toBe('[]');
    expect((await kpm('a1', ['get', 'jira', '--vault', 'Work'])).stdout).toBe('Jira-Pw-77aa-own\n');
  });

  it('--move: every entry (a login with a secret custom field, a card) lands in the shared vault; the member reads them; the own vault is gone, here and on the other device', async () => {
    await kpm('a1', ['vault', 'create', 'Ops']);
    await kpm('a1', ['add', 'db', '--vault', 'Ops', '--username', 'root', '--password-stdin'], 0, 'Db-Pw-91xq-moved\n');
    await kpm('a1', ['edit', 'db', '--vault', 'Ops', '--secret-field', 'api key'], 0, 'sk-live-4f4f-moved\n');
    await kpm('a1', ['add', 'corp-card', '--vault', 'Ops', '--type', 'card', '--field', 'cardholder=Ops Team', '--from-json', '-'], 0, '{"number":"4111111111111111","code":"123"}');
    await kpm('a1', ['sync']);
    await kpm('a2', ['sync']);
    expect((await kpm('a2', ['get', 'db', '--vault', 'Ops'])).stdout).toBe('Db-Pw-91xq-moved\n');

    const r = await kpm('a1', ['share', 'Ops', '--with', email('bob'), '--move']);
    expect(r.stderr).toMatch(/Created shared vault "Ops"/);
    expect(r.stderr).toMatch(/Moved 2 entries of your vault "Ops" into shared vault "Ops" and deleted your own vault/);
    const vaults = JSON.parse((await kpm('a1', ['vault', 'list', '--json'])).stdout) as { name: string }[];
    expect(vaults.map((v) => v.name)).not.toContain('Ops');
    // the owner reads them from the shared vault, the member after accepting
    expect((await kpm('a1', ['get', 'db', '--vault', 'Ops'])).stdout).toBe('Db-Pw-91xq-moved\n');
    await kpm('b1', ['share', 'accept', 'Ops']);
    expect((await kpm('b1', ['get', 'db', '--vault', 'Ops'])).stdout).toBe('Db-Pw-91xq-moved\n');
    expect((await kpm('b1', ['get', 'db', '--vault', 'Ops', '--field', 'api key'])).stdout).toBe('sk-live-4f4f-moved\n');
    const card = JSON.parse((await kpm('b1', ['get', 'corp-card', '--vault', 'Ops', '--json'])).stdout);
    expect(card).toMatchObject({ type: 'card', fields: { cardholder: 'Ops Team', number: '4111111111111111' } });
    const show = (await kpm('b1', ['show', 'db', '--vault', 'Ops'])).stdout;
    expect(show).toMatch(/api key/);
    expect(show).not.toContain('sk-live-4f4f-moved'); // still secret
    // alice's other device drops her own "Ops" at its next sync and reads the shared one
    await kpm('a2', ['sync']);
    const a2vaults = JSON.parse((await kpm('a2', ['vault', 'list', '--json'])).stdout) as { name: string }[];
    expect(a2vaults.map((v) => v.name)).not.toContain('Ops');
    expect((await kpm('a2', ['get', 'db', '--vault', 'Ops'])).stdout).toBe('Db-Pw-91xq-moved\n');
  });

  it('--move takes the files along: a document of the own vault is sealed for the shared vault, and the member gets it byte-identical', async () => {
    await kpm('a1', ['vault', 'create', 'Papers']);
    const scan = join(team.homes.a1, 'passport.pdf');
    writeFileSync(scan, 'scan-bytes-of-a-passport-' + 'x'.repeat(70_000)); // more than one 64 KiB chunk
    await kpm('a1', ['doc', 'add', 'passport', scan, '--vault', 'Papers']);
    const r = await kpm('a1', ['share', 'Papers', '--with', email('bob'), '--move']);
    expect(r.stderr).toMatch(/Moved 1 entry \(1 file\) of your vault "Papers" into shared vault "Papers"/);
    await kpm('b1', ['share', 'accept', 'Papers']);
    const got = join(team.homes.b1, 'got.pdf');
    await kpm('b1', ['doc', 'get', 'passport', '--vault', 'Papers', '-o', got]);
    expect(readFileSync(got)).toEqual(readFileSync(scan));
    // no plaintext copy is left behind in alice's data folder
    expect(filesUnder(join(team.homes.a1, 'data')).filter((f) => f.endsWith('passport.pdf'))).toEqual([]);
  });

  it('--move refuses, before anything is sent, the only vault and a name that is no own vault', async () => {
    const none = await kpm('a1', ['share', 'Nope', '--with', email('bob'), '--move'], 3);
    expect(none.stderr).toMatch(/no own vault named "Nope"/);
    // bob has one vault only
    const only = await kpm('b1', ['share', 'Personal', '--with', email('alice'), '--move'], 2);
    expect(only.stderr).toMatch(/"Personal" is your only vault/);
    const shares = JSON.parse((await kpm('b1', ['shares', '--json'])).stdout) as { name?: string; owner: string }[];
    expect(shares.filter((s) => s.owner === email('bob'))).toEqual([]);
  });
});
