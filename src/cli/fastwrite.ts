// The hot-path writes while the agent is unlocked: `kpm add NAME` (a login), `kpm edit NAME`,
// `kpm rm NAME --yes`, `kpm restore NAME [--rev N [--old-name]]`, with plain flags only. The agent
// builds and saves the entry (src/agent/entrywrite.ts, the same steps as the full program) with its
// strength estimator and settings in memory, and syncs in the background afterwards. Anything that
// needs a prompt, another entry type, JSON output or a rarer flag goes to the full program.
import { EXIT, KpmError, isKind, usageError, type ExitCode } from '../core/errors.js';
import { decodeUtf8 } from '../crypto/bytes.js';
import { checkValue } from '../vault/entry.js';
import type { WriteFlags, WriteOutcome } from '../agent/entrywrite.js';
import type { MethodName, ParamsOf, ResultOf } from '../agent/api.js';

type Call = <K extends MethodName>(method: K, params: ParamsOf<K>) => Promise<ResultOf<K> | undefined>;

export interface Agent {
  call: Call;
  /** whether an agent runs (checked before stdin is read: without one, the full program reads it) */
  present(): boolean;
}

interface Parsed {
  args: string[];
  values: Record<string, string[]>;
  bools: Set<string>;
}

/** Flags in the forms commander accepts for these commands; undefined for anything else. */
function parse(argv: string[], valued: Record<string, string>, bool: Record<string, string>): Parsed | undefined {
  const p: Parsed = { args: [], values: {}, bools: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return undefined;
    if (Object.hasOwn(valued, a)) {
      if (i + 1 >= argv.length) return undefined;
      (p.values[valued[a]] ??= []).push(argv[++i]);
    } else if (Object.hasOwn(bool, a)) p.bools.add(bool[a]);
    else if (a.startsWith('-')) return undefined;
    else p.args.push(a);
  }
  return p;
}

const last = (p: Parsed, k: string): string | undefined => p.values[k]?.at(-1);

/** --password-stdin, as the full program reads it: the first line, strict UTF-8, never from a terminal. */
async function passwordFromStdin(name: string, noPassword: boolean): Promise<string | undefined> {
  if (process.stdin.isTTY) throw usageError('password: expected input on stdin, but stdin is a terminal');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  let text: string;
  try {
    text = decodeUtf8(Buffer.concat(chunks));
  } catch {
    throw usageError('password: input is not valid UTF-8');
  }
  const nl = text.indexOf('\n');
  const value = (nl >= 0 ? text.slice(0, nl) : text).replace(/\r$/, '');
  if (value === '') {
    if (noPassword) return undefined;
    throw usageError(`the password for "${name}" on stdin is empty; nothing saved`, 'check the variable you piped in (an unset $PW is empty); --no-password saves a login without a password');
  }
  checkValue('password', value);
  return value;
}

const ENTRY_VALUED = { '-u': 'username', '--username': 'username', '--url': 'url', '--notes': 'notes', '-f': 'field', '--field': 'field', '--vault': 'vault', '--length': 'length' };
const SECRET_BOOL = { '--password-stdin': 'passwordStdin', '-g': 'generate', '--generate': 'generate', '--symbols': 'symbols', '--no-symbols': 'noSymbols', '--no-digits': 'noDigits', '--no-check': 'noCheck' };

function writeFlags(p: Parsed): WriteFlags {
  const f: WriteFlags = {};
  for (const k of ['username', 'url', 'notes', 'vault', 'length'] as const) {
    const v = last(p, k);
    if (v !== undefined) f[k] = v;
  }
  if (p.values.field) f.field = p.values.field;
  if (p.bools.has('generate')) f.generate = true;
  if (p.bools.has('symbols')) f.symbols = true;
  if (p.bools.has('noSymbols')) f.symbols = false;
  if (p.bools.has('noDigits')) f.digits = false;
  if (p.bools.has('noCheck')) f.check = false;
  return f;
}

