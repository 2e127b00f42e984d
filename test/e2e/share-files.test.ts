// Documents and attachments in a shared vault (docs/SHARING.md "Files in shared vaults"), built
// binaries against one real kpm-server (SQLite): alice owns "Team", bob writes, carol reads. The
// owner and the writer add files, the reader gets both byte-identical; the reader's add is refused;
// a chunk the server altered is exit 8 with nothing written; after a revoke a new file is unreadable
// for carol even with the server's database; the database holds no plaintext of any file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { shareTeam } from '../helpers/shareteam.js';
import { initHome, kpm as runKpm, MASTER } from '../helpers/kpm.js';
import { recordKey } from '../../src/share/format.js';
import { shareBlobKey, shareFrame } from '../../src/share/blobs.js';
import { decryptFramedToFile } from '../../src/vault/blobs.js';
import { fromHex } from '../../src/crypto/bytes.js';
import { ShareClient } from '../../src/share/client.js';

const tmp = () => fs.mkdtempSync(join(os.tmpdir(), 'kpm-sharefiles-e2e-'));

/** A file whose bytes hold `needle` (≥ 8 bytes) many times, `n` bytes long. */
function fileWith(name: string, needle: string, n: number): { path: string; bytes: Buffer } {
  const bytes = Buffer.alloc(n);
  for (let i = 0; i < n; i += needle.length + 1) bytes.write(`${needle}\n`, i);
  const path = join(tmp(), name);
  fs.writeFileSync(path, bytes);
  return { path, bytes };
}

