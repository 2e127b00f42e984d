// git-credential-kpm and docker-credential-kpm through the real programs (README "SSH keys and
// Git"): `git credential fill/approve/reject` with the helper configured, a `git clone` over HTTP
// from a loopback server that demands basic auth (git http-backend behind a small node server),
// and docker's helper protocol on stdin/stdout.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, describeRun, initHome, makeHome, MASTER, run, runOk, type RunResult } from '../helpers/kpm.js';
import { runProgram, type ProcResult } from '../helpers/sshd.js';
import { registerAccount, startServer, type RunningServer } from '../helpers/server.js';

const HAVE_GIT = spawnSync('git', ['--version']).status === 0;
if (!HAVE_GIT) console.warn('skipping the git credential tests: git is not installed');

const GIT_HELPER = join(dirname(BIN), 'git-credential-kpm');
const DOCKER_HELPER = join(dirname(BIN), 'docker-credential-kpm');
const USER = 'alice';
const PASS = 'Repo-Secret-7';
const show = (what: string, r: ProcResult) => `${what} → exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** git http-backend (CGI) behind basic auth; records the Authorization headers it saw. */
async function startGitServer(root: string): Promise<{ url: string; seen: string[]; close: () => void }> {
  const seen: string[] = [];
  const expected = 'Basic ' + Buffer.from(`${USER}:${PASS}`).toString('base64');
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    seen.push(auth);
    if (auth !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="kpm test"' });
      return res.end('unauthorized\n');
    }
    const u = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH, GIT_PROJECT_ROOT: root, GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: u.pathname, QUERY_STRING: u.search.slice(1),
        REQUEST_METHOD: req.method, CONTENT_TYPE: req.headers['content-type'] ?? '', REMOTE_USER: USER, REMOTE_ADDR: '127.0.0.1',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '', GIT_CONFIG_NOSYSTEM: '1',
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headerDone = false;
    cgi.stdout.on('data', (c: Buffer) => {
      if (headerDone) return void res.write(c);
      head = Buffer.concat([head, c]);
      const i = head.indexOf('\r\n\r\n');
      if (i < 0) return;
      headerDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, i).toString('latin1').split('\r\n')) {
        const [k, ...v] = line.split(':');
        if (k.toLowerCase() === 'status') status = Number.parseInt(v.join(':').trim(), 10);
        else headers[k] = v.join(':').trim();
      }
      res.writeHead(status, headers);
      res.write(head.subarray(i + 4));
    });
    cgi.on('close', () => res.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => server.close() };
}

describe.skipIf(!HAVE_GIT)('git-credential-kpm', () => {
  let home: string;
  let work: string;
  let srv: Awaited<ReturnType<typeof startGitServer>>;
  const kpm = async (args: string[], input?: string, code = 0): Promise<RunResult> => {
    const r = await run(args, { home, input });
    expect(r.code, describeRun(args, r)).toBe(code);
    return r;
  };
  const gitEnv = () => ({ ...cleanEnv(home), HOME: work, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '/bin/false' });
  const git = (args: string[], input?: string, helper = GIT_HELPER) =>
    runProgram('git', ['-c', 'credential.helper=', '-c', `credential.helper=${helper}`, ...args], { env: gitEnv(), cwd: work, input });

  beforeAll(async () => {
    home = initHome(); // a vault as `kpm init` leaves it (the fixture home)
    work = join(home, 'work');
    fs.mkdirSync(work);
    await kpm(['unlock', '--password-stdin'], MASTER + '\n');
    // a bare repository with one commit, served over HTTP
    const root = join(home, 'srv');
    fs.mkdirSync(root);
    const env = { PATH: process.env.PATH, HOME: work, GIT_CONFIG_NOSYSTEM: '1' };
    for (const a of [['init', '-q', '--bare', join(root, 'repo.git')], ['init', '-q', join(home, 'seed')]]) expect((await runProgram('git', a, { env })).code).toBe(0);
    fs.writeFileSync(join(home, 'seed', 'README'), 'served over http\n');
    for (const a of [['add', 'README'], ['-c', 'user.email=a@b', '-c', 'user.name=A', 'commit', '-q', '-m', 'first'], ['push', '-q', join(root, 'repo.git'), 'HEAD:refs/heads/main']]) {
      const r = await runProgram('git', a, { env, cwd: join(home, 'seed') });
      expect(r.code, show(`git ${a.join(' ')}`, r)).toBe(0);
    }
    await runProgram('git', ['--git-dir', join(root, 'repo.git'), 'symbolic-ref', 'HEAD', 'refs/heads/main'], { env });
    srv = await startGitServer(root);
  }, 120_000);
  afterAll(() => srv?.close());

  it('git credential fill answers from the login entry whose URL matches protocol, host and path', async () => {
    const host = new URL(srv.url).host;
    await kpm(['add', 'repo-a', '--url', `${srv.url}/org-a/`, '--username', 'user-a', '--password-stdin', '--no-check'], 'pass-a\n');
    await kpm(['add', 'repo-b', '--url', `${srv.url}/org-b/x.git`, '--username', 'user-b', '--password-stdin', '--no-check'], 'pass-b\n');
    await kpm(['add', 'other-host', '--url', 'https://example.org/org-a/', '--username', 'nobody', '--password-stdin', '--no-check'], 'wrong\n');
    const fill = async (path: string) => {
      const r = await git(['-c', 'credential.useHttpPath=true', 'credential', 'fill'], `protocol=http\nhost=${host}\npath=${path}\n\n`);
      expect(r.code, show('git credential fill', r)).toBe(0);
      return r.stdout;
    };
    expect(await fill('org-a/repo.git')).toContain('username=user-a\npassword=pass-a\n');
    expect(await fill('org-b/x.git')).toContain('username=user-b\npassword=pass-b\n');
    // another protocol does not match an http:// entry: git falls back to asking (disabled here), so fill fails
    const https = await git(['credential', 'fill'], `protocol=https\nhost=${host}\npath=org-a/repo.git\n\n`);
    expect(https.code).not.toBe(0);
    for (const n of ['repo-a', 'repo-b', 'other-host']) await kpm(['rm', n, '--yes']);
  });

  it('a token field is returned instead of the password', async () => {
    await kpm(['add', 'ci-token', '--url', 'https://git.example.net', '--username', 'bot', '--no-password', '--field', 'token=tok-123']);
    const r = await git(['credential', 'fill'], 'protocol=https\nhost=git.example.net\n\n');
    expect(r.stdout, show('fill', r)).toContain('username=bot\npassword=tok-123\n');
    await kpm(['rm', 'ci-token', '--yes']);
  });

  it('approve stores only with --store (into the chosen vault); reject erases only the refused password', async () => {
    const cred = 'protocol=https\nhost=git.example.com\nusername=carol\npassword=Carol-Pass-1\n\n';
    expect((await git(['credential', 'approve'], cred)).code).toBe(0);
    expect((await kpm(['list', '--search', 'git.example.com'])).stdout).toBe('');
    await kpm(['vault', 'create', 'Git']);
    const storing = `${GIT_HELPER} --vault Git --store`;
    expect((await git(['credential', 'approve'], cred, storing)).code).toBe(0);
    const listed = await kpm(['list', '--vault', 'Git', '--json']);
    const entries = JSON.parse(listed.stdout) as { name: string; username: string; url: string }[];
    expect(entries.map((e) => [e.username, e.url])).toEqual([['carol', 'https://git.example.com']]);
    const filled = await git(['credential', 'fill'], 'protocol=https\nhost=git.example.com\n\n');
    expect(filled.stdout).toContain('username=carol\npassword=Carol-Pass-1\n');
    // a reject for an older password leaves the entry; the refused one goes
    await git(['credential', 'reject'], cred.replace('Carol-Pass-1', 'Old-Pass'), storing);
    expect(JSON.parse((await kpm(['list', '--vault', 'Git', '--json'])).stdout)).toHaveLength(1);
    await git(['credential', 'reject'], cred, storing);
    expect(JSON.parse((await kpm(['list', '--vault', 'Git', '--json'])).stdout)).toHaveLength(0);
  });

  it('git clone over HTTP with basic auth: the helper supplies the vault login; without one the clone fails', async () => {
    const url = `${srv.url}/repo.git`;
    const none = await git(['clone', '-q', url, 'no-cred']);
    expect(none.code, show('clone without entry', none)).not.toBe(0);
    await kpm(['add', 'http-repo', '--url', url, '--username', USER, '--password-stdin', '--no-check'], PASS + '\n');
    srv.seen.length = 0;
    const ok = await git(['clone', '-q', url, 'cloned']);
    expect(ok.code, show('git clone', ok)).toBe(0);
    expect(fs.readFileSync(join(work, 'cloned', 'README'), 'utf8')).toBe('served over http\n');
    expect(srv.seen).toContain('Basic ' + Buffer.from(`${USER}:${PASS}`).toString('base64'));
    // a locked vault: the helper fails with its message, git does not get a password
    await kpm(['lock']);
    try {
      const locked = await git(['clone', '-q', url, 'locked'], undefined);
      expect(locked.code).not.toBe(0);
      expect(locked.stderr).toMatch(/kpm: the vault is locked/);
    } finally {
      await kpm(['unlock', '--password-stdin'], MASTER + '\n');
    }
  });
});

describe.skipIf(!HAVE_GIT)('git-credential-kpm with a service token (CI)', () => {
  let srv: RunningServer;
  let machine: string;
  let token: string;
  beforeAll(async () => {
    srv = await startServer();
    const home = initHome(); // a vault as `kpm init` leaves it (the fixture home)
    machine = makeHome();
    const dev = (args: string[], input?: string, env: Record<string, string> = { KPM_MASTER_PASSWORD: MASTER }) =>
      runOk(args, { home, input, env: { KPM_SERVER: srv.url, ...env } });
    // the account through the server's API (registerAccount: `kpm register`/`activate` are tested in server-flow.test.ts)
    await registerAccount(srv, 'ci-git@example.org', 'Token7Password', 'DE');
    await dev(['login', 'ci-git@example.org', '--password-stdin'], 'Token7Password\n', {});
    await dev(['vault', 'create', 'CI']);
    await dev(['add', 'ci-git', '--vault', 'CI', '--url', 'https://git.example.com', '--username', 'ci-bot', '--password-stdin', '--no-check'], 'ci-token-secret\n');
    await dev(['add', 'private', '--url', 'https://git.example.com/private', '--username', 'me', '--password-stdin', '--no-check'], 'not-for-ci\n');
    token = (await dev(['token', 'create', '--vault', 'CI', '--read-only', '--expires', '1d', '--name', 'git'])).stdout.trim();
  }, 120_000);
  afterAll(() => srv?.stop());

  it('KPM_TOKEN: fill answers from the token\'s vault only, on a machine with no kpm files; approve writes nothing', async () => {
    const env = { PATH: process.env.PATH, HOME: machine, KPM_HOME: join(machine, 'absent'), KPM_SERVER: srv.url, KPM_TOKEN: token, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
    const git = (args: string[], input: string, helper = GIT_HELPER) => runProgram('git', ['-c', `credential.helper=${helper}`, ...args], { env, cwd: machine, input });
    const r = await git(['credential', 'fill'], 'protocol=https\nhost=git.example.com\n\n');
    expect(r.code, show('fill', r)).toBe(0);
    expect(r.stdout).toContain('username=ci-bot\npassword=ci-token-secret\n');
    const priv = await git(['-c', 'credential.useHttpPath=true', 'credential', 'fill'], 'protocol=https\nhost=git.example.com\npath=private\n\n');
    expect(priv.stdout).not.toContain('not-for-ci');
    const ap = await git(['credential', 'approve'], 'protocol=https\nhost=new.example.com\nusername=x\npassword=y\n\n', `${GIT_HELPER} --store`);
    expect(ap.code, show('approve', ap)).toBe(0);
    expect(fs.existsSync(join(machine, 'absent'))).toBe(false);
  });
});

describe('docker-credential-kpm', () => {
  let home: string;
  const docker = (args: string[], input?: string) =>
    runProgram(process.execPath, [DOCKER_HELPER, ...args], { env: cleanEnv(home, { KPM_MASTER_PASSWORD: MASTER }), input });

  beforeAll(async () => {
    home = initHome(); // a vault as `kpm init` leaves it (the fixture home)
  });

  it('store, get, list, erase with JSON on stdin/stdout; "not found" as docker expects it', async () => {
    const server = 'https://index.docker.io/v1/';
    const miss = await docker(['get'], server + '\n');
    expect(miss.code).not.toBe(0);
    expect(miss.stdout.trim()).toBe('credentials not found in native keychain');
    const st = await docker(['store'], JSON.stringify({ ServerURL: server, Username: 'dock', Secret: 'Dock-Secret-1' }));
    expect(st.code, show('store', st)).toBe(0);
    const got = await docker(['get'], server);
    expect(got.code, show('get', got)).toBe(0);
    expect(JSON.parse(got.stdout)).toEqual({ ServerURL: server, Username: 'dock', Secret: 'Dock-Secret-1' });
    // store again replaces the secret (docker login after a change)
    await docker(['store'], JSON.stringify({ ServerURL: server, Username: 'dock', Secret: 'Dock-Secret-2' }));
    expect(JSON.parse((await docker(['get'], server)).stdout).Secret).toBe('Dock-Secret-2');
    expect(JSON.parse((await docker(['list'])).stdout)).toEqual({ [server]: 'dock' });
    expect((await docker(['erase'], server)).code).toBe(0);
    expect((await docker(['get'], server)).stdout.trim()).toBe('credentials not found in native keychain');
    expect(JSON.parse((await docker(['list'])).stdout)).toEqual({});
  });

  it('get falls back to a login entry for the registry host; bad input is one clear error', async () => {
    await runOk(['add', 'ghcr', '--url', 'https://ghcr.io', '--username', 'octo', '--password-stdin', '--no-check'], { home, env: { KPM_MASTER_PASSWORD: MASTER }, input: 'Ghcr-Token-1\n' });
    const got = await docker(['get'], 'ghcr.io');
    expect(JSON.parse(got.stdout)).toEqual({ ServerURL: 'ghcr.io', Username: 'octo', Secret: 'Ghcr-Token-1' });
    const bad = await docker(['store'], 'not json');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('kpm: docker credential store: the input is not JSON\n');
    const op = await docker(['frobnicate']);
    expect(op.code).toBe(2);
  });
});
