// Bad input of every kind gets a documented exit code, one clear line on stderr, nothing on
// stdout, no stack trace, never a secret in the output, and changes nothing on disk.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { addEntry, initHome, agentPid, describeRun, leaks, lines, makeHome, MASTER, run, runOk, withMaster, type RunResult } from '../helpers/kpm.js';
import { runServerCli } from '../helpers/server.js';

const WRONG = 'definitely not the master password';
const SECRETS = [MASTER, WRONG, 'original-secret'];

/** Runs kpm expecting `code`, empty stdout, no stack trace and no secret in the output. */
async function refused(home: string, args: string[], code: number, opts: { env?: Record<string, string>; input?: string | Buffer } = {}): Promise<RunResult> {
  const r = await run(args, { home, ...opts });
  const what = describeRun(args, r);
  expect(r.code, what).toBe(code);
  expect(r.stdout, what).toBe('');
  expect(leaks(r, SECRETS), what).toEqual([]);
  expect(r.stderr.length, what).toBeGreaterThan(0);
  // one line in kpm's own form, commander's usage errors included (`kpm: missing required argument …`)
  expect(lines(r.stderr).filter((l) => /^(kpm: |error: )/.test(l)), what).toEqual([expect.stringMatching(/^kpm: /)]);
  return r;
}

/** Size of every file of the vault, to check that a refused command wrote nothing. */
function snapshot(home: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out[p.slice(home.length)] = statSync(p).size;
    }
  };
  walk(join(home, 'data'));
  return out;
}

describe('wrong master password', () => {
  let home: string;

  beforeAll(async () => {
    home = initHome();
    await addEntry(home, 'site', 'original-secret');
  });

  it('KPM_MASTER_PASSWORD wrong → exit 5, exactly one line on stderr, empty stdout', async () => {
    const r = await refused(home, ['get', 'site'], 5, { env: withMaster(WRONG) });
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/wrong/i);
  });

  it('--password-stdin wrong → exit 5 (list)', async () => {
    const r = await refused(home, ['list', '--password-stdin'], 5, { input: WRONG + '\n' });
    expect(lines(r.stderr)).toHaveLength(1);
  });

  it('unlock with a wrong password → exit 5 and no agent', async () => {
    await refused(home, ['unlock', '--password-stdin'], 5, { input: WRONG + '\n' });
    expect(agentPid(home)).toBeUndefined();
  });

  it('a wrong password changes nothing on disk (add refused before writing)', async () => {
    const before = snapshot(home);
    await refused(home, ['add', 'new', '--password-stdin'], 5, { env: withMaster(WRONG), input: 'x\n' });
    expect(snapshot(home)).toEqual(before);
  });
});

describe('missing vault and missing entries', () => {
  it('a fresh KPM_HOME: get exits 3 with a hint to run kpm init (with and without a password)', async () => {
    const home = makeHome();
    for (const env of [{}, withMaster()]) {
      const r = await refused(home, ['get', 'x'], 3, { env });
      expect(r.stderr).toMatch(/kpm init/);
    }
    await refused(home, ['list'], 3, { env: withMaster() });
    await refused(home, ['unlock', '--password-stdin'], 3, { input: MASTER + '\n' });
    await refused(home, ['add', 'x', '--password-stdin'], 3, { env: withMaster(), input: 'pw\n' });
  });

  it('status on a fresh KPM_HOME exits 0 and says not initialized', async () => {
    const home = makeHome();
    const r = await runOk(['status', '--json'], { home });
    expect(JSON.parse(r.stdout)).toMatchObject({ initialized: false, entries: 0 });
  });

  it('an unknown entry exits 3 (get, edit, rm, totp)', async () => {
    const home = initHome();
    await addEntry(home, 'github', 'original-secret');
    for (const args of [['get', 'gthub'], ['edit', 'nope', '--username', 'x'], ['rm', 'nope', '--yes'], ['totp', 'nope'], ['show', 'nope']]) {
      await refused(home, args, 3, { env: withMaster() });
    }
  });
});

