// kpm ssh …: SSH keys in the vault (entry type ssh-key) and `kpm ssh-agent`, the SSH agent that
// signs with them through the unlocked kpm agent. README "SSH keys and Git".
import type { Command } from 'commander';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { basename, resolve } from 'node:path';
import { EXIT, KpmError, usageError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/fsutil.js';
import type { EntryView } from '../../vault/session.js';
import { info, isInteractive, json, out, readStdinText } from '../io.js';
import { askSecret } from '../prompt.js';
import { masterPassword, openApi, requireVault, unlockProfile } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { ctx, intOption } from '../context.js';
import { childEnv } from '../../agent/client.js';
import type { VaultApi } from '../../agent/api.js';
import { sessionApi } from '../../agent/local.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

const api = (o: { passwordStdin?: boolean }) => {
  const { paths } = ctx();
  return openApi(paths, { passwordStdin: o.passwordStdin }, async () => (await loadSettings(paths)).autolock);
};

async function sshEntry(a: VaultApi, name: string, vault?: string): Promise<EntryView> {
  const v = await a.get(name, vault);
  if (v.payload.type !== 'ssh-key') throw usageError(`"${v.payload.name}" is a ${v.payload.type}, not an SSH key`, 'see `kpm ssh list`');
  return v;
}

async function sshEntries(a: VaultApi, vault?: string): Promise<EntryView[]> {
  const list = await a.list({ type: 'ssh-key', vault });
  return Promise.all(list.map((s) => a.get(s.id, s.vault)));
}

function ruleOptions(cmd: Command): Command {
  return cmd
    .option('--hosts <patterns>', 'offer the key only to these hosts (ssh_config patterns, comma-separated; matched via known_hosts)')
    .option('--confirm', 'ask before each use of the key (like ssh-add -c)')
    .option('--vault <name>', 'vault (default: Personal)')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)');
}

function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '') || 'key';
}

