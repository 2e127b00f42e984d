// kpm import / kpm export end to end, through the built binary: every import format, all or
// nothing on a malformed file, --continue-on-error, every export format, round trips (plain and
// encrypted), the master password asked again even when unlocked, 0600 files, no overwrite, and a
// 10,000-entry CSV import.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { constants as zlibConstants, crc32, deflateRawSync } from 'node:zlib';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kpmWith, BIN, cleanEnv, copyHome, initHome, describeTty, initVault, makeHome, MASTER, runOk, runTty, withMaster } from '../helpers/kpm.js';
import { buildOnePux } from '../helpers/onepux.js';
import { zipSync } from 'fflate';

const FIX = join(__dirname, '..', 'fixtures', 'import');
const EXPORT_PW = 'export password 123';

/** `kpm(home, args, code, {env, input})`: exit `code`, no stack trace, neither password in the output. */
const kpm = kpmWith({ secrets: [MASTER, EXPORT_PW] });

const names = async (home: string, vault = 'Personal'): Promise<string[]> =>
  (JSON.parse((await kpm(home, ['list', '--json', '--vault', vault], 0)).stdout) as { name: string }[]).map((e) => e.name);

/** The entries of a kpm-json export, without the export time. */
const exportedEntries = (text: string) => JSON.parse(text).entries as Record<string, unknown>[];

