// Issue 16: `kpm export --format bitwarden-json --encrypted` writes Bitwarden's password-protected
// .json, through the built binary: the export password asked twice on a terminal or given with
// --export-password-stdin, and kpm export → kpm import gives back every entry. The file's crypto
// is checked against an independent implementation in test/unit/bitwarden-encrypted-export.test.ts.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kpmWith, initHome, describeTty, MASTER, runTty, withMaster } from '../helpers/kpm.js';

const FIX = join(__dirname, '..', 'fixtures', 'import');
const EXPORT_PW = 'bitwarden export pw 9';

/** `kpm(home, args, code, {env, input})`: exit `code`, no stack trace, neither password in the output. */
const kpm = kpmWith({ secrets: [MASTER, EXPORT_PW] });

/** Every entry as kpm holds it, without what a new vault gives anew (ids). */
const entriesOf = async (home: string) => {
  const doc = JSON.parse((await kpm(home, ['export', '--format', 'kpm-json'], 0, { env: withMaster() })).stdout) as { entries: Record<string, unknown>[] };
  return doc.entries.map(({ id: _id, ...rest }) => rest).sort((a, b) => String(a.name).localeCompare(String(b.name)));
};

describe("issue 16: kpm export --format bitwarden-json --encrypted (Bitwarden's password-protected .json)", () => {
  it('round trip: kpm export (export password from stdin) → kpm import into a fresh home gives back every entry; a wrong password imports nothing', async () => {
    const home = initHome();
    await kpm(home, ['import', join(FIX, 'bitwarden-roundtrip.json')], 0, { env: withMaster() });
    const out = join(home, 'bw-protected.json');
    const r = await kpm(home, ['export', '--format', 'bitwarden-json', '--encrypted', '--password-stdin', '--export-password-stdin', '-o', out, '--json'], 0, {
      input: `${MASTER}\n${EXPORT_PW}\n`,
    });
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'bitwarden-json', encrypted: true, file: out });
    expect(r.stderr).not.toMatch(/NOT encrypted/);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    const text = fs.readFileSync(out, 'utf8');
    expect(JSON.parse(text)).toMatchObject({ encrypted: true, passwordProtected: true, kdfType: 1, kdfMemory: 64, kdfIterations: 3, kdfParallelism: 4 });
    expect(text).not.toContain('octocat');

    const other = initHome();
    const wrong = await kpm(other, ['import', out, '--export-password-stdin'], 5, { env: withMaster(), input: 'not the password\n' });
    expect(wrong.stderr).toMatch(/wrong password for the encrypted Bitwarden export/);
    expect(JSON.parse((await kpm(other, ['status', '--json'], 0)).stdout).entries).toBe(0);
    const imp = await kpm(other, ['import', out, '--json', '--export-password-stdin'], 0, { env: withMaster(), input: `${EXPORT_PW}\n` });
    expect(JSON.parse(imp.stdout)).toMatchObject({ format: 'bitwarden-json', detected: true, errors: [] });
    expect(await entriesOf(other)).toEqual(await entriesOf(home));
  });

  it('an export password shorter than 8 characters is refused (exit 2) and nothing is written', async () => {
    const home = initHome();
    const out = join(home, 'short.json');
    const r = await kpm(home, ['export', '--format', 'bitwarden-json', '--encrypted', '--password-stdin', '--export-password-stdin', '-o', out], 2, { input: `${MASTER}\nshort\n` });
    expect(r.stderr).toMatch(/at least 8 characters/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('on a terminal: asks the master password, then the export password twice; kpm import opens the file with it', async () => {
    const home = initHome();
    await kpm(home, ['import', join(FIX, 'bitwarden-roundtrip.json')], 0, { env: withMaster() });
    const out = join(home, 'bw.json');
    const args = ['export', '--format', 'bitwarden-json', '--encrypted', '-o', out];
    const t = await runTty(args, [
      { expect: 'Master password \\(to confirm the export\\)', send: MASTER + '\r' },
      { expect: 'Export password', send: EXPORT_PW + '\r' },
      { expect: 'Export password \\(again\\)', send: EXPORT_PW + '\r' },
      { expect: 'Exported 4 entries \\(bitwarden-json, encrypted\\)' },
    ], { home });
    expect(t.code, describeTty(args, t)).toBe(0);
    expect(t.transcript).not.toContain(EXPORT_PW);
    const check = await kpm(home, ['import', out, '--dry-run', '--json'], 0, { env: { KPM_EXPORT_PASSWORD: EXPORT_PW } });
    expect(JSON.parse(check.stdout)).toMatchObject({ imported: 4, errors: [] });
  });
});
