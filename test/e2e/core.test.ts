// The everyday commands, end to end, through the built binary: init, add, get, list, edit, rm,
// trash, with KPM_MASTER_PASSWORD (no agent) and with the unlock agent; status; several vaults;
// totp; generate.
import { createHmac } from 'node:crypto';
import { seeded } from '../helpers/seeded.js';
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  kpmWith, addEntry, copyHome, initHome, agentPid, describeRun, lines, makeHome, MASTER, run, waitUntil, withMaster, type RunResult,
} from '../helpers/kpm.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const HEX32 = /^[0-9a-f]{32}$/;

function expectCode(args: string[], r: RunResult, code: number): void {
  expect(r.code, describeRun(args, r)).toBe(code);
}

/** Runs `kpm ARGS` expecting exit `code`, and checks that nothing leaked. */
const kpm = kpmWith({ secrets: [MASTER] });

const ENTRY_JSON_KEYS = ['created', 'custom', 'fields', 'id', 'name', 'passwordChanged', 'tags', 'type', 'updated', 'vault', 'version'];

// RFC 4226 HOTP / RFC 6238 TOTP, computed here independently of kpm's implementation.
function hotp(secret: Buffer, counter: number, digits = 6): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const o = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(o) & 0x7fffffff) % 10 ** digits;
  return String(bin).padStart(digits, '0');
}

