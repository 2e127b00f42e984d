// The first hour of a new user (issue 22) and finding S14 of the security review, end to end
// through the built binary: the master-password strength check, Ctrl-C at a prompt, asking again
// after a wrong answer, the entry password asked twice, an empty password on stdin, secret custom
// fields, colour per stream, restore keeping the name, unlock --timeout while unlocked.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  kpmWith, addEntry, initHome, describeTty, initVault, makeHome, MASTER, runOk, runTty, stopAgent, withMaster,
} from '../helpers/kpm.js';
import { startServer } from '../helpers/server.js';

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/;
const keyring = (home: string) => join(home, 'data', 'keyring.kpm');

/** `kpm(home, args, code, {env, input})`: exit `code`, no stack trace in the output. */
const kpm = kpmWith({ secrets: [] });

describe('S14: the master password gets the strength check kpm has for entry passwords', () => {
  it('S14: `kpm init` refuses a weak master password off a terminal (exit 2, saying why), unless --allow-weak-password', async () => {
    const home = makeHome();
    const r = await kpm(home, ['init', '--password-stdin'], 2, { input: 'password\n' });
    expect(r.stderr).toMatch(/the master password is too weak \(strength 0\/4/);
    expect(r.stderr).toMatch(/--allow-weak-password/);
    expect(r.stderr.split('\n').filter(Boolean).length).toBeLessThanOrEqual(2); // one line and a hint
    expect(fs.existsSync(keyring(home))).toBe(false);
    const ok = await kpm(home, ['init', '--password-stdin', '--allow-weak-password'], 0, { input: 'password\n' });
    expect(ok.stderr).toMatch(/too weak.*accepted because of --allow-weak-password/);
    expect(fs.existsSync(keyring(home))).toBe(true);
    // the tests' usual master password passes the bar
    await initVault(makeHome());
  });

  it('S14: at a terminal the weakness is shown before the confirmation is asked; n asks for another, y accepts it', async () => {
    const home = makeHome();
    const args = ['init'];
    const r = await runTty(args, [
      { expect: 'Choose a master password', send: 'password\r' },
      { expect: 'too weak' },
      { expect: 'Use this weak password anyway\\?', send: 'n\r' },
      { expect: 'Choose a master password', send: 'hunter22\r' },
      { expect: 'Use this weak password anyway\\?', send: 'y\r' },
      { expect: 'Repeat the master password', send: 'hunter22\r' },
      { expect: 'Created a vault' },
    ], { home });
    expect(r.code, describeTty(args, r)).toBe(0);
    // the warning came before any confirmation prompt
    expect(r.transcript.indexOf('too weak')).toBeLessThan(r.transcript.indexOf('Repeat the master password'));
    expect(r.transcript).toMatch(/Nobody can recover it/);
    await runOk(['list'], { home, env: withMaster('hunter22') });
  });

  it('S14: `kpm passwd` and data-vault passwords get the same check; a password over 1 KiB is refused before the key derivation', async () => {
    const home = initHome();
    const weak = await kpm(home, ['passwd', '--password-stdin'], 2, { input: `${MASTER}\npassword1\n` });
    expect(weak.stderr).toMatch(/the new master password is too weak/);
    await runOk(['list'], { home, env: withMaster() }); // unchanged
    await kpm(home, ['passwd', '--password-stdin', '--allow-weak-password'], 0, { input: `${MASTER}\npassword1\n` });
    await kpm(home, ['passwd', '--password-stdin'], 0, { input: `password1\n${MASTER}\n` });
    const v = await kpm(home, ['vault', 'create', 'Private', '--vault-password-stdin'], 2, { env: withMaster(), input: 'private1\n' });
    expect(v.stderr).toMatch(/the password of vault "Private" is too weak/);
    await kpm(home, ['vault', 'create', 'Private', '--vault-password-stdin', '--allow-weak-password'], 0, { env: withMaster(), input: 'private1\n' });
    const vp = await kpm(home, ['vault', 'passwd', 'Private', '--vault-password-stdin'], 2, { env: withMaster(), input: 'private1\nprivate2\n' });
    expect(vp.stderr).toMatch(/too weak/);
    const huge = 'x'.repeat(1025);
    const big = await kpm(makeHome(), ['init', '--password-stdin'], 2, { input: huge + '\n' });
    expect(big.stderr).toMatch(/longer than 1 KiB/);
    // unlocking with one is refused as too large (exit 2), not tried against the vault (which would be exit 5)
    const unlock = await kpm(home, ['list'], 2, { env: withMaster(huge) });
    expect(unlock.stderr).toMatch(/longer than 1 KiB/);
    const newBig = await kpm(home, ['passwd', '--password-stdin'], 2, { input: `${MASTER}\n${'correct horse '.repeat(80)}\n` });
    expect(newBig.stderr).toMatch(/longer than 1 KiB/);
  });
});

describe('at a prompt', () => {
  let home: string;
  beforeAll(async () => {
    home = initHome();
    await addEntry(home, 'existing', 'existing-secret');
  });

  it('Ctrl-C ends the command quietly with exit 130 (no "unexpected error")', async () => {
    for (const [args, prompt, env] of [[['add', 'typed'], 'Password for typed', withMaster()], [['get', 'existing'], 'Master password', {}]] as const) {
      const r = await runTty([...args], [{ expect: prompt, send: '\x03' }], { home, env });
      expect(r.code, describeTty([...args], r)).toBe(130);
      expect(r.transcript).not.toMatch(/unexpected error|force closed/);
    }
    await kpm(home, ['get', 'typed'], 3, { env: withMaster() }); // nothing saved
  });

  it('a wrong master password is asked again; the right one on the second try works', async () => {
    const args = ['get', 'existing'];
    const r = await runTty(args, [
      { expect: 'Master password', send: 'not the password\r' },
      { expect: 'try again' },
      { expect: 'Master password', send: MASTER + '\r' },
      { expect: 'Keep kpm unlocked', send: 'n\r' },
      { expect: 'existing-secret' },
    ], { home });
    expect(r.code, describeTty(args, r)).toBe(0);
  });

  it('a wrong data-vault password is asked again too', async () => {
    await kpm(home, ['vault', 'create', 'Private', '--vault-password-stdin'], 0, { env: withMaster(), input: 'Own-Vault-Password-55b1\n' });
    const args = ['vault', 'unlock', 'Private'];
    const r = await runTty(args, [
      { expect: 'Password of vault "Private"', send: 'not it at all\r' },
      { expect: 'try again \\(2 tries left\\)' },
      { expect: 'Password of vault "Private"', send: 'Own-Vault-Password-55b1\r' },
      { expect: 'Vault "Private" opened' },
    ], { home, env: withMaster() });
    expect(r.code, describeTty(args, r)).toBe(0);
  });

  it('interactive `kpm add` asks the entry password twice; a typo is caught and asked again', async () => {
    const args = ['add', 'twice'];
    const r = await runTty(args, [
      { expect: 'Password for twice', send: 'Twice-Secret-1\r' },
      { expect: 'Repeat the password for twice', send: 'Twice-Secret-l\r' },
      { expect: 'do not match' },
      { expect: 'Password for twice', send: 'Twice-Secret-1\r' },
      { expect: 'Repeat the password for twice', send: 'Twice-Secret-1\r' },
      { expect: 'Added' },
    ], { home, env: withMaster() });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect((await runOk(['get', 'twice'], { home, env: withMaster() })).stdout).toBe('Twice-Secret-1\n');
  });

  it('a secret custom field can be typed at a hidden prompt (asked twice), and `kpm show` masks it', async () => {
    const args = ['add', 'mail', '--secret-field', 'api key', '--no-password'];
    const r = await runTty(args, [
      { expect: 'Value of secret field "api key"', send: 'sk_live_typed\r' },
      { expect: 'Repeat the value', send: 'sk_live_typed\r' },
      { expect: 'Added' },
    ], { home, env: withMaster() });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.transcript).not.toContain('sk_live_typed');
    const show = await runOk(['show', 'mail'], { home, env: withMaster() });
    expect(show.stdout).toMatch(/api key: •+/);
    expect(show.stdout).not.toContain('sk_live_typed');
  });
});