describe('kpm import (agent unlocked)', () => {
  // The import tests each start from an empty vault (plus a vault KeePass); the later tests each
  // from their own copy of `base`, which holds what the import tests import, made once. Every test
  // runs with the agent unlocked in its own home.
  let base: string;
  let home: string;
  let tmp: string;
  const IMPORT_BITWARDEN = ['import', join(FIX, 'bitwarden.json'), '--format', 'bitwarden-json', '--json'];
  const IMPORT_1PUX = () => ['import', join(tmp, 'export.1pux'), '--format', '1password-1pux'];
  const IMPORT_KEEPASS = ['import', join(FIX, 'keepass.xml'), '--format', 'keepass-xml', '--vault', 'KeePass'];
  const IMPORT_CSVS = [['import', join(FIX, 'kpm.csv'), '--format', 'csv'], ['import', join(FIX, 'bitwarden.csv'), '--format', 'csv']];
  const unlocked = async (h: string): Promise<string> => {
    await runOk(['unlock', '--password-stdin'], { home: h, input: MASTER + '\n' });
    return h;
  };
  const emptyHome = async (): Promise<string> => {
    const h = await unlocked(initHome());
    await runOk(['vault', 'create', 'KeePass'], { home: h });
    return h;
  };
  const fromBase = () => unlocked(copyHome(base));

  beforeAll(async () => {
    tmp = fs.mkdtempSync(join(os.tmpdir(), 'kpm-transfer-'));
    fs.writeFileSync(join(tmp, 'export.1pux'), buildOnePux());
    base = initHome();
    await kpm(base, ['vault', 'create', 'KeePass'], 0, { env: withMaster() });
    for (const args of [IMPORT_BITWARDEN, IMPORT_1PUX(), IMPORT_KEEPASS, ...IMPORT_CSVS]) await kpm(base, args, 0, { env: withMaster() });
  });

  it('imports a Bitwarden JSON export: every type, folder tags, custom fields; trash skipped; duplicate name renamed', async () => {
    home = await emptyHome();
    const r = await kpm(home, IMPORT_BITWARDEN, 0);
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
    // Bitwarden's password history is the entry's kpm history: oldest first, then the current entry
    const hist = JSON.parse((await kpm(home, ['history', 'GitHub', '--json'], 0)).stdout) as { version: number; payload: { fields: { password: string } } }[];
    expect(hist.map((h) => [h.version, h.payload.fields.password])).toEqual([[1, 'hunter0-GH'], [2, 'hunter1-GH'], [3, 'hunter2-GH!']]);
    expect((await kpm(home, ['totp', 'GitHub'], 0)).stdout).toMatch(/^\d{6}\n$/);
    expect((await kpm(home, ['get', 'Visa Gold', '--field', 'expiry'], 0)).stdout).toBe('07/29\n');
  });

  it('imports a 1PUX archive, the document with its file', async () => {
    home = await emptyHome();
    const r = await kpm(home, IMPORT_1PUX(), 0);
    expect(r.stderr).toMatch(/Imported 7 entries into Personal \(1 file stored, 1 skipped, listed above\)\./);
    expect((await kpm(home, ['get', 'Example Account', '--field', 'username'], 0)).stdout).toBe('ada@example.org\n');
    expect((await kpm(home, ['get', 'Mastercard ✓'], 0)).stdout).toBe('5555555555554444\n');
    await kpm(home, ['doc', 'get', 'Passport', '-o', join(tmp, 'passport.txt')], 0);
    expect(fs.readFileSync(join(tmp, 'passport.txt'), 'utf8')).toBe('Passport scan placeholder: this text stands in for a PDF.\n');
  });

  it('imports KeePass XML into another vault, and CSV files (kpm columns, Bitwarden columns)', async () => {
    home = await emptyHome();
    const r = await kpm(home, IMPORT_KEEPASS, 0);
    expect(r.stderr).toContain('keepass.xml: record 5 (line 151): skipped: in the recycle bin');
    expect(await names(home, 'KeePass')).toEqual(['bank.example.com', 'Mail', 'Mastodon ✉', 'Router']);
    expect((await kpm(home, ['get', 'Router', '--vault', 'KeePass'], 0)).stdout).toBe('r0uter & <stuff>\n');
    for (const args of IMPORT_CSVS) await kpm(home, args, 0);
    expect((await kpm(home, ['get', 'Example'], 0)).stdout).toBe('pa,ss"word\n');
    expect((await kpm(home, ['get', 'Shopping list'], 0)).stdout).toBe('eggs\nmilk\n"organic" bread\n');
    expect((await kpm(home, ['get', 'Twitter', '--field', 'url 2'], 0)).stdout).toBe('https://x.com\n');
  });

  it('a malformed file imports nothing (exit 2, record and line named); --continue-on-error imports the good records', async () => {
    home = await fromBase();
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
    home = await fromBase();
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
    expect((await kpm(home, ['import', enc, '--format', 'bitwarden-json'], 2)).stderr).toMatch(/the bitwarden file password is needed, but there is no terminal/);
    const acct = join(tmp, 'bw-account.json');
    fs.writeFileSync(acct, JSON.stringify({ encrypted: true, encKeyValidation_DO_NOT_EDIT: '2.a|b|c', folders: [], items: [] }));
    expect((await kpm(home, ['import', acct], 2)).stderr).toMatch(/encrypted with its account key, which only that Bitwarden account can open/);
  });

  it('export asks for the master password even when unlocked (exit 4 without it, 5 when wrong)', async () => {
    home = await fromBase();
    const out = join(tmp, 'x.json');
    const r = await kpm(home, ['export', '--format', 'kpm-json', '-o', out], 4);
    expect(r.stderr).toMatch(/export needs the master password, even when kpm is unlocked/);
    await kpm(home, ['export', '--format', 'kpm-json', '-o', out], 5, { env: withMaster('wrong master password') });
    expect(fs.existsSync(out)).toBe(false);
    await kpm(home, ['export', '--format', 'csv', '--encrypted'], 2, { env: withMaster() });
  });

  it('export writes 0600 files, warns when unencrypted, never overwrites without --force; every format', async () => {
    home = await fromBase();
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
    home = await fromBase();
    const plain = (await kpm(home, ['export', '--format', 'kpm-json', '--vault', 'Personal'], 0, { env: withMaster() })).stdout;
    const other = initHome();
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
    const third = initHome();
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
    const home = initHome();
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
    const home = initHome();
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
    const home = initHome();
    const file = join(home, '1200.csv');
    fs.writeFileSync(file, ['name,password', ...Array.from({ length: 1200 }, (_, i) => `e${i},p${i}`)].join('\n') + '\n');
    const args = ['import', file, '--format', 'csv'];
    const r = await runTty(args, [{ expect: 'Imported 1200 entries' }], { home, env: withMaster(), stdoutToFile: true });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.transcript).toMatch(/importing \[[=\- ]*\] 1200\/1200 entries/);
    expect(r.stdout).toBe('');
  });
});

// ------------------------------------------------------------------------------------------------
// Issue 16 with the real KeePassXC (keepassxc-cli; .ci/run installs Debian's keepassxc), S12 and
// issue 22 through the built binary.