function base32(buf: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0, out = '';
  for (const b of buf) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** The TOTP codes valid at some moment between t0 and t1 (ms). */
function totpCodesBetween(secret: Buffer, t0: number, t1: number): string[] {
  const codes: string[] = [];
  for (let c = Math.floor(t0 / 30_000); c <= Math.floor(t1 / 30_000); c++) codes.push(hotp(secret, c));
  return codes;
}

describe('without an agent (KPM_MASTER_PASSWORD)', () => {
  // Each test works on its own copy of `base`: a vault holding github (all fields) and gitlab
  // (generated), made once, as the add tests below make them.
  let base: string;
  let home: string;
  const env = withMaster();
  const PW = 'hunter2-Pässwörd!';
  const ADD_GITHUB = ['add', 'github', '--password-stdin', '--username', 'octocat', '--url', 'https://github.com', '--notes', 'work account', '--field', 'api key=abc123'];
  const ADD_GITLAB = ['add', 'gitlab', '--generate', '--username', 'tanuki'];

  beforeAll(async () => {
    base = initHome();
    await kpm(base, ADD_GITHUB, 0, { env, input: PW + '\n' });
    await kpm(base, ADD_GITLAB, 0, { env });
  });
  beforeEach(() => {
    home = copyHome(base);
  });
  /** What the edit --name test below does, for the tests that start from the renamed entry. */
  const renameGithub = () => kpm(home, ['edit', 'github', '--name', 'github-work'], 0, { env });

  it('init --password-stdin creates a private vault, prints nothing on stdout and warns on stderr', async () => {
    home = makeHome();
    const r = await kpm(home, ['init', '--password-stdin'], 0, { input: MASTER + '\n' });
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/cannot be recovered/);
    expect(statSync(join(home, 'data')).mode & 0o777).toBe(0o700);
    expect(statSync(join(home, 'data', 'keyring.kpm')).mode & 0o777).toBe(0o600);
    const [vaultDir] = readdirSync(join(home, 'data', 'vaults'));
    expect(vaultDir).toMatch(HEX32);
    for (const f of readdirSync(join(home, 'data', 'vaults', vaultDir))) {
      expect(statSync(join(home, 'data', 'vaults', vaultDir, f)).mode & 0o777, f).toBe(0o600);
    }
  });

  it('add reads the password from stdin, prints nothing on stdout, confirms on stderr', async () => {
    home = initHome();
    const r = await kpm(home, ADD_GITHUB, 0, {
      env,
      input: PW + '\n',
    });
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Added Personal\/github/);
    expect(r.stderr).not.toContain(PW);
  });

  it('add --generate stores a generated 20-character password', async () => {
    home = initHome();
    const r = await kpm(home, ADD_GITLAB, 0, { env });
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/generated/);
    const g = await kpm(home, ['get', 'gitlab'], 0, { env });
    expect(g.stdout).toMatch(/^[^\n]{20}\n$/);
  });

  it('get prints only the password, with one trailing newline', async () => {
    const r = await kpm(home, ['get', 'github'], 0, { env });
    expect(r.stdout).toBe(PW + '\n');
  });

  it('get finds names case-insensitively', async () => {
    const r = await kpm(home, ['get', 'GitHub'], 0, { env });
    expect(r.stdout).toBe(PW + '\n');
  });

  it('get --field prints username, url, notes and a custom field', async () => {
    for (const [field, value] of [['username', 'octocat'], ['url', 'https://github.com'], ['notes', 'work account'], ['api key', 'abc123'], ['password', PW]]) {
      const r = await kpm(home, ['get', 'github', '--field', field], 0, { env });
      expect(r.stdout, field).toBe(value + '\n');
    }
  });

  it('get --field of a field the entry does not have exits 3', async () => {
    const r = await kpm(home, ['get', 'github', '--field', 'no-such-field'], 3, { env });
    expect(r.stdout).toBe('');
  });

  it('get --json has the documented shape (id, vault, type, name, fields, custom, tags, created, updated, passwordChanged, version)', async () => {
    const r = await kpm(home, ['get', 'github', '--json'], 0, { env });
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j).sort()).toEqual(ENTRY_JSON_KEYS);
    expect(j.id).toMatch(HEX32);
    expect(j).toMatchObject({
      vault: 'Personal',
      type: 'login',
      name: 'github',
      fields: { username: 'octocat', password: PW, url: 'https://github.com', notes: 'work account' },
      custom: [{ name: 'api key', value: 'abc123' }],
      tags: [],
      version: 1,
    });
    for (const k of ['created', 'updated', 'passwordChanged']) expect(j[k], k).toMatch(ISO);
  });

  it('list shows names, user names and URLs but never passwords', async () => {
    const r = await kpm(home, ['list'], 0, { env });
    const ls = lines(r.stdout);
    expect(ls).toHaveLength(2);
    expect(ls[0]).toMatch(/^github\s+octocat\s+https:\/\/github\.com$/);
    expect(ls[1]).toMatch(/^gitlab\s+tanuki$/);
    expect(r.stdout).not.toContain(PW);
  });

  it('list --json gives summaries without secrets', async () => {
    const r = await kpm(home, ['list', '--json'], 0, { env });
    const items = JSON.parse(r.stdout);
    expect(items.map((i: { name: string }) => i.name)).toEqual(['github', 'gitlab']);
    expect(items[0]).toMatchObject({ vault: 'Personal', name: 'github', type: 'login', username: 'octocat', url: 'https://github.com' });
    expect(items[0].id).toMatch(HEX32);
    expect(items[0].updated).toMatch(ISO);
    expect(r.stdout).not.toContain(PW);
    expect(JSON.stringify(items)).not.toMatch(/password/);
  });

  it('list --search filters by name, user name or URL', async () => {
    const byName = JSON.parse((await kpm(home, ['list', '--search', 'hub', '--json'], 0, { env })).stdout);
    expect(byName.map((i: { name: string }) => i.name)).toEqual(['github']);
    const byUser = JSON.parse((await kpm(home, ['list', '--search', 'TANUKI', '--json'], 0, { env })).stdout);
    expect(byUser.map((i: { name: string }) => i.name)).toEqual(['gitlab']);
    const none = await kpm(home, ['list', '--search', 'zzz-nothing'], 0, { env });
    expect(none.stdout).toBe('');
  });

  it('edit --username changes the user name and bumps the version, not passwordChanged', async () => {
    const before = JSON.parse((await kpm(home, ['get', 'github', '--json'], 0, { env })).stdout);
    const r = await kpm(home, ['edit', 'github', '--username', 'hubot'], 0, { env });
    expect(r.stdout).toBe('');
    const after = JSON.parse((await kpm(home, ['get', 'github', '--json'], 0, { env })).stdout);
    expect(after.fields.username).toBe('hubot');
    expect(after.fields.password).toBe(PW);
    expect(after.version).toBe(before.version + 1);
    expect(after.id).toBe(before.id);
    expect(after.passwordChanged).toBe(before.passwordChanged);
    expect(after.created).toBe(before.created);
    expect(after.updated > before.updated).toBe(true);
  });

  it('edit --name renames the entry: the old name is gone (exit 3), the new one works', async () => {
    await kpm(home, ['edit', 'github', '--name', 'github-work'], 0, { env });
    const old = await kpm(home, ['get', 'github'], 3, { env });
    expect(old.stdout).toBe('');
    const r = await kpm(home, ['get', 'github-work'], 0, { env });
    expect(r.stdout).toBe(PW + '\n');
  });

  it('edit --password-stdin sets the new password and moves passwordChanged', async () => {
    await renameGithub();
    const before = JSON.parse((await kpm(home, ['get', 'github-work', '--json'], 0, { env })).stdout);
    // no sleep: the edit runs in a process that starts after the add that set passwordChanged has exited
    await kpm(home, ['edit', 'github-work', '--password-stdin'], 0, { env, input: 'n3w-secret\n' });
    const after = JSON.parse((await kpm(home, ['get', 'github-work', '--json'], 0, { env })).stdout);
    expect(after.fields.password).toBe('n3w-secret');
    expect(after.passwordChanged > before.passwordChanged).toBe(true);
    expect(after.created).toBe(before.created);
    expect((await kpm(home, ['get', 'github-work'], 0, { env })).stdout).toBe('n3w-secret\n');
  });

  it('rm without --yes and without a terminal refuses with exit 2 and deletes nothing', async () => {
    const r = await kpm(home, ['rm', 'gitlab'], 2, { env });
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--yes/);
    await kpm(home, ['get', 'gitlab'], 0, { env });
  });

  it('rm --yes deletes; trash lists it; get of the removed entry exits 3', async () => {
    await renameGithub();
    const r = await kpm(home, ['rm', 'gitlab', '--yes'], 0, { env });
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Deleted Personal\/gitlab/);
    const trash = await kpm(home, ['trash', '--json'], 0, { env });
    expect(JSON.parse(trash.stdout).map((i: { name: string }) => i.name)).toEqual(['gitlab']);
    const human = await kpm(home, ['trash'], 0, { env });
    expect(human.stdout).toMatch(/^gitlab\s+\[Personal\]/);
    const g = await kpm(home, ['get', 'gitlab'], 3, { env });
    expect(g.stdout).toBe('');
    const ls = JSON.parse((await kpm(home, ['list', '--json'], 0, { env })).stdout);
    expect(ls.map((i: { name: string }) => i.name)).toEqual(['github-work']);
  });

  it('a removed name can be used again by a new entry', async () => {
    await kpm(home, ['rm', 'gitlab', '--yes'], 0, { env });
    await addEntry(home, 'gitlab', 'second-life');
    expect((await kpm(home, ['get', 'gitlab'], 0, { env })).stdout).toBe('second-life\n');
  });

  it('status --json needs no password and reports locked and the entry count', async () => {
    const r = await kpm(home, ['status', '--json'], 0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ initialized: true, locked: true, vaults: 1, entries: 2 });
    expect(s.path).toBe(join(home, 'data'));
  });

  it('without a password, a terminal or an agent, get exits 4 with empty stdout', async () => {
    const r = await kpm(home, ['get', 'gitlab'], 4);
    expect(r.stdout).toBe('');
  });
});

