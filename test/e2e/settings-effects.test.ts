// Every key of the settings schema does something (issue 22, "documented settings that do
// nothing"): the test walks src/settings/schema.ts, so a new key without an effect test fails.
// Each effect sets the key through `kpm config set` in its own home and observes what changes.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { SETTING_KEYS, SETTINGS } from '../../src/settings/schema.js';
import { sha1, startRangeServer, type RangeServer } from '../helpers/hibp.js';
import { registerAccount, startServer } from '../helpers/server.js';
import {
  addEntry, describeTty, initHome, kpm, makeHome, MASTER, runOk, runTty, stopAgent, withMaster,
} from '../helpers/kpm.js';

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/;
const SYMBOL = /[!-/:-@[-`{-~]/;

/** A home with a vault (a copy of the run's `kpm init` fixture). */
async function freshVault(): Promise<string> {
  return initHome();
}

const set = (home: string, key: string, value: string) => kpm(home, ['config', 'set', key, value], 0, { env: withMaster() });

/**
 * Unlocks `home` (one key derivation; its agent stopped when the test ends): an effect that is not about
 * unlocking runs its vault commands through the agent, which reads the settings for each request,
 * instead of a derivation per command.
 */
const unlocked = async (home: string): Promise<string> => {
  onTestFinished(() => stopAgent(home));
  await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
  return home;
};

let hibp: RangeServer | undefined;
afterAll(() => hibp?.close());

/** What each key changes. A key of the schema without an entry here fails the walk below. */
const EFFECTS: Record<string, () => Promise<void>> = {
  async server() {
    const home = makeHome();
    const without = await kpm(home, ['login', 'someone@example.org', '--password-stdin'], 2, { input: 'Account7Password\n' });
    expect(without.stderr).toMatch(/server/i);
    await set(home, 'server', 'http://127.0.0.1:9'); // nothing listens on the discard port
    const r = await kpm(home, ['login', 'someone@example.org', '--password-stdin'], 6, { input: 'Account7Password\n' });
    expect(r.stderr).toMatch(/127\.0\.0\.1:9/);
  },

  async autolock() {
    const home = await freshVault();
    await set(home, 'autolock', '7');
    try {
      const u = await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
      expect(u.stderr).toMatch(/after 7 idle minutes/);
      expect(JSON.parse((await runOk(['status', '--json'], { home })).stdout).autolockSeconds).toBe(420);
    } finally {
      stopAgent(home);
    }
  },

  async clipboard_clear() {
    const home = await freshVault();
    await addEntry(home, 'site', 'clip-secret');
    // a stand-in for xsel on PATH: keeps the "clipboard" in a file
    const bin = join(home, 'bin');
    const clip = join(home, 'clipboard');
    fs.mkdirSync(bin);
    fs.writeFileSync(join(bin, 'xsel'), `#!/bin/sh\ncase "$*" in *--input*) cat > '${clip}';; *) cat '${clip}' 2>/dev/null;; esac\n`, { mode: 0o755 });
    const env = { ...withMaster(), PATH: `${bin}:${process.env.PATH}` };
    await set(home, 'clipboard_clear', '0');
    const never = await kpm(home, ['get', 'site', '--copy'], 0, { env });
    expect(never.stderr).toBe('Copied.\n');
    expect(fs.readFileSync(clip, 'utf8')).toBe('clip-secret');
    await set(home, 'clipboard_clear', '1');
    const soon = await kpm(home, ['get', 'site', '--copy'], 0, { env });
    expect(soon.stderr).toMatch(/cleared in 1 second\./);
  },

  async 'generator.length'() {
    const home = await freshVault();
    expect((await kpm(home, ['generate'], 0)).stdout).toMatch(/^.{20}\n$/);
    await set(home, 'generator.length', '24');
    expect((await kpm(home, ['generate'], 0)).stdout).toMatch(/^.{24}\n$/);
    expect((await kpm(home, ['generate', '--length', '30'], 0)).stdout).toMatch(/^.{30}\n$/); // the flag still wins
    await unlocked(home);
    await kpm(home, ['add', 'gen', '--generate'], 0);
    expect((await kpm(home, ['get', 'gen'], 0)).stdout).toMatch(/^.{24}\n$/);
  },

  async 'generator.symbols'() {
    const home = await freshVault();
    // with symbols, every generated password has at least one (each class is required)
    expect((await kpm(home, ['generate'], 0)).stdout).toMatch(SYMBOL);
    await set(home, 'generator.symbols', 'false');
    for (let i = 0; i < 3; i++) expect((await kpm(home, ['generate', '--length', '64'], 0)).stdout.trim()).toMatch(/^[A-Za-z0-9]{64}$/);
    expect((await kpm(home, ['generate', '--symbols'], 0)).stdout).toMatch(SYMBOL);
    await unlocked(home);
    await kpm(home, ['add', 'gen', '--generate', '--length', '64'], 0);
    expect((await kpm(home, ['get', 'gen'], 0)).stdout.trim()).toMatch(/^[A-Za-z0-9]{64}$/);
  },

  async 'generator.words'() {
    const home = await freshVault();
    expect((await kpm(home, ['generate', '--words'], 0)).stdout.trim().split('-')).toHaveLength(6);
    await set(home, 'generator.words', '4');
    expect((await kpm(home, ['generate', '--words'], 0)).stdout.trim().split('-')).toHaveLength(4);
    await unlocked(home);
    await kpm(home, ['add', 'phrase', '--words'], 0);
    expect((await kpm(home, ['get', 'phrase'], 0)).stdout.trim().split('-')).toHaveLength(4);
  },

  async sync() {
    // needs a sync server and two devices: proven by this test of test/e2e/sync.test.ts
    const name = '`kpm init` after `kpm login` uploads the new vault; sync=manual and --offline keep changes local until `kpm sync`';
    const text = fs.readFileSync(new URL('./sync.test.ts', import.meta.url), 'utf8');
    expect(text).toContain(`it('${name}'`);
    expect(text).toContain("['config', 'set', 'sync', 'manual']");
  },

  async default_vault() {
    const home = await unlocked(await freshVault());
    await kpm(home, ['vault', 'create', 'Work'], 0);
    const bad = await kpm(home, ['config', 'set', 'default_vault', 'Nope'], 2);
    expect(bad.stderr).toMatch(/no vault "Nope"/);
    expect(bad.stderr).toMatch(/Personal, Work|Work, Personal/);
    expect((await kpm(home, ['config', 'get', 'default_vault'], 0)).stdout).toBe('Personal\n');
    await kpm(home, ['config', 'set', 'default_vault', 'Work'], 0);
    const a = JSON.parse((await kpm(home, ['add', 'site', '--password-stdin', '--json'], 0, { input: 'Site-Secret-1\n' })).stdout);
    expect(a.vault).toBe('Work');
    await kpm(home, ['get', 'site', '--vault', 'Work'], 0);
    expect((await kpm(home, ['add', 'other', '--password-stdin', '--vault', 'Personal', '--json'], 0, { input: 'x-Secret-2\n' })).stdout).toMatch(/"vault": "Personal"/);
  },

  async color() {
    const home = await freshVault();
    await addEntry(home, 'site', 'site-secret', ['--username', 'someone']);
    const env = { ...withMaster(), NO_COLOR: undefined, TERM: 'xterm' };
    expect((await kpm(home, ['show', 'site'], 0, { env })).stdout).not.toMatch(SGR); // auto: stdout is a pipe
    await set(home, 'color', 'always');
    expect((await kpm(home, ['show', 'site'], 0, { env })).stdout).toMatch(SGR);
    // never: no colour at a terminal, prompts included (CI=true alone turns the prompts' colour off)
    const before = await runTty(['get', 'site'], [{ expect: 'Master password', send: MASTER + '\r' }, { expect: 'Keep kpm unlocked', send: 'n\r' }, { expect: 'site-secret' }], { home, env: { NO_COLOR: undefined, CI: undefined } });
    expect(before.code, describeTty(['get'], before)).toBe(0);
    expect(before.raw).toMatch(SGR);
    await set(home, 'color', 'never');
    const r = await runTty(['get', 'site'], [{ expect: 'Master password', send: MASTER + '\r' }, { expect: 'Keep kpm unlocked', send: 'n\r' }, { expect: 'site-secret' }], { home, env: { NO_COLOR: undefined, CI: undefined } });
    expect(r.code, describeTty(['get'], r)).toBe(0);
    expect(r.raw).not.toMatch(SGR);
    const show = await runTty(['show', 'site'], [{ expect: 'updated' }], { home, env: { ...withMaster(), NO_COLOR: undefined, CI: undefined } });
    expect(show.raw).not.toMatch(SGR);
  },

  async audit_min_score() {
    const home = await freshVault();
    await addEntry(home, 'site', 'first-try-password', ['--no-check']); // zxcvbn score 3
    await unlocked(home);
    const weak = async () => JSON.parse((await kpm(home, ['audit', '--offline', '--only', 'weak', '--json'], 0)).stdout).weak as { name: string }[];
    expect(await weak()).toEqual([]);
    await set(home, 'audit_min_score', '4');
    expect((await weak()).map((w) => w.name)).toEqual(['site']);
  },

  async audit_max_age_days() {
    const home = await freshVault();
    const changed = new Date(Date.now() - 100 * 86_400_000).toISOString();
    const file = join(home, 'old.json');
    fs.writeFileSync(file, JSON.stringify({
      format: 'kpm-export', version: 1, exported: changed,
      entries: [{ vault: 'Personal', type: 'login', name: 'old-site', fields: { password: 'Old-Site-Password-77' }, custom: [], tags: [], created: changed, updated: changed, passwordChanged: changed }],
    }));
    await unlocked(home);
    const imp = await kpm(home, ['import', file, '--format', 'kpm-json'], 0);
    expect(imp.stderr).toMatch(/Imported 1 entry/);
    const old = async () => JSON.parse((await kpm(home, ['audit', '--offline', '--only', 'old', '--json'], 0)).stdout).old as { name: string }[];
    expect(await old()).toEqual([]);
    await set(home, 'audit_max_age_days', '30');
    expect((await old()).map((o) => o.name)).toEqual(['old-site']);
  },

  async 'history.keep'() {
    const home = await unlocked(await freshVault());
    await kpm(home, ['add', 'site', '--password-stdin'], 0, { input: 'First-Password-1\n' });
    for (let i = 2; i <= 4; i++) await kpm(home, ['edit', 'site', '--password-stdin'], 0, { input: `Next-Password-${i}\n` });
    const versions = async () => {
      await kpm(home, ['trash', 'purge', '--yes'], 0); // compacts with history.keep
      return (JSON.parse((await kpm(home, ['history', 'site', '--json'], 0)).stdout) as { payload: { fields: { password: string } } }[]).map((v) => v.payload.fields.password);
    };
    expect(await versions()).toHaveLength(4); // the default keeps 20
    await set(home, 'history.keep', '2');
    expect(await versions()).toEqual(['Next-Password-3', 'Next-Password-4']);
  },

  async 'trash.days'() {
    // two homes, each with an entry deleted 40 days ago (written in process: no command back-dates a deletion);
    // the next deletion checks the trash
    // (both entries are added in process too, in the same session: one key derivation instead of three)
    const deletedLongAgo = async () => {
      const home = await freshVault();
      const { resolvePaths } = await import('../../src/core/paths.js');
      const { unlockKeyring } = await import('../../src/vault/keyring.js');
      const { Session } = await import('../../src/vault/session.js');
      const paths = resolvePaths({ KPM_HOME: home });
      const s = await Session.open(paths, await unlockKeyring(paths, new TextEncoder().encode(MASTER)));
      const now = new Date().toISOString();
      for (const [name, password] of [['old', 'Old-Password-77'], ['other', 'Other-Password-77']]) {
        await s.add(undefined, { type: 'login', name, fields: { password }, custom: [], tags: [], created: now, updated: now, passwordChanged: now });
      }
      const e = s.get('old');
      await s.vault().write([{ entryId: Buffer.from(e.id, 'hex'), payload: { ...e.payload, updated: new Date(Date.now() - 40 * 86_400_000).toISOString() }, baseVersion: e.version, deleted: true }]);
      s.close();
      return home;
    };
    const trashed = async (home: string) => {
      await kpm(home, ['rm', 'other', '--yes'], 0, { env: withMaster() });
      return (JSON.parse((await kpm(home, ['trash', '--json'], 0, { env: withMaster() })).stdout) as { name: string }[]).map((t) => t.name).sort();
    };
    expect(await trashed(await deletedLongAgo())).toEqual(['other']); // the default: 30 days
    const home = await deletedLongAgo();
    await set(home, 'trash.days', '50');
    expect(await trashed(home)).toEqual(['old', 'other']);
  },

  async hibp_url() {
    hibp ??= await startRangeServer({ [sha1('hunter2')]: 30_000 });
    const home = await freshVault();
    await unlocked(home);
    await kpm(home, ['add', 'site', '--no-check', '--password-stdin'], 0, { input: 'hunter2\n' });
    await set(home, 'hibp_url', hibp.url);
    const before = hibp.requests.length;
    const r = JSON.parse((await kpm(home, ['audit', '--only', 'breached', '--json'], 0)).stdout);
    expect(hibp.requests.length).toBeGreaterThan(before);
    expect(r.breached.map((b: { name: string }) => b.name)).toEqual(['site']);
  },

  async 'share.require_verified'() {
    // two accounts on a real server; the owner shares with a contact it never verified
    const srv = await startServer();
    try {
      const env = { ...withMaster(), KPM_SERVER: srv.url };
      // the owner's vault is a copy of the fixture home, the other's its own `kpm init` (two copies would
      // be one profile); the accounts through the server's API (registerAccount)
      const homes = { owner: await freshVault(), other: makeHome() };
      await kpm(homes.other, ['init', '--password-stdin'], 0, { input: MASTER + '\n', env: { KPM_SERVER: srv.url } });
      for (const [who, home] of Object.entries(homes)) {
        const email = await registerAccount(srv, `${who}@settings.example.org`, 'Share7Password', 'DE');
        await kpm(home, ['login', email, '--password-stdin'], 0, { input: 'Share7Password\n', env: { KPM_SERVER: srv.url } });
      }
      await kpm(homes.other, ['whoami', '--fingerprint'], 0, { env }); // publishes its keys
      await set(homes.owner, 'share.require_verified', 'true');
      const refused = await kpm(homes.owner, ['share', 'Team', '--with', 'other@settings.example.org'], 9, { env });
      expect(refused.stderr).toMatch(/other@settings\.example\.org is not verified/);
      expect((await kpm(homes.other, ['shares'], 0, { env })).stderr).toMatch(/No shared vaults/);
      await set(homes.owner, 'share.require_verified', 'false');
      const warned = await kpm(homes.owner, ['share', 'Team', '--with', 'other@settings.example.org'], 0, { env });
      expect(warned.stderr).toMatch(/is not verified/);
      expect((await kpm(homes.other, ['shares'], 0, { env })).stdout).toMatch(/Team .* invitation/);
    } finally {
      await srv.stop();
    }
  },
};

describe('every setting has an effect', () => {
  it('the walk covers exactly the keys of the schema (a new key needs an effect test here)', () => {
    expect(Object.keys(EFFECTS).sort()).toEqual([...SETTING_KEYS].sort());
    expect(SETTINGS.map((s) => s.key)).not.toContain('security_check.threshold'); // removed: nothing on the client could act on it
  });

  for (const key of SETTING_KEYS) {
    it(`${key}: setting it changes what kpm does`, async () => {
      const effect = EFFECTS[key];
      expect(effect, `no effect test for the setting "${key}"`).toBeTypeOf('function');
      await effect();
    }, 120_000);
  }
});
