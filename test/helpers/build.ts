// The e2e build: dist/ from the current sources (when older than them) and a snapshot of bin/ + dist/
// in os.tmpdir() that the e2e tests run, so a rebuild in the middle of a run (dist/ swapped, lazily
// loaded chunks gone) cannot break running tests. Used once per vitest run by test/global-setup.ts,
// in the vitest main process, before any worker starts: no lock between workers.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive, sleepMs } from '../../src/core/fsutil.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = join(ROOT, 'dist', 'kpm.mjs');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.isFile()) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function isBuildFresh(): boolean {
  let built: number;
  try {
    built = fs.statSync(DIST).mtimeMs;
  } catch {
    return false;
  }
  const sources = Math.max(newestMtime(join(ROOT, 'src')), fs.statSync(join(ROOT, 'scripts', 'build.mjs')).mtimeMs);
  return built >= sources;
}

/** When a process started (Linux: /proc/PID/stat field 22), to tell a reused pid apart; '0' elsewhere. */
function processStart(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    return '0';
  }
}

/** Relative imports of the built .mjs files that do not resolve inside `dist` (a half-copied snapshot). */
function unresolvedImports(dist: string): string[] {
  const missing: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.mjs')) {
        const text = fs.readFileSync(p, 'utf8');
        // esbuild's chunk imports; only .mjs paths, so that import('…') in bundled JSDoc does not count
        for (const m of text.matchAll(/(?:from\s*|import\s*\(?\s*)["'](\.{1,2}\/[^"']+\.mjs)["']/g)) {
          if (!fs.existsSync(resolve(dir, m[1]))) missing.push(`${p} → ${m[1]}`);
        }
      }
    }
  };
  walk(dist);
  return missing;
}

/** Copies bin/ and dist/ (consistently: retried if dist/ is swapped meanwhile) into `snap`. */
function takeSnapshot(snap: string): void {
  for (let attempt = 0; ; attempt++) {
    fs.rmSync(snap, { recursive: true, force: true });
    fs.mkdirSync(snap, { recursive: true });
    fs.cpSync(join(ROOT, 'bin'), join(snap, 'bin'), { recursive: true });
    fs.cpSync(join(ROOT, 'dist'), join(snap, 'dist'), { recursive: true });
    fs.copyFileSync(join(ROOT, 'package.json'), join(snap, 'package.json')); // "type": "module" for bin/kpm
    fs.symlinkSync(join(ROOT, 'node_modules'), join(snap, 'node_modules'), 'dir'); // argon2 and friends
    const missing = unresolvedImports(join(snap, 'dist'));
    if (missing.length === 0 && fs.existsSync(join(snap, 'dist', 'kpm.mjs'))) break;
    if (attempt >= 10) throw new Error(`e2e: could not take a consistent snapshot of dist/: ${missing.slice(0, 3).join(', ')}`);
    sleepMs(500);
  }
  fs.writeFileSync(join(snap, 'complete'), String(Date.now()));
}

/** The snapshot a run's build goes to, named after the process that builds (the vitest main process). */
function snapshotDir(): string {
  const tag = createHash('sha256').update(ROOT).digest('hex').slice(0, 12);
  return join(os.tmpdir(), `kpm-e2e-bin-${tag}-${process.pid}-${processStart(process.pid)}`);
}

/**
 * Builds dist/ with `npm run build` unless it is newer than every source file, and snapshots it.
 * Called ONCE per vitest run, by the globalSetup (test/global-setup.ts) in the vitest main process
 * before any worker starts, so no two processes ever build or snapshot at the same time (no lock).
 * Returns the snapshot's directory; its bin/kpm is the launcher the tests run.
 */
export function buildAndSnapshot(): string {
  const tag = createHash('sha256').update(ROOT).digest('hex').slice(0, 12);
  const snap = snapshotDir();
  if (!isBuildFresh()) {
    try {
      execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
    } catch (e) {
      const err = e as { stdout?: Buffer; stderr?: Buffer; message: string };
      throw new Error(`e2e: npm run build failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    }
  }
  // forget the snapshots of earlier runs that ended without their teardown
  for (const n of fs.readdirSync(os.tmpdir())) {
    const m = /^kpm-e2e-(?:bin|built)-([0-9a-f]{12})-(\d+)(?:-(\d+))?$/.exec(n);
    if (m && m[1] === tag && (!pidAlive(Number(m[2])) || (m[3] !== undefined && m[3] !== processStart(Number(m[2]))))) {
      fs.rmSync(join(os.tmpdir(), n), { recursive: true, force: true });
    }
  }
  takeSnapshot(snap);
  return snap;
}