const KEEPASSXC = (() => {
  const r = spawnSync('keepassxc-cli', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
})();
if (!KEEPASSXC) console.warn('SKIPPED: the KeePassXC interop tests need keepassxc-cli (Debian: apt-get install keepassxc); it is not installed');
const KX_PW = 'kx pass wörd';

/** keepassxc-cli with its passwords on stdin (one per line); throws with its stderr on failure. */
function kx(args: string[], passwords: string[] = [KX_PW]): string {
  // (passwords on stdin, one per line, in the order keepassxc-cli asks)
  const r = spawnSync('keepassxc-cli', args, { input: passwords.map((p) => p + '\n').join(''), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`keepassxc-cli ${args.join(' ')} → ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const KX_XML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<KeePassFile>
 <Meta><Generator>kpm test</Generator><RecycleBinEnabled>True</RecycleBinEnabled></Meta>
 <Root>
  <Group>
   <UUID>AAAAAAAAAAAAAAAAAAAAAA==</UUID><Name>Root</Name>
   <Group>
    <UUID>AAAAAAAAAAAAAAAAAAAAAQ==</UUID><Name>Internet, Web</Name>
    <Entry>
     <UUID>EAAAAAAAAAAAAAAAAAAAAQ==</UUID>
     <Times><CreationTime>2021-02-03T04:05:06Z</CreationTime><LastModificationTime>2023-07-08T09:10:11Z</LastModificationTime><ExpiryTime>2027-12-31T23:59:59Z</ExpiryTime><Expires>True</Expires></Times>
     <String><Key>Title</Key><Value>Mastodon ✉</Value></String>
     <String><Key>UserName</Key><Value>ada</Value></String>
     <String><Key>Password</Key><Value ProtectInMemory="True">tööt-tööt</Value></String>
     <String><Key>URL</Key><Value>https://example.social</Value></String>
     <String><Key>Notes</Key><Value>line 1
line 2 &amp; more</Value></String>
     <String><Key>otp</Key><Value ProtectInMemory="True">otpauth://totp/Mastodon:ada?secret=JBSWY3DPEHPK3PXP&amp;period=30&amp;digits=6&amp;issuer=Mastodon</Value></String>
     <String><Key>Security question</Key><Value ProtectInMemory="True">First pet: Babbage</Value></String>
     <String><Key>Kundennummer</Key><Value>K-42 ✓</Value></String>
    </Entry>
   </Group>
   <Group>
    <UUID>AAAAAAAAAAAAAAAAAAAAAg==</UUID><Name>Bank</Name>
    <Entry>
     <UUID>EAAAAAAAAAAAAAAAAAAAAg==</UUID>
     <Times><CreationTime>2020-01-01T00:00:00Z</CreationTime><LastModificationTime>2020-06-01T00:00:00Z</LastModificationTime><Expires>False</Expires></Times>
     <String><Key>Title</Key><Value>legacy totp</Value></String>
     <String><Key>UserName</Key><Value>me</Value></String>
     <String><Key>TOTP Seed</Key><Value>GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ</Value></String>
     <String><Key>TOTP Settings</Key><Value>60;8</Value></String>
    </Entry>
   </Group>
  </Group>
 </Root>
</KeePassFile>
`;

/** The current code of both programs; read again once if a step boundary fell between them. */
async function sameCode(kxArgs: string[], home: string, name: string, passwords = [KX_PW]): Promise<[string, string]> {
  let pair: [string, string] = ['', ''];
  for (let i = 0; i < 2; i++) {
    pair = [kx(kxArgs, passwords).trim(), (await kpm(home, ['totp', name], 0)).stdout.trim()];
    if (pair[0] === pair[1]) break;
  }
  return pair;
}

describe.skipIf(!KEEPASSXC)(`KeePassXC ${KEEPASSXC ?? '(not installed)'} → kpm`, () => {
  let dir: string;
  let db: string;
  let home: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-kx-'));
    db = join(dir, 'db.kdbx');
    fs.writeFileSync(join(dir, 'in.xml'), KX_XML);
    kx(['import', '-q', '-p', join(dir, 'in.xml'), db], [KX_PW, KX_PW]);
    fs.writeFileSync(join(dir, 'scan.txt'), 'attached bytes ✓\n');
    kx(['attachment-import', '-q', db, 'Internet, Web/Mastodon ✉', 'scan.txt', join(dir, 'scan.txt')]);
    kx(['add', '-q', '-u', 'carol', '-p', db, 'Bank/old site'], [KX_PW, 'old secret']);
    kx(['rm', '-q', db, 'Bank/old site']); // into the recycle bin (this makes KeePassXC save KDBX 4)
  });
  beforeEach(async () => {
    // each test imports into a home of its own (the CSV test's "Mastodon ✉" would make the XML test's name ambiguous)
    home = initHome();
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
  });

  it('the database is KDBX 4, whose XML export writes base64 times', () => {
    expect(fs.readFileSync(db).readUInt16LE(10)).toBe(4);
    expect(kx(['export', '-q', '-f', 'xml', db])).toMatch(/<CreationTime>[A-Za-z0-9+/]{11}=<\/CreationTime>/);
  });

  it('its XML export: every field, date, expiry, group tag and TOTP across; attachment, history and recycle bin reported by name', async () => {
    const xml = join(dir, 'export.xml');
    fs.writeFileSync(xml, kx(['export', '-q', '-f', 'xml', db]));
    const r = await kpm(home, ['import', xml, '--json'], 0);
    expect(r.stderr).toContain('export.xml: detected format keepass-xml');
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ format: 'keepass-xml', detected: true, imported: 2, errors: [] });
    expect(s.skipped.map((x: { message: string }) => x.message)).toEqual([
      expect.stringMatching(/^attachment "scan.txt" is not in the XML file/),
      'in the recycle bin',
    ]);
    expect(s.changed.map((x: { message: string }) => x.message)).toEqual(['expiry date 2027-12-31T23:59:59.000Z kept as the custom field "expires" (kpm does not expire entries)']);
    const csv = kx(['export', '-q', '-f', 'csv', db]);
    const lastModified = /"Mastodon ✉"[\s\S]*?"(\d{4}-[^"]+)","2021-02-03T04:05:06Z"/.exec(csv)![1];
    const m = JSON.parse((await kpm(home, ['get', 'Mastodon ✉', '--json'], 0)).stdout);
    expect(m).toMatchObject({
      type: 'login', tags: ['Internet, Web'], created: '2021-02-03T04:05:06.000Z', updated: new Date(lastModified).toISOString(),
      fields: {
        username: 'ada', password: 'tööt-tööt', url: 'https://example.social', notes: 'line 1\nline 2 & more',
        totp: kx(['show', '-q', '-s', '-a', 'otp', db, 'Internet, Web/Mastodon ✉']).trim(),
      },
    });
    expect(m.custom).toEqual([
      { name: 'Kundennummer', value: 'K-42 ✓' },
      { name: 'Security question', value: 'First pet: Babbage', kind: 'hidden' },
      { name: 'expires', value: '2027-12-31T23:59:59.000Z' },
    ]);
    const legacy = JSON.parse((await kpm(home, ['get', 'legacy totp', '--json'], 0)).stdout);
    expect(legacy).toMatchObject({ tags: ['Bank'], created: '2020-01-01T00:00:00.000Z', updated: '2020-06-01T00:00:00.000Z', fields: { username: 'me' }, custom: [] });
    const [theirs, ours] = await sameCode(['show', '-q', '-t', db, 'Bank/legacy totp'], home, 'legacy totp');
    expect(theirs).toMatch(/^\d{8}$/);
    expect(ours).toBe(theirs);
    const [t2, o2] = await sameCode(['show', '-q', '-t', db, 'Internet, Web/Mastodon ✉'], home, 'Mastodon ✉');
    expect(o2).toBe(t2);
  });

  it('its CSV export: the recycle bin is skipped, the root group is no tag, "Internet, Web" stays one tag', async () => {
    const file = join(dir, 'export.csv');
    fs.writeFileSync(file, kx(['export', '-q', '-f', 'csv', db]));
    await runOk(['vault', 'create', 'CSV'], { home });
    const s = JSON.parse((await kpm(home, ['import', file, '--vault', 'CSV', '--json'], 0)).stdout);
    expect(s).toMatchObject({ format: 'csv', imported: 2, skipped: [{ record: 3, line: 5, message: 'in the recycle bin' }] });
    const m = JSON.parse((await kpm(home, ['get', 'Mastodon ✉', '--vault', 'CSV', '--json'], 0)).stdout);
    expect(m).toMatchObject({ tags: ['Internet, Web'], created: '2021-02-03T04:05:06.000Z', fields: { username: 'ada', password: 'tööt-tööt' } });
    expect(JSON.parse((await kpm(home, ['get', 'legacy totp', '--vault', 'CSV', '--json'], 0)).stdout).tags).toEqual(['Bank']);
  });
});

