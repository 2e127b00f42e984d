// Starts vault-worker.ts child processes (see there). The worker is bundled once per test run with
// esbuild into node_modules/.cache, where the native argon2 package still resolves.
import { build } from 'esbuild';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { encodeHandover } from '../../src/agent/handover.js';
import type { UnlockedProfile } from '../../src/vault/keyring.js';

const ROOT = join(__dirname, '..', '..');
let bundled: Promise<string> | undefined;

export function workerScript(): Promise<string> {
  bundled ??= (async () => {
    const dir = join(ROOT, 'node_modules', '.cache', 'kpm-tests');
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, `vault-worker-${process.pid}.mjs`);
    await build({
      entryPoints: [join(__dirname, 'vault-worker.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: ['argon2'],
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      logLevel: 'warning',
    });
    return outfile;
  })();
  return bundled;
}

export interface Worker {
  child: ChildProcess;
  /** names whose commit the worker reported */
  committed: string[];
  /** resolves once the worker has opened the vault and starts writing */
  ready: Promise<void>;
  /** resolves once the worker has reported `n` commits (or has exited) */
  commits: (n: number) => Promise<void>;
  exited: Promise<number | null>;
}

export async function startWorker(home: string, profile: UnlockedProfile, prefix: string, count: number): Promise<Worker> {
  const child = spawn(process.execPath, [await workerScript(), prefix, String(count)], {
    env: { ...process.env, KPM_HOME: home },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const committed: string[] = [];
  const waiting: { n: number; resolve: () => void }[] = [];
  const wake = (all: boolean) => {
    for (let i = waiting.length - 1; i >= 0; i--) {
      if (all || committed.length >= waiting[i].n) waiting.splice(i, 1)[0].resolve();
    }
  };
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('ok ')) committed.push(line.slice(3)), wake(false);
      else if (line === 'ready') onReady();
    }
  });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => (onReady(), wake(true)));
  child.stdin!.end(encodeHandover(profile, {}, 0));
  void exited.then((code) => {
    if (code !== 0 && code !== null && stderr) process.stderr.write(stderr);
  });
  const commits = (n: number) => (committed.length >= n || child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ n, resolve })));
  return { child, committed, ready, commits, exited };
}