describe('malformed command lines → exit 2', () => {
  let home: string;

  beforeAll(async () => {
    home = initHome();
    await addEntry(home, 'site', 'original-secret');
  });

  it.each([
    { why: 'unknown option', args: ['get', 'site', '--bogus'] },
    { why: 'unknown option (list)', args: ['list', '--frobnicate'] },
    { why: 'unknown command', args: ['frobnicate'] },
    { why: 'missing argument', args: ['get'] },
    { why: '--length abc', args: ['generate', '--length', 'abc'] },
    { why: '--length 2', args: ['generate', '--length', '2'] },
    { why: '--length -5', args: ['generate', '--length', '-5'] },
    { why: '--length 1e3', args: ['generate', '--length', '1e3'] },
    { why: '--length 100000', args: ['generate', '--length', '100000'] },
    { why: '--words 0', args: ['generate', '--words', '0'] },
    { why: '--words x', args: ['generate', '--words', 'x'] },
    { why: 'add --generate --length abc', args: ['add', 'n1', '--generate', '--length', 'abc'] },
    { why: 'add --length 2', args: ['add', 'n2', '--length', '2'] },
    { why: 'add --type spaceship', args: ['add', 'n3', '--type', 'spaceship', '--generate'] },
    { why: '--field without =', args: ['add', 'n4', '--generate', '--field', 'novalue'] },
    { why: 'a password on the command line', args: ['add', 'n5', '--field', 'password=hunter2'] },
    { why: '--password-stdin with --generate', args: ['add', 'n6', '--password-stdin', '--generate'] },
    { why: 'an empty name', args: ['add', '  ', '--generate'] },
    { why: 'a name with a control character', args: ['add', 'bad\u0007name', '--generate'] },
    { why: 'a name longer than 256 characters', args: ['add', 'n'.repeat(300), '--generate'] },
    { why: 'a bad --totp', args: ['add', 'n7', '--generate', '--totp', 'otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP'] },
    { why: 'init --kdf-memory 1', args: ['init', '--kdf-memory', '1'] },
    { why: 'unlock --timeout soon', args: ['unlock', '--timeout', 'soon'] },
  ])('$why', async ({ args }) => {
    const before = snapshot(home);
    await refused(home, args, 2, { env: withMaster(), input: 'pw\n' });
    expect(snapshot(home)).toEqual(before);
  });
});

describe('stdin that is not UTF-8 → exit 2', () => {
  const BAD = Buffer.from([0xff, 0xfe, 0x0a]);

  it('init --password-stdin creates nothing', async () => {
    const home = makeHome();
    await refused(home, ['init', '--password-stdin'], 2, { input: BAD });
    const s = await runOk(['status', '--json'], { home });
    expect(JSON.parse(s.stdout).initialized).toBe(false);
  });

  it('unlock, get, list --password-stdin and add --password-stdin', async () => {
    const home = initHome();
    await addEntry(home, 'site', 'original-secret');
    const before = snapshot(home);
    await refused(home, ['unlock', '--password-stdin'], 2, { input: BAD });
    expect(agentPid(home)).toBeUndefined();
    await refused(home, ['get', 'site', '--password-stdin'], 2, { input: BAD });
    await refused(home, ['list', '--password-stdin'], 2, { input: BAD });
    await refused(home, ['add', 'x', '--password-stdin'], 2, { env: withMaster(), input: BAD });
    await refused(home, ['edit', 'site', '--password-stdin'], 2, { env: withMaster(), input: BAD });
    await refused(home, ['passwd', '--password-stdin'], 2, { input: Buffer.concat([Buffer.from(MASTER + '\n'), BAD]) });
    expect(snapshot(home)).toEqual(before);
    expect((await runOk(['get', 'site'], { home, env: withMaster() })).stdout).toBe('original-secret\n');
  });
});

