// End-to-end helpers: run the BUILT kpm binary as a user would, in throw-away KPM_HOMEs.
//
// The vitest globalSetup (test/global-setup.ts) builds dist/ from the current sources once per run,
// before any worker starts, and takes a snapshot of bin/ and dist/ that every test of the run
// executes (test/helpers/build.ts), so a rebuild in the middle of a run (dist/ is swapped, lazily
// loaded chunks vanish) cannot break running tests. KPM_E2E_IN_PLACE=1 runs
// ./bin/kpm directly instead. It also registers an afterAll that stops any agent a test home
// started and removes the homes.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, inject } from 'vitest';
import { pidAlive, sleepMs } from '../../src/core/fsutil.js';
import { AGENT_PROTOCOL } from '../../src/agent/socket.js';
import { copyFixture, FIXTURE_MASTER } from './fixtures.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = join(ROOT, 'dist', 'kpm.mjs');
export const PTY = join(ROOT, 'test', 'helpers', 'pty.py');

/** A master password long enough for kpm's minimum, used by most tests. */
export const MASTER = 'correct horse battery staple';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  /** KPM_HOME (and HOME) of the run */
  home?: string;
  /** extra environment; a value of undefined removes a variable */
  env?: Record<string, string | undefined>;
  /** bytes for stdin; stdin is an empty pipe (never a TTY) otherwise */
  input?: string | Buffer | Uint8Array;
  timeoutMs?: number;
  /** an executable to run instead of this build's launcher (e.g. a `kpm` installed by npm), started directly, as a shell would */
  bin?: string;
}

// ---------------------------------------------------------------------------------------------
// The launcher (built once per run by test/global-setup.ts, see ./build.ts)

/**
 * The launcher to run: the snapshot the globalSetup made (passed to the workers by `provide`), or
 * ./bin/kpm with KPM_E2E_IN_PLACE=1. Workers never build: a run without the globalSetup is refused.
 */
function launcher(): string {
  if (process.env.KPM_E2E_IN_PLACE) return join(ROOT, 'bin', 'kpm');
  const snap = inject('kpmE2eSnapshot');
  if (!snap || !fs.existsSync(join(snap, 'complete'))) {
    throw new Error('e2e: no build snapshot; run the tests with vitest.config.ts (its globalSetup test/global-setup.ts builds dist/ once)');
  }
  return join(snap, 'bin', 'kpm');
}

/** The kpm launcher the tests run (a snapshot of ./bin/kpm and ./dist, see above). */
export const BIN = launcher();

// ---------------------------------------------------------------------------------------------
// Homes

const homes: string[] = [];

/** A fresh, empty KPM_HOME (removed after the test file, its agent stopped). */
export function makeHome(): string {
  const h = fs.mkdtempSync(join(os.tmpdir(), 'kpm-e2e-'));
  homes.push(h);
  return h;
}

/**
 * A fresh KPM_HOME holding a copy of `src` (a home a beforeAll built once), so that each test works
 * on its own state. `src` must have no agent running (its run/ directory is left out).
 */
export function copyHome(src: string): string {
  const home = makeHome();
  fs.cpSync(src, home, { recursive: true, filter: (p) => p !== join(src, 'run') });
  return home;
}