describe('with the agent (kpm unlock / kpm lock)', () => {
  // `base`: one entry (mail), never unlocked; `unlocked`: a copy of it the beforeAll unlocked, for the
  // tests that only read it or add names of their own; a test that unlocks or locks itself, or checks
  // an exact listing, works on a copy of its own, so no test depends on another having run
  let base: string;
  let unlocked: string;
  const unlockedCopy = async (): Promise<string> => {
    const h = copyHome(base);
    await kpm(h, ['unlock', '--password-stdin'], 0, { input: MASTER + '\n' });
    return h;
  };

  beforeAll(async () => {
    base = initHome();
    await addEntry(base, 'mail', 'mail-secret', ['--username', 'me@example.com']);
    unlocked = await unlockedCopy();
  });

  it('unlock --password-stdin starts the agent; status --json shows unlocked', async () => {
    const home = copyHome(base);
    const r = await kpm(home, ['unlock', '--password-stdin'], 0, { input: MASTER + '\n' });
    expect(r.stdout).toBe('');
    expect(agentPid(home)).toBeGreaterThan(0);
    const s = JSON.parse((await kpm(home, ['status', '--json'], 0)).stdout);
    expect(s).toMatchObject({ initialized: true, locked: false, entries: 1 });
    expect(s.autolockSeconds).toBeGreaterThan(0);
  });

  it('unlock again says it is already unlocked and exits 0', async () => {
    const r = await kpm(unlocked, ['unlock', '--password-stdin'], 0, { input: MASTER + '\n' });
    expect(r.stderr).toMatch(/already unlocked/);
  });

  it('get works without a password and prints exactly the password', async () => {
    const r = await kpm(unlocked, ['get', 'mail'], 0);
    expect(r.stdout).toBe('mail-secret\n');
    expect((await kpm(unlocked, ['get', 'mail', '--field', 'username'], 0)).stdout).toBe('me@example.com\n');
  });

  it('add, list, edit, get --json, rm and trash work through the agent', async () => {
    const home = await unlockedCopy();
    await kpm(home, ['add', 'bank', '--password-stdin', '--username', 'acct-1'], 0, { input: 'bank-secret\n' });
    expect((await kpm(home, ['get', 'bank'], 0)).stdout).toBe('bank-secret\n');
    const ls = JSON.parse((await kpm(home, ['list', '--json'], 0)).stdout);
    expect(ls.map((i: { name: string }) => i.name)).toEqual(['bank', 'mail']);
    await kpm(home, ['edit', 'bank', '--password-stdin'], 0, { input: 'bank-secret-2\n' });
    const j = JSON.parse((await kpm(home, ['get', 'bank', '--json'], 0)).stdout);
    expect(Object.keys(j).sort()).toEqual(ENTRY_JSON_KEYS);
    expect(j).toMatchObject({ name: 'bank', version: 2, fields: { password: 'bank-secret-2', username: 'acct-1' } });
    await kpm(home, ['rm', 'bank', '--yes'], 0);
    expect((await kpm(home, ['get', 'bank'], 3)).stdout).toBe('');
    const trash = JSON.parse((await kpm(home, ['trash', '--json'], 0)).stdout);
    expect(trash.map((i: { name: string }) => i.name)).toEqual(['bank']);
  });

  it('the agent sees changes made without it (KPM_MASTER_PASSWORD in another process)', async () => {
    await addEntry(unlocked, 'side-door', 'side-secret');
    expect((await kpm(unlocked, ['get', 'side-door'], 0)).stdout).toBe('side-secret\n');
  });

  it('lock stops the agent; then get exits 4, stdout empty, one line plus a hint on stderr', async () => {
    const home = await unlockedCopy();
    const pid = agentPid(home);
    const r = await kpm(home, ['lock'], 0);
    expect(r.stdout).toBe('');
    expect(pid).toBeDefined();
    await waitUntil('the agent to exit after kpm lock', () => agentPid(home) === undefined);
    expect(agentPid(home)).toBeUndefined();
    const g = await kpm(home, ['get', 'mail'], 4);
    expect(g.stdout).toBe('');
    const errLines = lines(g.stderr);
    expect(errLines.length, g.stderr).toBeGreaterThanOrEqual(1);
    expect(errLines.length, g.stderr).toBeLessThanOrEqual(2);
    expect(errLines[0]).toMatch(/^kpm: .*locked/);
    expect(g.stderr).toMatch(/kpm unlock/);
  });

  it('status --json after lock: locked, entry count still known without a password', async () => {
    const home = await unlockedCopy();
    await kpm(home, ['add', 'second', '--password-stdin'], 0, { input: 'second-secret\n' }); // through the agent
    await kpm(home, ['lock'], 0);
    await waitUntil('the agent to exit after kpm lock', () => agentPid(home) === undefined);
    const s = JSON.parse((await kpm(home, ['status', '--json'], 0)).stdout);
    expect(s).toMatchObject({ initialized: true, locked: true, entries: 2 });
    expect(s.autolockSeconds).toBeNull();
  });

  it('lock when already locked exits 0', async () => {
    const home = copyHome(base); // no agent runs for it
    const r = await kpm(home, ['lock'], 0);
    expect(r.stderr).toMatch(/already locked/);
    expect(agentPid(home)).toBeUndefined();
  });
});

