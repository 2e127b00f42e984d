// The agent protocol (#18): one typed, versioned method table. An agent started by another kpm
// version is never served by this one: it is stopped and the user unlocks again (exit 4, one line).
// `getField` carries only the asked field; the fast path reports its own errors once.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentPid, agentRawRequest, initHome, BIN, cleanEnv, describeRun, MASTER, ROOT, run, runOk, stopAgent, waitUntil, type RunResult } from '../helpers/kpm.js';
import { spawn } from 'node:child_process';
import { AGENT_PROTOCOL } from '../../src/agent/socket.js';

const olds: string[] = [];
afterAll(() => {
  for (const d of olds) fs.rmSync(d, { recursive: true, force: true });
});

/**
 * An older build: a copy of the built launcher and bundles whose agent protocol is one less (the
 * constant patched in the copy), as after an upgrade the agent still runs the previous version.
 */
function olderBuild(): string {
  const snap = dirname(dirname(BIN));
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-oldbuild-'));
  olds.push(dir);
  fs.cpSync(join(snap, 'bin'), join(dir, 'bin'), { recursive: true });
  fs.cpSync(join(snap, 'dist'), join(dir, 'dist'), { recursive: true });
  fs.symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  let patched = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(mjs|cjs)$/.test(e.name)) {
        const text = fs.readFileSync(p, 'utf8');
        const next = text.replace(`AGENT_PROTOCOL = ${AGENT_PROTOCOL};`, `AGENT_PROTOCOL = ${AGENT_PROTOCOL - 1};`);
        if (next !== text) {
          fs.writeFileSync(p, next);
          patched++;
        }
      }
    }
  };
  walk(join(dir, 'dist'));
  if (patched === 0) throw new Error('the built bundles have no AGENT_PROTOCOL constant to patch');
  return join(dir, 'bin', 'kpm');
}

function runWith(bin: string, args: string[], home: string, input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [bin, ...args], { env: cleanEnv(home), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }));
    p.stdin.end(input ?? '');
  });
}

async function waitGone(pid: number): Promise<boolean> {
  // up to 30 s: only an agent that never exits fails, not a slow machine
  const gone = () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  return waitUntil(`agent ${pid} to exit`, gone).then(
    () => true,
    () => false,
  );
}

