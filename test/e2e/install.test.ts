// Installing kpm as a user of the registry would: `npm pack`, then `npm install -g` of the tarball
// into a throw-away prefix. package.json `overrides` do not apply to an installed package, so the
// versions npm picks then are the ones the dependency ranges allow: each must support this Node
// (no EBADENGINE; light-my-request 6.8 brought cookie 2, Node >= 22). Then the installed `kpm` and
// `kpm-server` run: --version, init, add, get, a server start.
//
// Speed: the install runs with --ignore-scripts and --prefer-offline (the npm cache of `npm ci`);
// then argon2's install script runs (`npm rebuild argon2`, as the install would: its shipped
// linux-x64 prebuild crashes on this machine when hashing, so the script's own build is needed),
// and better-sqlite3's native module, which its install script would compile from source for
// minutes, is copied from this checkout's node_modules (same version checked, same Node).
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, kpm as runKpm, makeHome, MASTER, ROOT, type Kpm } from '../helpers/kpm.js';

const exec = promisify(execFile);
// semver comes with npm's own tree here (a dependency of fastify), untyped
const semver = createRequire(import.meta.url)('semver') as { satisfies(version: string, range: string, o?: object): boolean };
let tmp: string;
let prefix: string;
let installLog = '';
let pkgDir: string;

/** `kpm(home, ARGS, code, {input, env})`: the shared runner (test/helpers/kpm.ts) on the INSTALLED kpm (prefix/bin/kpm, started as a shell would), no stack trace or master password in its output. */
const kpm: Kpm = (home, args, code, opts = {}) => runKpm(home, args, code, { secrets: [MASTER], ...opts, bin: join(prefix, 'bin', 'kpm') });

beforeAll(async () => {
  tmp = fs.mkdtempSync(join(os.tmpdir(), 'kpm-install-'));
  prefix = join(tmp, 'prefix');
  // dist/ is already built by the globalSetup: no prepare script (it would rebuild dist/ under the other tests)
  const packed = await exec('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp, '--loglevel=warn'], { cwd: ROOT, maxBuffer: 1 << 24 });
  const tarball = join(tmp, packed.stdout.trim().split('\n').pop()!);
  expect(fs.existsSync(tarball)).toBe(true);
  const npmEnv = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
  const r = await exec('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--ignore-scripts', '--loglevel=warn', tarball], { cwd: tmp, env: npmEnv, maxBuffer: 1 << 24 });
  installLog = r.stdout + r.stderr;
  pkgDir = join(prefix, 'lib', 'node_modules', 'kpm');
  await exec('npm', ['rebuild', 'argon2', '--loglevel=warn'], { cwd: join(prefix, 'lib', 'node_modules', 'kpm'), env: npmEnv, maxBuffer: 1 << 24 });
  // better-sqlite3's native build step, done once for this checkout already (see above)
  const bs = (dir: string) => JSON.parse(fs.readFileSync(join(dir, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')).version;
  expect(bs(pkgDir)).toBe(bs(ROOT));
  fs.mkdirSync(join(pkgDir, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true });
  fs.copyFileSync(join(ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'), join(pkgDir, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'));
}, 600_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Every package.json under node_modules (nested ones too). */
function installedPackages(dir: string): { name: string; version: string; engines?: { node?: string } }[] {
  const out: { name: string; version: string; engines?: { node?: string } }[] = [];
  const walk = (nm: string) => {
    if (!fs.existsSync(nm)) return;
    for (const e of fs.readdirSync(nm)) {
      if (e.startsWith('.')) continue;
      const p = join(nm, e);
      if (e.startsWith('@')) {
        for (const s of fs.readdirSync(p)) visit(join(p, s));
      } else visit(p);
    }
  };
  const visit = (p: string) => {
    const f = join(p, 'package.json');
    if (fs.existsSync(f)) out.push(JSON.parse(fs.readFileSync(f, 'utf8')));
    walk(join(p, 'node_modules'));
  };
  walk(join(dir, 'node_modules'));
  return out;
}

describe('npm pack + npm install -g (a user of the registry)', () => {
  it('installs without EBADENGINE: every installed package supports this Node, without overrides', () => {
    expect(installLog).not.toMatch(/EBADENGINE|Unsupported engine/);
    const pkgs = installedPackages(pkgDir);
    expect(pkgs.length).toBeGreaterThan(50);
    const bad = pkgs.filter((p) => p.engines?.node && !semver.satisfies(process.versions.node, p.engines.node, { includePrerelease: true }));
    expect(bad.map((p) => `${p.name}@${p.version} needs node ${p.engines!.node}`)).toEqual([]);
    for (const p of pkgs.filter((q) => q.name === 'light-my-request' || q.name === 'cookie')) {
      expect(semver.satisfies('20.19.0', p.engines?.node ?? '*'), `${p.name}@${p.version}`).toBe(true);
    }
  });

  it('the installed kpm runs: --version, init, add, get', async () => {
    const home = makeHome();
    const v = await kpm(home, ['--version'], 0);
    expect(v.stdout.trim()).toBe(JSON.parse(fs.readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    await kpm(home, ['init', '--password-stdin'], 0, { input: MASTER + '\n' });
    await kpm(home, ['add', 'github', '--username', 'ann', '--password-stdin'], 0, { input: 'gh-secret\n', env: { KPM_MASTER_PASSWORD: MASTER } });
    const get = await kpm(home, ['get', 'github'], 0, { env: { KPM_MASTER_PASSWORD: MASTER } });
    expect(get.stdout).toBe('gh-secret\n');
  });

  it('the installed kpm-server starts (SQLite) and answers', async () => {
    const data = join(tmp, 'server');
    const p = spawn(join(prefix, 'bin', 'kpm-server'), ['--data-dir', data, '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'], { env: cleanEnv(undefined), stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let err = '';
      const url = await new Promise<string>((resolve, reject) => {
        p.stderr.on('data', (c) => {
          err += c;
          const m = /listening on (\S+)/.exec(err);
          if (m) resolve(m[1]);
        });
        p.on('close', (code) => reject(new Error(`kpm-server exited with ${code}: ${err}`)));
      });
      const health = await fetch(`${url}/v1/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
    } finally {
      p.kill('SIGTERM');
    }
  });
});
