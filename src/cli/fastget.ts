// The hot path: `kpm get NAME [--field F] [--vault V]` while the agent is unlocked. It loads no
// command-line framework, only node:net, and falls back to the full program for anything else.
import { agentCall, AgentUnavailable } from '../agent/client.js';
import { resolvePaths } from '../vault/paths.js';
import { KpmError } from '../vault/errors.js';
import type { EntryView } from '../vault/session.js';
import { fieldValue, primaryField } from '../vault/entry.js';

export async function fastGet(argv: string[]): Promise<number | undefined> {
  if (argv[0] !== 'get' || process.env.KPM_MASTER_PASSWORD) return undefined;
  let name: string | undefined, field: string | undefined, vault: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--field' && i + 1 < argv.length) field = argv[++i];
    else if (a === '--vault' && i + 1 < argv.length) vault = argv[++i];
    else if (!a.startsWith('-') && name === undefined) name = a;
    else return undefined;
  }
  if (!name || field?.toLowerCase() === 'totp') return undefined;
  let v: EntryView;
  try {
    v = (await agentCall(resolvePaths(), 'get', [name, vault])) as EntryView;
  } catch (e) {
    if (e instanceof AgentUnavailable) return undefined;
    if (e instanceof KpmError) return undefined; // let the full program report it the usual way
    throw e;
  }
  const value = fieldValue(v.payload, field ?? primaryField(v.payload.type));
  if (value === undefined) return undefined;
  process.stdout.write(value.endsWith('\n') ? value : value + '\n');
  return 0;
}
