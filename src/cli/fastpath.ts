// The hot paths: `kpm get NAME [--field F] [--vault V] [--raw]`, `kpm read REF`, `kpm list [--search T]
// [--type T] [--vault V] [--json]`, `kpm run [--env-file F]… [--no-masking] -- CMD…` and `kpm sync`
// while the agent is unlocked, over the own vaults and the shared vaults the agent holds
// (src/agent/sharedhold.ts). They load no
// command-line framework, only the small agent client. Anything else, or no agent, goes to the full
// program; an error the agent reports is reported here, once, as the full program would.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { agentCall, agentCallStream, AgentMismatch, AgentUnavailable } from '../agent/call.js';
import type { MethodName, ParamsOf, ResultOf } from '../agent/api.js';
import { resolvePaths } from '../core/paths.js';
import { EXIT, KpmError } from '../core/errors.js';
import type { ListFilter } from '../vault/session.js';
import { isEntryType } from '../vault/entry.js';
import { describeSharedRows, describeSyncReport } from '../sync/report.js';
import { parseRef, type SecretRef } from './refs.js';
import { fastWrite } from './fastwrite.js';
import { locateAgent } from '../agent/socket.js';

function parseFlags(argv: string[], valued: string[], bool: string[]): { args: string[]; flags: Record<string, string | true> } | undefined {
  const args: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (valued.includes(a) && i + 1 < argv.length) flags[a] = argv[++i];
    else if (bool.includes(a)) flags[a] = true;
    else if (!a.startsWith('-')) args.push(a);
    else return undefined;
  }
  return { args, flags };
}

/** The agent's answer; undefined when no agent runs (the full program then unlocks or says it is locked). */
async function call<K extends MethodName>(method: K, params: ParamsOf<K>): Promise<ResultOf<K> | undefined> {
  return unlessNoAgent(() => agentCall(resolvePaths(), method, params));
}

async function unlessNoAgent<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof AgentUnavailable) return undefined;
    throw e;
  }
}

