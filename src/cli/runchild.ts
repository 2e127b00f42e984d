// The child of `kpm run`: its environment (references found, kpm's own secret variables taken out),
// spawning it with its output masked, and its exit. Shared by the full program
// (src/cli/commands/scripting.ts) and the hot path (src/cli/fastpath.ts), so both behave alike.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { KpmError, EXIT, usageError } from '../core/errors.js';
import { childEnv, isSecretEnv } from '../core/childenv.js';
import { isRef, parseRef, type SecretRef } from './refs.js';
import { parseEnvFile } from './envfile.js';
import { maskingStream } from './mask.js';

/**
 * The child's environment: ours without kpm's secret variables, then the env files (later ones
 * win), none of their secret variables either; and the variables that hold references, parsed
 * (a bad one: exit 2, naming the variable).
 */
export function runEnv(envFiles: string[]): { env: NodeJS.ProcessEnv; names: string[]; refs: SecretRef[] } {
  const env = childEnv();
  for (const f of envFiles) for (const [k, v] of parseEnvFile(readTextFile(f, 'env file'), f)) env[k] = v;
  for (const k of Object.keys(env)) if (isSecretEnv(k)) delete env[k]; // nor from an env file
  const names = Object.keys(env).filter((k) => isRef(env[k] ?? ''));
  const refs = names.map((k) => {
    try {
      return parseRef(env[k]!);
    } catch (e) {
      if (e instanceof KpmError) throw new KpmError(`${k}: ${e.message}`, e.exitCode, e.hint);
      throw e;
    }
  });
  return { env, names, refs };
}

export function readTextFile(path: string, what: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new KpmError(`${what} ${path} does not exist`, EXIT.notFound);
    if (err.code === 'EISDIR') throw usageError(`${what} ${path} is a folder`);
    throw e;
  }
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw usageError(`${what} ${path} is not valid UTF-8`);
  return text;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

/** Runs the child with the resolved environment; resolves to the exit code (128+N for a signal). */
export function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, secrets: string[], masking: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const mask = masking && secrets.length > 0;
    const child = spawn(cmd, args, { env, stdio: ['inherit', mask ? 'pipe' : 'inherit', mask ? 'pipe' : 'inherit'] });
    // On a terminal, Ctrl-C and Ctrl-\ reach the whole foreground group, the child included: kpm
    // then only waits for it instead of sending the signal a second time.
    const fromTerminal = (sig: NodeJS.Signals) => (sig === 'SIGINT' || sig === 'SIGQUIT') && Boolean(process.stdin.isTTY);
    const forward = (sig: NodeJS.Signals) => () => {
      if (child.exitCode === null && child.signalCode === null && !fromTerminal(sig)) child.kill(sig);
    };
    const handlers = SIGNALS.map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const done = () => {
      for (const [s, h] of handlers) process.off(s, h);
    };
    const pending: Array<Promise<void>> = [];
    if (mask) {
      for (const [from, to] of [[child.stdout!, process.stdout], [child.stderr!, process.stderr]] as const) {
        const t = maskingStream(secrets);
        pending.push(new Promise((res) => t.on('end', res)));
        from.pipe(t).pipe(to, { end: false });
      }
    }
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      done();
      void Promise.all(pending).then(() => resolve(code));
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      // as shells do: 127 when the command does not exist, 126 when it cannot be run
      if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'ENOTDIR') {
        process.stderr.write(`kpm: ${e.code === 'EACCES' ? 'permission denied' : 'command not found'}: ${cmd}\n`);
        settled = true;
        done();
        return resolve(e.code === 'EACCES' ? 126 : 127);
      }
      settled = true;
      done();
      reject(e);
    });
    child.on('close', (code, signal) => finish(signal ? 128 + (osConstants.signals[signal] ?? 0) : (code ?? 1)));
  });
}

/** Exits with the child's code once our own output is flushed. */
export function exitWith(code: number): Promise<never> {
  return new Promise(() => {
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}