describe('several vaults', () => {
  let home: string;
  const env = withMaster();

  // every test reads what this makes (each exit 0 checked), none relies on another test having run
  beforeAll(async () => {
    home = initHome();
    await kpm(home, ['vault', 'create', 'Work'], 0, { env });
    await addEntry(home, 'vpn', 'personal-vpn');
    await addEntry(home, 'vpn', 'work-vpn', ['--vault', 'Work']);
  });

  it('vault create Work, then the same name in Personal and Work: get NAME exits 2 and names both', async () => {
    const r = await kpm(home, ['get', 'vpn'], 2, { env });
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Personal/vpn');
    expect(r.stderr).toContain('Work/vpn');
    expect(r.stderr).not.toContain('personal-vpn');
    expect(r.stderr).not.toContain('work-vpn');
  });

  it('--vault picks one', async () => {
    expect((await kpm(home, ['get', 'vpn', '--vault', 'Work'], 0, { env })).stdout).toBe('work-vpn\n');
    expect((await kpm(home, ['get', 'vpn', '--vault', 'Personal'], 0, { env })).stdout).toBe('personal-vpn\n');
    const j = JSON.parse((await kpm(home, ['get', 'vpn', '--vault', 'work', '--json'], 0, { env })).stdout);
    expect(j.vault).toBe('Work');
  });

  it('the same name twice in one vault is refused with exit 7', async () => {
    const r = await run(['add', 'vpn', '--password-stdin', '--vault', 'Work'], { home, env, input: 'again\n' });
    expectCode(['add', 'vpn'], r, 7);
    expect((await kpm(home, ['get', 'vpn', '--vault', 'Work'], 0, { env })).stdout).toBe('work-vpn\n');
  });

  it('list shows both, --vault filters, vault list counts', async () => {
    const all = JSON.parse((await kpm(home, ['list', '--json'], 0, { env })).stdout);
    expect(all.map((i: { vault: string; name: string }) => `${i.vault}/${i.name}`)).toEqual(['Personal/vpn', 'Work/vpn']);
    const human = lines((await kpm(home, ['list'], 0, { env })).stdout);
    expect(human).toHaveLength(2);
    expect(human.some((l) => /\[Work\]$/.test(l))).toBe(true);
    const work = JSON.parse((await kpm(home, ['list', '--vault', 'Work', '--json'], 0, { env })).stdout);
    expect(work).toHaveLength(1);
    const vs = JSON.parse((await kpm(home, ['vault', 'list', '--json'], 0, { env })).stdout);
    expect(vs.map((v: { name: string; entries: number }) => [v.name, v.entries]).sort()).toEqual([['Personal', 1], ['Work', 1]]);
  });

  it('an unknown vault exits 3', async () => {
    const r = await kpm(home, ['get', 'vpn', '--vault', 'Nope'], 3, { env });
    expect(r.stdout).toBe('');
  });

  it('status counts entries of all vaults', async () => {
    const s = JSON.parse((await kpm(home, ['status', '--json'], 0)).stdout);
    expect(s).toMatchObject({ vaults: 2, entries: 2 });
  });
});

