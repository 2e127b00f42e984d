// `kpm audit` end to end, through the built binary: a fixture vault with weak, reused and breached
// passwords; the range API served on loopback (hibp_url from config.json, or --hibp-url) and
// recorded; the offline hash file; --json shape; --fail-on exit codes; network failure.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addEntry, initHome, describeRun, leaks, MASTER, run, withMaster, type RunResult } from '../helpers/kpm.js';
import { deadUrl, sha1, startRangeServer, writeHashFile, type RangeServer } from '../helpers/hibp.js';

const EXIT_FINDINGS = 10;

// name → password; vault Personal unless "Vault/name"
const ENTRIES: Record<string, string> = {
  github: 'letmein123', // weak, breached
  gitlab: 'Shared-Secret-Phrase-42!', // reused ×3
  'Work/jira': 'Shared-Secret-Phrase-42!',
  'Work/confluence': 'Shared-Secret-Phrase-42!',
  bank: 'Vq8#zL2!mN5@xR7$', // clean
  forum: 'Tr0ub4dor&3', // breached (7), not weak by zxcvbn's standard
  shop: 'kpm-clean-6f1d2a9c7b3e-zz', // clean
};
const BREACHED_COUNTS: Record<string, number> = { letmein123: 10_434_004, 'Tr0ub4dor&3': 7, 'never-used-in-vault': 99 };
const SECRETS = [MASTER, ...Object.values(ENTRIES)];
const BREACHED_BY_HASH = Object.fromEntries(Object.entries(BREACHED_COUNTS).map(([pw, n]) => [sha1(pw), n]));

let home: string;
let server: RangeServer;
let hashFile: string;

function check(args: string[], r: RunResult, code: number): RunResult {
  expect(r.code, describeRun(args, r)).toBe(code);
  expect(leaks(r, SECRETS), describeRun(args, r)).toEqual([]);
  return r;
}

async function audit(args: string[], code: number, env: Record<string, string | undefined> = withMaster()): Promise<RunResult> {
  return check(['audit', ...args], await run(['audit', ...args], { home, env }), code);
}

interface Report {
  summary: { checked: number; weak: number; reused: number; old: number; breached: number };
  weak: { id: string; vault: string; name: string; score: number; guessesLog10: number; hint: string }[];
  reused: { entries: { id: string; vault: string; name: string }[] }[];
  old: { id: string; vault: string; name: string; passwordChanged: string; ageDays: number }[];
  breached: { id: string; vault: string; name: string; count: number }[];
  skipped: { check: string; reason: string }[];
  errors: { check: string; message: string }[];
}
const parse = (r: RunResult) => JSON.parse(r.stdout) as Report;
const names = (xs: { vault: string; name: string }[]) => xs.map((x) => `${x.vault}/${x.name}`).sort();

beforeAll(async () => {
  server = await startRangeServer(BREACHED_BY_HASH);
  home = initHome();
  const vaultCreate = await run(['vault', 'create', 'Work'], { home, env: withMaster() });
  expect(vaultCreate.code, describeRun(['vault', 'create', 'Work'], vaultCreate)).toBe(0);
  for (const [key, pw] of Object.entries(ENTRIES)) {
    const [vault, name] = key.includes('/') ? key.split('/') : ['Personal', key];
    await addEntry(home, name, pw, ['--username', 'someone', '--vault', vault]);
  }
  // entries without a password are not audited
  const note = await run(['add', 'a-note', '--type', 'note', '--notes', 'password'], { home, env: withMaster(), input: '' });
  expect(note.code, describeRun(['add'], note)).toBe(0);
  mkdirSync(join(home, 'config'), { recursive: true });
  writeFileSync(join(home, 'config', 'config.json'), JSON.stringify({ hibp_url: server.url }) + '\n', { mode: 0o600 });
  hashFile = join(home, 'pwned-sha1-ordered-by-hash.txt');
  writeHashFile(hashFile, 200_000, BREACHED_BY_HASH, { crlf: true });
});
afterAll(() => server?.close());