describe.skipIf(!KEEPASSXC)(`kpm ↔ KeePassXC ${KEEPASSXC ?? '(not installed)'} databases (.kdbx)`, () => {
  let dir: string;
  let home: string;
  const KDBX_PW = 'db pass wörd 1';

  beforeAll(async () => {
    dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-kdbx-'));
    home = initHome();
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    // the entry the export tests write: login, group path, hidden field, TOTP, attachment
    const src = join(dir, 'src.json');
    fs.writeFileSync(src, JSON.stringify({ format: 'kpm-export', version: 1, entries: [{
      vault: 'Personal', type: 'login', name: 'exported ✓', tags: ['Work/Dev'], created: '2022-01-01T00:00:00.000Z', updated: '2022-02-02T00:00:00.000Z',
      fields: { username: 'erin', password: 'exp0rt-pw', url: 'https://e.example', totp: 'otpauth://totp/E?secret=JBSWY3DPEHPK3PXP&digits=8' },
      custom: [{ name: 'pin code', value: '1234', kind: 'hidden' }],
    }] }));
    await kpm(home, ['import', src], 0);
    fs.writeFileSync(join(dir, 'a.bin'), Buffer.from([0, 1, 2, 255]));
    await runOk(['attach', 'exported ✓', join(dir, 'a.bin')], { home });
  });

  it('kpm import FILE.kdbx (KDBX 4, AES-KDF, written by keepassxc-cli): fields, dates, expiry, TOTP, group tag, the attachment with its bytes; recycle bin skipped', async () => {
    const db = join(dir, 'kx.kdbx');
    fs.writeFileSync(join(dir, 'in.xml'), KX_XML);
    kx(['import', '-q', '-p', join(dir, 'in.xml'), db], [KX_PW, KX_PW]);
    fs.writeFileSync(join(dir, 'scan.txt'), 'attached bytes ✓\n');
    kx(['attachment-import', '-q', db, 'Internet, Web/Mastodon ✉', 'scan.txt', join(dir, 'scan.txt')]);
    kx(['add', '-q', '-u', 'carol', '-p', db, 'Bank/old site'], [KX_PW, 'old secret']);
    kx(['rm', '-q', db, 'Bank/old site']);
    expect(fs.readFileSync(db).readUInt16LE(10)).toBe(4);
    const wrong = await kpm(home, ['import', db, '--export-password-stdin'], 5, { input: 'not it\n' });
    expect(wrong.stderr).toMatch(/^kpm: kx.kdbx: wrong password or key file for the KeePass database$/m);
    const r = await kpm(home, ['import', db, '--export-password-stdin', '--json'], 0, { input: KX_PW + '\n' });
    expect(r.stderr).toContain('kx.kdbx: detected format kdbx (a KeePass database)');
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ format: 'kdbx', imported: 2, files: 1, errors: [] });
    expect(s.skipped.map((x: { message: string }) => x.message)).toEqual(['in the recycle bin']);
    // KeePassXC's older version (before the attachment was added) is the entry's kpm history
    const hist = JSON.parse((await kpm(home, ['history', 'Mastodon ✉', '--json'], 0)).stdout);
    expect(hist.length).toBe(2);
    const m = JSON.parse((await kpm(home, ['get', 'Mastodon ✉', '--json'], 0)).stdout);
    expect(m).toMatchObject({ tags: ['Internet, Web'], created: '2021-02-03T04:05:06.000Z', fields: { username: 'ada', password: 'tööt-tööt', notes: 'line 1\nline 2 & more' } });
    expect(m.custom).toContainEqual({ name: 'expires', value: '2027-12-31T23:59:59.000Z' });
    expect(m.custom).toContainEqual({ name: 'Security question', value: 'First pet: Babbage', kind: 'hidden' });
    await kpm(home, ['doc', 'get', 'Mastodon ✉', '-o', join(dir, 'back.txt')], 0);
    expect(fs.readFileSync(join(dir, 'back.txt'), 'utf8')).toBe('attached bytes ✓\n');
    const [theirs, ours] = await sameCode(['show', '-q', '-t', db, 'Bank/legacy totp'], home, 'legacy totp');
    expect(ours).toBe(theirs);
  });

  it('KDBX 3.1 (AES-KDF) with a key file and a password; without the key file it is exit 5', async () => {
    const db = join(dir, 'keyed.kdbx');
    const key = join(dir, 'keyed.keyx');
    kx(['db-create', '-q', '-p', '--set-key-file', key, db], [KDBX_PW, KDBX_PW]);
    kx(['add', '-q', '-k', key, '-u', 'dave', db, 'keyed entry'], [KDBX_PW]);
    expect(fs.readFileSync(db).readUInt16LE(10)).toBe(3);
    await kpm(home, ['import', db, '--key-file', key, '--export-password-stdin', '--vault', 'Personal'], 0, { input: KDBX_PW + '\n' });
    expect(JSON.parse((await kpm(home, ['get', 'keyed entry', '--json'], 0)).stdout).fields.username).toBe('dave');
    await kpm(home, ['import', db, '--export-password-stdin'], 5, { input: KDBX_PW + '\n' }); // no key file
  });

  it('kpm export --format kdbx: KeePassXC opens it (password), lists groups, shows every field, the same TOTP code, the attachment', async () => {
    const out = join(dir, 'out.kdbx');
    const r = await kpm(home, ['export', '--format', 'kdbx', '-o', out, '--password-stdin', '--export-password-stdin', '--json'], 0, { input: `${MASTER}\n${KDBX_PW}\n` });
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'kdbx', encrypted: true, filesNotExported: 0 });
    expect(r.stderr).not.toMatch(/NOT encrypted/);
    expect(fs.readFileSync(out).readUInt16LE(10)).toBe(4);
    expect(kx(['ls', '-q', '-R', '-f', out], [KDBX_PW])).toContain('Work/Dev/exported ✓');
    const shown = kx(['show', '-q', '-s', '-a', 'UserName', '-a', 'Password', '-a', 'URL', '-a', 'pin code', out, 'Work/Dev/exported ✓'], [KDBX_PW]);
    expect(shown).toBe('erin\nexp0rt-pw\nhttps://e.example\n1234\n');
    kx(['attachment-export', '-q', out, 'Work/Dev/exported ✓', 'a.bin', join(dir, 'a-back.bin')], [KDBX_PW]);
    expect([...fs.readFileSync(join(dir, 'a-back.bin'))]).toEqual([0, 1, 2, 255]);
    const [theirs, ours] = await sameCode(['show', '-q', '-t', out, 'Work/Dev/exported ✓'], home, 'exported ✓', [KDBX_PW]);
    expect(theirs).toMatch(/^\d{8}$/);
    expect(ours).toBe(theirs);
  });

  it('kpm export --format keepass-xml: keepassxc-cli import reads it; fields, groups, tags, protected strings, TOTP, attachment', async () => {
    const xml = join(dir, 'out.xml');
    const r = await kpm(home, ['export', '--format', 'keepass-xml', '-o', xml, '--vault', 'Personal', '--json'], 0, { env: withMaster() });
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'keepass-xml', encrypted: false, filesNotExported: 0 });
    const db = join(dir, 'from-xml.kdbx');
    kx(['import', '-q', '-p', xml, db], [KDBX_PW, KDBX_PW]);
    expect(kx(['show', '-q', '-s', '-a', 'UserName', '-a', 'Password', '-a', 'URL', '-a', 'pin code', db, 'Work/Dev/exported ✓'], [KDBX_PW])).toBe('erin\nexp0rt-pw\nhttps://e.example\n1234\n');
    kx(['attachment-export', '-q', db, 'Work/Dev/exported ✓', 'a.bin', join(dir, 'a-xml.bin')], [KDBX_PW]);
    expect([...fs.readFileSync(join(dir, 'a-xml.bin'))]).toEqual([0, 1, 2, 255]);
    const [theirs, ours] = await sameCode(['show', '-q', '-t', db, 'Work/Dev/exported ✓'], home, 'exported ✓', [KDBX_PW]);
    expect(ours).toBe(theirs);
    // and kpm reads its own file back: same entry
    const other = initHome();
    await kpm(other, ['import', xml], 0, { env: withMaster() });
    const a = JSON.parse((await kpm(home, ['get', 'exported ✓', '--json'], 0)).stdout);
    const b = JSON.parse((await kpm(other, ['get', 'exported ✓', '--json'], 0, { env: withMaster() })).stdout);
    // KeePass keeps times to the second and has no password-changed time (it becomes the update time)
    const second = (t: string) => t.replace(/\.\d{3}Z$/, '.000Z');
    expect({ ...b, id: a.id, version: a.version }).toEqual({ ...a, updated: second(a.updated), passwordChanged: second(a.updated) });
  });
});

