// The first hour with sync (issue 22), through the built binaries against a real kpm-server:
//  - a device that made its own vault (`kpm init`) signs in to an account that already has one:
//    `kpm login` says so and exits 7; `kpm login --merge` brings its entries into the account's
//    vault; no false "tampered" alarm (exit 8) on the next sync;
//  - a device signed in to account A (with A's keyring) signing in to account B never mixes them;
//  - a data vault locked on the device that created it still reaches the other devices, locked;
//  - an entry changed on two devices in different fields keeps both changes.
// None of this is about the path without an agent: where a device runs several commands, it unlocks
// once (`unlock`, its agent starts) and the rest go through its agent, instead of a key derivation
// per command; a write through the agent syncs in the background, so a test that needs the change
// on the server next runs an explicit `kpm sync`. Before `kpm login` the agent is stopped
// (`kpm lock`), so the sign-in meets the device as a command without an agent would.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { describeTty, initHome, kpm as runKpm, makeHome, runTty, stopAgent, MASTER, type RunResult } from '../helpers/kpm.js';
import { registerAccount, startServer, type RunningServer } from '../helpers/server.js';

const ACCOUNT = 'Sync7Password';
const OTHER_MASTER = 'another long master password';
const master = { KPM_MASTER_PASSWORD: MASTER };

