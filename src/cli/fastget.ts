// The no-agent hot path: `kpm get NAME [--field F] [--vault V] [--raw]` with the master password
// given (--password-stdin or KPM_MASTER_PASSWORD), as a CI job or a script without an agent runs it.
// It loads no command-line framework: only the profile's keyring, the vault code and the field
// picker, the same functions the full program calls (unlockKeyringAhead, Session.open, Session.get,
// fieldOf), so it prints, fails and exits as the full program does. Anything else goes to the full
// program: other options, no keyring yet (a new device installs the downloaded one), shared vaults
// on this device, a service token, and a name not found while the server may know a shared vault
// with it (the full program asks; it gets the same stdin, src/cli/io.ts readStdinBytes).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { utf8, wipe } from '../crypto/bytes.js';
import { resolvePaths } from '../core/paths.js';
import { EXIT, KpmError, notFound } from '../core/errors.js';
import { Session } from '../vault/session.js';
import { unlockKeyringAhead } from '../vault/store.js';
import { fieldOf } from '../agent/fields.js';
import { checkPasswordSize, nonInteractiveMasterPassword } from './masterpw.js';
import { reportError } from './io.js';

/** `get`'s arguments, or undefined for anything this path does not take (then the full program parses them). */
function parseGet(rest: string[]): { name: string; field?: string; vault?: string; raw: boolean; passwordStdin: boolean } | undefined {
  const names: string[] = [];
  const o: { field?: string; vault?: string; raw: boolean; passwordStdin: boolean } = { raw: false, passwordStdin: false };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if ((a === '--field' || a === '--vault') && i + 1 < rest.length && !rest[i + 1].startsWith('-')) o[a === '--field' ? 'field' : 'vault'] = rest[++i];
    else if (a === '--raw') o.raw = true;
    else if (a === '--password-stdin') o.passwordStdin = true;
    else if (a.startsWith('-')) return undefined;
    else names.push(a);
  }
  return names.length === 1 ? { name: names[0], ...o } : undefined;
}

export async function fastGet(argv: string[]): Promise<number | undefined> {
  const [cmd, ...rest] = argv;
  if (cmd !== 'get' || (process.env.KPM_TOKEN ?? '') !== '') return undefined;
  const p = parseGet(rest);
  if (!p) return undefined;
  const paths = resolvePaths();
  if (!existsSync(paths.keyring) || existsSync(join(paths.data, 'share.kpms'))) return undefined;
  try {
    const given = await nonInteractiveMasterPassword({ passwordStdin: p.passwordStdin });
    if (given === undefined) return undefined; // an agent, a prompt or "locked": the full program
    checkPasswordSize(given);
    const pw = utf8.encode(given);
    let session: Session;
    try {
      // while Argon2id runs on other threads, this one reads and hashes the logs
      session = await Session.open(paths, await unlockKeyringAhead(paths, pw));
    } finally {
      wipe(pw);
    }
    let r;
    try {
      r = await fieldOf(session.get(p.name, p.vault), p.field);
    } catch (e) {
      // not here: the full program may ask the server for shared vaults (src/cli/shared.ts withDiscovery)
      if (e instanceof KpmError && e.exitCode === EXIT.notFound && process.env.KPM_OFFLINE !== '1' && existsSync(join(paths.data, 'session.json'))) return undefined;
      throw e;
    }
    if (r.value === undefined) throw notFound(`entry "${r.name}" has no field "${r.field}"`);
    process.stdout.write(p.raw || r.value.endsWith('\n') ? r.value : r.value + '\n');
    return EXIT.ok;
  } catch (e) {
    return reportError(e);
  }
}