describe('kpm audit', () => {
  it('reports weak, reused and breached passwords as JSON, using hibp_url, sending only prefixes', async () => {
    const before = server.requests.length;
    const r = parse(await audit(['--json'], 0));
    expect(Object.keys(r)).toEqual(['summary', 'weak', 'reused', 'old', 'breached', 'skipped', 'vaultsNotChecked', 'errors']);
    expect(r.summary).toEqual({ checked: 7, weak: r.weak.length, reused: 3, old: 0, breached: 2 });
    expect(names(r.weak)).toContain('Personal/github');
    expect(names(r.weak)).not.toContain('Personal/bank');
    const gh = r.weak.find((w) => w.name === 'github')!;
    expect(gh.score).toBeLessThanOrEqual(1);
    expect(gh.hint).toMatch(/common/i);
    expect(typeof gh.guessesLog10).toBe('number');
    expect(gh.id).toMatch(/^[0-9a-f]{32}$/);
    expect(r.reused.map((g) => names(g.entries))).toEqual([['Personal/gitlab', 'Work/confluence', 'Work/jira']]);
    expect(r.breached.map((b) => [b.name, b.count])).toEqual([
      ['github', 10_434_004],
      ['forum', 7],
    ]);
    expect(r.errors).toEqual([]);
    expect(r.skipped).toEqual([]);

    const reqs = server.requests.slice(before);
    expect(reqs.length).toBe(new Set(Object.values(ENTRIES).map((pw) => sha1(pw).slice(0, 5))).size);
    for (const q of reqs) {
      expect(q.url).toMatch(/^\/range\/[0-9A-F]{5}$/);
      expect(q.headers['add-padding']).toBe('true');
    }
    const raw = server.raw();
    for (const pw of Object.values(ENTRIES)) {
      expect(raw).not.toContain(pw);
      expect(raw.toUpperCase()).not.toContain(sha1(pw).slice(5));
    }
  });

  it('prints a human report grouped by problem', async () => {
    const r = await audit(['--hibp-url', server.url], 0);
    const out = r.stdout;
    expect(out).toMatch(/^Checked 7 passwords: \d+ weak, 3 reused, 2 breached\./);
    expect(out).toMatch(/\nWeak \(\d+\): strength below 3\/4\n {2}github +[01]\/4 +~10\^\d\.\d guesses +\S/);
    expect(out).toContain('\nReused (1 group, 3 entries): each line shares one password\n  gitlab, confluence [Work], jira [Work]\n');
    expect(out).toMatch(/\nBreached \(2\): .*\n {2}github +seen 10,434,004 times\n {2}forum +seen 7 times\n/);
  });

  it('audits one vault with --vault and runs only some checks with --only', async () => {
    const work = parse(await audit(['--json', '--vault', 'Work', '--offline'], 0));
    expect(work.summary.checked).toBe(2);
    expect(work.reused.map((g) => names(g.entries))).toEqual([['Work/confluence', 'Work/jira']]);
    expect(work.skipped).toEqual([{ check: 'breached', reason: '--offline without --hibp-file' }]);
    const only = parse(await audit(['--json', '--only', 'reused,old'], 0));
    expect(only.weak).toEqual([]);
    expect(only.breached).toEqual([]);
    expect(only.summary.reused).toBe(3);
  });

  it('exits 10 when a check named in --fail-on finds something, 0 otherwise', async () => {
    const [, weak] = await Promise.all([
      audit(['--offline', '--fail-on', 'old'], 0),
      audit(['--offline', '--fail-on', 'weak,old'], EXIT_FINDINGS),
      audit(['--offline', '--fail-on', 'reused', '--only', 'reused'], EXIT_FINDINGS),
      audit(['--fail-on', 'breached', '--only', 'breached'], EXIT_FINDINGS),
      audit(['--offline', '--fail-on', 'all'], EXIT_FINDINGS),
      audit(['--fail-on', 'sloppy'], 2),
      audit(['--only', 'weak', '--fail-on', 'old'], 2),
    ]);
    expect(weak.stderr).toMatch(/^kpm: audit found problems: \d+ weak$/m);
  });

  it('gives the same report with the strength estimates on worker threads', async () => {
    const [inThread, onWorkers] = await Promise.all([
      audit(['--json', '--offline', '--no-cache'], 0, { ...withMaster(), KPM_AUDIT_WORKERS: '0' }), // estimated here, not read from the cache
      audit(['--json', '--offline', '--no-cache'], 0, { ...withMaster(), KPM_AUDIT_WORKERS: '2' }),
    ]);
    expect(parse(onWorkers)).toEqual(parse(inThread));
  });

  it('checks breaches offline against a hash file with the same answers and no request', async () => {
    const before = server.requests.length;
    const r = parse(await audit(['--json', '--offline', '--hibp-file', hashFile], 0));
    expect(r.breached.map((b) => [b.name, b.count])).toEqual([
      ['github', 10_434_004],
      ['forum', 7],
    ]);
    await audit(['--hibp-file', hashFile, '--only', 'breached', '--fail-on', 'breached'], EXIT_FINDINGS); // the file implies --offline
    expect(server.requests.length).toBe(before);
    await audit(['--hibp-file', join(home, 'no-such-file.txt')], 2);
  });

  it('prints the rest of the report and a one-line message when the service is down', async () => {
    const url = await deadUrl();
    const r = await audit(['--json', '--hibp-url', url], 6);
    const rep = parse(r);
    expect(rep.summary.reused).toBe(3);
    expect(rep.weak.length).toBeGreaterThan(0);
    expect(rep.breached).toEqual([]);
    expect(rep.errors).toHaveLength(1);
    expect(rep.errors[0].check).toBe('breached');
    expect(r.stderr).toMatch(/^kpm: breached passwords not checked: cannot reach the Pwned Passwords service at http:\/\/127\.0\.0\.1:\d+: \S+/m);
    // findings named in --fail-on take precedence over the failed check
    await audit(['--hibp-url', url, '--fail-on', 'reused'], EXIT_FINDINGS);
    // plain http to anything but loopback is refused before anything is sent
    await audit(['--hibp-url', 'http://pwned.example.com'], 2);
  });

  it('needs the vault unlocked', async () => {
    const r = await audit(['--offline'], 4, {});
    expect(r.stderr).toMatch(/locked/);
    const viaStdin = await run(['audit', '--offline', '--only', 'reused', '--password-stdin'], { home, input: MASTER + '\n' });
    check(['audit'], viaStdin, 0);
  });

  it('names each data vault it could not check because it is locked (text and --json)', async () => {
    const h = initHome();
    const ok = async (args: string[], input?: string) => {
      const r = await run(args, { home: h, input });
      expect(r.code, describeRun(args, r)).toBe(0);
      return r;
    };
    await ok(['unlock', '--password-stdin'], MASTER + '\n'); // data vaults stay unlocked in the agent
    await ok(['vault', 'create', 'Private', '--own-password', '--vault-password-stdin'], 'Quartz-Lantern-Meadow-91\n');
    await ok(['vault', 'unlock', 'Private', '--vault-password-stdin'], 'Quartz-Lantern-Meadow-91\n');
    await ok(['add', 'diary', '--password-stdin', '--vault', 'Private'], 'letmein123\n');
    await ok(['vault', 'lock', 'Private']);
    await ok(['add', 'shop', '--password-stdin'], 'kpm-clean-6f1d2a9c7b3e-zz\n');
    const text = await ok(['audit', '--offline', '--only', 'weak,reused']);
    expect(text.stdout).toMatch(/Note: vault "Private": not checked, locked \(own password\)/);
    const j = JSON.parse((await ok(['audit', '--offline', '--only', 'weak,reused', '--json'])).stdout) as { vaultsNotChecked: { vault: string }[]; summary: { checked: number } };
    expect(j.vaultsNotChecked.map((v) => v.vault)).toEqual(['Private']);
    expect(j.summary.checked).toBe(1);
  });

  it('keeps the strength estimates in an encrypted cache: the same report again, through the agent too; --no-cache neither reads nor writes it', async () => {
    const h = initHome();
    const ok = async (args: string[], input?: string, env?: Record<string, string | undefined>) => {
      const r = await run(args, { home: h, input, env });
      expect(r.code, describeRun(args, r)).toBe(0);
      expect(leaks(r, SECRETS), describeRun(args, r)).toEqual([]);
      return r;
    };
    for (const [name, pw] of Object.entries(ENTRIES)) if (!name.includes('/')) await addEntry(h, name, pw, ['--username', 'someone']);
    const cacheFile = join(h, 'data', 'audit-cache.kpm');
    const fresh = parse(await ok(['audit', '--json', '--offline', '--no-cache'], undefined, withMaster()));
    expect(existsSync(cacheFile)).toBe(false);
    const first = parse(await ok(['audit', '--json', '--offline'], undefined, withMaster()));
    expect(existsSync(cacheFile)).toBe(true);
    expect(statSync(cacheFile).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(cacheFile).toString('latin1');
    for (const pw of Object.values(ENTRIES)) expect(bytes).not.toContain(pw);
    await ok(['unlock', '--password-stdin'], MASTER + '\n');
    const viaAgent = parse(await ok(['audit', '--json', '--offline']));
    expect(first).toEqual(fresh);
    expect(viaAgent).toEqual(fresh);
    expect(first.weak.map((w) => w.name)).toContain('github');
  });

  it("the built program's estimates (word index from dist/audit-dictionary.bin, prefilter here, the rest on a worker) are those of zxcvbn-ts from its word lists", async () => {
    // enough passwords for the worker that starts at once (src/audit/pool.ts), weak and strong ones
    const h = initHome();
    const words = ['dragon', 'sunshine', 'monkey', 'shadow', 'master', 'football', 'baseball', 'summer', 'princess', 'welcome'];
    const pws = Array.from({ length: 160 }, (_, i) =>
      i % 4 === 0 ? `${words[i % words.length]}${1980 + (i % 40)}` : i % 4 === 1 ? `${words[(i * 7) % words.length]}!${i}` : i % 4 === 2 ? `pw-${i}-${((i * 2654435761) >>> 0).toString(36)}` : `Zq${i}#vK${(i * 7919) % 1000}-mL${i}x`,
    );
    const csv = join(h, 'many.csv');
    writeFileSync(csv, `name,username,password\n${pws.map((pw, i) => `site${i},user${i},${pw}`).join('\n')}\n`, { mode: 0o600 });
    const imp = await run(['import', csv, '--format', 'csv'], { home: h, env: withMaster() });
    expect(imp.code, describeRun(['import'], imp)).toBe(0);
    const report = async (workers: string) => {
      const r = await run(['audit', '--json', '--offline', '--no-cache', '--only', 'weak'], { home: h, env: { ...withMaster(), KPM_AUDIT_WORKERS: workers } });
      expect(r.code, describeRun(['audit'], r)).toBe(0);
      return parse(r);
    };
    const [onWorker, here] = await Promise.all([report('1'), report('0')]);
    expect(onWorker).toEqual(here);
    expect(onWorker.summary.checked).toBe(pws.length);
    expect(onWorker.weak.length).toBeGreaterThan(60);
    // each weak finding is zxcvbn-ts's own estimate, from the sources (which index the word lists)
    const { estimate, weaknessHint } = await import('../../src/audit/strength.js');
    for (const w of onWorker.weak) {
      const i = Number(w.name.slice(4));
      const e = await estimate(pws[i], [`site${i}`, `user${i}`]);
      expect({ name: w.name, score: w.score, guessesLog10: w.guessesLog10, hint: w.hint }).toEqual({ name: w.name, score: e.score, guessesLog10: e.guessesLog10, hint: weaknessHint(e) });
    }
  });

  it('has help with examples', async () => {
    const r = await run(['audit', '--help'], { home });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--fail-on <checks>');
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('--hibp-file');
  });
});