describe('sync: the first hour (real server, SQLite)', () => {
  let srv: RunningServer;
  const homes: Record<string, string> = {};
  /** `kpm(dev, ARGS, code, input, env)`: the shared runner (test/helpers/kpm.ts) in device `dev`'s home, against the server. */
  const kpm = (dev: string, args: string[], code = 0, input?: string, env: Record<string, string> = {}): Promise<RunResult> =>
    runKpm(homes[dev], args, code, { input, env: { KPM_SERVER: srv.url, ...env } });
  const home = (dev: string) => (homes[dev] ??= makeHome());
  let n = 0;
  /**
   * A new activated account, and device `dev`'s (empty) home. Registered through the server's API
   * (registerAccount), not `kpm register` + `kpm activate`: those are tested in server-flow.test.ts.
   */
  const newAccount = async (dev: string): Promise<string> => {
    home(dev);
    return registerAccount(srv, `first${++n}@example.org`, ACCOUNT);
  };
  /**
   * newAccount, and device `dev` holds a vault with MASTER (as `kpm init` leaves it): a copy of the
   * fixture home (test/helpers/fixtures.ts), no `kpm init` run. Each account gets at most ONE such
   * copy (copies are the same profile); its other devices sign in or run `kpm init` themselves.
   */
  const newAccountWithVault = async (dev: string): Promise<string> => {
    homes[dev] = initHome();
    return registerAccount(srv, `first${++n}@example.org`, ACCOUNT);
  };
  const login = (dev: string, email: string, code = 0, extra: string[] = [], lines: string[] = []) =>
    kpm(dev, ['login', email, '--password-stdin', ...extra], code, [ACCOUNT, ...lines].join('\n') + '\n');
  /** Device `dev` unlocks with `pw` (one key derivation): its agent runs the commands after it (stopped when the test ends). */
  const unlock = (dev: string, pw = MASTER) => {
    const h = homes[dev];
    onTestFinished(() => stopAgent(h));
    return kpm(dev, ['unlock', '--password-stdin'], 0, pw + '\n');
  };

  beforeAll(async () => {
    srv = await startServer();
  });

  it('a device with its own vault signs in to an account that has one: login says so (exit 7), sync raises no tamper alarm, --merge brings its entries in', async () => {
    const email = await newAccountWithVault('a1');
    await login('a1', email);
    await unlock('a1');
    await kpm('a1', ['add', 'github', '--username', 'ann', '--password-stdin'], 0, 'gh-from-a\n');
    await kpm('a1', ['sync']); // on the server before B's merge (the agent's own sync runs in the background)
    // B made its own vault first, with another master password
    home('b1');
    const bm = { KPM_MASTER_PASSWORD: OTHER_MASTER };
    await kpm('b1', ['init', '--password-stdin'], 0, OTHER_MASTER + '\n');
    await unlock('b1', OTHER_MASTER);
    await kpm('b1', ['add', 'bank', '--username', 'bob', '--password-stdin'], 0, 'bank-from-b\n');
    await kpm('b1', ['add', 'github', '--username', 'bob', '--password-stdin'], 0, 'gh-from-b\n');
    await kpm('b1', ['lock']);
    const refused = await login('b1', email, 7);
    expect(refused.stderr).toMatch(/this device has its own vault/i);
    expect(refused.stderr).toMatch(/kpm login --merge/);
    expect(refused.stderr).not.toMatch(/tampered/);
    // not signed in: the device is as it was
    await kpm('b1', ['whoami'], 4);
    expect((await kpm('b1', ['get', 'bank'], 0, undefined, bm)).stdout).toBe('bank-from-b\n');
    // merge: the account password, then this device's master password, then the account's
    const merged = await login('b1', email, 0, ['--merge'], [OTHER_MASTER, MASTER]);
    expect(merged.stderr).toMatch(/2 entries of this device's vault are now in the account's vaults/);
    expect(merged.stderr).toMatch(/"github" → "github \(2\)"/);
    // from now on the account's master password opens B, and sync works (exit 0, never 8)
    await unlock('b1');
    await kpm('b1', ['sync']);
    expect((await kpm('b1', ['get', 'bank'])).stdout).toBe('bank-from-b\n');
    expect((await kpm('b1', ['get', 'github'])).stdout).toBe('gh-from-a\n');
    expect((await kpm('b1', ['get', 'github (2)'])).stdout).toBe('gh-from-b\n');
    await kpm('b1', ['lock']); // and B's own no longer does (no agent: the password decides)
    await kpm('b1', ['list'], 5, undefined, bm);
    // the backup is gone once the merge is on the server
    expect(fs.readdirSync(join(homes.b1, 'data')).filter((f) => f.startsWith('merge-backup'))).toEqual([]);
    // and A gets B's entries
    await kpm('a1', ['sync']);
    expect((await kpm('a1', ['get', 'bank'])).stdout).toBe('bank-from-b\n');
    expect((await kpm('a1', ['get', 'github (2)'])).stdout).toBe('gh-from-b\n');
  });

  it('--merge carries documents and other vaults along; a locked data vault and the trash are not merged, so the backup stays', async () => {
    const email = await newAccountWithVault('a6');
    await login('a6', email);
    await unlock('a6');
    await kpm('a6', ['add', 'mail', '--password-stdin'], 0, 'mail-a\n');
    await kpm('a6', ['sync']); // on the server before B's merge
    home('b6');
    await kpm('b6', ['init', '--password-stdin'], 0, OTHER_MASTER + '\n');
    await unlock('b6', OTHER_MASTER);
    const scan = join(homes.b6, 'scan.pdf');
    fs.writeFileSync(scan, Buffer.from('%PDF-1.4 seeded test document 42'));
    await kpm('b6', ['doc', 'add', 'passport', scan]);
    await kpm('b6', ['vault', 'create', 'Work']);
    await kpm('b6', ['add', 'vpn', '--vault', 'Work', '--password-stdin'], 0, 'vpn-b\n');
    await kpm('b6', ['add', 'mail', '--password-stdin'], 0, 'mail-a\n'); // the same entry: not doubled
    await kpm('b6', ['add', 'old', '--password-stdin'], 0, 'old-b\n');
    await kpm('b6', ['rm', 'old', '--yes']);
    await kpm('b6', ['vault', 'create', 'Private', '--vault-password-stdin'], 0, 'private vault pw\n');
    await kpm('b6', ['lock']); // and with it the data vault "Private"
    const r = await login('b6', email, 0, ['--merge', '--json'], [OTHER_MASTER, MASTER]);
    const merged = JSON.parse(r.stdout).merged;
    expect(merged).toMatchObject({ added: 2, same: 1, renamed: [], notMerged: ['Private'], trashed: 1, synced: true, backup: expect.stringContaining('merge-backup-') });
    await kpm('b6', ['sync'], 0, undefined, master);
    expect(fs.existsSync(merged.backup)).toBe(true); // kept for good: it holds what was not merged
    expect(fs.existsSync(join(merged.backup, 'vaults'))).toBe(true);
    await kpm('a6', ['sync']);
    const out = join(homes.a6, 'out');
    fs.mkdirSync(out);
    await kpm('a6', ['doc', 'get', 'passport', '-o', out + '/']);
    expect(fs.readFileSync(join(out, 'scan.pdf'), 'utf8')).toBe('%PDF-1.4 seeded test document 42');
    expect((await kpm('a6', ['get', 'vpn', '--vault', 'Work'])).stdout).toBe('vpn-b\n');
    expect(JSON.parse((await kpm('a6', ['list', '--json'])).stdout).filter((e: any) => e.name === 'mail')).toHaveLength(1);
  });

  it('on a terminal, `kpm login` offers the merge and asks both master passwords', async () => {
    const email = await newAccountWithVault('a7');
    await login('a7', email);
    await unlock('a7');
    await kpm('a7', ['sync']);
    home('b7');
    await kpm('b7', ['init', '--password-stdin'], 0, OTHER_MASTER + '\n');
    await kpm('b7', ['add', 'tty-entry', '--password-stdin'], 0, 'tty-secret\n', { KPM_MASTER_PASSWORD: OTHER_MASTER });
    const env = { KPM_SERVER: srv.url };
    // declined: not signed in, exit 7
    const no = await runTty(['login', email], [{ expect: 'Account password', send: ACCOUNT + '\r' }, { expect: 'Bring this device', send: 'n\r' }], { home: homes.b7, env });
    expect(no.code, describeTty(['login'], no)).toBe(7);
    expect(no.transcript).toMatch(/this device has its own vault/);
    const yes = await runTty(
      ['login', email],
      [
        { expect: 'Account password', send: ACCOUNT + '\r' },
        { expect: 'Bring this device', send: 'y\r' },
        { expect: "Master password of this device's vault", send: OTHER_MASTER + '\r' },
        { expect: "Master password of the account's vault", send: MASTER + '\r' },
        { expect: 'are now in the account' },
      ],
      { home: homes.b7, env },
    );
    expect(yes.code, describeTty(['login'], yes)).toBe(0);
    expect(yes.transcript).not.toContain(MASTER);
    await kpm('a7', ['sync']);
    expect((await kpm('a7', ['get', 'tty-entry'])).stdout).toBe('tty-secret\n');
  });

  it('a device already in the old broken state (signed in with its own vault) gets exit 7 from sync, not a tamper alarm', async () => {
    const email = await newAccountWithVault('a2');
    await login('a2', email);
    await kpm('a2', ['sync'], 0, undefined, master); // the account's vault is on the server
    home('b2');
    await kpm('b2', ['init', '--password-stdin'], 0, MASTER + '\n');
    // the session file of a sign-in made by an older kpm (copied: the same account, a device of its own)
    await login('b2', email, 7);
    fs.copyFileSync(join(homes.a2, 'data', 'session.json'), join(homes.b2, 'data', 'session.json'));
    const r = await kpm('b2', ['sync'], 7, undefined, master);
    expect(r.stderr).toMatch(/kpm login --merge/);
    expect(r.stderr).not.toMatch(/tampered/);
  });

  it('a device signed in to account A (with A\'s keyring) signing in to account B: refused with 7, nothing mixed', async () => {
    const emailA = await newAccountWithVault('a3');
    await login('a3', emailA);
    await kpm('a3', ['add', 'only-a', '--password-stdin'], 0, 'secret-a\n', master);
    // B: an empty account (no vault yet), and another with a vault of its own
    const emailB = await newAccount('x3');
    const r = await login('a3', emailB, 7);
    expect(r.stderr).toMatch(/syncs with another account/);
    expect((await kpm('a3', ['whoami'])).stdout).toBe(`${emailA}\n`); // still signed in to A
    await kpm('a3', ['sync'], 0, undefined, master);
    // --merge cannot help: B has no vault to merge into
    expect((await login('a3', emailB, 7, ['--merge'], [MASTER, MASTER])).stderr).toMatch(/another KPM_HOME/);
    // B stays empty: a new device of B has no vault to download
    home('y3');
    expect((await login('y3', emailB)).stderr).not.toMatch(/already has a vault/);
    // C holds a vault of its own: refused too, and --merge moves A's entries into C's vault
    const emailC = await newAccount('z3');
    await kpm('z3', ['init', '--password-stdin'], 0, OTHER_MASTER + '\n');
    await login('z3', emailC);
    await unlock('z3', OTHER_MASTER);
    await kpm('z3', ['add', 'only-c', '--password-stdin'], 0, 'secret-c\n');
    await kpm('z3', ['sync']); // on the server before A's merge
    expect((await login('a3', emailC, 7)).stderr).toMatch(/syncs with another account \(first\d+@example.org\).*kpm login --merge/s);
    const wrong = await login('a3', emailC, 5, ['--merge'], [MASTER, 'not the account master password']);
    expect(wrong.stderr).toMatch(/wrong master password for the account's vault/);
    expect((await kpm('a3', ['whoami'])).stdout).toBe(`${emailA}\n`);
    await login('a3', emailC, 0, ['--merge'], [MASTER, OTHER_MASTER]);
    expect((await kpm('a3', ['whoami'])).stdout).toBe(`${emailC}\n`);
    await kpm('z3', ['sync']);
    expect((await kpm('z3', ['get', 'only-a'])).stdout).toBe('secret-a\n');
    expect((await kpm('a3', ['get', 'only-c'], 0, undefined, { KPM_MASTER_PASSWORD: OTHER_MASTER })).stdout).toBe('secret-c\n');
  });

  it('a data vault locked on the device that created it reaches the other devices locked; its password brings it', async () => {
    const email = await newAccountWithVault('a4');
    await login('a4', email);
    await kpm('a4', ['unlock', '--password-stdin'], 0, MASTER + '\n');
    // made while no automatic sync ran (as when it is locked before the agent's sync after a change)
    await kpm('a4', ['config', 'set', 'sync', 'manual']);
    await kpm('a4', ['vault', 'create', 'Private', '--vault-password-stdin'], 0, 'private vault pw\n');
    await kpm('a4', ['add', 'diary', '--vault', 'Private', '--password-stdin'], 0, 'diary-secret\n');
    await kpm('a4', ['config', 'set', 'sync', 'auto']);
    await kpm('a4', ['vault', 'lock', 'Private']);
    await kpm('a4', ['sync']);
    home('b4');
    await login('b4', email);
    await kpm('b4', ['unlock', '--password-stdin'], 0, MASTER + '\n');
    const list = JSON.parse((await kpm('b4', ['vault', 'list', '--json'])).stdout);
    expect(list).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'Private', ownPassword: true, locked: true })]));
    await kpm('b4', ['vault', 'unlock', 'Private', '--vault-password-stdin'], 0, 'private vault pw\n');
    expect((await kpm('b4', ['get', 'diary', '--vault', 'Private'])).stdout).toBe('diary-secret\n');
    // sync=manual: locking does not sync; `kpm sync` says what waits, and unlocking (sync=auto) sends it
    await kpm('a4', ['config', 'set', 'sync', 'manual']);
    await kpm('a4', ['vault', 'unlock', 'Private', '--vault-password-stdin'], 0, 'private vault pw\n');
    await kpm('a4', ['add', 'diary-2', '--vault', 'Private', '--password-stdin'], 0, 'diary-2-secret\n');
    await kpm('a4', ['vault', 'lock', 'Private']);
    expect((await kpm('a4', ['sync'])).stderr).toMatch(/vault "Private": skipped, locked \(own password\), with changes not yet on the server: `kpm vault unlock "Private"` sends them/);
    await kpm('a4', ['config', 'set', 'sync', 'auto']);
    await kpm('a4', ['vault', 'unlock', 'Private', '--vault-password-stdin'], 0, 'private vault pw\n'); // syncs
    await kpm('b4', ['sync']);
    expect((await kpm('b4', ['get', 'diary-2', '--vault', 'Private'])).stdout).toBe('diary-2-secret\n');
    // `kpm lock` (the agent stops) sends a data vault's changes first, too
    await kpm('a4', ['config', 'set', 'sync', 'manual']);
    await kpm('a4', ['add', 'diary-3', '--vault', 'Private', '--password-stdin'], 0, 'diary-3-secret\n');
    await kpm('a4', ['config', 'set', 'sync', 'auto']);
    await kpm('a4', ['lock']);
    await kpm('b4', ['sync']);
    expect((await kpm('b4', ['get', 'diary-3', '--vault', 'Private'])).stdout).toBe('diary-3-secret\n');
    stopAgent(homes.a4);
    stopAgent(homes.b4);
  });

  it('a card changed on two devices in different fields keeps both changes; the same field changed on both: the later wins, the other in history', async () => {
    const email = await newAccountWithVault('a5');
    await login('a5', email);
    await unlock('a5');
    await kpm('a5', ['add', 'visa', '--type', 'card', '--field', 'cardholder=Ann Smith', '--field', 'number=4111111111111111', '--field', 'expiry=01/28']);
    await kpm('a5', ['sync']); // on the server before B signs in (the agent's own sync runs in the background)
    home('b5');
    await login('b5', email);
    await unlock('b5');
    await kpm('b5', ['sync']);
    await kpm('a5', ['--offline', 'edit', 'visa', '--field', 'cardholder=Ann B. Smith']);
    await kpm('b5', ['--offline', 'edit', 'visa', '--field', 'expiry=02/30']);
    await kpm('a5', ['sync']);
    const b = await kpm('b5', ['sync']);
    expect(b.stderr).toMatch(/"visa" was changed on two devices in different fields: both changes are kept/);
    await kpm('a5', ['sync']);
    for (const dev of ['a5', 'b5']) {
      const card = JSON.parse((await kpm(dev, ['get', 'visa', '--json'])).stdout);
      expect(card.fields, dev).toMatchObject({ cardholder: 'Ann B. Smith', expiry: '02/30', number: '4111111111111111' });
    }
    // the same field on both: the later change wins, the other stays in the history
    // b5's edit is the later one: its process starts after a5's has exited (no sleep needed)
    await kpm('a5', ['--offline', 'edit', 'visa', '--field', 'expiry=03/31']);
    await kpm('b5', ['--offline', 'edit', 'visa', '--field', 'expiry=04/32', '--field', 'notes=from b']);
    await kpm('a5', ['sync']);
    const b2 = await kpm('b5', ['sync']);
    expect(b2.stderr).toMatch(/"visa" was changed on two devices: the change made here \(the later one\) wins/);
    await kpm('a5', ['sync']);
    const card = JSON.parse((await kpm('a5', ['get', 'visa', '--json'])).stdout);
    expect(card.fields).toMatchObject({ cardholder: 'Ann B. Smith', expiry: '04/32', notes: 'from b' });
    const hist = JSON.parse((await kpm('a5', ['history', 'visa', '--json'])).stdout);
    expect(hist.map((v: any) => v.payload.fields.expiry)).toContain('03/31');
  });
});
