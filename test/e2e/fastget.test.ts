// #17: `kpm get` without an agent, with the master password given (--password-stdin or
// KPM_MASTER_PASSWORD), runs from its own small bundle (dist/fastget.cjs, src/cli/fastget.ts) and
// never loads the command-line program. It must print, fail and exit exactly as the full program
// does: each case runs through bin/kpm (the hot path) and through dist/kpm.mjs directly (the full
// program: main.ts), and the two outcomes must be equal.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, copyHome, describeRun, initHome, MASTER, ROOT, run, runOk, stopAgent, withMaster, type RunResult } from '../helpers/kpm.js';

const SNAP = dirname(dirname(BIN));
const FULL = join(SNAP, 'dist', 'kpm.mjs');

/** The full program: dist/kpm.mjs run directly, as bin/kpm does after its hot paths declined. */
function runFull(args: string[], opts: { home: string; env?: Record<string, string | undefined>; input?: string | Buffer }, entry = FULL): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, ['--', entry, ...args], { cwd: opts.home, env: cleanEnv(opts.home, opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.stdin.on('error', () => {});
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }));
    p.stdin.end(opts.input ?? '');
  });
}

let home: string;
let id: string;
const tmp: string[] = [];
afterAll(() => {
  for (const d of tmp) fs.rmSync(d, { recursive: true, force: true });
});

beforeAll(async () => {
  home = initHome();
  const env = withMaster();
  await runOk(['add', 'site', '--username', 'bob', '--url', 'https://site.example', '--field', 'PIN=1234', '--password-stdin'], { home, env, input: 'site-password-1\n' });
  await runOk(['add', 'note one', '--type', 'note', '--notes', 'line one'], { home, env });
  await runOk(['add', 'dup', '--password-stdin'], { home, env, input: 'dup-personal\n' });
  await runOk(['vault', 'create', 'Work'], { home, env });
  await runOk(['add', 'dup', '--vault', 'Work', '--password-stdin'], { home, env, input: 'dup-work\n' });
  await runOk(['add', 'deploy', '--vault', 'Work', '--password-stdin'], { home, env, input: 'deploy-pw\n' });
  await runOk(['add', 'otp', '--totp', 'otpauth://totp/x?secret=JBSWY3DPEHPK3PXP', '--no-password'], { home, env });
  id = JSON.parse((await runOk(['get', 'site', '--json'], { home, env })).stdout).id;
}, 120_000);