/** Runs the built kpm under python3 and returns its peak resident memory in MiB (RUSAGE_CHILDREN). */
function peakMib(args: string[], home: string, env: Record<string, string> = {}): { code: number; stderr: string; mib: number } {
  const py = 'import resource,subprocess,sys\nr=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)\nsys.stderr.buffer.write(r.stderr)\nprint(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  const r = spawnSync('python3', ['-c', py, process.execPath, BIN, ...args], { env: { ...cleanEnv(home), ...env }, encoding: 'utf8' });
  const [code, kib] = r.stdout.trim().split(' ').map(Number);
  return { code, stderr: r.stderr, mib: kib / 1024 };
}

describe('S12: hostile import files through kpm import', () => {
  let home: string;
  let tmp: string;
  beforeAll(async () => {
    home = makeHome();
    tmp = fs.mkdtempSync(join(os.tmpdir(), 'kpm-s12-'));
    await initVault(home);
  });

  it('S12: KeePass XML with an entity declaration is refused: exit 2, one clear line, nothing imported', async () => {
    const file = join(tmp, 'entity.xml');
    fs.writeFileSync(file, '<?xml version="1.0"?>\n<!DOCTYPE KeePassFile [ <!ENTITY x "EXPANDED"> ]>\n<KeePassFile><Meta/><Root><Group><Name>R</Name><Entry><String><Key>Title</Key><Value>t</Value></String><String><Key>Notes</Key><Value>&x;</Value></String></Entry></Group></Root></KeePassFile>\n');
    const r = await kpm(home, ['import', file, '--format', 'keepass-xml'], 2, { env: withMaster() });
    expect(r.stderr).toBe('kpm: entity.xml: line 2: refused: the XML has a DOCTYPE declaration (KeePass never writes one; entity declarations are not read)\nhint: nothing was imported\n');
    expect(JSON.parse((await kpm(home, ['status', '--json'], 0)).stdout).entries).toBe(0);
  });

  it('S12: deeply nested XML and other hostile files end in exit 2 with the file named, never "unexpected error"', async () => {
    const deep = join(tmp, 'deep.xml');
    fs.writeFileSync(deep, `<KeePassFile><Root>${'<Group>'.repeat(200_000)}${'</Group>'.repeat(200_000)}</Root></KeePassFile>`);
    const r = await kpm(home, ['import', deep, '--format', 'keepass-xml'], 2);
    expect(r.stderr).toMatch(/^kpm: deep.xml: line 1: refused: elements are nested more than 512 deep\n/);
    // a 1PUX field value nested 100,000 deep: the parser's own recursion overflows; still exit 2
    const nested = join(tmp, 'nested.1pux');
    const item = { uuid: 'x', categoryUuid: '003', state: 'active', overview: { title: 'n' }, details: { sections: [{ fields: [{ id: 'f', title: 'f', value: { string: 'NESTED' } }] }] } };
    const data = JSON.stringify({ accounts: [{ vaults: [{ attrs: { name: 'V' }, items: [item] }] }] }).replace('"NESTED"', '['.repeat(100_000) + ']'.repeat(100_000));
    fs.writeFileSync(nested, zipSync({ 'export.data': Buffer.from(data) }));
    const j = await kpm(home, ['import', nested, '--format', '1password-1pux', '--dry-run'], 2);
    expect(j.stderr).toBe('kpm: nested.1pux: cannot be read as 1password-1pux: Maximum call stack size exceeded\nhint: nothing was imported\n');
  });

  it('S12: a 1PUX zip bomb (2 GiB of zeros in export.data) is refused with peak memory under 300 MiB', async () => {
    const file = join(tmp, 'bomb.1pux');
    fs.writeFileSync(file, zipBomb(2048));
    const r = peakMib(['import', file, '--format', '1password-1pux'], home, withMaster());
    expect(r.stderr).toBe('kpm: bomb.1pux: refused: 1PUX file member "export.data" would unpack to 2048 MiB (at most 128 MiB)\nhint: nothing was imported\n');
    expect(r.code).toBe(2);
    console.log(`peak memory of kpm refusing a 2 GiB zip bomb: ${r.mib.toFixed(0)} MiB`);
    expect(r.mib).toBeLessThan(300);
  });
});

