// The agent against another local user (security review S2, S9, S13) and its own commands.
// The tests run as root on the CI machine: "another user" is simulated by chown-ing what she
// planted to uid 65534 (nobody). Without root, the tests that need chown are skipped.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentPid, agentRequest, initHome, describeRun, leaks, makeHome, MASTER, run, runOk, runTty, describeTty, stopAgent } from '../helpers/kpm.js';

const ROOT = process.getuid?.() === 0;
const OTHER = 65534;

/** The folder kpm used before the fix when $KPM_HOME/run/agent.sock was too long: predictable. */
function oldPredictableDir(home: string): string {
  const run = join(home, 'run');
  let h = 0x811c9dc5;
  for (let i = 0; i < run.length; i++) {
    h ^= run.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return join(os.tmpdir(), `kpm-${process.getuid?.() ?? 0}-${h.toString(16).padStart(8, '0')}`);
}

/** A home whose run/agent.sock is longer than a Unix socket path may be. */
function longHome(): string {
  const base = makeHome();
  const h = join(base, 'a-rather-long-folder-name-for-the-profile'.repeat(2));
  fs.mkdirSync(h, { recursive: true });
  expect(join(h, 'run', 'agent.sock').length).toBeGreaterThan(100);
  return h;
}

/** The attacker's fake agent: answers like an unlocked agent and writes every request to a log. */
const FAKE_AGENT = `
const net = require('node:net'); const fs = require('node:fs');
const [dir, log] = process.argv.slice(2);
const srv = net.createServer((s) => { let b = ''; s.setEncoding('utf8'); s.on('data', (c) => { b += c; const i = b.indexOf('\\n'); if (i < 0) return;
  const req = JSON.parse(b.slice(0, i)); fs.appendFileSync(log, JSON.stringify(req) + '\\n');
  const payload = { type: 'login', name: 'site', fields: { password: 'ATTACKER-VALUE' }, custom: [], tags: [], created: '', updated: '' };
  const ok = req.method === 'status' ? { pid: process.pid, idleSeconds: 900, entries: 1 } : req.method === 'get' ? { id: 'x', vault: 'Personal', version: 1, payload } : req.method === 'add' ? { id: 'y', vault: 'Personal', version: 1, payload: req.params[1] } : true;
  s.end(JSON.stringify({ ok }) + '\\n'); }); });
srv.listen(dir + '/agent.sock', () => { fs.chmodSync(dir + '/agent.sock', 0o777); process.stdout.write('ready\\n'); });
`;

const fakes: ChildProcess[] = [];
afterAll(() => {
  for (const f of fakes) f.kill('SIGKILL');
});

/** Plants a fake agent in `dir` as another user would: her folder, her socket, a token anyone can read. */
async function plantFakeAgent(dir: string): Promise<{ log: string; stop: () => void }> {
  const work = fs.mkdtempSync(join(os.tmpdir(), 'kpm-attacker-'));
  const script = join(work, 'fake-agent.cjs');
  const log = join(work, 'requests.log');
  fs.writeFileSync(script, FAKE_AGENT);
  fs.writeFileSync(log, '');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.writeFileSync(join(dir, 'agent.token'), 'attacker-token', { mode: 0o644 });
  fs.writeFileSync(join(dir, 'agent.pid'), '1', { mode: 0o644 });
  const child = spawn(process.execPath, [script, dir, log], { stdio: ['ignore', 'pipe', 'inherit'] });
  fakes.push(child);
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  for (const f of ['', 'agent.token', 'agent.pid', 'agent.sock']) fs.chownSync(join(dir, f), OTHER, OTHER);
  return {
    log,
    stop: () => {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/** Pids of the agents serving `home` (found by their command line and KPM_HOME). */
function agentsOf(home: string): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (!cmd.includes('__agent')) continue;
      const env = fs.readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (env.includes(`KPM_HOME=${home}`)) pids.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

const unlock = (home: string, extra: string[] = []) => run(['unlock', '--password-stdin', ...extra], { home, input: MASTER + '\n' });

describe.skipIf(!ROOT)('S2: another local user cannot plant a fake agent', () => {
  it('S2: a fake agent in the folder kpm used to predict (long KPM_HOME) is never talked to: status locked, get and add do not reach it', async () => {
    const home = initHome(longHome()); // a vault as `kpm init` leaves it (the fixture home), at a long path
    await runOk(['add', 'site', '--password-stdin'], { home, env: { KPM_MASTER_PASSWORD: MASTER }, input: 'the-real-value\n' });
    const fake = await plantFakeAgent(oldPredictableDir(home));
    try {
      const st = await run(['status', '--json'], { home });
      expect(st.code, describeRun(['status'], st)).toBe(0);
      expect(JSON.parse(st.stdout).locked).toBe(true);
      const get = await run(['get', 'site'], { home });
      expect(get.code, describeRun(['get'], get)).toBe(4);
      expect(get.stdout).not.toContain('ATTACKER-VALUE');
      const add = await run(['add', 'new-one', '--password-stdin'], { home, input: 'a-new-secret-value\n' });
      expect(add.code, describeRun(['add'], add)).toBe(4);
      // the real agent: in a folder of its own, named in run/agent.dir, never the planted one
      const u = await unlock(home);
      expect(u.code, describeRun(['unlock'], u)).toBe(0);
      expect((await runOk(['get', 'site'], { home })).stdout).toBe('the-real-value\n');
      await runOk(['add', 'new-one', '--password-stdin'], { home, input: 'a-new-secret-value\n' });
      const dir = fs.readFileSync(join(home, 'run', 'agent.dir'), 'utf8');
      expect(dir).not.toBe(oldPredictableDir(home));
      const ds = fs.lstatSync(dir);
      expect([ds.isDirectory(), ds.uid, ds.mode & 0o777]).toEqual([true, process.getuid!(), 0o700]);
      expect(fs.readFileSync(fake.log, 'utf8')).toBe(''); // the fake agent heard nothing
      await runOk(['lock'], { home });
      expect(fs.existsSync(dir)).toBe(false);
      expect(fs.existsSync(join(home, 'run', 'agent.dir'))).toBe(false);
    } finally {
      stopAgent(home);
      fake.stop();
    }
  }, 120_000);

  it("S2: the client refuses (exit 9) an agent folder, socket or token that is not the user's alone, and sends nothing", async () => {
    const home = initHome();
    await runOk(['add', 'site', '--password-stdin'], { home, env: { KPM_MASTER_PASSWORD: MASTER }, input: 'the-real-value\n' });
    expect((await unlock(home)).code).toBe(0);
    const runDir = join(home, 'run');
    try {
      const cases: Array<[string, () => void, () => void, RegExp]> = [
        ['folder of another user', () => fs.chownSync(runDir, OTHER, OTHER), () => fs.chownSync(runDir, 0, 0), /belongs to another user/],
        ['folder mode 0755', () => fs.chmodSync(runDir, 0o755), () => fs.chmodSync(runDir, 0o700), /mode 0755/],
        ['token of another user', () => fs.chownSync(join(runDir, 'agent.token'), OTHER, OTHER), () => fs.chownSync(join(runDir, 'agent.token'), 0, 0), /agent\.token belongs to another user/],
        ['token readable by others', () => fs.chmodSync(join(runDir, 'agent.token'), 0o644), () => fs.chmodSync(join(runDir, 'agent.token'), 0o600), /agent\.token has mode 0644/],
        ['socket of another user', () => fs.lchownSync(join(runDir, 'agent.sock'), OTHER, OTHER), () => fs.lchownSync(join(runDir, 'agent.sock'), 0, 0), /agent\.sock belongs to another user/],
      ];
      for (const [what, spoil, repair, message] of cases) {
        spoil();
        for (const args of [['get', 'site'], ['status'], ['list']]) {
          const r = await run(args, { home });
          expect(r.code, `${what}: ${describeRun(args, r)}`).toBe(9);
          expect(r.stderr, what).toMatch(message);
          expect(r.stdout, what).not.toContain('the-real-value');
          expect(leaks(r), what).toEqual([]);
        }
        repair();
        expect((await runOk(['get', 'site'], { home })).stdout, what).toBe('the-real-value\n');
      }
      // a symlink where the token was: refused, not followed
      const token = join(runDir, 'agent.token');
      fs.renameSync(token, `${token}.real`);
      fs.symlinkSync(`${token}.real`, token);
      const r = await run(['get', 'site'], { home });
      expect([r.code, r.stderr.includes('symbolic link')], describeRun(['get'], r)).toEqual([9, true]);
      fs.rmSync(token);
      fs.renameSync(`${token}.real`, token);
      await runOk(['lock'], { home });
    } finally {
      stopAgent(home);
    }
  }, 120_000);

  it('S2: the long-path folder chowned to another user is refused by the client (exit 9)', async () => {
    const home = initHome(longHome()); // a vault as `kpm init` leaves it (the fixture home), at a long path
    expect((await unlock(home)).code).toBe(0);
    const dir = fs.readFileSync(join(home, 'run', 'agent.dir'), 'utf8');
    try {
      fs.chownSync(dir, OTHER, OTHER);
      const r = await run(['status'], { home });
      expect([r.code, /belongs to another user/.test(r.stderr)], describeRun(['status'], r)).toEqual([9, true]);
      fs.chownSync(dir, 0, 0);
      await runOk(['lock'], { home });
    } finally {
      stopAgent(home);
    }
  });

  it("S2: the agent refuses to start in a run folder that is a symlink or another user's (exit 9), and holds no keys", async () => {
    const home = initHome();
    const elsewhere = fs.mkdtempSync(join(os.tmpdir(), 'kpm-elsewhere-'));
    try {
      fs.symlinkSync(elsewhere, join(home, 'run'));
      const r = await unlock(home);
      expect([r.code, /symbolic link/.test(r.stderr)], describeRun(['unlock'], r)).toEqual([9, true]);
      expect(agentsOf(home)).toEqual([]);
      expect(fs.readdirSync(elsewhere)).toEqual([]);
      fs.rmSync(join(home, 'run'));
      fs.mkdirSync(join(home, 'run'), { mode: 0o700 });
      fs.chownSync(join(home, 'run'), OTHER, OTHER);
      const r2 = await unlock(home);
      expect([r2.code, /belongs to another user/.test(r2.stderr)], describeRun(['unlock'], r2)).toEqual([9, true]);
      expect(agentsOf(home)).toEqual([]);
    } finally {
      stopAgent(home);
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('S9: one agent per profile', () => {
  it('S9: concurrent `kpm unlock`s start one agent; `kpm lock` leaves none holding keys', async () => {
    const home = initHome();
    try {
      const rs = await Promise.all(Array.from({ length: 4 }, () => unlock(home)));
      for (const r of rs) expect(r.code, describeRun(['unlock'], r)).toBe(0);
      expect(agentsOf(home)).toHaveLength(1);
      expect(agentsOf(home)).toEqual([agentPid(home)]);
      const st = JSON.parse((await runOk(['status', '--json'], { home })).stdout);
      expect(st.locked).toBe(false);
      await runOk(['lock'], { home });
      expect(agentsOf(home)).toEqual([]); // `kpm lock` returns once the agent is gone
      expect(JSON.parse((await runOk(['status', '--json'], { home })).stdout).locked).toBe(true);
    } finally {
      for (const pid of agentsOf(home)) process.kill(pid, 'SIGKILL');
    }
  }, 120_000);
});

describe('S13: the agent validates every request against its method', () => {
  let home: string;
  beforeAll(async () => {
    home = initHome();
    await runOk(['add', 'site', '--password-stdin'], { home, env: { KPM_MASTER_PASSWORD: MASTER }, input: 'the-real-value\n' });
    expect((await unlock(home)).code).toBe(0);
  });
  afterAll(() => stopAgent(home));

  it('S13: a malformed `add` is refused (exit 2) and later `kpm get` and `kpm list` still work', async () => {
    const now = new Date().toISOString();
    const bad = { type: 'login', name: 'bad', fields: { password: { not: 'a string' } }, custom: [], tags: [], created: now, updated: now };
    const r = await agentRequest(home, { method: 'add', params: [null, bad] });
    expect(r.error?.exitCode, JSON.stringify(r)).toBe(2);
    expect(r.error?.message).toMatch(/agent refused the request: add parameter 2\.fields\.password: expected string/);
    const get = await run(['get', 'bad'], { home });
    expect(get.code, describeRun(['get'], get)).toBe(3);
    expect(get.stderr).not.toMatch(/endsWith|is not a function/);
    expect((await runOk(['get', 'site'], { home })).stdout).toBe('the-real-value\n');
    expect((await runOk(['list'], { home })).stdout).toContain('site');
  });

  it('S13: unknown methods, extra, missing or ill-typed parameters are refused; well-formed requests pass', async () => {
    const now = new Date().toISOString();
    const good = { type: 'login', name: 'good', fields: { password: 'p' }, custom: [], tags: [], created: now, updated: now };
    const refused: Array<Record<string, unknown>> = [
      { method: 'constructor', params: [] },
      { method: '__proto__', params: [] },
      { method: 'close', params: [] },
      { method: 'get', params: 'site' },
      { method: 'get', params: [] },
      { method: 'get', params: [42] },
      { method: 'get', params: ['site', null, 'extra'] },
      { method: 'add', params: [null, { ...good, type: 'spaceship' }] },
      { method: 'add', params: [null, { ...good, extra: 1 }] },
      { method: 'add', params: [null, { ...good, custom: [{ name: 'x', value: 1 }] }] },
      { method: 'addMany', params: [null, [good, { ...good, tags: [1] }]] },
      { method: 'update', params: ['Personal', 'x', -1, good] },
      { method: 'list', params: [{ search: 1 }] },
      { method: 'listText', params: [{}, 'yes'] },
      { method: 'restore', params: ['site', null, 1.5] },
    ];
    for (const req of refused) {
      const r = await agentRequest(home, req);
      expect(r.error?.exitCode, `${JSON.stringify(req)} → ${JSON.stringify(r)}`).toBe(2);
    }
    const ok = await agentRequest(home, { method: 'add', params: [null, good] });
    expect(ok.error, JSON.stringify(ok)).toBeUndefined();
    expect((await runOk(['get', 'good'], { home })).stdout).toBe('p\n');
  });
});

describe('kpm agent status | stop', () => {
  it('agent status shows the running agent; agent stop stops it, guarded by the settings password', async () => {
    const home = initHome();
    try {
      expect(JSON.parse((await runOk(['agent', 'status', '--json'], { home })).stdout)).toEqual({ running: false });
      expect((await unlock(home)).code).toBe(0);
      const st = JSON.parse((await runOk(['agent', 'status', '--json'], { home })).stdout);
      expect(st).toMatchObject({ running: true, pid: agentPid(home), syncHeld: false, lastSyncError: null });
      // protect the settings: stopping the agent now needs the settings password
      await runOk(['settings', 'lock', '--password-stdin'], { home, input: 'settings password 1\n' });
      const refused = await run(['agent', 'stop'], { home });
      expect(refused.code, describeRun(['agent', 'stop'], refused)).toBe(4);
      expect(agentsOf(home)).toHaveLength(1);
      const wrong = await run(['agent', 'stop', '--settings-password-stdin'], { home, input: 'not it\n' });
      expect(wrong.code, describeRun(['agent', 'stop'], wrong)).toBe(5);
      expect(agentsOf(home)).toHaveLength(1);
      const stopped = await run(['agent', 'stop', '--settings-password-stdin'], { home, input: 'settings password 1\n' });
      expect(stopped.code, describeRun(['agent', 'stop'], stopped)).toBe(0);
      expect(agentsOf(home)).toEqual([]);
      expect((await runOk(['agent', 'status'], { home })).stdout).toMatch(/not running/);
    } finally {
      stopAgent(home);
    }
  }, 120_000);
});

describe('the $EDITOR scratch file for notes', () => {
  it('is in a private 0700 folder under the run folder (not the shared temp folder), gets no kpm secret variable, and is removed', async () => {
    const home = initHome();
    const report = join(home, 'editor-report.json');
    const editor = join(home, 'editor.cjs');
    fs.writeFileSync(
      editor,
      `const fs = require('node:fs'); const path = require('node:path'); const f = process.argv[2]; const d = path.dirname(f);
       const st = fs.lstatSync(d); const fst = fs.lstatSync(f);
       fs.writeFileSync(${JSON.stringify(report)}, JSON.stringify({ file: f, dirMode: st.mode & 0o777, dirUid: st.uid, fileMode: fst.mode & 0o777, env: Object.keys(process.env).filter((k) => k.startsWith('KPM_')) }));
       fs.writeFileSync(f, 'line one\\nline two\\n');`,
    );
    const args = ['add', 'memo', '--type', 'note'];
    const r = await runTty(args, [{ expect: 'Added' }], {
      home,
      env: { KPM_MASTER_PASSWORD: MASTER, KPM_EXPORT_PASSWORD: 'export-secret', EDITOR: `${process.execPath} ${editor}` },
    });
    expect(r.code, describeTty(args, r)).toBe(0);
    const rep = JSON.parse(fs.readFileSync(report, 'utf8'));
    expect(rep.file.startsWith(join(home, 'run') + '/'), rep.file).toBe(true);
    expect([rep.dirMode, rep.dirUid, rep.fileMode]).toEqual([0o700, process.getuid!(), 0o600]);
    expect(rep.env).not.toContain('KPM_MASTER_PASSWORD');
    expect(rep.env).not.toContain('KPM_EXPORT_PASSWORD');
    expect(fs.existsSync(rep.file)).toBe(false);
    expect(fs.readdirSync(join(home, 'run')).filter((n) => n.startsWith('edit-'))).toEqual([]);
    expect((await runOk(['get', 'memo'], { home, env: { KPM_MASTER_PASSWORD: MASTER } })).stdout).toBe('line one\nline two\n');
  });
});