/** The warning lines as the full program prints them (`warning: ` in yellow where stderr takes colour). */
function printOutcome(o: WriteOutcome, line: string): void {
  const colour = o.color === 'always' || (o.color === 'auto' && Boolean(process.stderr.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb');
  for (const w of o.warnings) process.stderr.write(`${colour ? '\x1b[33mwarning: \x1b[39m' : 'warning: '}${w}\n`);
  if (o.error) throw new KpmError(o.error.message, o.error.exitCode as ExitCode, o.error.hint);
  process.stderr.write(line + '\n');
}

export async function fastWrite(cmd: string, rest: string[], agent: Agent): Promise<number | undefined> {
  const call = agent.call;
  if (cmd === 'add') {
    const p = parse(rest, { ...ENTRY_VALUED, '-t': 'type', '--type': 'type' }, { ...SECRET_BOOL, '--no-password': 'noPassword' });
    if (!p || p.args.length !== 1 || (p.values.type && last(p, 'type') !== 'login')) return undefined;
    const f = writeFlags(p);
    const fromStdin = p.bools.has('passwordStdin');
    const generate = f.generate === true || f.length !== undefined;
    // the full program asks at a terminal, or explains why it cannot
    if (!fromStdin && !generate && !p.bools.has('noPassword')) return undefined;
    if (fromStdin && f.generate) throw usageError('use either --password-stdin or --generate, not both');
    if (!agent.present()) return undefined;
    const name = p.args[0];
    if (fromStdin) {
      const pw = await passwordFromStdin(name, p.bools.has('noPassword'));
      if (pw !== undefined) f.password = pw;
    }
    const o = await call('addEntry', [name, f]);
    if (!o) return undefined;
    printOutcome(o, `Added ${o.vault}/${o.name}${o.generated ? ' with a generated password' : ''}.`);
    return EXIT.ok;
  }
  if (cmd === 'edit') {
    const p = parse(rest, { ...ENTRY_VALUED, '--name': 'name' }, SECRET_BOOL);
    if (!p || p.args.length !== 1) return undefined;
    const f = writeFlags(p);
    const newName = last(p, 'name');
    if (newName !== undefined) f.name = newName;
    if (p.bools.has('passwordStdin')) {
      if (!agent.present()) return undefined;
      if (f.generate) throw usageError('use either --password-stdin or --generate, not both');
      const pw = await passwordFromStdin(p.args[0], false);
      if (pw !== undefined) f.password = pw;
    }
    const o = await call('editEntry', [p.args[0], f]);
    if (!o) return undefined;
    printOutcome(o, `Updated ${o.vault}/${o.name}.`);
    return EXIT.ok;
  }
  if (cmd === 'rm' || cmd === 'remove') {
    const p = parse(rest, { '--vault': 'vault' }, { '-y': 'yes', '--yes': 'yes' });
    if (!p || p.args.length !== 1 || !p.bools.has('yes')) return undefined; // confirmation: the full program
    const v = await call('remove', [p.args[0], last(p, 'vault')]);
    if (!v) return undefined;
    process.stderr.write(`Deleted ${v.vault}/${v.payload.name}.\n`);
    return EXIT.ok;
  }
  if (cmd === 'restore') {
    const p = parse(rest, { '--vault': 'vault', '--rev': 'rev' }, { '--old-name': 'oldName' });
    if (!p || p.args.length !== 1) return undefined;
    const rev = last(p, 'rev');
    if (rev !== undefined && !(/^\d+$/.test(rev) && Number(rev) >= 1 && Number(rev) <= 2 ** 31)) return undefined; // the full program explains
    if (p.bools.has('oldName') && rev === undefined) return undefined;
    let v;
    try {
      v = await call('restore', [p.args[0], last(p, 'vault'), rev === undefined ? undefined : Number(rev), p.bools.has('oldName')]);
    } catch (e) {
      if (isKind(e, 'name_taken')) throw new KpmError(e.message, EXIT.conflict, 'rename the live entry first (`kpm edit NAME --name NEW`)', 'name_taken');
      throw e;
    }
    if (!v) return undefined;
    process.stderr.write(`Restored "${v.payload.name}" (now version ${v.version}).\n`);
    return EXIT.ok;
  }
  return undefined;
}
