// kpm read / run / inject / completion through the built binary: secret references with escaped
// names, every field kind (TOTP as the current code), files 0600 that are never overwritten
// without --force, environment for the child only, masking of its output, exit codes and signals,
// templates, and shell completion with and without an agent.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync, chmodSync, mkdirSync, lstatSync, lchownSync, symlinkSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, describeRun, initHome, leaks, MASTER, run, runOk, withMaster, type RunResult } from '../helpers/kpm.js';

const CONCEALED = '<concealed by kpm>';
const TOTP_SECRET = 'JBSWY3DPEHPK3PXP';
const GH_PW = 'gh-Secret-7c1f9a';
const ODD_PW = 'odd-Secret-42e8bd';
const DB_PW = 'db-Secret-9b3e21';
const API_KEY = 'key-Secret-5d0c77';
const CARD = '4242424242424242';
const SECRETS = [MASTER, GH_PW, ODD_PW, DB_PW, API_KEY, CARD];

function expectRun(args: string[], r: RunResult, code: number, secrets: string[] = [MASTER]): void {
  expect(r.code, describeRun(args, r)).toBe(code);
  expect(leaks(r, secrets), describeRun(args, r)).toEqual([]);
}

/** Every TOTP code valid within ±1 step of now (RFC 6238, computed independently). */
function totpWindow(): string[] {
  const key = Buffer.from([0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x21, 0xde, 0xad, 0xbe, 0xef]); // JBSWY3DPEHPK3PXP
  const step = Math.floor(Date.now() / 30_000);
  return [step - 1, step, step + 1].map((c) => {
    const msg = Buffer.alloc(8);
    msg.writeBigUInt64BE(BigInt(c));
    const mac = createHmac('sha1', key).update(msg).digest();
    const o = mac[mac.length - 1] & 0x0f;
    return String((mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
  });
}

let home: string;
let child: string; // a node script the tests run under `kpm run`
let ghId: string;

const CHILD_SCRIPT = `
import { writeFileSync } from 'node:fs';
const [mode, arg] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
if (mode === 'env') {
  const pick = { DB: process.env.DB, GH: process.env.GH, PLAIN: process.env.PLAIN, FROMFILE: process.env.FROMFILE,
    master: process.env.KPM_MASTER_PASSWORD ?? null, token: process.env.KPM_TOKEN ?? null, argv: process.argv.slice(2) };
  writeFileSync(arg, JSON.stringify(pick));
  console.log('DB=' + process.env.DB + ' GH=' + process.env.GH);
  console.error('stderr GH=' + process.env.GH);
} else if (mode === 'split') {
  // the pauses are the thing under test: the secret reaches kpm run's masking in separate chunks
  // (a write split across two reads of the pipe); no clock of kpm's is involved
  const s = process.env.GH;
  process.stdout.write('a:' + s.slice(0, 5));
  await sleep(150);
  process.stdout.write(s.slice(5) + ':b\\n');
  process.stderr.write('x' + s.slice(0, 1));
  await sleep(150);
  process.stderr.write(s.slice(1) + 'y\\n');
} else if (mode === 'exit') {
  process.exit(Number(arg));
} else if (mode === 'signal') {
  process.on('SIGTERM', () => { writeFileSync(arg, 'SIGTERM'); process.exit(42); });
  console.log('ready');
  setInterval(() => {}, 1000);
} else if (mode === 'hang') {
  console.log('ready');
  setInterval(() => {}, 1000);
}
`;

beforeAll(async () => {
  home = initHome();
  child = join(home, 'child.mjs');
  writeFileSync(child, CHILD_SCRIPT);
  // `kpm` on the PATH of the completion tests
  mkdirSync(join(home, 'bin'));
  writeFileSync(join(home, 'bin', 'kpm'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(join(home, 'bin', 'kpm'), 0o755);
  const env = withMaster();
  await runOk(['add', 'github', '--username', 'octocat', '--totp', TOTP_SECRET, '--field', `api key=${API_KEY}`, '--password-stdin', '--no-check'], { home, env, input: GH_PW + '\n' });
  await runOk(['add', 'a/b c%d', '--password-stdin', '--no-check'], { home, env, input: ODD_PW + '\n' });
  await runOk(['add', 'visa', '--type', 'card', '--from-json', '-'], { home, env, input: JSON.stringify({ number: CARD, code: '123', expiry: '12/29' }) });
  await runOk(['vault', 'create', 'Work Stuff'], { home, env });
  await runOk(['add', 'db', '--vault', 'Work Stuff', '--password-stdin', '--no-check'], { home, env, input: DB_PW + '\n' });
  ghId = JSON.parse((await runOk(['get', 'github', '--json'], { home, env })).stdout).id;
});

describe('without an agent', () => {
  it('read unlocks with KPM_MASTER_PASSWORD or --password-stdin, like get; otherwise exit 4', async () => {
    const args = ['read', 'kpm://Personal/github/password'];
    const a = await run(args, { home, env: withMaster() });
    expectRun(args, a, 0);
    expect(a.stdout).toBe(GH_PW + '\n');
    const b = await run([...args, '--password-stdin'], { home, input: MASTER + '\n' });
    expectRun(args, b, 0);
    expect(b.stdout).toBe(GH_PW + '\n');
    const c = await run(args, { home });
    expectRun(args, c, 4);
    expect(c.stderr).toMatch(/locked/);
    const d = await run(args, { home, env: withMaster('wrong password!') });
    expectRun(args, d, 5);
  });

  it('run and inject resolve every reference with one unlock (--password-stdin is read once)', async () => {
    const tpl = join(home, 'pw.tpl');
    writeFileSync(tpl, '{{ kpm://Personal/github/password }} {{ kpm://Work Stuff/db/password }} {{ kpm://visa/code }}\n');
    const args = ['inject', '-i', tpl, '--password-stdin'];
    const r = await run(args, { home, input: MASTER + '\n' });
    expectRun(args, r, 0);
    expect(r.stdout).toBe(`${GH_PW} ${DB_PW} 123\n`);
    const out = join(home, 'env-nagent.json');
    const rargs = ['run', '--password-stdin', '--', process.execPath, child, 'env', out];
    const rr = await run(rargs, { home, input: MASTER + '\n', env: { DB: 'kpm://Work Stuff/db/password', GH: 'kpm://github/password' } });
    expectRun(rargs, rr, 0, SECRETS);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ DB: DB_PW, GH: GH_PW });
    const i = await run(['inject'], { home, input: 'x {{kpm://github/username}}' });
    expectRun(['inject'], i, 4);
    expect(i.stdout).toBe('');
  });

  it('run without references needs no unlock and passes the exit code through', async () => {
    const args = ['run', '--', process.execPath, child, 'exit', '5'];
    const r = await run(args, { home, env: { PLAIN: 'not a reference' } });
    expectRun(args, r, 5);
    expect(r.stderr).toBe('');
  });

  it('run --env-file with a missing file, the launcher run as a program (its shebang): kpm\'s own error, not Node\'s', () => {
    // Node 20 takes `--env-file` anywhere in its argv as its own option and stopped with "node: F: not found" (exit 9)
    const missing = join(home, 'missing.env');
    const r = spawnSync(BIN, ['run', '--env-file', missing, '--', 'true'], { cwd: home, env: cleanEnv(home), encoding: 'utf8' });
    expect(r.stderr).toBe(`kpm: env file ${missing} does not exist\n`);
    expect(r.status).toBe(3);
  });

  it('kpm __complete entries prints nothing (never prompts, never unlocks)', async () => {
    for (const env of [{}, withMaster()]) {
      const r = await run(['__complete', 'entries', ''], { home, env });
      expectRun(['__complete'], r, 0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('');
    }
  });
});

describe('with the agent', () => {
  beforeAll(async () => {
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
  });

  const read = async (ref: string, extra: string[] = []) => {
    const args = ['read', ref, ...extra];
    const r = await run(args, { home });
    expectRun(args, r, 0);
    return r.stdout;
  };

  it('read prints each kind of field; totp is the current code; names, ids and the short form', async () => {
    expect(await read('kpm://Personal/github/password')).toBe(GH_PW + '\n');
    expect(await read('kpm://Personal/github/username')).toBe('octocat\n');
    expect(await read('kpm://Personal/GitHub/API KEY')).toBe(API_KEY + '\n');
    expect(totpWindow()).toContain((await read('kpm://Personal/github/totp')).trim());
    expect(await read('kpm://Personal/visa/number')).toBe(CARD + '\n');
    expect(await read('kpm://visa/code')).toBe('123\n');
    expect(await read('kpm://visa/expiry')).toBe('12/29\n');
    expect(await read(`kpm://Personal/${ghId.slice(0, 8)}/username`)).toBe('octocat\n');
    expect(await read('kpm://github/username')).toBe('octocat\n');
  });

  it('read: escaped names (slash, space, percent), vault names with spaces', async () => {
    expect(await read('kpm://Personal/a%2Fb c%25d/password')).toBe(ODD_PW + '\n');
    expect(await read('kpm://Personal/a%2fb%20c%25d/password')).toBe(ODD_PW + '\n');
    expect(await read('kpm://a%2Fb%20c%25d/password')).toBe(ODD_PW + '\n');
    expect(await read('kpm://Work Stuff/db/password')).toBe(DB_PW + '\n');
    expect(await read('kpm://Work%20Stuff/db/password')).toBe(DB_PW + '\n');
  });

  it('read: --no-newline, and errors with their exit codes', async () => {
    expect(await read('kpm://github/password', ['--no-newline'])).toBe(GH_PW);
    expect(await read('kpm://github/password', ['-n'])).toBe(GH_PW);
    expect(await read('kpm://github/password', ['--raw'])).toBe(GH_PW);
    const cases: Array<[string, number, RegExp]> = [
      ['kpm://Personal/a/b c%d/password', 2, /invalid secret reference .* at character 23: too many "\/"/],
      ['kpm://Personal/github%zz/password', 2, /at character 22: "%" must start an escape/],
      ['kpm://github', 2, /expected ITEM\/FIELD/],
      ['https://example.com/x', 2, /starts with kpm:\/\//],
      ['kpm://Personal/nothing/password', 3, /kpm:\/\/Personal\/nothing\/password: no entry/],
      ['kpm://Nowhere/github/password', 3, /no vault named "Nowhere"/],
      ['kpm://github/pin', 3, /has no field "pin"/],
    ];
    for (const [ref, code, msg] of cases) {
      const r = await run(['read', ref], { home });
      expectRun(['read', ref], r, code, SECRETS);
      expect(r.stderr).toMatch(msg);
      expect(r.stdout).toBe('');
    }
  });

  it('read --out-file writes the value alone, mode 0600, and never overwrites without --force', async () => {
    const f = join(home, 'out', 'secret.txt');
    mkdirSync(join(home, 'out'), { recursive: true });
    expect(await read('kpm://github/password', ['--out-file', f])).toBe('');
    expect(readFileSync(f, 'utf8')).toBe(GH_PW);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const args = ['read', 'kpm://visa/code', '--out-file', f];
    const r = await run(args, { home });
    expectRun(args, r, 2, SECRETS);
    expect(r.stderr).toMatch(/exists already[\s\S]*--force/);
    expect(readFileSync(f, 'utf8')).toBe(GH_PW);
    await read('kpm://visa/code', ['--out-file', f, '--force']);
    expect(readFileSync(f, 'utf8')).toBe('123');
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it('get --raw and totp --raw print no newline', async () => {
    const r = await run(['get', 'github', '--raw'], { home });
    expectRun(['get'], r, 0);
    expect(r.stdout).toBe(GH_PW);
    const t = await run(['totp', 'github', '--raw'], { home });
    expect(totpWindow()).toContain(t.stdout);
  });

  it('run: references are resolved for the child only; its output is masked; KPM_MASTER_PASSWORD is not passed on', async () => {
    const out = join(home, 'env.json');
    const envFile = join(home, '.env');
    writeFileSync(envFile, '# a comment\nexport FROMFILE="kpm://Personal/a%2Fb c%25d/password"\nPLAIN=hello # not secret\n');
    const args = ['run', '--env-file', envFile, '--', process.execPath, child, 'env', out];
    // (KPM_TOKEN switches kpm to a service token: that it is not passed on either is in tokens.test.ts)
    const r = await run(args, { home, env: { DB: 'kpm://Work Stuff/db/password', GH: 'kpm://github/password', KPM_MASTER_PASSWORD: MASTER } });
    expectRun(args, r, 0, SECRETS);
    expect(r.stdout).toBe(`DB=${CONCEALED} GH=${CONCEALED}\n`);
    expect(r.stderr).toBe(`stderr GH=${CONCEALED}\n`);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ DB: DB_PW, GH: GH_PW, PLAIN: 'hello', FROMFILE: ODD_PW, master: null, token: null, argv: ['env', out] });
  });

  it('run: a secret split across writes is still concealed on stdout and stderr; --no-masking passes it through', async () => {
    const args = ['run', '--', process.execPath, child, 'split'];
    const r = await run(args, { home, env: { GH: 'kpm://github/password' } });
    expectRun(args, r, 0, SECRETS);
    expect(r.stdout).toBe(`a:${CONCEALED}:b\n`);
    expect(r.stderr).toBe(`x${CONCEALED}y\n`);
    const n = await run(['run', '--no-masking', '--', process.execPath, child, 'split'], { home, env: { GH: 'kpm://github/password' } });
    expect(n.code).toBe(0);
    expect(n.stdout).toBe(`a:${GH_PW}:b\n`);
    expect(n.stderr).toBe(`x${GH_PW}y\n`);
  });

  it('run: exit codes pass through; a missing command exits 127; bad references and env files exit 2 before running', async () => {
    for (const code of [0, 3, 42]) {
      const r = await run(['run', '--', process.execPath, child, 'exit', String(code)], { home, env: { GH: 'kpm://github/password' } });
      expect(r.code, describeRun(['run'], r)).toBe(code);
    }
    const nf = await run(['run', '--', 'no-such-command-kpm-test'], { home, env: { GH: 'kpm://github/password' } });
    expectRun(['run'], nf, 127, SECRETS);
    expect(nf.stderr).toBe('kpm: command not found: no-such-command-kpm-test\n');
    const marker = join(home, 'ran');
    const bad = await run(['run', '--', 'touch', marker], { home, env: { GH: 'kpm://github%/password' } });
    expectRun(['run'], bad, 2, SECRETS);
    expect(bad.stderr).toMatch(/^kpm: GH: invalid secret reference/);
    const missing = await run(['run', '--', 'touch', marker], { home, env: { GH: 'kpm://github/nope' } });
    expectRun(['run'], missing, 3, SECRETS);
    const envFile = join(home, 'bad.env');
    writeFileSync(envFile, 'A=1\nthis is not a line\n');
    const ef = await run(['run', '--env-file', envFile, '--', 'touch', marker], { home });
    expectRun(['run'], ef, 2);
    expect(ef.stderr).toContain('bad.env:2: expected KEY=VALUE');
    expect(existsSync(marker)).toBe(false);
  });

  it('run forwards SIGTERM to the child; a child killed by a signal gives 128+N', async () => {
    const spawnRun = (mode: string, arg: string) => {
      const p = spawn(process.execPath, [BIN, 'run', '--', process.execPath, child, mode, arg], { cwd: home, env: cleanEnv(home, { GH: 'kpm://github/password' }), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const ready = new Promise<void>((res) => p.stdout.on('data', (c: Buffer) => { out += c; if (out.includes('ready')) res(); }));
      const exited = new Promise<number | null>((res) => p.on('close', (code) => res(code)));
      return { p, ready, exited };
    };
    const marker = join(home, 'sigterm');
    const a = spawnRun('signal', marker);
    await a.ready;
    a.p.kill('SIGTERM');
    expect(await a.exited).toBe(42);
    expect(readFileSync(marker, 'utf8')).toBe('SIGTERM');
    const b = spawnRun('hang', '');
    await b.ready;
    b.p.kill('SIGTERM');
    expect(await b.exited).toBe(128 + 15);
  });

  it('inject fills a template into a 0600 file; a missing reference writes nothing (exit 3); no overwrite without --force', async () => {
    const tpl = join(home, 'app.tpl');
    writeFileSync(tpl, 'user: {{kpm://Personal/github/username}}\npass: "{{  kpm://github/password }}"\ndb: {{ kpm://Work Stuff/db/password }}\nkeep: {{ .Values.x }}\n');
    const out = join(home, 'app.yml');
    const args = ['inject', '-i', tpl, '-o', out];
    expectRun(args, await run(args, { home }), 0, SECRETS);
    expect(readFileSync(out, 'utf8')).toBe(`user: octocat\npass: "${GH_PW}"\ndb: ${DB_PW}\nkeep: {{ .Values.x }}\n`);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const again = await run(args, { home });
    expectRun(args, again, 2, SECRETS);
    expect(again.stderr).toMatch(/exists already/);
    writeFileSync(tpl, 'a: {{ kpm://github/password }}\nb: {{ kpm://Personal/gone/password }}\n');
    const out2 = join(home, 'app2.yml');
    const miss = await run(['inject', '-i', tpl, '-o', out2], { home });
    expectRun(['inject'], miss, 3, SECRETS);
    expect(miss.stderr).toContain('kpm://Personal/gone/password');
    expect(existsSync(out2)).toBe(false);
    const stdoutMiss = await run(['inject', '-i', tpl], { home });
    expectRun(['inject'], stdoutMiss, 3, SECRETS);
    expect(stdoutMiss.stdout).toBe('');
    writeFileSync(tpl, 'v={{ kpm://visa/code }}');
    expectRun(args, await run([...args, '--force'], { home }), 0, SECRETS);
    expect(readFileSync(out, 'utf8')).toBe('v=123');
    const piped = await run(['inject'], { home, input: 'pw={{kpm://github/password}}\n' });
    expect(piped.stdout).toBe(`pw=${GH_PW}\n`);
  });

  it('kpm __complete entries lists entry names from the agent', async () => {
    const r = await run(['__complete', 'entries', 'G'], { home });
    expectRun(['__complete'], r, 0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['github']);
    const all = await run(['__complete', 'entries'], { home });
    expect(all.stdout.split('\n').filter(Boolean).sort()).toEqual(['a/b c%d', 'db', 'github', 'visa']);
  });

  it('bash completion: commands, subcommands, options, entry names, commands after run --', async () => {
    const script = (await runOk(['completion', 'bash'], { home })).stdout;
    const dir = join(home, 'bin');
    writeFileSync(join(home, 'c.bash'), script);
    const sim = `source ${JSON.stringify(join(home, 'c.bash'))}
complete -p kpm
comp() { COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _kpm; local IFS=$'\\t'; echo "$*|\${COMPREPLY[*]}"; }
comp kpm re
comp kpm vault r
comp kpm get --j
comp kpm get gi
comp kpm get a/
comp kpm show --vault Personal v
comp kpm run -- no-such-comm
comp kpm completion z
`;
    const r = spawnSync('bash', ['--norc', '-c', sim], { env: cleanEnv(home, { PATH: `${dir}:${process.env.PATH}` }), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('complete -o bashdefault -o default -F _kpm kpm');
    const got = new Map(lines.slice(1).filter(Boolean).map((l) => {
      const [words, reply] = l.split('|');
      return [words.split('\t').join(' '), reply.split('\t').filter(Boolean).sort()] as const;
    }));
    // other commands starting with "re" may come; these must be there
    expect(got.get('kpm re')).toEqual(expect.arrayContaining(['read', 'register', 'remove', 'reset']));
    expect(got.get('kpm re')!.every((w) => w.startsWith('re'))).toBe(true);
    expect(Object.fromEntries([...got].slice(1))).toEqual({
      'kpm vault r': ['rename', 'rm', 'rotate-key'],
      'kpm get --j': ['--json'],
      'kpm get gi': ['github'],
      'kpm get a/': ['a/b\\ c%d'],
      'kpm show --vault Personal v': ['visa'],
      'kpm run -- no-such-comm': [],
      'kpm completion z': [],
    });
  });

  it('zsh and fish scripts parse (and fish completes) where those shells are installed', async () => {
    const zsh = spawnSync('sh', ['-c', 'command -v zsh'], { encoding: 'utf8' }).stdout.trim();
    const fish = spawnSync('sh', ['-c', 'command -v fish'], { encoding: 'utf8' }).stdout.trim();
    if (zsh) {
      writeFileSync(join(home, '_kpm'), (await runOk(['completion', 'zsh'], { home })).stdout);
      const z = spawnSync(zsh, ['-n', join(home, '_kpm')], { encoding: 'utf8' });
      expect(z.status, z.stderr).toBe(0);
      // the completion function itself, with zsh's completion builtins replaced by printers
      const stubs = `_describe() { local -a a; a=("\${(@P)4}"); print -r -- "$2: \${(j:|:)a}"; }
compadd() { local -a a; a=("\${(@P)2}"); print -r -- "names: \${(j:|:)a}"; }
_files() { print files; }
_command_names() { print commands; }
compdef() { :; }
source ${JSON.stringify(join(home, '_kpm'))}
t() { words=("$@"); CURRENT=\${#words}; PREFIX="\${words[CURRENT]}"; _kpm; }
t kpm vault ''
t kpm get --vault Personal ''
t kpm run -- x
t kpm doc get --output ''`;
      const f = spawnSync(zsh, ['-f', '-c', stubs], { env: cleanEnv(home, { PATH: `${join(home, 'bin')}:${process.env.PATH}` }), encoding: 'utf8' });
      expect(f.status, f.stderr).toBe(0);
      const zl = f.stdout.split('\n');
      expect(zl[0]).toMatch(/^commands: list:list vaults.*\|rename:rename a vault$/);
      expect(zl[1]).toMatch(/^names: /);
      expect(zl[1].slice('names: '.length).split('|').sort()).toEqual(['a/b c%d', 'db', 'github', 'visa']);
      expect(zl.slice(2)).toEqual(['commands', 'files', '']);
    }
    if (fish) {
      writeFileSync(join(home, 'kpm.fish'), (await runOk(['completion', 'fish'], { home })).stdout);
      const dir = join(home, 'bin');
      const f = spawnSync(fish, ['--no-config', '-c', `source ${join(home, 'kpm.fish')}; complete -C 'kpm vault ren'; complete -C 'kpm get gi'`], {
        env: cleanEnv(home, { PATH: `${dir}:${process.env.PATH}` }), encoding: 'utf8',
      });
      expect(f.status, f.stderr).toBe(0);
      expect(f.stdout).toBe('rename\trename a vault\ngithub\n');
    }
    const bad = await run(['completion', 'tcsh'], { home });
    expectRun(['completion'], bad, 2);
  });

  it('S11: no secret-bearing KPM_ variable reaches the command of `kpm run` (KPM_EXPORT_PASSWORD and the others), not even from an env file', async () => {
    const out = join(home, 's11-env.json');
    const envFile = join(home, 's11.env');
    writeFileSync(envFile, 'KPM_VAULT_PASSWORD=from-env-file\nKPM_EXPORT_PASSWORD=from-env-file-2\nOTHER=kept\n');
    const script = `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('KPM_') || k === 'OTHER' || k === 'GH'))))`;
    const secrets = {
      KPM_EXPORT_PASSWORD: 'export-Secret-1',
      KPM_SETTINGS_PASSWORD: 'settings-Secret-2',
      KPM_VAULT_PASSWORD_WORK: 'vault-Secret-3',
      KPM_OIDC_CORP_SECRET: 'oidc-Secret-4',
      KPM_SERVER_KEY: 'server-Secret-5',
      KPM_SMTP_URL: 'smtp://u:smtp-Secret-6@mail',
      KPM_SERVER_DATABASE: 'postgres://u:db-Secret-7@h/db',
      KPM_SMS_HTTP_AUTH: 'Bearer sms-Secret-8',
    };
    const args = ['run', '--env-file', envFile, '--', process.execPath, '-e', script];
    const r = await run(args, { home, env: { ...secrets, GH: 'kpm://github/password', KPM_AUDIT_WORKERS: '1' } });
    expectRun(args, r, 0);
    const seen = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    expect(Object.keys(seen).sort()).toEqual(['GH', 'KPM_AUDIT_WORKERS', 'KPM_HOME', 'OTHER']);
    expect(seen.GH).toBe(GH_PW);
  });

  it('S6: `kpm read -o` and `kpm inject -o` in a shared folder never write through a name another user prepared', async () => {
    // Another user, who can write to the folder, prepares every FILE.<pid>.tmp the old code could
    // have used (all pids, or those about to be handed out), as symlinks to a file of hers.
    const shared = join(home, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const trap = join(home, 'attacker-file');
    writeFileSync(trap, '');
    chmodSync(trap, 0o666);
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
    const [from, to] = pidMax <= 65_536 ? [1, pidMax] : [last, last + 20_000];
    const root = process.getuid?.() === 0;
    for (const name of ['out.txt', 'config.yml']) {
      for (let pid = from; pid <= to; pid++) {
        const p = join(shared, `${name}.${pid}.tmp`);
        symlinkSync(trap, p);
        if (root) lchownSync(p, 65534, 65534);
      }
    }
    try {
      const rd = await run(['read', 'kpm://github/password', '-o', join(shared, 'out.txt')], { home });
      expectRun(['read', '-o'], rd, 0);
      const tpl = join(home, 's6.tpl');
      writeFileSync(tpl, 'password: {{ kpm://github/password }}\n');
      const inj = await run(['inject', '-i', tpl, '-o', join(shared, 'config.yml')], { home });
      expectRun(['inject', '-o'], inj, 0);
      expect(readFileSync(trap, 'utf8')).toBe(''); // she got nothing
      for (const [name, content] of [['out.txt', GH_PW], ['config.yml', `password: ${GH_PW}\n`]]) {
        const st = lstatSync(join(shared, name));
        expect([st.isFile(), st.uid, st.mode & 0o777], name).toEqual([true, process.getuid!(), 0o600]);
        expect(readFileSync(join(shared, name), 'utf8')).toBe(content);
      }
      // and nothing of kpm's is left behind
      expect(readdirSync(shared).filter((n) => n.endsWith('.kpm-tmp'))).toEqual([]);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  }, 120_000);
});