describe('oversized values → exit 2, nothing saved', () => {
  let home: string;
  const TWO_MIB = 2 * 1024 * 1024;

  beforeAll(async () => {
    home = initHome();
    await addEntry(home, 'site', 'original-secret');
  });

  it('a 2 MiB notes field (--from-json -)', async () => {
    const before = snapshot(home);
    const r = await refused(home, ['add', 'big', '--generate', '--from-json', '-'], 2, { env: withMaster(), input: JSON.stringify({ notes: 'n'.repeat(TWO_MIB) }) });
    expect(r.stderr.length).toBeLessThan(500);
    expect(snapshot(home)).toEqual(before);
  });

  it('a 2 MiB custom field (--from-json - with "custom")', async () => {
    const before = snapshot(home);
    await refused(home, ['add', 'big-custom', '--generate', '--from-json', '-'], 2, { env: withMaster(), input: JSON.stringify({ custom: [{ name: 'blob', value: 'c'.repeat(TWO_MIB) }] }) });
    expect(snapshot(home)).toEqual(before);
    await refused(home, ['get', 'big-custom'], 3, { env: withMaster() });
  });

  it('a 2 MiB password (--password-stdin)', async () => {
    const before = snapshot(home);
    await refused(home, ['add', 'big-password', '--password-stdin'], 2, { env: withMaster(), input: 'p'.repeat(TWO_MIB) + '\n' });
    expect(snapshot(home)).toEqual(before);
    await refused(home, ['get', 'big-password'], 3, { env: withMaster() });
  });

  it('a 2 MiB password given to edit (--password-stdin)', async () => {
    const before = snapshot(home);
    await refused(home, ['edit', 'site', '--password-stdin'], 2, { env: withMaster(), input: 'p'.repeat(TWO_MIB) + '\n' });
    expect(snapshot(home)).toEqual(before);
    expect((await runOk(['get', 'site'], { home, env: withMaster() })).stdout).toBe('original-secret\n');
  });

  it('a value just under the 1 MiB limit is accepted and read back intact', async () => {
    const notes = 'ü'.repeat(400_000); // 800,000 bytes of UTF-8
    await runOk(['add', 'large', '--generate', '--from-json', '-'], { home, env: withMaster(), input: JSON.stringify({ notes }) });
    const r = await runOk(['get', 'large', '--field', 'notes'], { home, env: withMaster() });
    expect(r.stdout).toBe(notes + '\n');
  });
});

describe('init twice', () => {
  it('exits 2 and the original vault still opens with the original password', async () => {
    const home = initHome();
    await addEntry(home, 'site', 'original-secret');
    const before = snapshot(home);
    const r = await refused(home, ['init', '--password-stdin'], 2, { input: 'another master password\n' });
    expect(r.stderr).toMatch(/already exists/);
    await refused(home, ['init', '--password-stdin'], 2, { input: MASTER + '\n' });
    expect(snapshot(home)).toEqual(before);
    expect((await runOk(['get', 'site'], { home, env: withMaster() })).stdout).toBe('original-secret\n');
    await refused(home, ['get', 'site'], 5, { env: withMaster('another master password') });
  });
});

describe('a file where a folder should be → one clear line, never "unexpected error"', () => {
  it('kpm init with KPM_HOME naming a file, and kpm-server --data-dir naming a file', async () => {
    const dir = makeHome();
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await run(['init', '--password-stdin'], { env: { KPM_HOME: file }, input: MASTER + '\n' });
    const what = describeRun(['init'], r);
    expect(r.code, what).toBe(1);
    expect(lines(r.stderr).filter((l) => l.startsWith('kpm: ')), what).toEqual([`kpm: not a directory: ${join(file, 'data')} (a file is in the way of a folder)`]);
    expect(r.stderr, what).not.toMatch(/unexpected|ENOTDIR|\n\s+at /);
    expect(readFileSync(file, 'utf8')).toBe('x');
    const s = await runServerCli(['--data-dir', file, '--port', '0']);
    expect(s.code, s.stderr).toBe(1);
    expect(s.stderr).toBe(`kpm-server: already exists: ${file} (and is not what was expected: a file in the way of a folder?)\n`);
  });
});
