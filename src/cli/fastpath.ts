// The hot paths: `kpm get NAME [--field F] [--vault V]`, `kpm list [--search T] [--type T]
// [--vault V] [--json]` and `kpm sync` while the agent is unlocked. They load no command-line framework, only the
// small agent client, and hand anything else (or any error) to the full program.
import { agentCall, AgentUnavailable } from '../agent/call.js';
import { resolvePaths } from '../core/paths.js';
import { KpmError } from '../core/errors.js';
import type { EntryView } from '../vault/session.js';
import { fieldValue, isEntryType, primaryField } from '../vault/entry.js';
import type { SyncReport } from '../sync/engine.js';
import { describeSyncReport } from '../sync/report.js';
import { parseRef } from './refs.js';

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

async function call(method: string, params: unknown[]): Promise<unknown | undefined> {
  try {
    return await agentCall(resolvePaths(), method, params);
  } catch (e) {
    if (e instanceof AgentUnavailable || e instanceof KpmError) return undefined; // the full program reports it
    throw e;
  }
}

/** `kpm __complete entries [PREFIX]`: entry names for shell completion, only from an unlocked agent; silent otherwise. */
async function completeEntries(prefix: string): Promise<number> {
  try {
    const entries = (await agentCall(resolvePaths(), 'list', [{}], { quiet: true })) as Array<{ name: string }>;
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
  if (cmd === 'get') {
    const p = parseFlags(rest, ['--field', '--vault'], []);
    if (!p || p.args.length !== 1) return undefined;
    const field = p.flags['--field'] as string | undefined;
    if (field?.toLowerCase() === 'totp') return undefined;
    const v = (await call('get', [p.args[0], p.flags['--vault']])) as EntryView | undefined;
    if (!v) return undefined;
    const value = fieldValue(v.payload, field ?? primaryField(v.payload.type));
    if (value === undefined) return undefined;
    process.stdout.write(value.endsWith('\n') ? value : value + '\n');
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
    if (ref.field.toLowerCase() === 'totp') return undefined;
    const v = (await call('get', [ref.item, ref.vault])) as EntryView | undefined;
    if (!v) return undefined;
    const value = fieldValue(v.payload, ref.field);
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
    const text = (await call('listText', [filter, p.flags['--json'] === true])) as string | undefined;
    if (text === undefined || text === '') return undefined; // "No entries." comes from the full program
    process.stdout.write(text);
    return 0;
  }
  if (cmd === 'sync' && rest.length === 0 && process.env.KPM_OFFLINE !== '1') {
    let r: SyncReport;
    try {
      r = (await agentCall(resolvePaths(), 'sync', [])) as SyncReport;
    } catch (e) {
      if (e instanceof AgentUnavailable || !(e instanceof KpmError)) return undefined;
      // the sync ran and failed: report it here (running it again through the full program would not help)
      process.stderr.write(`kpm: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
      return e.exitCode;
    }
    for (const l of describeSyncReport(r)) process.stderr.write(l + '\n');
    return 0;
  }
  return undefined;
}
