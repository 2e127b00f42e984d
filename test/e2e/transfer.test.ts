// kpm import / kpm export end to end, through the built binary: every import format, all or
// nothing on a malformed file, --continue-on-error, every export format, round trips (plain and
// encrypted), the master password asked again even when unlocked, 0600 files, no overwrite, and a
// 10,000-entry CSV import.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRun, describeTty, initVault, leaks, makeHome, MASTER, run, runOk, runTty, withMaster, type RunResult } from '../helpers/kpm.js';
import { buildOnePux } from '../helpers/onepux.js';

const FIX = join(__dirname, '..', 'fixtures', 'import');
const EXPORT_PW = 'export password 123';

function expectCode(args: string[], r: RunResult, code: number): void {
  expect(r.code, describeRun(args, r)).toBe(code);
  expect(leaks(r, [MASTER, EXPORT_PW]), describeRun(args, r)).toEqual([]);
}

async function kpm(home: string, args: string[], code: number, opts: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<RunResult> {
  const r = await run(args, { home, ...opts });
  expectCode(args, r, code);
  return r;
}

const names = async (home: string, vault = 'Personal'): Promise<string[]> =>
  (JSON.parse((await kpm(home, ['list', '--json', '--vault', vault], 0)).stdout) as { name: string }[]).map((e) => e.name);

/** The entries of a kpm-json export, without the export time. */
const exportedEntries = (text: string) => JSON.parse(text).entries as Record<string, unknown>[];

describe('kpm import (agent unlocked)', () => {
  let home: string;
  let tmp: string;

  beforeAll(async () => {
    home = makeHome();
    tmp = fs.mkdtempSync(join(os.tmpdir(), 'kpm-transfer-'));
    await initVault(home);
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    await runOk(['vault', 'create', 'KeePass'], { home });
  });

  it('imports a Bitwarden JSON export: every type, folder tags, custom fields; trash skipped; duplicate name renamed', async () => {
    const r = await kpm(home, ['import', join(FIX, 'bitwarden.json'), '--format', 'bitwarden-json', '--json'], 0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ vault: 'Personal', dryRun: false, imported: 7, files: 0, errors: [] });
    expect(s.skipped).toContainEqual({ record: 6, message: 'in the trash' });
    expect(s.skipped).toContainEqual({ record: 1, message: '1 passkey not imported' });
    expect(s.renamed).toEqual([{ record: 8, from: 'github', to: 'github (2)' }]);
    expect(await names(home)).toEqual(['deploy key', 'GitHub', 'github (2)', 'Me', 'Steam', 'Visa Gold', 'Wi-Fi Zürich 🏔']);
    const gh = JSON.parse((await kpm(home, ['get', 'GitHub', '--json'], 0)).stdout);
    expect(gh.fields).toMatchObject({ username: 'octocat', password: 'hunter2-GH!', url: 'https://github.com/login' });
    expect(gh.custom).toContainEqual({ name: 'API token', value: 'ghp_s3cr3t', kind: 'hidden' });
    expect(gh.tags).toEqual(['Work', 'favorite']);
    expect((await kpm(home, ['totp', 'GitHub'], 0)).stdout).toMatch(/^\d{6}\n$/);
    expect((await kpm(home, ['get', 'Visa Gold', '--field', 'expiry'], 0)).stdout).toBe('07/29\n');
  });

  it('imports a 1PUX archive, the document with its file', async () => {
    const file = join(tmp, 'export.1pux');
    fs.writeFileSync(file, buildOnePux());
    const r = await kpm(home, ['import', file, '--format', '1password-1pux'], 0);
    expect(r.stderr).toMatch(/Imported 7 entries into Personal \(1 file stored, 2 skipped, listed above\)\./);
    expect((await kpm(home, ['get', 'Example Account', '--field', 'username'], 0)).stdout).toBe('ada@example.org\n');
    expect((await kpm(home, ['get', 'Mastercard ✓'], 0)).stdout).toBe('5555555555554444\n');
    await kpm(home, ['doc', 'get', 'Passport', '-o', join(tmp, 'passport.txt')], 0);
    expect(fs.readFileSync(join(tmp, 'passport.txt'), 'utf8')).toBe('Passport scan placeholder: this text stands in for a PDF.\n');
  });

  it('imports KeePass XML into another vault, and CSV files (kpm columns, Bitwarden columns)', async () => {
    const r = await kpm(home, ['import', join(FIX, 'keepass.xml'), '--format', 'keepass-xml', '--vault', 'KeePass'], 0);
    expect(r.stderr).toContain('keepass.xml: record 5 (line 151): skipped: in the recycle bin');
    expect(await names(home, 'KeePass')).toEqual(['bank.example.com', 'Mail', 'Mastodon ✉', 'Router']);
    expect((await kpm(home, ['get', 'Router', '--vault', 'KeePass'], 0)).stdout).toBe('r0uter & <stuff>\n');
    await kpm(home, ['import', join(FIX, 'kpm.csv'), '--format', 'csv'], 0);
    await kpm(home, ['import', join(FIX, 'bitwarden.csv'), '--format', 'csv'], 0);
    expect((await kpm(home, ['get', 'Example'], 0)).stdout).toBe('pa,ss"word\n');
    expect((await kpm(home, ['get', 'Shopping list'], 0)).stdout).toBe('eggs\nmilk\n"organic" bread\n');
    expect((await kpm(home, ['get', 'Twitter', '--field', 'url 2'], 0)).stdout).toBe('https://x.com\n');
  });

  it('a malformed file imports nothing (exit 2, record and line named); --continue-on-error imports the good records', async () => {
    const before = await names(home);
    const bad = join(FIX, 'malformed.csv');
    const r = await kpm(home, ['import', bad, '--format', 'csv'], 2);
    expect(r.stderr).toContain('kpm: malformed.csv: record 2 (line 3): expected 6 columns, found 4');
    expect(r.stderr).toContain('malformed.csv: record 4 (line 6): expected 6 columns, found 7');
    expect(r.stderr).toMatch(/hint: and 1 more malformed record; nothing was imported/);
    expect(await names(home)).toEqual(before);
    const broken = await kpm(home, ['import', join(FIX, 'broken.csv'), '--format', 'csv'], 2);
    expect(broken.stderr).toContain('kpm: broken.csv: line 3: malformed CSV: a quoted value that starts on line 3 is never closed');
    const kx = await kpm(home, ['import', join(FIX, 'keepass-broken.xml'), '--format', 'keepass-xml'], 2);
    expect(kx.stderr).toMatch(/^kpm: keepass-broken.xml: line 7: malformed XML/m);
    expect(await names(home)).toEqual(before);
    const ok = await kpm(home, ['import', bad, '--format', 'csv', '--continue-on-error', '--json'], 0);
    const s = JSON.parse(ok.stdout);
    expect(s.imported).toBe(3);
    expect(s.errors).toEqual([
      { record: 2, line: 3, message: 'expected 6 columns, found 4' },
      { record: 4, line: 6, message: 'expected 6 columns, found 7' },
    ]);
    expect(ok.stderr).toContain('malformed.csv: record 2 (line 3): expected 6 columns, found 4 (not imported)');
    expect((await names(home)).filter((n) => !before.includes(n)).sort()).toEqual(['five', 'one', 'three']);
  });

  it('--dry-run writes nothing and needs no vault; bad format, missing file, encrypted Bitwarden are refused', async () => {
    const before = await names(home);
    const r = await kpm(makeHome(), ['import', join(FIX, 'bitwarden.json'), '--format', 'bitwarden-json', '--dry-run'], 0);
    expect(r.stderr).toMatch(/Would import 7 entries into Personal/);
    await kpm(home, ['import', join(FIX, 'bitwarden.json'), '--format', 'bitwarden-json', '--dry-run'], 0);
    expect(await names(home)).toEqual(before);
    expect((await kpm(home, ['import', join(FIX, 'kpm.csv'), '--format', 'lastpass'], 2)).stderr).toMatch(/unknown --format "lastpass"/);
    const unknownFormat = join(tmp, 'what.txt');
    fs.writeFileSync(unknownFormat, 'just some text\n');
    expect((await kpm(home, ['import', unknownFormat], 2)).stderr).toMatch(/what.txt: cannot tell the format: the file looks like none of the formats kpm reads\nhint: give --format/);
    await kpm(home, ['import', join(tmp, 'nope.json'), '--format', 'bitwarden-json'], 3);
    const enc = join(tmp, 'bw-enc.json');
    fs.writeFileSync(enc, JSON.stringify({ encrypted: true, passwordProtected: true, salt: 'x', data: '2.a|b|c' }));
    expect((await kpm(home, ['import', enc, '--format', 'bitwarden-json'], 2)).stderr).toMatch(/encrypted/);
  });

  it('export asks for the master password even when unlocked (exit 4 without it, 5 when wrong)', async () => {
    const out = join(tmp, 'x.json');
    const r = await kpm(home, ['export', '--format', 'kpm-json', '-o', out], 4);
    expect(r.stderr).toMatch(/export needs the master password, even when kpm is unlocked/);
    await kpm(home, ['export', '--format', 'kpm-json', '-o', out], 5, { env: withMaster('wrong master password') });
    expect(fs.existsSync(out)).toBe(false);
    await kpm(home, ['export', '--format', 'bitwarden-json', '--encrypted'], 2, { env: withMaster() });
  });

  it('export writes 0600 files, warns when unencrypted, never overwrites without --force; every format', async () => {
    const out = join(tmp, 'all.json');
    const r = await kpm(home, ['export', '--format', 'kpm-json', '-o', out, '--json'], 0, { env: withMaster() });
    expect(r.stderr).toMatch(/warning: the export is NOT encrypted/);
    expect(r.stderr).toMatch(/1 attached file is not part of the export/);
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'kpm-json', encrypted: false, file: out, filesNotExported: 1 });
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    const entries = exportedEntries(fs.readFileSync(out, 'utf8'));
    expect(entries.length).toBe(JSON.parse(r.stdout).exported);
    expect(entries.find((e) => e.name === 'Router')).toMatchObject({ vault: 'KeePass', type: 'login' });
    fs.writeFileSync(out, 'keep me');
    expect((await kpm(home, ['export', '--format', 'csv', '-o', out], 2, { env: withMaster() })).stderr).toMatch(/exists/);
    expect(fs.readFileSync(out, 'utf8')).toBe('keep me');
    fs.chmodSync(out, 0o644);
    await kpm(home, ['export', '--format', 'csv', '-o', out, '--force'], 0, { env: withMaster() });
    expect(fs.readFileSync(out, 'utf8').split('\n')[0]).toBe('name,type,url,username,password,totp,notes,tags,fields,created,updated');
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await kpm(home, ['export', '--format', 'csv', '-o', join(tmp, 'no', 'such', 'dir.csv')], 3, { env: withMaster() });
    const bw = await kpm(home, ['export', '--format', 'bitwarden-json', '--vault', 'KeePass'], 0, { env: withMaster() });
    expect(JSON.parse(bw.stdout).items.map((i: { name: string }) => i.name)).toEqual(['bank.example.com', 'Mail', 'Mastodon ✉', 'Router']);
  });

  it('round trip: kpm-json export → import into a fresh home gives identical entries (plain and encrypted)', async () => {
    const plain = (await kpm(home, ['export', '--format', 'kpm-json', '--vault', 'Personal'], 0, { env: withMaster() })).stdout;
    const other = makeHome();
    await initVault(other);
    const file = join(tmp, 'plain.json');
    fs.writeFileSync(file, plain);
    await kpm(other, ['import', file, '--format', 'kpm-json'], 0, { env: withMaster() });
    const again = (await kpm(other, ['export', '--format', 'kpm-json'], 0, { env: withMaster() })).stdout;
    expect(exportedEntries(again)).toEqual(exportedEntries(plain));

    const enc = join(tmp, 'backup.kpm.json');
    await kpm(home, ['export', '--format', 'kpm-json', '--encrypted', '--vault', 'Personal', '--password-stdin', '--export-password-stdin', '-o', enc], 0, {
      input: `${MASTER}\n${EXPORT_PW}\n`,
    });
    const text = fs.readFileSync(enc, 'utf8');
    expect(JSON.parse(text)).toMatchObject({ format: 'kpm-export-encrypted', version: 1, cipher: 'xchacha20-poly1305', kdf: { name: 'argon2id' } });
    expect(text).not.toContain('octocat');
    const third = makeHome();
    await initVault(third);
    const wrong = await kpm(third, ['import', enc, '--format', 'kpm-json'], 5, { env: { ...withMaster(), KPM_EXPORT_PASSWORD: 'not the password' } });
    expect(wrong.stderr).toMatch(/wrong export password/);
    await kpm(third, ['import', enc, '--format', 'kpm-json'], 2, { env: withMaster() }); // no terminal to ask on
    expect(JSON.parse((await kpm(third, ['status', '--json'], 0)).stdout).entries).toBe(0);
    await kpm(third, ['import', enc, '--format', 'kpm-json'], 0, { env: { ...withMaster(), KPM_EXPORT_PASSWORD: EXPORT_PW } });
    const back = (await kpm(third, ['export', '--format', 'kpm-json'], 0, { env: withMaster() })).stdout;
    expect(exportedEntries(back)).toEqual(exportedEntries(plain));
  });
});