/** A 1PUX whose export.data inflates to `mib` MiB of zeros (honest headers), built without holding it:
 *  one sync-flushed deflate piece of 1 MiB of zeros repeated (each piece refers only to itself). */
function zipBomb(mib: number): Buffer {
  const zero = Buffer.alloc(1 << 20);
  const piece = deflateRawSync(zero, { level: 9, finishFlush: zlibConstants.Z_SYNC_FLUSH });
  let crc = 0;
  for (let i = 0; i < mib; i++) crc = crc32(zero, crc);
  const data = Buffer.concat([...Array.from({ length: mib }, () => piece), Buffer.from([0x03, 0x00])]);
  return zipOne('export.data', data, mib * (1 << 20), crc);
}

/** A zip with one deflated member, sizes as given (they may be larger than 4 GiB - 1 only in ZIP64). */
function zipOne(name: string, data: Buffer, size: number, crc: number): Buffer {
  const n = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(crc >>> 0, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(size >>> 0, 22);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc >>> 0, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(size >>> 0, 24);
  central.writeUInt16LE(n.length, 28);
  central.writeUInt32LE(0, 42);
  const cdOffset = local.length + n.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + n.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, n, data, central, n, end]);
}

describe('issue 22: vaults, format detection and locked vaults', () => {
  // each test works on its own copy of `base` (Personal: home router, Work: jira), unlocked in the agent
  let base: string;
  let home: string;
  let tmp: string;
  beforeAll(async () => {
    base = makeHome();
    tmp = fs.mkdtempSync(join(os.tmpdir(), 'kpm-i22-'));
    await initVault(base);
    await runOk(['vault', 'create', 'Work'], { home: base, env: withMaster() });
    await runOk(['add', 'home router', '--password-stdin'], { home: base, env: withMaster(), input: 'r0uter\n' });
    await runOk(['add', 'jira', '--password-stdin', '--vault', 'Work'], { home: base, env: withMaster(), input: 'j1ra\n' });
  });
  beforeEach(async () => {
    home = copyHome(base);
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
  });

  it('kpm import of a kpm export keeps each entry in its vault (creating the vaults a profile lacks), without --format', async () => {
    const file = join(tmp, 'all.json');
    await kpm(home, ['export', '--format', 'kpm-json', '-o', file], 0, { env: withMaster() });
    const other = initHome();
    const r = await kpm(other, ['import', file, '--json'], 0, { env: withMaster() });
    expect(r.stderr).toContain('all.json: detected format kpm-json (a kpm export); --format overrides');
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'kpm-json', detected: true, imported: 2, vaults: [{ vault: 'Personal', imported: 1, created: false }, { vault: 'Work', imported: 1, created: true }] });
    const inVault = async (h: string, v: string) => (JSON.parse((await kpm(h, ['list', '--json', '--vault', v], 0, { env: withMaster() })).stdout) as { name: string }[]).map((e) => e.name);
    expect(await inVault(other, 'Personal')).toEqual(['home router']);
    expect(await inVault(other, 'Work')).toEqual(['jira']);
    // --vault still puts everything into one vault
    const third = initHome();
    await kpm(third, ['import', file, '--vault', 'Personal'], 0, { env: withMaster() });
    expect(await inVault(third, 'Personal')).toEqual(['home router', 'jira']);
  });

  it('export names each locked vault and fails (exit 4, nothing written) unless --skip-locked', async () => {
    await runOk(['vault', 'create', 'Private', '--own-password', '--vault-password-stdin'], { home, input: 'private vault pw\n' });
    await runOk(['add', 'diary', '--password-stdin', '--vault', 'Private'], { home, input: 'd1ary\n' });
    await runOk(['vault', 'lock', 'Private'], { home });
    const out = join(tmp, 'locked.json');
    const r = await kpm(home, ['export', '--format', 'kpm-json', '-o', out], 4, { env: withMaster() });
    expect(r.stderr).toMatch(/^kpm: vault "Private" is locked \(own password\) and cannot be exported\nhint: .*--skip-locked/);
    expect(fs.existsSync(out)).toBe(false);
    const ok = await kpm(home, ['export', '--format', 'kpm-json', '-o', out, '--skip-locked', '--json'], 0, { env: withMaster() });
    expect(ok.stderr).toContain('warning: vault "Private" is locked (own password): its entries are NOT in the export');
    expect(JSON.parse(ok.stdout)).toMatchObject({ exported: 2, lockedVaultsSkipped: ['Private'] });
    expect(exportedEntries(fs.readFileSync(out, 'utf8')).map((e) => e.name).sort()).toEqual(['home router', 'jira']);
  });
});