/** A proxy in front of the agent's socket of `home` that records what the agent answers; close() puts the socket back. */
async function proxyAgentSocket(home: string): Promise<{ seen: () => string; close: () => Promise<void> }> {
  const sock = join(home, 'run', 'agent.sock');
  const real = join(home, 'run', 'agent.real.sock');
  fs.renameSync(sock, real);
  let seen = '';
  const proxy = net.createServer((c) => {
    const up = net.connect(real);
    c.on('data', (d) => up.write(d));
    up.on('data', (d) => {
      seen += d.toString('utf8');
      c.write(d);
    });
    up.on('end', () => c.end());
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((ok) => proxy.listen(sock, ok));
  fs.chmodSync(sock, 0o600);
  return {
    seen: () => seen,
    close: async () => {
      await new Promise((ok) => proxy.close(ok));
      fs.rmSync(sock, { force: true });
      fs.renameSync(real, sock);
    },
  };
}

async function vaultWith(entries: Array<[string, string, string]>): Promise<string> {
  const home = initHome();
  for (const [name, user, pw] of entries) await runOk(['add', name, '--username', user, '--password-stdin'], { home, env: { KPM_MASTER_PASSWORD: MASTER }, input: pw + '\n' });
  return home;
}

describe('#18: a versioned agent protocol', () => {
  it('an agent started by an older kpm build is not served by this one: stopped, one line, exit 4; `kpm unlock` starts a new one', async () => {
    const home = await vaultWith([['site', 'someone', 'the-site-password']]);
    const old = olderBuild();
    const started = await runWith(old, ['unlock', '--password-stdin'], home, MASTER + '\n');
    expect(started.code, started.stderr).toBe(0);
    const oldPid = agentPid(home)!;
    expect(oldPid).toBeGreaterThan(0);
    expect((await runWith(old, ['get', 'site'], home)).stdout).toBe('the-site-password\n'); // it serves its own version
    try {
      const r = await run(['get', 'site'], { home });
      expect(r.code, describeRun(['get'], r)).toBe(4);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^kpm: the running agent was started by another version of kpm \\(agent protocol ${AGENT_PROTOCOL - 1}, this kpm speaks ${AGENT_PROTOCOL}\\); it was stopped: run \`kpm unlock\` again\\n$`));
      expect(await waitGone(oldPid)).toBe(true);
      expect(agentPid(home)).toBeUndefined();
      expect((await runOk(['status'], { home })).stdout).toMatch(/^locked$/m);
      await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
      expect((await runOk(['get', 'site'], { home })).stdout).toBe('the-site-password\n');
      expect((await runOk(['status', '--json'], { home })).stdout).toMatch(/"locked": false/);
    } finally {
      stopAgent(home);
    }
  });

  it('`kpm unlock` replaces an agent of another version; an older CLI is refused by a newer agent, and its `kpm lock` still stops it', async () => {
    const home = await vaultWith([['site', 'someone', 'pw-1']]);
    const old = olderBuild();
    expect((await runWith(old, ['unlock', '--password-stdin'], home, MASTER + '\n')).code).toBe(0);
    const oldPid = agentPid(home)!;
    try {
      const u = await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
      expect(u.stderr).toMatch(/stopped the agent of another kpm version/);
      expect(u.stderr).toMatch(/Unlocked/);
      expect(await waitGone(oldPid)).toBe(true);
      const newPid = agentPid(home)!;
      expect(newPid).not.toBe(oldPid);
      expect((await runOk(['get', 'site'], { home })).stdout).toBe('pw-1\n');
      // a request of another protocol version (here: none, as before versioning) is refused by the agent
      const refused = JSON.parse(await agentRawRequest(home, { method: 'get', params: ['site'] }));
      expect(refused.error).toMatchObject({ exitCode: 4, kind: 'protocol' });
      expect(JSON.stringify(refused)).not.toContain('pw-1');
      // the older build's CLI is not served either; `lock` is understood by every version
      const r = await runWith(old, ['get', 'site'], home);
      expect(r.code).toBe(4);
      expect(r.stdout).toBe('');
      expect(await waitGone(newPid)).toBe(true);
    } finally {
      stopAgent(home);
    }
  });
});

describe('#18: getField, and the fast path reports its own errors', () => {
  it('only the asked field crosses the socket for `kpm get NAME --field F` and `kpm read`', async () => {
    const home = await vaultWith([['site', 'the-user-name', 'secret-password-value']]);
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    try {
      const raw = await agentRawRequest(home, { v: AGENT_PROTOCOL, method: 'getField', params: ['site', null, 'username'] });
      expect(JSON.parse(raw).ok).toEqual({ name: 'site', vault: 'Personal', field: 'username', value: 'the-user-name' });
      expect(raw).not.toContain('secret-password-value');
      // the commands: a proxy in front of the agent's socket records what crosses it
      const proxy = await proxyAgentSocket(home);
      try {
        expect((await runOk(['get', 'site', '--field', 'username'], { home })).stdout).toBe('the-user-name\n');
        expect((await runOk(['read', 'kpm://Personal/site/username'], { home })).stdout).toBe('the-user-name\n');
        expect((await runOk(['get', 'site', '--field', 'username', '--vault', 'Personal', '--raw'], { home })).stdout).toBe('the-user-name');
        expect(proxy.seen()).toContain('the-user-name');
        expect(proxy.seen()).not.toContain('secret-password-value');
        expect((await runOk(['get', 'site'], { home })).stdout).toBe('secret-password-value\n');
      } finally {
        await proxy.close();
      }
    } finally {
      stopAgent(home);
    }
  });

  it('a failed lookup through the agent is reported once by the fast path, with the full program\'s message and exit code', async () => {
    const home = await vaultWith([['site', 'u', 'p']]);
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    try {
      const missing = await run(['get', 'nope'], { home });
      expect(missing.code).toBe(3);
      expect(missing.stderr.split('\n').filter((l) => l.startsWith('kpm: '))).toHaveLength(1);
      const field = await run(['get', 'site', '--field', 'colour'], { home });
      expect(field.code).toBe(3);
      expect(field.stderr).toBe('kpm: entry "site" has no field "colour"\n');
      const ref = await run(['read', 'kpm://Personal/site/colour'], { home });
      expect(ref.code).toBe(3);
      expect(ref.stderr).toBe('kpm: kpm://Personal/site/colour: entry "site" has no field "colour"\n');
      // the same messages as without an agent (the full program)
      const direct = await run(['get', 'site', '--field', 'colour'], { home, env: { KPM_MASTER_PASSWORD: MASTER } });
      expect(direct.stderr).toBe(field.stderr);
      expect(direct.code).toBe(3);
    } finally {
      stopAgent(home);
    }
  });

  it('`kpm restore` goes through the agent (the method table takes all four of its parameters)', async () => {
    const home = await vaultWith([['site', 'u', 'first-pw']]);
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    try {
      await runOk(['edit', 'site', '--name', 'renamed', '--password-stdin'], { home, input: 'second-pw\n' });
      const back = await run(['restore', 'renamed', '--rev', '1', '--old-name'], { home });
      expect(back.code, describeRun(['restore'], back)).toBe(0);
      expect((await runOk(['get', 'site'], { home })).stdout).toBe('first-pw\n');
      await runOk(['rm', 'site', '--yes'], { home });
      const again = await run(['restore', 'site'], { home });
      expect(again.code, describeRun(['restore'], again)).toBe(0);
      expect((await runOk(['get', 'site'], { home })).stdout).toBe('first-pw\n');
    } finally {
      stopAgent(home);
    }
  });
});