describe('a 10,000-entry CSV import', () => {
  it('finishes (one commit) and every entry is there; no progress bar without a terminal', async () => {
    const home = makeHome();
    await initVault(home);
    const file = join(home, '10k.csv');
    const rows = ['name,url,username,password,notes,totp'];
    for (let i = 0; i < 10_000; i++) rows.push(`site${i},https://site${i}.example.com,user${i},pw-${i}-Xy!,"note ${i}, with comma",`);
    fs.writeFileSync(file, rows.join('\n') + '\n');
    const r = await kpm(home, ['import', file, '--format', 'csv'], 0, { env: withMaster() });
    console.log(`import of 10,000 CSV rows: ${r.ms} ms (including one key derivation)`);
    expect(r.stderr).toBe('Imported 10000 entries into Personal.\n');
    const status = JSON.parse((await kpm(home, ['status', '--json'], 0)).stdout);
    expect(status.entries).toBe(10_000);
    expect((await kpm(home, ['get', 'site9999'], 0, { env: withMaster() })).stdout).toBe('pw-9999-Xy!\n');
  });
});

describe('on a terminal', () => {
  it('export asks the master password and the export password twice; the file opens with that password', async () => {
    const home = makeHome();
    await initVault(home);
    await runOk(['import', join(FIX, 'kpm.csv'), '--format', 'csv'], { home, env: withMaster() });
    const out = join(home, 'backup.json');
    const args = ['export', '--format', 'kpm-json', '--encrypted', '-o', out];
    const r = await runTty(args, [
      { expect: 'Master password \\(to confirm the export\\)', send: MASTER + '\r' },
      { expect: 'Export password', send: EXPORT_PW + '\r' },
      { expect: 'Export password \\(again\\)', send: EXPORT_PW + '\r' },
      { expect: 'Exported 5 entries \\(kpm-json, encrypted\\)' },
    ], { home });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.transcript).not.toContain(MASTER);
    expect(r.transcript).not.toContain(EXPORT_PW);
    expect(r.transcript).not.toMatch(/NOT encrypted/);
    // --dry-run opens the file with the export password without touching a vault
    const check = await kpm(home, ['import', out, '--format', 'kpm-json', '--dry-run', '--json'], 0, { env: { KPM_EXPORT_PASSWORD: EXPORT_PW } });
    expect(JSON.parse(check.stdout)).toMatchObject({ imported: 5, errors: [] });
    await kpm(home, ['import', out, '--format', 'kpm-json', '--dry-run'], 5, { env: { KPM_EXPORT_PASSWORD: 'wrong export password' } });
  });

  it('a large import draws a progress bar on stderr, nothing on stdout', async () => {
    const home = makeHome();
    await initVault(home);
    const file = join(home, '1200.csv');
    fs.writeFileSync(file, ['name,password', ...Array.from({ length: 1200 }, (_, i) => `e${i},p${i}`)].join('\n') + '\n');
    const args = ['import', file, '--format', 'csv'];
    const r = await runTty(args, [{ expect: 'Imported 1200 entries' }], { home, env: withMaster(), stdoutToFile: true });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.transcript).toMatch(/importing \[[=\- ]*\] 1200\/1200 entries/);
    expect(r.stdout).toBe('');
  });
});