describe('documents and attachments in a shared vault (real server, built binaries)', () => {
  const team = shareTeam('files.example.org');
  const { email, kpm, db, inProcess } = team;
  const plan = fileWith('plan.pdf', 'PLAN-NEEDLE-7f3a9c', 300_000);
  const rota = fileWith('rota.txt', 'ROTA-NEEDLE-2b8e41', 5_000);
  const after = fileWith('after.txt', 'AFTER-NEEDLE-5d0c77', 9_000);
  const extra = fileWith('codes.txt', 'CODES-NEEDLE-9a1b2c', 700);
  const added = { plan: '', attach: '' };

  beforeAll(async () => {
    await team.setUp();
    await team.shareWithBobAndCarol('Team');
    // the files every test below reads (so each passes alone and in any order); their messages are checked by the first test
    added.plan = (await kpm('a1', ['doc', 'add', 'plan', plan.path, '--vault', 'Team'])).stderr;
    await kpm('b1', ['doc', 'add', 'rota', rota.path, '--vault', 'Team', '--notes', 'weekly']);
    await kpm('b1', ['add', 'vpn', '--vault', 'Team', '--username', 'ops', '--password-stdin'], 0, 'Vpn-Pw-33k1-files\n');
    added.attach = (await kpm('b1', ['attach', 'vpn', extra.path, '--vault', 'Team'])).stderr;
  }, 300_000);

  it('the owner adds a document, the writer adds one and attaches a file to a login; the reader gets every file byte-identical and lists them; the reader\'s doc add, attach and doc rm are refused (exit 9)', async () => {
    expect(added.plan).toMatch(/Added document Team\/plan \(shared vault\): 1 file/);
    expect(added.attach).toMatch(/Attached codes\.txt to Team\/vpn \(shared vault\)/);
    const dir = tmp();
    await kpm('c1', ['doc', 'get', 'plan', '-o', join(dir, 'plan.pdf')]);
    await kpm('c1', ['doc', 'get', 'rota', '-o', dir + '/']);
    await kpm('c1', ['doc', 'get', 'vpn', '--file', 'codes.txt', '-o', join(dir, 'codes.txt')]);
    expect(fs.readFileSync(join(dir, 'plan.pdf')).equals(plan.bytes)).toBe(true);
    expect(fs.readFileSync(join(dir, 'rota.txt')).equals(rota.bytes)).toBe(true);
    expect(fs.readFileSync(join(dir, 'codes.txt')).equals(extra.bytes)).toBe(true);
    expect((fs.statSync(join(dir, 'plan.pdf')).mode & 0o777).toString(8)).toBe('600');
    // the owner reads the writer's file (stdout), the writer the owner's
    expect(Buffer.from((await kpm('a1', ['doc', 'get', 'rota', '-o', '-'])).stdout).equals(rota.bytes)).toBe(true);
    await kpm('b1', ['doc', 'get', 'plan', '-o', join(tmp(), 'p')]);
    const list = JSON.parse((await kpm('c1', ['doc', 'list', '--all', '--json'])).stdout) as { name: string; vault: string; files: { name: string; size: number }[] }[];
    expect(list.filter((d) => d.vault === 'Team').map((d) => [d.name, d.files.map((f) => [f.name, f.size])])).toEqual([
      ['plan', [['plan.pdf', 300_000]]],
      ['rota', [['rota.txt', 5_000]]],
      ['vpn', [['codes.txt', 700]]],
    ]);
    expect((await kpm('c1', ['doc', 'list'])).stdout).toMatch(/plan {2}\[Team\]\n {2}plan\.pdf/);
    expect(JSON.parse((await kpm('c1', ['attachments', 'vpn', '--json'])).stdout)).toEqual([{ name: 'codes.txt', type: 'text/plain', size: 700 }]);
    // the reader: refused before anything is sent
    expect((await kpm('c1', ['doc', 'add', 'mine', rota.path, '--vault', 'Team'], 9)).stderr).toMatch(/only read shared vault "Team"/);
    expect((await kpm('c1', ['attach', 'plan', rota.path], 9)).stderr).toMatch(/only read shared vault "Team"/);
    expect((await kpm('c1', ['doc', 'rm', 'plan', '--yes'], 9)).stderr).toMatch(/only read shared vault "Team"/);
    // a name taken in the shared vault
    expect((await kpm('b1', ['doc', 'add', 'plan', rota.path, '--vault', 'Team'], 7)).stderr).toMatch(/already exists in shared vault "Team"/);
  }, 300_000);

  it('a chunk of a shared file altered in the server\'s database: doc get is exit 8 and writes nothing (no output file, no temporary file)', async () => {
    const d = db();
    let row: { blob_id: string; idx: number; body: string };
    try {
      row = d.prepare("SELECT c.blob_id, c.idx, c.body FROM share_blob_chunks c JOIN share_blobs b ON b.vault_id = c.vault_id AND b.blob_id = c.blob_id ORDER BY length(c.body) DESC LIMIT 1").get() as typeof row;
      const bytes = Buffer.from(row.body, 'base64');
      bytes[bytes.length - 100] ^= 1;
      d.prepare('UPDATE share_blob_chunks SET body = ? WHERE blob_id = ? AND idx = ?').run(bytes.toString('base64'), row.blob_id, row.idx);
    } finally {
      d.close();
    }
    const dir = tmp();
    const r = await kpm('c1', ['doc', 'get', 'plan', '-o', join(dir, 'plan.pdf')], 8);
    expect(r.stderr).toMatch(/not the one its writer signed/);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect((await kpm('c1', ['doc', 'get', 'plan', '-o', '-'], 8)).stdout).toBe('');
    const d2 = db();
    try {
      d2.prepare('UPDATE share_blob_chunks SET body = ? WHERE blob_id = ? AND idx = ?').run(row.body, row.blob_id, row.idx);
    } finally {
      d2.close();
    }
    await kpm('c1', ['doc', 'get', 'plan', '-o', join(dir, 'plan.pdf')]);
    expect(fs.readFileSync(join(dir, 'plan.pdf')).equals(plan.bytes)).toBe(true);
  }, 120_000);

  it('revoke: a file added afterwards is under the new epoch; carol cannot get it, nor open it with every key she had and the server\'s database; bob reads it', async () => {
    // a vault of its own ("Rev"), so that carol stays a member of Team for the other tests
    await team.shareWithBobAndCarol('Rev');
    const carol = await inProcess('c1', 'carol');
    const before = await carol.c.openForUse('Rev');
    carol.c.save();
    await carol.api.close();
    await kpm('a1', ['share', 'revoke', 'Rev', email('carol')]);
    await kpm('b1', ['doc', 'add', 'after', after.path, '--vault', 'Rev']);
    const out = join(tmp(), 'after.txt');
    await kpm('a1', ['doc', 'get', 'after', '-o', out]);
    expect(fs.readFileSync(out).equals(after.bytes)).toBe(true);
    // as for every entry command: a warning that she is no longer a member, and the entry is not found (exit 3)
    expect((await kpm('c1', ['doc', 'get', 'after', '-o', join(tmp(), 'x')], 3)).stderr).toMatch(/no longer a member of shared vault "Rev"[^]*no entry named "after"/);
    // the file as bob's record names it, and its sealed blob from the database
    const bob = await inProcess('b1', 'bob');
    const v = await bob.c.openForUse('Rev');
    await bob.api.close();
    const [eid] = ShareClient.find(v, 'after')!;
    const f = v.entries.get(eid)!.files[0];
    expect(f.epoch).toBe(before.latest.epoch + 1);
    const d = db();
    let chunks: { body: string }[];
    try {
      chunks = d.prepare('SELECT body FROM share_blob_chunks WHERE vault_id = ? AND blob_id = ? ORDER BY idx').all(v.id, f.blob) as { body: string }[];
    } finally {
      d.close();
    }
    const sealedPath = join(tmp(), 'sealed');
    fs.writeFileSync(sealedPath, Buffer.concat(chunks.map((c) => Buffer.from(c.body, 'base64'))));
    for (const k of before.keys) {
      for (const ep of [...before.keys.keys()].map((i) => i + 1).concat(f.epoch)) {
        const fd = fs.openSync(sealedPath, 'r');
        const dest = join(tmp(), 'try');
        try {
          await expect(decryptFramedToFile(fd, shareBlobKey(recordKey(k), fromHex(v.id), ep, fromHex(f.blob)), shareFrame(fromHex(v.id), ep, fromHex(f.blob)), f, dest)).rejects.toThrow(/tampered/);
        } finally {
          fs.closeSync(fd);
        }
        expect(fs.existsSync(dest)).toBe(false);
      }
    }
  }, 120_000);

  it('doc rm of a shared document by the writer: a deletion record (the files stay in the log); kpm restore brings it back with its files, and a later edit keeps them', async () => {
    expect((await kpm('b1', ['doc', 'rm', 'rota', '--yes'])).stderr).toMatch(/Deleted Team\/rota \(shared vault; its 1 file stay in the vault's history\)/);
    expect((await kpm('a1', ['doc', 'list'])).stdout).not.toMatch(/rota/);
    await kpm('a1', ['restore', 'rota']);
    await kpm('a1', ['edit', 'rota', '--vault', 'Team', '--notes', 'monthly now']);
    const out = join(tmp(), 'rota.txt');
    await kpm('b1', ['doc', 'get', 'rota', '-o', out]);
    expect(fs.readFileSync(out).equals(rota.bytes)).toBe(true);
    expect(JSON.parse((await kpm('b1', ['doc', 'list', '--json', '--vault', 'Team'])).stdout).find((d: { name: string }) => d.name === 'rota')).toMatchObject({ notes: 'monthly now', files: [{ name: 'rota.txt', size: 5_000 }] });
  }, 120_000);

  // a shared vault of their own ("Docs": alice owns it, bob writes), so these tests depend on no other test's files
  describe('kpm show and kpm export of a shared vault\'s files', () => {
    const spec = fileWith('spec.bin', 'SPEC-NEEDLE-4e6a1d', 40_000);
    const key = fileWith('wifi-key.txt', 'WIFI-NEEDLE-83c5f0', 1_500);
    const own = fileWith('own.txt', 'OWN-NEEDLE-c2d94b7', 2_000);
    const KDBX_PW = 'Kdbx-Export-Pw-61';
    const exportArgs = (out: string, ...more: string[]) => ['export', '--vault', 'Docs', '--format', 'kdbx', '-o', out, '--password-stdin', '--export-password-stdin', ...more];

    beforeAll(async () => {
      await kpm('a1', ['share', 'Docs', '--with', email('bob')]);
      await kpm('b1', ['share', 'accept', 'Docs']);
      await kpm('a1', ['doc', 'add', 'spec', spec.path, '--vault', 'Docs']);
      await kpm('a1', ['add', 'wifi', '--vault', 'Docs', '--username', 'office', '--password-stdin'], 0, 'Wifi-Pw-7q2z-docs\n');
      await kpm('a1', ['attach', 'wifi', key.path, '--vault', 'Docs']);
    }, 300_000);

    it('kpm show of a shared entry lists its files as it lists an own entry\'s (the lines of kpm attachments)', async () => {
      const show = (await kpm('b1', ['show', 'wifi', '--vault', 'Docs'])).stdout;
      const listed = (await kpm('b1', ['attachments', 'wifi', '--vault', 'Docs'])).stdout.trimEnd();
      expect(listed).toMatch(/^wifi-key\.txt +1\.5 KiB {2}text\/plain$/);
      expect(show).toContain(`  files:\n    ${listed}\n`);
      expect((await kpm('b1', ['show', 'spec'])).stdout).toMatch(/ {2}files:\n {4}spec\.bin +39 KiB {2}application\/octet-stream\n/);
      // an own entry: the same section
      await kpm('b1', ['doc', 'add', 'own-notes', own.path, '--vault', 'Personal']);
      const ownListed = (await kpm('b1', ['attachments', 'own-notes', '--vault', 'Personal'])).stdout.trimEnd();
      expect((await kpm('b1', ['show', 'own-notes', '--vault', 'Personal'])).stdout).toContain(`  files:\n    ${ownListed}\n`);
      // an entry without files: no section
      expect((await kpm('a1', ['add', 'nofiles', '--vault', 'Docs', '--no-password'], 0, '')).code).toBe(0);
      expect((await kpm('b1', ['show', 'nofiles', '--vault', 'Docs'])).stdout).not.toMatch(/files:/);
    }, 120_000);

    it('kpm export --format kdbx of a shared vault carries its files\' bytes (read back by kpm import); csv and kpm-json count them in the warning', async () => {
      const out = join(tmp(), 'docs.kdbx');
      const r = await kpm('b1', exportArgs(out, '--json'), 0, `${MASTER}\n${KDBX_PW}\n`);
      expect(JSON.parse(r.stdout)).toMatchObject({ format: 'kdbx', filesNotExported: 0, sharedVaults: ['Docs'] });
      expect(r.stderr).not.toMatch(/not part of the export/);
      const home = initHome();
      await runKpm(home, ['import', out, '--password-stdin', '--export-password-stdin'], 0, { input: `${MASTER}\n${KDBX_PW}\n` });
      const back = async (entry: string, file: string) => Buffer.from((await runKpm(home, ['doc', 'get', entry, '--file', file, '-o', '-'], 0, { env: { KPM_MASTER_PASSWORD: MASTER } })).stdout);
      expect((await back('spec', 'spec.bin')).equals(spec.bytes)).toBe(true);
      expect((await back('wifi', 'wifi-key.txt')).equals(key.bytes)).toBe(true);
      // formats without files: the shared vault's files are counted in the warning, as an own vault's are
      const csv = await kpm('b1', ['export', '--vault', 'Docs', '--format', 'csv']);
      expect(csv.stderr).toMatch(/2 attached files are not part of the export/);
      expect(csv.stdout).toMatch(/wifi/);
      const j = await kpm('b1', ['export', '--vault', 'Docs', '--format', 'kpm-json', '-o', join(tmp(), 'docs.json'), '--json']);
      expect(JSON.parse(j.stdout)).toMatchObject({ filesNotExported: 2 });
      expect(j.stderr).toMatch(/2 attached files are not part of the export/);
    }, 120_000);

    it('a chunk of a shared file altered in the server\'s database: kpm export --format kdbx is exit 8 and writes no file', async () => {
      const bob = await inProcess('b1', 'bob');
      const v = await bob.c.openForUse('Docs');
      await bob.api.close();
      const f = v.entries.get(ShareClient.find(v, 'spec')![0])!.files[0];
      const d = db();
      let row: { idx: number; body: string };
      try {
        row = d.prepare('SELECT idx, body FROM share_blob_chunks WHERE vault_id = ? AND blob_id = ? ORDER BY idx LIMIT 1').get(v.id, f.blob) as typeof row;
        const bytes = Buffer.from(row.body, 'base64');
        bytes[bytes.length - 100] ^= 1;
        d.prepare('UPDATE share_blob_chunks SET body = ? WHERE vault_id = ? AND blob_id = ? AND idx = ?').run(bytes.toString('base64'), v.id, f.blob, row.idx);
      } finally {
        d.close();
      }
      const dir = tmp();
      try {
        const r = await kpm('b1', exportArgs(join(dir, 'docs.kdbx')), 8, `${MASTER}\n${KDBX_PW}\n`);
        expect(r.stderr).toMatch(/not the one its writer signed/);
        expect(r.stdout).toBe('');
        expect(fs.readdirSync(dir)).toEqual([]);
      } finally {
        const d2 = db();
        try {
          d2.prepare('UPDATE share_blob_chunks SET body = ? WHERE vault_id = ? AND blob_id = ? AND idx = ?').run(row.body, v.id, f.blob, row.idx);
        } finally {
          d2.close();
        }
      }
      await kpm('b1', exportArgs(join(dir, 'docs.kdbx')), 0, `${MASTER}\n${KDBX_PW}\n`);
    }, 120_000);
  });

  it('a dump of the server database holds no plaintext of any shared file, and no file name', () => {
    const files = fs.readdirSync(team.srv.dataDir).filter((f) => f.startsWith('kpm-server.sqlite'));
    const all = Buffer.concat(files.map((f) => fs.readFileSync(join(team.srv.dataDir, f))));
    expect(all.length).toBeGreaterThan(300_000); // the blobs are in it
    for (const s of ['SPEC-NEEDLE-4e6a1d', 'WIFI-NEEDLE-83c5f0', 'PLAN-NEEDLE-7f3a9c', 'ROTA-NEEDLE-2b8e41', 'AFTER-NEEDLE-5d0c77', 'CODES-NEEDLE-9a1b2c', 'plan.pdf', 'rota.txt', 'codes.txt', 'after.txt', 'Vpn-Pw-33k1-files']) expect(all.includes(Buffer.from(s)), s).toBe(false);
  });
});
