// kpm's SSH agent against real OpenSSH programs (README "SSH keys and Git"): a loopback sshd with
// its own host key and authorized_keys; `ssh` logs in with keys that live only in the vault, one
// per type; `ssh-add -L` shows what is offered; a locked vault makes ssh fail cleanly; per-host
// rules (session-bind + known_hosts) and per-use confirmation are honoured; git signs commits
// through the agent and verifies them with kpm's allowed_signers.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, describeRun, makeHome, MASTER, run, runOk, runTty, waitUntil, type RunResult } from '../helpers/kpm.js';
import { WireWriter } from '../../src/ssh/wire.js';
import { Framer, frame } from '../../src/ssh/agentproto.js';
import { missingOpenSsh, runProgram, sshArgs, startSshd, untilReady, type ProcResult, type Sshd } from '../helpers/sshd.js';
import { waitFor } from '../helpers/server.js';

const missing = missingOpenSsh();
if (missing) console.warn(`skipping the SSH agent tests: ${missing}`);

const KEYS = [
  { name: 'ed', args: ['--type', 'ed25519'] },
  { name: 'rsa', args: ['--type', 'rsa', '--bits', '2048'] },
  { name: 'ecdsa', args: ['--type', 'ecdsa'] },
  { name: 'ecdsa384', args: ['--type', 'ecdsa', '--bits', '384'] },
  { name: 'here', args: ['--hosts', '127.0.0.1'] },
  { name: 'elsewhere', args: ['--hosts', 'other.example.org,*.example.net'] },
  { name: 'guarded', args: ['--confirm'] },
];

/** one request/reply on the agent socket, without any ssh program */
function rawAgentRequest(socket: string, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket, () => c.write(frame(body)));
    const f = new Framer();
    c.on('data', (d: Buffer) => {
      const m = f.push(d);
      if (m.length) {
        c.destroy();
        resolve(m[0]);
      }
    });
    c.on('error', reject);
  });
}