describe('totp', () => {
  let home: string;
  const env = withMaster();
  const secret = seeded('core-totp-secret', 20); // the same secret every run
  const uri = `otpauth://totp/Example:alice@example.com?secret=${base32(secret)}&issuer=Example&algorithm=SHA1&digits=6&period=30`;

  beforeAll(async () => {
    home = initHome();
    await addEntry(home, 'example', 'pw', ['--totp', uri]);
  });

  it('kpm totp NAME prints the current 6-digit RFC 6238 code', async () => {
    const t0 = Date.now();
    const r = await kpm(home, ['totp', 'example'], 0, { env });
    const t1 = Date.now();
    expect(r.stdout).toMatch(/^\d{6}\n$/);
    expect(totpCodesBetween(secret, t0, t1)).toContain(r.stdout.trim());
  });

  it('get --field totp prints the code, not the secret', async () => {
    const t0 = Date.now();
    const r = await kpm(home, ['get', 'example', '--field', 'totp'], 0, { env });
    const t1 = Date.now();
    expect(totpCodesBetween(secret, t0, t1)).toContain(r.stdout.trim());
    expect(r.stdout).not.toContain(base32(secret));
  });

  it('totp --json gives code, secondsLeft and period', async () => {
    const t0 = Date.now();
    const j = JSON.parse((await kpm(home, ['totp', 'example', '--json'], 0, { env })).stdout);
    const t1 = Date.now();
    expect(totpCodesBetween(secret, t0, t1)).toContain(j.code);
    expect(j.period).toBe(30);
    expect(j.secondsLeft).toBeGreaterThanOrEqual(1);
    expect(j.secondsLeft).toBeLessThanOrEqual(30);
  });

  it('totp of an entry without a secret exits 3', async () => {
    await addEntry(home, 'plain', 'pw');
    const r = await kpm(home, ['totp', 'plain'], 3, { env });
    expect(r.stdout).toBe('');
  });

  it('add --totp with an invalid secret exits 2 and saves nothing', async () => {
    const r = await kpm(home, ['add', 'bad-otp', '--password-stdin', '--totp', 'otpauth://totp/x?secret=not-base32!'], 2, { env, input: 'pw\n' });
    expect(r.stdout).toBe('');
    await kpm(home, ['get', 'bad-otp'], 3, { env });
  });
});