describe("issue 16: Bitwarden's password-protected export through kpm import", () => {
  it('imports with the file password (PBKDF2); a wrong password is exit 5 and imports nothing', async () => {
    const { pbkdf2Sync, createHmac, createCipheriv, randomBytes } = await import('node:crypto');
    const salt = randomBytes(16).toString('base64');
    const master = pbkdf2Sync('bw file pw', salt, 5000, 32, 'sha256');
    const enc = createHmac('sha256', master).update('enc\x01').digest(), mac = createHmac('sha256', master).update('mac\x01').digest();
    const seal = (plain: string) => {
      const iv = randomBytes(16);
      const c = createCipheriv('aes-256-cbc', enc, iv);
      const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return `2.${iv.toString('base64')}|${ct.toString('base64')}|${createHmac('sha256', mac).update(Buffer.concat([iv, ct])).digest('base64')}`;
    };
    const home = initHome();
    const file = join(home, 'bw-protected.json');
    fs.writeFileSync(file, JSON.stringify({
      encrypted: true, passwordProtected: true, salt, kdfType: 0, kdfIterations: 5000, encKeyValidation_DO_NOT_EDIT: seal('check'),
      data: seal(fs.readFileSync(join(FIX, 'bitwarden-roundtrip.json'), 'utf8')),
    }));
    const wrong = await kpm(home, ['import', file, '--export-password-stdin'], 5, { env: withMaster(), input: 'nope\n' });
    expect(wrong.stderr).toMatch(/^kpm: bw-protected.json: wrong password for the encrypted Bitwarden export/m);
    const r = await kpm(home, ['import', file, '--json'], 0, { env: { ...withMaster(), KPM_EXPORT_PASSWORD: 'bw file pw' } });
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'bitwarden-json', imported: 4, errors: [] });
  });
});