describe('#17: kpm get without an agent (the no-agent hot path)', () => {
  it('prints, fails and exits as the full program does, for --password-stdin and KPM_MASTER_PASSWORD', async () => {
    const cases: Array<[string[], { env?: Record<string, string>; input?: string | Buffer }]> = [];
    const both = (args: string[]) => {
      cases.push([[...args, '--password-stdin'], { input: MASTER + '\n' }]);
      cases.push([args, { env: withMaster() }]);
    };
    both(['get', 'site']);
    both(['get', 'site', '--field', 'username']);
    both(['get', 'site', '--field', 'pin']); // a custom field, any case
    both(['get', 'site', '--field', 'url', '--raw']);
    both(['get', '--field', 'notes', 'note one']); // options before the name; a note's primary field
    both(['get', 'note one']);
    both(['get', 'site', '--field', 'colour']); // exit 3: no such field
    both(['get', 'sit']); // exit 3: did you mean
    both(['get', 'dup']); // exit 2: two vaults have it
    both(['get', 'dup', '--vault', 'Work']);
    both(['get', 'deploy', '--vault', 'Personal']); // exit 3: not in that vault
    both(['get', 'site', '--vault', 'Nope']); // exit 3: no such vault
    both(['get', id.slice(0, 10)]); // an id prefix
    both(['get', 'SITE']); // names match case-insensitively
    cases.push([['get', 'site', '--password-stdin'], { input: 'not the master password\n' }]); // exit 5
    cases.push([['get', 'site'], { env: { KPM_MASTER_PASSWORD: 'not the master password' } }]); // exit 5
    cases.push([['get', 'site', '--password-stdin'], { input: 'x'.repeat(1100) + '\n' }]); // exit 2: over 1 KiB
    cases.push([['get', 'site', '--password-stdin'], { input: '' }]); // an empty password: exit 5
    cases.push([['get', 'site', '--password-stdin'], { input: Buffer.from([0xff, 0xfe, 0x0a]) }]); // exit 2: not UTF-8
    cases.push([['get', 'site', '--json'], { env: withMaster() }]); // other options: the full program answers both
    cases.push([['get', 'site', 'extra', '--password-stdin'], { input: MASTER + '\n' }]); // exit 2: commander's usage error
    cases.push([['get', 'site'], { env: { KPM_MASTER_PASSWORD: '' } }]); // exit 4: locked
    const outcome = (r: RunResult) => `exit ${r.code}\n${r.stdout}${r.stderr}`;
    const codes: number[] = [];
    for (const [args, o] of cases) {
      const hot = await run(args, { home, ...o });
      const full = await runFull(args, { home, ...o });
      expect(outcome(hot), `${describeRun(args, hot)}\nfull program:\n${describeRun(args, full)}`).toBe(outcome(full));
      codes.push(hot.code!);
    }
    // the cases are what they say (not all one answer)
    expect(codes).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 2, 2, 0, 0, 3, 3, 3, 3, 0, 0, 0, 0, 5, 5, 2, 5, 2, 0, 2, 4]);
    const out = async (args: string[]) => (await run(args, { home, env: withMaster() })).stdout;
    expect(await out(['get', 'site'])).toBe('site-password-1\n');
    expect(await out(['get', 'site', '--field', 'pin'])).toBe('1234\n');
    expect(await out(['get', 'site', '--field', 'url', '--raw'])).toBe('https://site.example');
    expect(await out(['get', 'dup', '--vault', 'Work'])).toBe('dup-work\n');
  }, 240_000);

  it('a TOTP code (its module is a file of its own, dist/fastget-totp.cjs): the one the full program prints just before or after', async () => {
    const args = ['get', 'otp', '--field', 'totp', '--password-stdin'];
    const o = { home, input: MASTER + '\n' };
    const before = await runFull(args, o);
    const hot = await run(args, o);
    const after = await runFull(args, o);
    expect(hot.code, describeRun(args, hot)).toBe(0);
    expect(hot.stdout).toMatch(/^\d{6}\n$/);
    expect([before.stdout, after.stdout]).toContain(hot.stdout);
    const none = await run(['get', 'site', '--field', 'totp', '--password-stdin'], o); // no secret: exit 3, as the full program
    expect(`${none.code} ${none.stderr}`).toBe(`${(await runFull(['get', 'site', '--field', 'totp', '--password-stdin'], o)).code} ${none.stderr}`);
    expect(none.code).toBe(3);
  });

  it('does not load the full program (it answers with dist/kpm.mjs and its chunks gone)', async () => {
    const dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-fastget-'));
    tmp.push(dir);
    fs.cpSync(join(SNAP, 'bin'), join(dir, 'bin'), { recursive: true });
    fs.cpSync(join(SNAP, 'dist'), join(dir, 'dist'), { recursive: true });
    fs.symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    fs.rmSync(join(dir, 'dist', 'kpm.mjs'));
    fs.rmSync(join(dir, 'dist', 'chunks'), { recursive: true });
    const h = copyHome(home);
    const r = await runFull(['get', 'site', '--password-stdin'], { home: h, input: MASTER + '\n' }, join(dir, 'bin', 'kpm'));
    expect(r.code, describeRun(['get'], r)).toBe(0);
    expect(r.stdout).toBe('site-password-1\n');
    const env = await runFull(['get', 'site', '--field', 'username'], { home: h, env: withMaster() }, join(dir, 'bin', 'kpm'));
    expect(env.stdout).toBe('bob\n');
    // anything else needs the full program (here: missing, so it fails)
    expect((await runFull(['get', 'site', '--json'], { home: h, env: withMaster() }, join(dir, 'bin', 'kpm'))).code).not.toBe(0);
  });

  it('a name it does not find while signed in goes to the full program with the same stdin (it asks the server for shared vaults)', async () => {
    // session.json makes a not-found answer the full program's to give (src/cli/shared.ts withDiscovery);
    // the hot path has read the master password from stdin by then and hands it over
    const h = copyHome(home);
    fs.writeFileSync(join(h, 'data', 'session.json'), JSON.stringify({ server: 'http://127.0.0.1:9', account: { id: 'x', email: 'a@example.com' } }), { mode: 0o600 });
    for (const args of [['get', 'nope', '--password-stdin'], ['get', 'site', '--password-stdin']]) {
      const hot = await run(args, { home: h, input: MASTER + '\n' });
      const full = await runFull(args, { home: h, input: MASTER + '\n' });
      expect(`${hot.code}\n${hot.stdout}${hot.stderr}`, describeRun(args, hot)).toBe(`${full.code}\n${full.stdout}${full.stderr}`);
      expect(hot.stderr).not.toMatch(/wrong master password|expected input/);
    }
    expect((await run(['get', 'site', '--password-stdin'], { home: h, input: MASTER + '\n' })).stdout).toBe('site-password-1\n');
    stopAgent(h);
  }, 120_000);
});