export function register(program: Command): void {
  const ssh = program
    .command('ssh')
    .description('SSH keys in the vault: generate, import, list, public, export, allowed-signers; `kpm ssh-agent` serves them')
    .addHelpText('after', '\nExamples:\n  kpm ssh generate github --comment me@example.org\n  kpm ssh list\n  eval "$(kpm ssh-agent)"');

  ruleOptions(
    ssh
      .command('generate <name>')
      .description('generate a new SSH key in the vault and print its public key (an authorized_keys line)')
      .option('-t, --type <type>', 'ed25519 | rsa | ecdsa', 'ed25519')
      .option('-b, --bits <n>', 'rsa: 2048-16384 (default 3072); ecdsa: 256, 384 or 521')
      .option('-C, --comment <text>', 'the key comment (default: the entry name)'),
  )
    .option('--json', 'print the new key as JSON')
    .addHelpText('after', '\nExamples:\n  kpm ssh generate github --comment me@example.org\n  kpm ssh generate legacy --type rsa --bits 4096 --hosts "*.corp.example"\n  kpm ssh generate prod --confirm')
    .action(async (name: string, o) => {
      const [{ generateKey }, { keyPayload, parseHosts }] = await Promise.all([import('../../ssh/keys.js'), import('../../ssh/entry.js')]);
      const bits = o.bits === undefined ? undefined : intOption('--bits', o.bits, 1, 16384);
      const key = generateKey(String(o.type).toLowerCase(), bits, o.comment ?? name);
      const p = keyPayload(name, key, { hosts: parseHosts(o.hosts), confirm: Boolean(o.confirm) });
      const v = await (await api(o)).add(o.vault, p);
      if (o.json) return json(keyJson(v));
      out(p.fields['public-key']);
      info(`Added ${v.vault}/${v.payload.name} (${p.fields['key-type']}, ${p.fields.fingerprint}).`);
    });

  ruleOptions(
    ssh
      .command('import <name> <file>')
      .description('import an OpenSSH private key file; a passphrase-protected key is asked for its passphrase and stored without it, inside the vault only')
      .option('--passphrase-stdin', "read the key file's passphrase from the first line of stdin")
      .option('-C, --comment <text>', 'replace the key comment'),
  )
    .addHelpText('after', '\nExamples:\n  kpm ssh import github ~/.ssh/id_ed25519\n  printf %s "$PASSPHRASE" | kpm ssh import deploy ./deploy_key --passphrase-stdin')
    .action(async (name: string, file: string, o) => {
      if (o.passphraseStdin && o.passwordStdin) throw usageError('--passphrase-stdin and --password-stdin cannot both read stdin', 'give the master password with KPM_MASTER_PASSWORD, or unlock first');
      const [{ parsePrivateFile }, { keyPayload, parseHosts }] = await Promise.all([import('../../ssh/keys.js'), import('../../ssh/entry.js')]);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw new KpmError(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, err.code === 'ENOENT' ? EXIT.notFound : EXIT.error);
      }
      const parsed = parsePrivateFile(text);
      let passphrase: string | undefined;
      if (parsed.encrypted) {
        if (o.passphraseStdin) passphrase = await readStdinText('passphrase');
        else if (isInteractive()) passphrase = await askSecret(`Passphrase for ${basename(file)}`);
        else throw new KpmError(`${file} is protected by a passphrase, but there is no terminal to ask on`, EXIT.usage, 'use --passphrase-stdin', 'no_terminal');
      }
      const key = parsed.open(passphrase);
      if (o.comment !== undefined) key.comment = o.comment;
      const p = keyPayload(name, key, { hosts: parseHosts(o.hosts), confirm: Boolean(o.confirm) });
      const v = await (await api(o)).add(o.vault, p);
      info(`Imported ${v.vault}/${v.payload.name} (${p.fields['key-type']}, ${p.fields.fingerprint}). The file ${file} is unchanged; delete it if the vault should be its only copy.`);
    });

  ssh
    .command('list')
    .alias('ls')
    .description('list SSH keys: type, SHA256 fingerprint, name, comment, hosts it is offered to')
    .option('--vault <name>', 'only this vault')
    .option('--json', 'print JSON')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm ssh list\n  kpm ssh list --json')
    .action(async (o) => {
      const all = await sshEntries(await api(o), o.vault);
      if (o.json) return json(all.map(keyJson));
      if (!all.length) return info('No SSH keys. Add one with `kpm ssh generate NAME` or `kpm ssh import NAME FILE`.');
      for (const v of all) {
        const f = v.payload.fields;
        const rules = [`hosts: ${f.hosts || 'any'}`, ...(/^yes$/i.test(f.confirm ?? '') ? ['confirm'] : [])].join(', ');
        out(`${f['key-type'] ?? '?'}  ${f.fingerprint ?? '?'}  ${v.payload.name}${v.vault !== 'Personal' ? ` [${v.vault}]` : ''}  ${f.comment ?? ''}  (${rules})`);
      }
    });

  ssh
    .command('public <name>')
    .description('print the public key as an authorized_keys line')
    .option('--vault <name>', 'vault')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm ssh public github\n  kpm ssh public github > ~/.ssh/github.pub   # IdentityFile for IdentitiesOnly')
    .action(async (name: string, o) => {
      out(publicOf(await sshEntry(await api(o), name, o.vault)));
    });

  ssh
    .command('export <name>')
    .description('write the private key to a new 0600 file (OpenSSH format, no passphrase) after asking the master password')
    .option('-o, --output <file>', 'the file to write (default: ./id_NAME); its .pub is written too')
    .option('--force', 'replace an existing file')
    .option('--vault <name>', 'vault')
    .option('--password-stdin', 'read the master password from stdin')
    .addHelpText('after', '\nExamples:\n  kpm ssh export github -o ~/.ssh/id_github')
    .action(async (name: string, o) => {
      const { paths } = ctx();
      requireVault(paths);
      // the master password is asked even when kpm is unlocked: a key leaves the vault
      const pw = await masterPassword({ passwordStdin: o.passwordStdin }, 'Master password (to export the key)');
      const profile = await unlockProfile(paths, pw);
      const { Session } = await import('../../vault/session.js');
      const session = await Session.open(paths, profile);
      let v: EntryView;
      try {
        v = await sshEntry(sessionApi(session), name, o.vault);
      } finally {
        session.close();
      }
      const target = resolve(o.output ?? `id_${safeFileName(v.payload.name)}`);
      const enc = new TextEncoder();
      const files: [string, Uint8Array][] = [[target, enc.encode(v.payload.fields['private-key'])], [target + '.pub', enc.encode(publicOf(v) + '\n')]];
      if (!o.force) for (const [f] of files) if (fs.existsSync(f)) throw new KpmError(`${f} already exists`, EXIT.conflict, 'choose another file with -o, or add --force');
      // a random exclusive temporary name (0600, no symlink followed), fsynced, then renamed over (S6)
      for (const [f, data] of files) writeFileAtomic(f, data);
      fs.chmodSync(target + '.pub', 0o644);
      info(`Wrote ${target} (0600) and ${target}.pub.`);
    });

  ssh
    .command('allowed-signers')
    .description("print an allowed_signers file for git's SSH signatures (gpg.ssh.allowedSignersFile)")
    .option('--principal <email>', 'the principal (e-mail) for the keys (repeatable; default: the key comment when it is an e-mail, else "*")', collect)
    .option('--vault <name>', 'only this vault')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm ssh allowed-signers --principal me@example.org > ~/.config/git/allowed_signers\n  git config --global gpg.ssh.allowedSignersFile ~/.config/git/allowed_signers')
    .action(async (o) => {
      for (const v of await sshEntries(await api(o), o.vault)) {
        const pub = publicOf(v).split(' ').slice(0, 2).join(' ');
        const comment = v.payload.fields.comment ?? '';
        const principals: string[] = o.principal?.length ? o.principal : [comment.includes('@') && !/\s/.test(comment) ? comment : '*'];
        out(`${principals.join(',')} namespaces="git" ${pub}`);
      }
    });

  agentCommand(ssh.command('agent'));
  agentCommand(program.command('ssh-agent'));
}