/** Stops the agent of a home, if one runs (by the pid it wrote; only agents our tests started). */
export function stopAgent(home: string): void {
  const pidFile = join(home, 'run', 'agent.pid');
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8'), 10);
  } catch {
    return;
  }
  if (!(pid > 0)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50 && pidAlive(pid); i++) sleepMs(20);
  if (pidAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function agentPid(home: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(join(home, 'run', 'agent.pid'), 'utf8'), 10);
    return pid > 0 && pidAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

afterAll(() => {
  for (const h of homes.splice(0)) {
    stopAgent(h);
    fs.rmSync(h, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Running kpm

/** The environment of a kpm run: nothing from the caller's shell but PATH, TMPDIR, LANG and CI. */
export function cleanEnv(home: string | undefined, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    TMPDIR: process.env.TMPDIR,
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    TERM: 'dumb',
    CI: process.env.CI,
  };
  if (home) {
    env.KPM_HOME = home;
    env.HOME = home;
  }
  Object.assign(env, extra);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** Runs `kpm ARGS` (the built binary) and collects its exit code and output. Never throws for a non-zero exit. */
export function run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  // for the run log (below): did an agent run for this home when the command started
  const agentRan = process.env.KPM_TEST_RUNLOG && opts.home ? agentPid(opts.home) !== undefined : false;
  return new Promise((resolvePromise, reject) => {
    // `node -- BIN`, as the launcher's shebang does (#!/usr/bin/env -S node --): Node 20 would read a
    // `--env-file` among kpm's own arguments as its own option
    const [file, argv] = opts.bin ? [opts.bin, args] : [process.execPath, ['--', BIN, ...args]];
    const child = spawn(file, argv, {
      cwd: opts.home ?? os.tmpdir(),
      env: cleanEnv(opts.home, opts.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {}); // EPIPE when kpm does not read stdin
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (process.env.KPM_TEST_RUNLOG) logRun(args, opts, Date.now() - started, agentRan);
      resolvePromise({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
      });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/**
 * With KPM_TEST_RUNLOG=FILE, one JSON line per kpm run (test file, command, milliseconds, whether the
 * master password came in the environment or on stdin, whether an agent ran for the home): where the
 * suite's time goes (`node scripts/runlog.mjs FILE` sums it up). "stdin" is any --password-stdin, which
 * for some commands (add, edit, login) is the entry's or the account's password, not the master's.
 */
function logRun(args: string[], opts: RunOptions, ms: number, agent: boolean): void {
  const file = (expect.getState().testPath ?? '?').replace(ROOT + '/', '');
  const cmd = args.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ');
  const master = opts.env?.KPM_MASTER_PASSWORD !== undefined ? 'env' : args.includes('--password-stdin') ? 'stdin' : '';
  fs.appendFileSync(process.env.KPM_TEST_RUNLOG!, JSON.stringify({ file, cmd, ms, master, agent }) + '\n');
}

/** A one-line description of a result, for assertion messages. */
export function describeRun(args: string[], r: RunResult): string {
  return `kpm ${args.join(' ')} → exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${JSON.stringify(r.stdout.slice(0, 2000))}\nstderr: ${JSON.stringify(r.stderr.slice(0, 2000))}`;
}

/** Runs kpm and throws (with its output) unless it exits 0. */
export async function runOk(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(args, opts);
  if (r.code !== 0) throw new Error(`expected exit 0:\n${describeRun(args, r)}`);
  return r;
}

export interface KpmCallOptions {
  /** extra environment; a value of undefined removes a variable */
  env?: Record<string, string | undefined>;
  /** bytes for stdin (an empty pipe otherwise) */
  input?: string | Buffer | Uint8Array;
  timeoutMs?: number;
  /** an executable to run instead of this build's launcher (see RunOptions.bin) */
  bin?: string;
  /** strings that must appear in neither stdout nor stderr (passwords, codes); given at all, stack traces are checked too */
  secrets?: string[];
}

/** `kpm(home, args, code, opts)`: see `kpmWith`. */
export type Kpm = (home: string | undefined, args: string[], code: number, opts?: KpmCallOptions) => Promise<RunResult>;

/**
 * The one way e2e tests run kpm: `kpm(home, ARGS, code, {env, input, secrets})` runs the built
 * binary, expects exit `code` (the run's output in the failure message) and, when `secrets` are
 * given (also `[]`), that the output holds no stack trace and none of them. `defaults` (env,
 * secrets …) apply to every call; a call's env is merged over them, its secrets added.
 */
export function kpmWith(defaults: KpmCallOptions = {}): Kpm {
  return async (home, args, code, opts = {}) => {
    const r = await run(args, { home, env: { ...defaults.env, ...opts.env }, input: opts.input ?? defaults.input, timeoutMs: opts.timeoutMs ?? defaults.timeoutMs, bin: opts.bin ?? defaults.bin });
    if (r.code !== code) throw new Error(`expected exit ${code}:\n${describeRun(args, r)}`);
    const secrets = defaults.secrets || opts.secrets ? [...(defaults.secrets ?? []), ...(opts.secrets ?? [])] : undefined;
    if (secrets) {
      const problems = leaks(r, secrets);
      if (problems.length) throw new Error(`${problems.join('; ')}:\n${describeRun(args, r)}`);
    }
    return r;
  };
}

/** `kpm(home, args, code, opts)` without defaults (see `kpmWith`). */
export const kpm: Kpm = kpmWith();

/** The environment that unlocks for one command (no agent). */
export const withMaster = (pw: string = MASTER): Record<string, string> => ({ KPM_MASTER_PASSWORD: pw });

/**
 * A fresh KPM_HOME with a vault, as `kpm init --password-stdin` with MASTER leaves it: a copy of the
 * fixture the globalSetup made once per run (./fixtures.ts), so no `kpm init` runs. Every copy holds
 * the same profile: a test of two devices that sync with each other runs `initVault` for each.
 * `home`: an empty folder to fill instead of a new home (e.g. one at a long path, under a makeHome()).
 */
export function initHome(home: string = makeHome()): string {
  if (FIXTURE_MASTER !== MASTER) throw new Error('e2e: the fixture homes use another master password');
  copyFixture(inject('kpmE2eFixtures'), 'init', home);
  return home;
}

/** `kpm init --password-stdin` with the default KDF. */
export async function initVault(home: string, pw: string = MASTER): Promise<RunResult> {
  return runOk(['init', '--password-stdin'], { home, input: pw + '\n' });
}

/** Adds a login with the password on stdin, unlocking with KPM_MASTER_PASSWORD. */
export async function addEntry(home: string, name: string, password: string, extra: string[] = [], master: string = MASTER): Promise<RunResult> {
  return runOk(['add', name, '--password-stdin', ...extra], { home, env: withMaster(master), input: password + '\n' });
}

/** Lines of a text, without the empty one after the last newline. */
export const lines = (s: string): string[] => s.split('\n').filter((l, i, a) => !(l === '' && i === a.length - 1));

/** Problems with a result's output that no kpm command should ever show: stack traces, secrets. */
export function leaks(r: RunResult, secrets: string[] = []): string[] {
  const problems: string[] = [];
  for (const [name, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
    if (/^\s{4}at /m.test(text)) problems.push(`${name} has a stack trace`);
    for (const s of secrets) if (s && text.includes(s)) problems.push(`${name} contains the secret ${JSON.stringify(s)}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Terminal runs

export interface TtyStep {
  expect?: string;
  send?: string;
  sleep?: number;
  timeout?: number;
}

export interface TtyResult {
  code: number | null;
  /** what the terminal showed, ANSI escapes removed */
  transcript: string;
  raw: string;
  /** pty.py's own complaints (failed expects) */
  driverErrors: string;
  /** with stdoutToFile: what kpm wrote to stdout */
  stdout?: string;
  ms: number;
}

// Same expression as pty.py's strip_ansi.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHMc]/g;
export const stripAnsi = (s: string) => s.replace(ANSI, '');

/**
 * Runs `kpm ARGS` on a pseudo-terminal through test/helpers/pty.py and plays `steps`.
 * With `stdoutToFile`, kpm's stdout goes to a file (as in `x=$(kpm get NAME)` at a terminal) and
 * comes back as `stdout`; the transcript then holds only what went to stderr (the terminal).
 */
export function runTty(
  args: string[],
  steps: TtyStep[],
  opts: { home?: string; env?: Record<string, string | undefined>; stdoutToFile?: boolean; stepTimeoutS?: number; totalTimeoutS?: number } = {},
): Promise<TtyResult> {
  const started = Date.now();
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-pty-'));
  const script = join(dir, 'steps.json');
  const outFile = join(dir, 'stdout');
  fs.writeFileSync(script, JSON.stringify(steps));
  const driverArgs = [PTY, '--script', script, '--timeout', String(opts.stepTimeoutS ?? 15), '--total-timeout', String(opts.totalTimeoutS ?? 60)];
  if (opts.stdoutToFile) driverArgs.push('--stdout', outFile);
  driverArgs.push('--', process.execPath, '--', BIN, ...args);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('python3', driverArgs, {
      cwd: opts.home ?? os.tmpdir(),
      env: cleanEnv(opts.home, { TERM: 'xterm', ...opts.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      const raw = Buffer.concat(out).toString('utf8');
      let stdout: string | undefined;
      if (opts.stdoutToFile) stdout = fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : '';
      fs.rmSync(dir, { recursive: true, force: true });
      resolvePromise({ code, raw, transcript: stripAnsi(raw), driverErrors: Buffer.concat(err).toString('utf8'), stdout, ms: Date.now() - started });
    });
  });
}

export function describeTty(args: string[], r: TtyResult): string {
  return `kpm ${args.join(' ')} (tty) → exit ${r.code}\n${r.driverErrors}transcript:\n${r.transcript}`;
}

// ---------------------------------------------------------------------------------------------
// Small utilities

/** Runs `fn` over `items` with at most `n` at a time. */
export async function mapLimit<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}

/**
 * Polls `cond` (every 20 ms) until it holds; throws "timed out waiting for WHAT" after `ms`. For a
 * state another process reaches on its own (an agent that exits after `kpm lock`, a socket removed):
 * the bound is far above any machine's delay, so only a state that never comes fails, never a slow one.
 */
export async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A small seeded PRNG (mulberry32) so sampled cases are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One raw request line to the agent of `home` (its token added), as any process of the same user could send it; the reply text. */
export function agentRawRequest(home: string, req: Record<string, unknown>): Promise<string> {
  const token = fs.readFileSync(join(home, 'run', 'agent.token'), 'utf8');
  return new Promise((resolvePromise, reject) => {
    const s = net.connect(join(home, 'run', 'agent.sock'));
    let b = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify({ token, ...req }) + '\n'));
    s.on('data', (c: string) => (b += c));
    s.on('error', reject);
    s.on('close', () => resolvePromise(b));
  });
}

/** agentRawRequest in this build's agent protocol, the reply parsed. */
export async function agentRequest(home: string, req: Record<string, unknown>): Promise<{ ok?: unknown; error?: { message: string; exitCode: number } }> {
  return JSON.parse(await agentRawRequest(home, { v: AGENT_PROTOCOL, ...req }));
}