describe('#17: writes on the hot path', () => {
  it('`kpm add`, `edit`, `rm`, `restore` through the agent print and save what the full program does (warning, messages, errors, exit codes)', async () => {
    const steps: Array<[string[], string?]> = [
      [['add', 'site', '-u', 'bob', '--url', 'https://site.example', '--field', 'pin=1234', '--password-stdin'], 'pw1\n'],
      [['add', 'site', '--password-stdin'], 'another\n'], // exists: exit 7
      [['add', 'empty', '--password-stdin'], '\n'], // empty: exit 2
      [['add', 'both', '--generate', '--password-stdin'], 'x\n'],
      [['add', 'nopw', '--no-password']],
      [['add', 'quiet', '--no-check', '--password-stdin'], 'pw2\n'],
      [['edit', 'site', '--url', 'https://new.example', '--password-stdin'], 'Another-Much-Better-Pass-99!\n'],
      [['edit', 'site', '--name', 'renamed', '--field', 'pin=']],
      [['edit', 'nope', '--url', 'x']],
      [['edit', 'renamed', '--field', 'password=x']],
      [['rm', 'renamed', '--yes']],
      [['rm', 'renamed', '--yes']],
      [['restore', 'renamed']],
      [['restore', 'renamed', '--rev', '1', '--old-name']],
      [['restore', 'renamed', '--rev', '99']],
    ];
    const outcomes = async (home: string, env: Record<string, string>) => {
      const out: string[] = [];
      for (const [args, input] of steps) {
        const r = await run(args, { home, env, input });
        out.push(`${args.join(' ')} → ${r.code}\n${r.stdout}${r.stderr}`);
      }
      const list = await run(['list', '--json'], { home, env });
      const entries = (JSON.parse(list.stdout) as Array<{ name: string; username?: string; url?: string }>).map((e) => `${e.name} ${e.username ?? ''} ${e.url ?? ''}`).sort();
      const got = await run(['get', 'site', '--json'], { home, env });
      const site = JSON.parse(got.stdout || '{}');
      return { out, entries, fields: site.fields, custom: site.custom };
    };
    const direct = await vaultWith([]);
    const viaAgent = await vaultWith([]);
    await runOk(['unlock', '--password-stdin'], { home: viaAgent, input: MASTER + '\n' });
    try {
      const a = await outcomes(viaAgent, {});
      const b = await outcomes(direct, { KPM_MASTER_PASSWORD: MASTER });
      expect(a).toEqual(b);
      expect(a.out[0]).toMatch(/→ 0\nwarning: weak password .*\nAdded Personal\/site\.\n$/);
      expect(a.out[1]).toMatch(/→ 7/);
      expect(a.entries).toContain('nopw  ');
      expect(agentPid(viaAgent)).toBeGreaterThan(0);
    } finally {
      stopAgent(viaAgent);
    }
  });
});