describe('entries', () => {
  let home: string;
  beforeAll(async () => {
    home = initHome();
  });
  /** A home of its own, unlocked (one key derivation): the test's commands go through its agent (stopped when the test ends). */
  const unlockedHome = async (): Promise<string> => {
    const h = initHome();
    onTestFinished(() => stopAgent(h));
    await runOk(['unlock', '--password-stdin'], { home: h, input: MASTER + '\n' });
    return h;
  };

  it('an empty password on --password-stdin (an unset $PW) is refused unless --no-password; nothing is saved', async () => {
    const r = await kpm(home, ['add', 'db', '--password-stdin'], 2, { env: withMaster(), input: '\n' });
    expect(r.stderr).toMatch(/on stdin is empty; nothing saved/);
    await kpm(home, ['add', 'db', '--password-stdin'], 2, { env: withMaster(), input: '' });
    await kpm(home, ['get', 'db'], 3, { env: withMaster() });
    await kpm(home, ['add', 'db', '--password-stdin', '--no-password'], 0, { env: withMaster(), input: '' });
    expect(JSON.parse((await kpm(home, ['get', 'db', '--json'], 0, { env: withMaster() })).stdout).fields.password).toBeUndefined();
    await addEntry(home, 'db2', 'Db2-Secret-9');
    await kpm(home, ['edit', 'db2', '--password-stdin'], 2, { env: withMaster(), input: '\n' });
    expect((await kpm(home, ['get', 'db2'], 0, { env: withMaster() })).stdout).toBe('Db2-Secret-9\n');
  });

  it('custom fields can be secret: --secret-field from stdin, masked by show without --reveal, never on argv, kept through kpm-json and Bitwarden export and import', async () => {
    // not about unlocking: its own home, unlocked once, its commands through the agent (no master
    // password given); export asks for it even when unlocked
    const home = await unlockedHome();
    const env = withMaster(); // for export (and the other homes' import and show)
    await kpm(home, ['add', 'mail', '--password-stdin'], 0, { input: 'Mail-Secret-3\n' });
    await kpm(home, ['edit', 'mail', '--field', 'note field=plain value'], 0);
    await kpm(home, ['edit', 'mail', '--secret-field', 'api key'], 0, { input: 'sk_live_123\n' });
    const show = (await kpm(home, ['show', 'mail'], 0)).stdout;
    expect(show).toMatch(/api key: ••••••••/);
    expect(show).not.toContain('sk_live_123');
    expect(show).toContain('note field: plain value');
    expect((await kpm(home, ['show', 'mail', '--reveal'], 0)).stdout).toContain('api key: sk_live_123');
    expect((await kpm(home, ['get', 'mail', '--field', 'api key'], 0)).stdout).toBe('sk_live_123\n');
    const j = JSON.parse((await kpm(home, ['get', 'mail', '--json'], 0)).stdout);
    expect(j.custom).toEqual([{ name: 'note field', value: 'plain value' }, { name: 'api key', value: 'sk_live_123', kind: 'hidden' }]);
    // a secret field's value never goes on argv; --hide-field makes an existing one secret
    const argv = await kpm(home, ['edit', 'mail', '--field', 'api key=sk_live_456'], 2);
    expect(argv.stderr).toMatch(/secret field: its value never goes on the command line/);
    await kpm(home, ['edit', 'mail', '--hide-field', 'note field'], 0);
    expect((await kpm(home, ['show', 'mail'], 0)).stdout).not.toContain('plain value');
    // off a terminal: one secret field, and not together with --password-stdin
    await kpm(home, ['edit', 'mail', '--secret-field', 'a', '--secret-field', 'b'], 2, { input: 'x\n' });
    await kpm(home, ['edit', 'mail', '--secret-field', 'a', '--password-stdin'], 2, { input: 'x\n' });
    await kpm(home, ['edit', 'mail', '--secret-field', 'a'], 2, { input: '\n' }); // empty
    // export and import keep the flag
    for (const format of ['kpm-json', 'bitwarden-json']) {
      const out = join(home, `export-${format}.json`);
      await kpm(home, ['export', '--format', format, '-o', out], 0, { env });
      const doc = JSON.parse(fs.readFileSync(out, 'utf8'));
      if (format === 'kpm-json') {
        expect(doc.entries.find((e: { name: string }) => e.name === 'mail').custom).toContainEqual({ name: 'api key', value: 'sk_live_123', kind: 'hidden' });
      } else {
        const item = doc.items.find((i: { name: string }) => i.name === 'mail');
        expect(item.fields).toContainEqual({ name: 'api key', value: 'sk_live_123', type: 1, linkedId: null });
        expect(item.fields).toContainEqual({ name: 'note field', value: 'plain value', type: 1, linkedId: null });
      }
      const other = initHome();
      await kpm(other, ['import', out, '--format', format], 0, { env });
      const back = (await kpm(other, ['show', 'mail'], 0, { env })).stdout;
      expect(back).toMatch(/api key: ••••••••/);
      expect(back).not.toContain('sk_live_123');
    }
  });

  it('`kpm restore NAME --rev N` keeps the current name (the entry stays findable); --old-name brings the old one back', async () => {
    const env = withMaster();
    await addEntry(home, 'shop', 'Shop-Secret-1');
    await kpm(home, ['edit', 'shop', '--name', 'shop-renamed', '--password-stdin'], 0, { env, input: 'Shop-Secret-2\n' });
    const r = await kpm(home, ['restore', 'shop-renamed', '--rev', '1'], 0, { env });
    expect(r.stderr).toMatch(/Restored "shop-renamed"/);
    expect((await kpm(home, ['get', 'shop-renamed'], 0, { env })).stdout).toBe('Shop-Secret-1\n');
    await kpm(home, ['get', 'shop'], 3, { env });
    await kpm(home, ['restore', 'shop-renamed', '--rev', '1', '--old-name'], 0, { env });
    expect((await kpm(home, ['get', 'shop'], 0, { env })).stdout).toBe('Shop-Secret-1\n');
    await kpm(home, ['restore', 'shop', '--old-name'], 2, { env });
  });

  it('colour is decided per stream: `kpm show NAME | cat` at a terminal has no escape codes on stdout', async () => {
    await addEntry(home, 'visa', 'Visa-Secret-4', ['--username', 'someone']);
    const args = ['show', 'visa'];
    const r = await runTty(args, [], { home, env: { ...withMaster(), NO_COLOR: undefined }, stdoutToFile: true });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.stdout).toMatch(/^visa {2}\(login, Personal, /);
    expect(r.stdout).not.toMatch(SGR);
    // and on a terminal stdout it is coloured
    const t = await runTty(args, [{ expect: 'updated' }], { home, env: { ...withMaster(), NO_COLOR: undefined } });
    expect(t.raw).toMatch(SGR);
  });
});