const show = (what: string, r: ProcResult) => `${what} → exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

describe.skipIf(missing !== undefined)('kpm ssh-agent with a real sshd', () => {
  let home: string;
  let sshd: Sshd;
  let agent: ChildProcess;
  let agentLog = '';
  let sock: string;
  let allow: string;
  let scratch: string; // key files made by tests go here, outside the kpm home
  const pub: Record<string, string> = {};
  const kpm = async (args: string[], input?: string): Promise<RunResult> => {
    const r = await run(args, { home, input });
    expect(r.code, describeRun(args, r)).toBe(0);
    return r;
  };
  const ssh = (key: string | undefined, command = 'echo logged-in', extra: string[] = []) =>
    runProgram('ssh', sshArgs(sshd, sock, key ? join(home, `${key}.pub`) : undefined, command, extra), { env: { PATH: process.env.PATH, HOME: home } });
  const sshAdd = (...args: string[]) => runProgram('ssh-add', args, { env: { PATH: process.env.PATH, SSH_AUTH_SOCK: sock } });
  /** a line kpm ssh-agent printed (since offset `from`): lines of the kpm agent come over the control connection */
  const logged = async (re: RegExp, from = 0) => {
    await waitFor(`kpm ssh-agent to log ${re}`, () => (re.test(agentLog.slice(from)) ? true : undefined)).catch(() => undefined);
    expect(agentLog.slice(from)).toMatch(re);
  };

  beforeAll(async () => {
    home = makeHome();
    scratch = makeHome();
    await runOk(['init', '--password-stdin'], { home, input: MASTER + '\n' });
    for (const k of KEYS) {
      const r = await runOk(['ssh', 'generate', k.name, ...k.args], { home, env: { KPM_MASTER_PASSWORD: MASTER } });
      pub[k.name] = r.stdout.trim();
      fs.writeFileSync(join(home, `${k.name}.pub`), pub[k.name] + '\n');
    }
    await kpm(['unlock', '--password-stdin'], MASTER + '\n');
    sshd = await startSshd(Object.values(pub));
    sock = join(home, 'ssh-agent.sock');
    allow = join(home, 'allow');
    agent = spawn(process.execPath, [BIN, 'ssh-agent', '--foreground', '--socket', sock, '--known-hosts', sshd.knownHosts, '--confirm-command', `test -e '${allow}'`], {
      env: cleanEnv(home), stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stderr!.on('data', (c: Buffer) => (agentLog += c.toString('utf8')));
    await untilReady(agent, () => agentLog);
  }, 120_000);

  afterAll(() => {
    agent?.kill('SIGTERM');
    sshd?.stop();
  });

  it('the socket is 0600 in a 0700 folder; ssh-add -L lists the vault keys offered to any host, not the host-restricted ones', async () => {
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    const r = await sshAdd('-L');
    expect(r.code, show('ssh-add -L', r)).toBe(0);
    const listed = r.stdout.trim().split('\n').sort();
    expect(listed).toEqual(['ed', 'rsa', 'ecdsa', 'ecdsa384', 'guarded'].map((k) => pub[k]).sort());
    const l = await sshAdd('-l');
    expect(l.stdout).toContain((await kpm(['get', 'ed', '--field', 'fingerprint'])).stdout.trim());
    // no private key in clear anywhere in kpm's files (they are only inside entry ciphertexts)
    const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : []));
    const clear = walk(home).filter((f) => fs.readFileSync(f).includes('OPENSSH PRIVATE KEY'));
    expect(clear).toEqual([]);
  });

  it('kpm ssh export asks the master password even while unlocked, writes a new 0600 file ssh-keygen reads, never replaces one without --force', async () => {
    const out = join(scratch, 'id_exported');
    const noPw = await run(['ssh', 'export', 'ed', '-o', out], { home });
    expect(noPw.code, describeRun(['ssh', 'export'], noPw)).toBe(4);
    const wrong = await run(['ssh', 'export', 'ed', '-o', out, '--password-stdin'], { home, input: 'wrong master password\n' });
    expect(wrong.code).toBe(5);
    expect(fs.existsSync(out)).toBe(false);
    await kpm(['ssh', 'export', 'ed', '-o', out, '--password-stdin'], MASTER + '\n');
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    const derived = await runProgram('ssh-keygen', ['-y', '-f', out]);
    expect(derived.stdout.trim()).toBe(pub.ed);
    const again = await run(['ssh', 'export', 'ed', '-o', out, '--password-stdin'], { home, input: MASTER + '\n' });
    expect(again.code).toBe(7);
    expect(again.stderr).toMatch(/already exists/);
  });

  for (const k of ['ed', 'rsa', 'ecdsa', 'ecdsa384']) {
    it(`ssh logs in with the ${k} key from the vault (IdentitiesOnly with its public key file)`, async () => {
      const r = await ssh(k);
      expect(r.code, show('ssh', r) + '\nsshd: ' + sshd.log().slice(-1500) + '\nagent: ' + agentLog).toBe(0);
      expect(r.stdout.trim()).toBe('logged-in');
      // it was that key: sshd logged its fingerprint
      const fp = (await kpm(['get', k, '--field', 'fingerprint'])).stdout.trim();
      expect(sshd.log()).toContain(fp);
    });
  }

  it('per-host rules: a key for 127.0.0.1 logs in there; a key for other hosts is neither offered nor signs', async () => {
    const fp = async (k: string) => (await kpm(['get', k, '--field', 'fingerprint'])).stdout.trim();
    // ssh -v names the keys the agent holds for this connection: "Will attempt key: FILE TYPE FP explicit agent"
    const offeredByAgent = (stderr: string, f: string) => stderr.split('\n').some((l) => l.includes('Will attempt key') && l.includes(f) && / agent\b/.test(l));
    const ok = await ssh('here', 'echo logged-in', ['-v']);
    expect(ok.code, show('ssh here', ok) + agentLog).toBe(0);
    expect(offeredByAgent(ok.stderr, await fp('here'))).toBe(true);
    const before = agentLog.length;
    const no = await ssh('elsewhere', 'echo logged-in', ['-v']);
    expect(no.code, show('ssh elsewhere', no)).toBe(255);
    expect(no.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(offeredByAgent(no.stderr, await fp('elsewhere'))).toBe(false); // the agent did not offer it
    expect(no.stderr).toContain(await fp('elsewhere')); // (ssh did consider the key file, without the agent)
    // a sign request without session-bind (a forged one, straight to the socket) is refused as well
    const blob = Buffer.from(pub.here.split(' ')[1], 'base64');
    const reply = await rawAgentRequest(sock, new WireWriter().byte(13).string(blob).string(Buffer.from('anything')).uint32(0).toBuffer());
    expect(reply[0]).toBe(5); // SSH_AGENT_FAILURE
    // (the kpm agent answered; its log line reaches the terminal of kpm ssh-agent over the control connection)
    await logged(/refused here: its host rule \(127\.0\.0\.1\) does not match an unknown host/, before);
  });

  it('a key that needs confirmation: refused → ssh fails; allowed → ssh logs in', async () => {
    fs.rmSync(allow, { force: true });
    const no = await ssh('guarded');
    expect(no.code, show('ssh guarded', no)).toBe(255);
    await logged(/use of guarded refused by the user/);
    fs.writeFileSync(allow, '');
    try {
      const yes = await ssh('guarded');
      expect(yes.code, show('ssh guarded', yes)).toBe(0);
    } finally {
      fs.rmSync(allow, { force: true });
    }
  });

  it('confirmation on the terminal that runs kpm ssh-agent --foreground: "y" lets ssh in, "n" refuses', async () => {
    const sock2 = join(scratch, 'tty-agent.sock');
    const tty = runTty(['ssh-agent', '--foreground', '--socket', sock2, '--known-hosts', sshd.knownHosts], [
      { expect: 'ready' },
      { expect: 'allow guarded \\(SHA256:[^)]+\\) for \\[127\\.0\\.0\\.1\\]:\\d+\\? \\[y/N\\]', send: 'y\r', timeout: 60 },
      { expect: 'allow guarded', send: 'n\r', timeout: 60 },
      { expect: 'use of guarded refused by the user', timeout: 30 },
    ], { home, env: { HOME: home } });
    await waitUntil('kpm ssh-agent --foreground to write its pid file', () => fs.existsSync(sock2 + '.pid'), 60_000);
    const viaTty = (k: string) => runProgram('ssh', sshArgs(sshd, sock2, join(home, `${k}.pub`), 'echo logged-in'), { env: { PATH: process.env.PATH, HOME: home } });
    try {
      const yes = await viaTty('guarded');
      expect(yes.code, show('ssh (answered y)', yes)).toBe(0);
      const no = await viaTty('guarded');
      expect(no.code, show('ssh (answered n)', no)).toBe(255);
    } finally {
      // no pause for the last expect: the agent writes the refusal line to the terminal (synchronously)
      // before it answers ssh, so it is in the pty's buffer once ssh has exited; pty.py reads that
      // buffer to the end before it gives up on a stopped child
      try {
        process.kill(Number(fs.readFileSync(sock2 + '.pid', 'utf8')), 'SIGTERM');
      } catch {
        /* already gone (the driver stops it when an expect fails) */
      }
    }
    const t = await tty;
    expect(t.driverErrors, t.transcript).toBe('');
  });

  it('locked: ssh-add lists nothing, ssh fails cleanly, the agent says to unlock; after unlock it works again', async () => {
    await kpm(['lock']);
    try {
      const l = await sshAdd('-L');
      expect(l.code).toBe(1);
      expect(l.stdout + l.stderr).toMatch(/no identities/);
      const r = await ssh('ed');
      expect(r.code, show('ssh', r)).toBe(255);
      expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
      expect(agentLog).toMatch(/kpm is locked: no keys offered \(run `kpm unlock`\)/);
    } finally {
      await kpm(['unlock', '--password-stdin'], MASTER + '\n');
    }
    expect((await ssh('ed')).code).toBe(0);
  });

  it('ssh-add cannot add or remove keys (they live in the vault)', async () => {
    const rm = await sshAdd('-D');
    expect(rm.code).not.toBe(0);
    expect((await sshAdd('-L')).stdout.trim().split('\n')).toHaveLength(5);
    const keyFile = join(scratch, 'plain_key');
    await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const add = await sshAdd(keyFile);
    expect(add.code).not.toBe(0);
  });

  it('git commit -S signs through kpm\'s agent; git verify-commit accepts it with kpm ssh allowed-signers, and refuses another key', async () => {
    const repo = join(home, 'repo');
    fs.mkdirSync(repo);
    const env = { PATH: process.env.PATH, HOME: home, SSH_AUTH_SOCK: sock, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z' };
    const git = async (...args: string[]) => {
      const r = await runProgram('git', args, { env, cwd: repo });
      expect(r.code, show(`git ${args.join(' ')}`, r)).toBe(0);
      return r;
    };
    const signers = join(home, 'allowed_signers');
    fs.writeFileSync(signers, (await kpm(['ssh', 'allowed-signers', '--principal', 'dev@example.org'])).stdout);
    await git('init', '-q');
    await git('config', 'user.email', 'dev@example.org');
    await git('config', 'user.name', 'Dev');
    await git('config', 'gpg.format', 'ssh');
    await git('config', 'user.signingkey', `key::${pub.ed}`);
    await git('config', 'gpg.ssh.allowedSignersFile', signers);
    fs.writeFileSync(join(repo, 'a.txt'), 'hello\n');
    await git('add', 'a.txt');
    await git('commit', '-q', '-S', '-m', 'signed');
    const v = await git('verify-commit', 'HEAD');
    expect(v.stderr).toMatch(/Good "git" signature for dev@example\.org with ED25519 key/);
    // an allowed_signers file without this key: not accepted
    fs.writeFileSync(signers, `dev@example.org namespaces="git" ${pub.rsa.split(' ').slice(0, 2).join(' ')}\n`);
    const bad = await runProgram('git', ['verify-commit', 'HEAD'], { env, cwd: repo });
    expect(bad.code).not.toBe(0);
  });
});

describe.skipIf(missingOpenSsh() !== undefined)('kpm ssh: import and bad input', () => {
  let home: string;
  const env = { KPM_MASTER_PASSWORD: MASTER };
  beforeAll(async () => {
    home = makeHome();
    await runOk(['init', '--password-stdin'], { home, input: MASTER + '\n' });
    await runOk(['add', 'site', '--username', 'u', '--password-stdin', '--no-check'], { home, env, input: 'pw\n' });
  });

  it('a passphrase-protected ssh-keygen key: wrong passphrase exit 5, right one imports; the vault key equals the file', async () => {
    const f = join(home, 'id_locked');
    await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'file pass phrase', '-C', 'from-file', '-f', f]);
    const wrong = await run(['ssh', 'import', 'locked', f, '--passphrase-stdin'], { home, env, input: 'nope\n' });
    expect(wrong.code, describeRun(['ssh', 'import'], wrong)).toBe(5);
    expect(wrong.stderr).toBe('kpm: wrong passphrase for the key file\n');
    await runOk(['ssh', 'import', 'locked', f, '--passphrase-stdin', '--hosts', 'git.example.org'], { home, env, input: 'file pass phrase\n' });
    expect((await runOk(['ssh', 'public', 'locked'], { home, env })).stdout).toBe(fs.readFileSync(f + '.pub', 'utf8'));
    const list = JSON.parse((await runOk(['ssh', 'list', '--json'], { home, env })).stdout);
    expect(list).toEqual([expect.objectContaining({ name: 'locked', type: 'ED25519-256', comment: 'from-file', hosts: ['git.example.org'], confirm: false })]);
    expect((await runOk(['get', 'locked', '--field', 'fingerprint'], { home, env })).stdout.trim()).toBe(list[0].fingerprint);
  });

  it('kpm ssh-agent --socket on an existing file refuses (exit 7) and leaves the file; a folder it did not make keeps its mode', async () => {
    const shared = join(home, 'shared');
    fs.mkdirSync(shared, { mode: 0o755 });
    fs.chmodSync(shared, 0o755);
    const file = join(shared, 'important.txt');
    fs.writeFileSync(file, 'keep me');
    const r = await run(['ssh-agent', '--socket', file], { home });
    expect(r.code, describeRun(['ssh-agent'], r)).toBe(7);
    expect(r.stderr).toMatch(/exists and is not a socket/);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
    const sockPath = join(shared, 'agent.sock');
    const ok = await run(['ssh-agent', '--socket', sockPath], { home });
    expect(ok.code, describeRun(['ssh-agent'], ok)).toBe(0);
    expect(ok.stdout).toContain(`SSH_AUTH_SOCK='${sockPath}'; export SSH_AUTH_SOCK;`);
    try {
      expect(fs.statSync(shared).mode & 0o777).toBe(0o755);
      expect(fs.statSync(sockPath).mode & 0o777).toBe(0o600);
    } finally {
      await run(['ssh-agent', '--stop', '--socket', sockPath], { home });
    }
    await waitUntil('kpm ssh-agent to remove its socket as it stops', () => !fs.existsSync(sockPath)).catch(() => undefined);
    expect(fs.existsSync(sockPath)).toBe(false);
  });

  const cases: [string[], number, RegExp][] = [
    [['ssh', 'generate', 'x', '--type', 'dsa'], 2, /^kpm: unknown key type "dsa"\nhint: use --type ed25519, rsa or ecdsa\n$/],
    [['ssh', 'generate', 'x', '--type', 'rsa', '--bits', '1024'], 2, /^kpm: RSA keys need 2048 to 16384 bits/],
    [['ssh', 'generate', 'x', '--bits', 'abc'], 2, /^kpm: --bits expects a whole number/],
    [['ssh', 'import', 'x', '/nonexistent/key'], 3, /^kpm: cannot read \/nonexistent\/key: no such file\n$/],
    [['ssh', 'import', 'x', '/etc/hostname'], 2, /^kpm: not an OpenSSH private key/],
    [['ssh', 'public', 'site'], 2, /^kpm: "site" is a login, not an SSH key\n/],
    [['ssh', 'public', 'nothing'], 3, /^kpm: no entry named "nothing"/],
    [['ssh', 'generate', 'y', '--hosts', 'a"b'], 2, /^kpm: bad host pattern/],
  ];
  for (const [args, code, err] of cases) {
    it(`kpm ${args.join(' ')} → exit ${code}, one clear line`, async () => {
      const r = await run(args, { home, env });
      expect(r.code, describeRun(args, r)).toBe(code);
      expect(r.stderr).toMatch(err);
      expect(r.stdout).toBe('');
    });
  }
});