describe('generate', () => {
  const gh = makeHome(); // generate needs no vault, but keep every run away from the real home
  const PRINTABLE = /^[\x21-\x7e]+$/;

  it('default: 20 printable characters and a newline', async () => {
    const r = await kpm(gh, ['generate'], 0);
    expect(r.stdout).toMatch(/^[\x21-\x7e]{20}\n$/);
    expect(r.stderr).toBe('');
  });

  it('two runs differ', async () => {
    const [a, b] = await Promise.all([run(['generate'], { home: gh }), run(['generate'], { home: gh })]);
    expect(a.stdout).not.toBe(b.stdout);
  });

  it('--length 64', async () => {
    const r = await kpm(gh, ['generate', '--length', '64'], 0);
    expect(r.stdout.trimEnd()).toHaveLength(64);
    expect(r.stdout.trimEnd()).toMatch(PRINTABLE);
  });

  it('--no-symbols gives letters and digits only', async () => {
    const r = await kpm(gh, ['generate', '--no-symbols', '--length', '200'], 0);
    expect(r.stdout).toMatch(/^[A-Za-z0-9]{200}\n$/);
  });

  it('--words 6 gives six words', async () => {
    const r = await kpm(gh, ['generate', '--words', '6', '--separator', ' '], 0);
    const words = r.stdout.trimEnd().split(' ');
    expect(words).toHaveLength(6);
    for (const w of words) expect(w).toMatch(/^[a-z][a-z-]*$/);
    const dashed = await kpm(gh, ['generate', '--words', '6'], 0);
    expect(dashed.stdout).toMatch(/^[a-z-]+\n$/);
    const j = JSON.parse((await kpm(gh, ['generate', '--words', '6', '--json'], 0)).stdout);
    expect(j).toMatchObject({ kind: 'passphrase', words: 6 });
    expect(j.entropyBits).toBeGreaterThan(77);
  });

  it('--json for the default has entropyBits ≥ 128', async () => {
    const j = JSON.parse((await kpm(gh, ['generate', '--json'], 0)).stdout);
    expect(j).toMatchObject({ kind: 'password', length: 20 });
    expect(j.password).toMatch(/^[\x21-\x7e]{20}$/);
    expect(j.entropyBits).toBeGreaterThanOrEqual(128);
  });
});