describe('#17: `kpm run` on the hot path', () => {
  // the child's pause is the thing under test: the password reaches the masking in two chunks
  const CHILD = `
const s = process.env.REF_PW ?? '';
process.stdout.write('out:' + s.slice(0, 3));
setTimeout(() => { process.stdout.write(s.slice(3) + ':' + (process.env.PLAIN ?? '') + '\\n'); process.stderr.write('err:' + s + '\\n'); process.exit(Number(process.argv[2] ?? 0)); }, 50);
`;
  it('masks the output and reports errors exactly as the full program does, asking the agent for the one field', async () => {
    const home = await vaultWith([['site', 'the-user-name', 'secret-password-value']]);
    const child = join(home, 'child.cjs');
    fs.writeFileSync(child, CHILD);
    fs.writeFileSync(join(home, 'good.env'), 'REF_PW=kpm://Personal/site/password\nPLAIN=from-file\n');
    fs.writeFileSync(join(home, 'bad.env'), 'A=1\nnot a line\n');
    const node = process.execPath;
    const cases: Array<[string[], Record<string, string>]> = [
      [['run', '--', node, child], { REF_PW: 'kpm://site/password' }],
      [['run', '--', node, child, '5'], { REF_PW: 'kpm://Personal/site/password', PLAIN: 'p' }],
      [['run', '--no-masking', '--', node, child], { REF_PW: 'kpm://site/password' }],
      [['run', '--env-file', join(home, 'good.env'), '--', node, child], {}],
      [['run', '--', node, child], {}],
      [['run', '--', node, child], { REF_PW: 'kpm://site/colour' }], // no such field: exit 3
      [['run', '--', node, child], { REF_PW: 'kpm://nope/password' }], // no such entry: exit 3
      [['run', '--', node, child], { REF_PW: 'kpm://Nope/site/password' }], // no such vault: exit 3
      [['run', '--', node, child], { REF_PW: 'kpm://site%/password' }], // bad reference: exit 2
      [['run', '--env-file', join(home, 'bad.env'), '--', node, child], {}], // bad env file: exit 2
      [['run', '--', 'no-such-command-kpm-test'], { REF_PW: 'kpm://site/password' }], // exit 127
    ];
    const outcomes = async (env: Record<string, string>) => {
      const out: string[] = [];
      for (const [args, extra] of cases) {
        const r = await run(args, { home, env: { ...env, ...extra } });
        out.push(`${args.join(' ').replace(node, 'node').replaceAll(home, '~')} → ${r.code}\n${r.stdout}${r.stderr}`);
      }
      return out;
    };
    const full = await outcomes({ KPM_MASTER_PASSWORD: MASTER }); // the hot path steps aside: the full program
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    try {
      // through a proxy in front of the agent's socket, to see what the hot path asks for
      const proxy = await proxyAgentSocket(home);
      let hot: string[];
      try {
        hot = await outcomes({});
      } finally {
        await proxy.close();
      }
      expect(hot).toEqual(full);
      expect(proxy.seen()).toContain('secret-password-value'); // the agent answered the references …
      expect(proxy.seen()).not.toContain('the-user-name'); // … one field each (getField): the full program asks for whole entries
      expect(hot[0]).toBe(`run -- node ~/child.cjs → 0\nout:<concealed by kpm>:\nerr:<concealed by kpm>\n`);
      expect(hot[1]).toMatch(/^run -- node ~\/child\.cjs 5 → 5\n/);
      expect(hot[2]).toContain('out:secret-password-value:');
      expect(hot[3]).toContain(':from-file\n');
      expect(hot.slice(5).map((o) => Number(o.split('\n')[0].split('→ ')[1]))).toEqual([3, 3, 3, 2, 2, 127]);
      for (const o of hot) expect(o.split('\n').filter((l) => l.startsWith('kpm: ')).length).toBeLessThanOrEqual(1);
    } finally {
      stopAgent(home);
    }
  });
});