/** A failure the agent reported (or a refused agent folder, S2): said here, once, as the full program would. */
function report(e: unknown): number | undefined {
  if (!(e instanceof KpmError)) return undefined;
  process.stderr.write(`kpm: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
  return e.exitCode;
}

/**
 * `kpm run [--env-file F]… [--no-masking] -- CMD [ARGS…]`: the references resolved by the agent
 * (one field each, as `kpm read`), then the child run and masked by the same code as the full
 * program's (src/cli/runchild.ts). Other options, or no agent: the full program.
 */
async function fastRun(rest: string[]): Promise<number | undefined> {
  const envFiles: string[] = [];
  let masking = true;
  let i = 0;
  for (; i < rest.length && rest[i] !== '--'; i++) {
    if (rest[i] === '--no-masking') masking = false;
    else if (rest[i] === '--env-file' && i + 1 < rest.length) envFiles.push(rest[++i]);
    else return undefined;
  }
  const command = rest.slice(i + 1);
  if (command.length === 0 || locateAgent(resolvePaths()) === undefined) return undefined;
  const { exitWith, runChild, runEnv } = await import('./runchild.js'); // child_process and streams: only for `run`
  const { env, names, refs } = runEnv(envFiles);
  const values: string[] = [];
  for (const ref of refs) {
    const value = await refValue(ref);
    if (value === undefined) return undefined;
    values.push(value);
  }
  names.forEach((k, n) => (env[k] = values[n]));
  return exitWith(await runChild(command[0], command.slice(1), env, values, masking));
}

/** `kpm __complete entries [PREFIX]`: entry names (own and shared vaults) for shell completion, only from an unlocked agent; silent otherwise. */
async function completeEntries(prefix: string): Promise<number> {
  try {
    const entries = await agentCall(resolvePaths(), 'listAll', [{}], { quiet: true });
    const p = prefix.toLowerCase();
    const names = new Set(entries.map((e) => e.name).filter((n) => n.toLowerCase().startsWith(p)));
    if (names.size) process.stdout.write([...names].join('\n') + '\n');
  } catch {
    /* no agent, or it is locked: no names */
  }
  return 0;
}

export async function fastPath(argv: string[]): Promise<number | undefined> {
  const [cmd, ...rest] = argv;
  if (cmd === '__complete') return rest[0] === 'entries' ? completeEntries(rest[1] ?? '') : 0;
  if (process.env.KPM_MASTER_PASSWORD || process.env.KPM_TOKEN) return undefined;
  try {
    return await fastCommand(cmd, rest);
  } catch (e) {
    return report(e);
  }
}

// With shared vaults on this device (share.kpms, src/share/state.ts), the writes that may reach them
// go to the full program, which writes them with the share client (src/cli/shared.ts); the reads
// are the agent's (getFieldAll, listTextAll).
const SHARED_WRITES = new Set(['edit', 'rm', 'remove', 'restore']);
const hasShared = () => existsSync(join(resolvePaths().data, 'share.kpms'));
/** An entry the agent does not have may be in a shared vault this device has not seen yet (no share.kpms): the full program asks the server (src/cli/shared.ts withDiscovery). */
const mayDiscover = (e: unknown) => e instanceof KpmError && e.exitCode === EXIT.notFound && process.env.KPM_OFFLINE !== '1' && existsSync(join(resolvePaths().data, 'session.json')) && !hasShared();

/** The agent's getFieldAll, or undefined when it found nothing and the full program should look further. */
async function getFieldOrDiscover(params: ParamsOf<'getFieldAll'>): Promise<ResultOf<'getFieldAll'> | undefined> {
  try {
    return await call('getFieldAll', params);
  } catch (e) {
    if (mayDiscover(e)) return undefined;
    throw e;
  }
}

/**
 * One reference's value through the agent's getFieldAll (`kpm read`, `kpm run`); undefined when the
 * full program should answer (no agent, or a name the agent does not have that may be in a shared
 * vault this device has not seen yet). Errors name the reference.
 */
async function refValue(ref: SecretRef): Promise<string | undefined> {
  let r;
  try {
    r = await getFieldOrDiscover([ref.item, ref.vault, ref.field]);
  } catch (e) {
    if (e instanceof KpmError && !(e instanceof AgentMismatch)) throw new KpmError(`${ref.text}: ${e.message}`, e.exitCode, e.hint);
    throw e;
  }
  if (!r) return undefined;
  if (r.value === undefined) throw new KpmError(`${ref.text}: entry "${r.name}" has no field "${ref.field}"`, EXIT.notFound);
  return r.value;
}

async function fastCommand(cmd: string | undefined, rest: string[]): Promise<number | undefined> {
  if (cmd && (SHARED_WRITES.has(cmd) || (cmd === 'add' && rest.some((x) => x === '--vault' || x.startsWith('--vault=')))) && hasShared()) return undefined;
  if (cmd === 'get') {
    const p = parseFlags(rest, ['--field', '--vault'], ['--raw']);
    if (!p || p.args.length !== 1) return undefined;
    const field = p.flags['--field'] as string | undefined;
    const r = await getFieldOrDiscover([p.args[0], p.flags['--vault'] as string | undefined, field]);
    if (!r) return undefined;
    if (r.value === undefined) throw new KpmError(`entry "${r.name}" has no field "${r.field}"`, EXIT.notFound);
    process.stdout.write(p.flags['--raw'] || r.value.endsWith('\n') ? r.value : r.value + '\n');
    return 0;
  }
  if (cmd === 'read') {
    const p = parseFlags(rest, [], ['-n', '--no-newline', '--raw']);
    if (!p || p.args.length !== 1) return undefined;
    let ref;
    try {
      ref = parseRef(p.args[0]);
    } catch {
      return undefined; // the full program reports it
    }
    const value = await refValue(ref);
    if (value === undefined) return undefined;
    const bare = Object.keys(p.flags).length > 0 || value.endsWith('\n');
    process.stdout.write(bare ? value : value + '\n');
    return 0;
  }
  if (cmd === 'list' || cmd === 'ls') {
    const p = parseFlags(rest, ['--search', '-s', '--vault', '--type', '-t'], ['--json']);
    if (!p || p.args.length) return undefined;
    const type = (p.flags['--type'] ?? p.flags['-t']) as string | undefined;
    if (type && !isEntryType(type)) return undefined;
    const filter = { search: p.flags['--search'] ?? p.flags['-s'], vault: p.flags['--vault'], type };
    // the text raw: its bytes written out as they come from the agent (no JSON on either side)
    const text = await unlessNoAgent(() => agentCallStream(resolvePaths(), 'listTextAll', [filter as ListFilter, p.flags['--json'] === true], (c) => process.stdout.write(c)));
    if (text === undefined || text === 0 || text === '') return undefined; // "No entries." comes from the full program
    if (typeof text === 'string') process.stdout.write(text);
    return 0;
  }
  if (cmd === 'run') return fastRun(rest);
  if (cmd === 'add' || cmd === 'edit' || cmd === 'rm' || cmd === 'remove' || cmd === 'restore') return fastWrite(cmd, rest, { call, present: () => locateAgent(resolvePaths()) !== undefined });
  if (cmd === 'sync' && rest.length === 0 && process.env.KPM_OFFLINE !== '1') {
    // a failed sync is reported here (running it again through the full program would not help)
    const r = await call('sync', []);
    if (!r) return undefined;
    for (const n of r.sharedNotes ?? []) process.stderr.write(`warning: ${n}\n`);
    for (const l of [...describeSyncReport(r), ...describeSharedRows(r.shared ?? [])]) process.stderr.write(l + '\n');
    return 0;
  }
  return undefined;
}