function publicOf(v: EntryView): string {
  const line = v.payload.fields['public-key'];
  if (!line) throw new KpmError(`entry "${v.payload.name}" has no public key`, EXIT.notFound);
  return line;
}

function keyJson(v: EntryView) {
  const f = v.payload.fields;
  return {
    id: v.id, vault: v.vault, name: v.payload.name, type: f['key-type'] ?? null, fingerprint: f.fingerprint ?? null, comment: f.comment ?? '',
    publicKey: f['public-key'] ?? null, hosts: f.hosts ? f.hosts.split(',') : [], confirm: /^yes$/i.test(f.confirm ?? ''),
  };
}

function envLines(socket: string, pid: number): string {
  const q = `'${socket.replace(/'/g, `'\\''`)}'`;
  return `SSH_AUTH_SOCK=${q}; export SSH_AUTH_SOCK;\nSSH_AGENT_PID=${pid}; export SSH_AGENT_PID;\n`;
}

function agentCommand(cmd: Command): void {
  cmd
    .description('the SSH agent for the vault\'s keys: prints SSH_AUTH_SOCK for `eval`; signs only while kpm is unlocked')
    .option('-a, --socket <path>', 'where to listen (default: a stable path in kpm\'s runtime folder, see `--print`)')
    .option('-D, --foreground', 'stay in the foreground (confirmation prompts appear on this terminal)')
    .option('--known-hosts <file>', 'known_hosts files that name hosts for per-host keys (repeatable; default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)', collect)
    .option('--confirm-command <cmd>', 'for keys marked confirm: run this shell command; exit 0 allows (KPM_SSH_KEY, KPM_SSH_HOST, KPM_SSH_FINGERPRINT set)')
    .option('--print', 'only print the socket path')
    .option('-k, --stop', 'stop the running kpm ssh-agent')
    .addHelpText('after', `
Examples:
  eval "$(kpm ssh-agent)"
  kpm ssh-agent --foreground            # confirmation prompts on this terminal
  ~/.ssh/config:   Host *
                     IdentityAgent "$(kpm ssh-agent --print)"   (the printed path, literally)`)
    .action(async (o) => {
      const { paths } = ctx();
      const { sshAgentPaths, runningPid } = await import('../../ssh/server.js');
      const p = sshAgentPaths(paths, o.socket ? resolve(o.socket) : undefined);
      if (o.print) return out(p.socket);
      const pid = runningPid(p);
      if (o.stop) {
        if (!pid) return info('kpm ssh-agent is not running.');
        process.kill(pid, 'SIGTERM');
        process.stdout.write('unset SSH_AUTH_SOCK; unset SSH_AGENT_PID;\n');
        return info(`Stopped kpm ssh-agent (pid ${pid}).`);
      }
      if (pid) {
        process.stdout.write(envLines(p.socket, pid));
        return;
      }
      if (!o.foreground) return startInBackground(p.socket, o);
      await runForeground(p, o);
      await new Promise(() => {}); // until a signal
    });
}

async function runForeground(p: { socket: string; pid: string }, o: { socket?: string; knownHosts?: string[]; confirmCommand?: string }): Promise<void> {
  const { paths } = ctx();
  const { serveSshAgent, kpmBackend, confirmByCommand, confirmOnTerminal, sshAgentPaths } = await import('../../ssh/server.js');
  const { agentCall } = await import('../../agent/call.js');
  const { defaultKnownHostsFiles } = await import('../../ssh/hosts.js');
  // started in the background, the terminal's pipe is gone after `ready`: a log line must not end this process (EPIPE)
  process.stderr.on('error', () => {});
  process.stdout.on('error', () => {});
  const log = (line: string) => process.stderr.write(`kpm ssh-agent: ${line}\n`);
  const terminal = confirmOnTerminal();
  await serveSshAgent({
    socket: p.socket,
    privateDir: !o.socket,
    pidFile: p.pid,
    backend: kpmBackend(paths),
    policy: {
      knownHosts: o.knownHosts?.length ? o.knownHosts.map((f) => resolve(f)) : defaultKnownHostsFiles(),
      confirm: (req) => (o.confirmCommand ? confirmByCommand(o.confirmCommand, req) : terminal(req)),
      log,
    },
    // while kpm is unlocked the kpm agent serves the socket itself (src/ssh/direct.ts): one hop per signature
    controlDir: sshAgentPaths(paths).dir,
    attach: async () => {
      await agentCall(paths, 'sshAttach', [], { quiet: true });
    },
  });
  process.stdout.write(envLines(p.socket, process.pid));
  process.stdout.write('ready\n');
}

function startInBackground(socket: string, o: { socket?: string; knownHosts?: string[]; confirmCommand?: string }): Promise<void> {
  const args = [process.argv[1], 'ssh-agent', '--foreground', ...(o.socket ? ['--socket', socket] : [])];
  for (const f of o.knownHosts ?? []) args.push('--known-hosts', resolve(f));
  if (o.confirmCommand) args.push('--confirm-command', o.confirmCommand);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    let buf = '';
    let err = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => (err += c));
    child.on('error', (e) => reject(new KpmError(`could not start kpm ssh-agent: ${e.message}`)));
    child.on('exit', (code) => reject(new KpmError(err.trim().replace(/^kpm: /, '') || `kpm ssh-agent exited at start (code ${code})`, code === EXIT.conflict ? EXIT.conflict : EXIT.error)));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      buf += c;
      const i = buf.indexOf('ready\n');
      if (i < 0) return;
      child.removeAllListeners('exit');
      child.stdout!.destroy();
      child.stderr!.destroy(); // later messages (locked, refused) are not shown for a background agent
      child.unref();
      process.stdout.write(buf.slice(0, i));
      info(`kpm ssh-agent listens on ${socket} (pid ${child.pid}).`);
      resolvePromise();
    });
  });
}