describe('kpm unlock', () => {
  it('--timeout N while unlocked changes the timeout (and "1 idle minute" is singular)', async () => {
    const home = initHome();
    try {
      const u = await kpm(home, ['unlock', '--password-stdin', '--timeout', '1'], 0, { input: MASTER + '\n' });
      expect(u.stderr).toMatch(/after 1 idle minute\./);
      expect(JSON.parse((await kpm(home, ['status', '--json'], 0)).stdout).autolockSeconds).toBe(60);
      expect((await kpm(home, ['agent', 'status'], 0)).stdout).toMatch(/locks after 1 idle minute$/m);
      const again = await kpm(home, ['unlock', '--timeout', '9'], 0);
      expect(again.stderr).toMatch(/already unlocked; it now locks itself after 9 idle minutes/);
      expect(JSON.parse((await kpm(home, ['status', '--json'], 0)).stdout).autolockSeconds).toBe(540);
      expect((await kpm(home, ['unlock'], 0)).stderr).toMatch(/already unlocked\.$/m);
      expect(JSON.parse((await kpm(home, ['status', '--json'], 0)).stdout).autolockSeconds).toBe(540);
    } finally {
      stopAgent(home);
    }
  });
});

describe('kpm register on a terminal', () => {
  it('an invalid email address is asked again instead of ending the command; Ctrl-C at the next prompt exits 130 quietly', async () => {
    const srv = await startServer({ args: ['--log-level', 'warn'] });
    const home = makeHome();
    const r = await runTty(['register'], [
      { expect: 'Email address', send: 'not-an-address\r' },
      { expect: 'not a valid email address; try again \\(2 tries left\\)' },
      { expect: 'Email address', send: 'first-hour@example.org\r' },
      { expect: 'Account password', send: '\x03' },
    ], { home, env: { KPM_SERVER: srv.url } });
    expect(r.code, describeTty(['register'], r)).toBe(130);
    expect(r.transcript).not.toMatch(/unexpected error/);
  });
});
