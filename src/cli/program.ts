// The commander program: global conventions, then one module per group of commands.
import { Command, CommanderError, type OptionValues } from 'commander';
import { register as profile } from './commands/profile.js';
import { register as entries } from './commands/entries.js';
import { register as generate } from './commands/generate.js';
import { register as vaults } from './commands/vaults.js';
import { register as audit } from './commands/audit.js';
import { register as documents } from './commands/documents.js';
import { register as config } from './commands/config.js';
import { register as settings } from './commands/settings.js';
import { register as reset } from './commands/reset.js';
import { register as account } from './commands/account.js';
import { register as sync } from './commands/sync.js';
import { register as history } from './commands/history.js';
import { register as scripting } from './commands/scripting.js';
import { register as completion } from './commands/completion.js';
import { register as transfer } from './commands/transfer.js';
import { register as tokens } from './commands/tokens.js';
import { register as ssh } from './commands/ssh.js';
import { register as credentials } from './commands/credentials.js';
import { register as share } from './commands/share.js';
import { reportError, setColorMode } from './io.js';
import { EXIT } from '../core/errors.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('kpm')
    .description('kpm: a fast, zero-knowledge password manager for the terminal, scripts and CI')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    // commander's own usage errors read as kpm's do: `kpm: missing required argument 'name'`
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s), outputError: (s, write) => write(s.replace(/^error: /, 'kpm: ')) })
    .addHelpText('after', `
Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 locked, 5 wrong password,
            6 network, 7 conflict, 8 corrupt or tampered data, 9 forbidden,
            10 audit found problems (kpm audit --fail-on), 130 interrupted (Ctrl-C at a prompt).
Environment: KPM_HOME (where everything lives), KPM_MASTER_PASSWORD (CI), KPM_TOKEN (a read-only
             service token, with KPM_SERVER: see kpm token --help), NO_COLOR.`);
  program.exitOverride();
  program.option('--offline', 'do not sync automatically for this command (also KPM_OFFLINE=1)');
  program.hook('preAction', async () => {
    if (program.opts().offline) process.env.KPM_OFFLINE = '1';
    await applyColorSetting();
  });
  profile(program);
  entries(program);
  generate(program);
  vaults(program);
  audit(program);
  documents(program);
  config(program);
  settings(program);
  reset(program);
  account(program);
  sync(program);
  history(program);
  scripting(program);
  completion(program);
  transfer(program);
  tokens(program);
  ssh(program);
  credentials(program);
  share(program);
  for (const c of program.commands) c.exitOverride();
  shareShadowedOptions(program);
  return program;
}

/**
 * An option a subcommand and one of its ancestors both define (`--vault` on `kpm trash` and on
 * `kpm trash purge`) is handed by commander to the ancestor wherever it stands, so the subcommand's
 * own options lacked it: `kpm trash purge --vault X` purged every vault's trash. Each such
 * subcommand's options take the ancestor's value when it has none of its own
 * (test/unit/option-shadow.test.ts walks every command).
 */
function shareShadowedOptions(c: Command, ancestors: Command[] = []): void {
  for (const s of c.commands) {
    const above = c.parent === null ? ancestors : [c, ...ancestors]; // nearest first; the program's own --offline is global already
    const keys = s.options.map((o) => o.attributeName()).filter((k) => k !== 'help' && above.some((a) => a.options.some((o) => o.attributeName() === k)));
    if (keys.length > 0) {
      const own = s.opts.bind(s);
      s.opts = <T extends OptionValues>(): T => {
        const values: OptionValues = { ...own() };
        for (const k of keys) {
          if (s.getOptionValueSource(k) === 'cli') continue;
          const from = above.find((a) => a.getOptionValueSource(k) === 'cli');
          if (from) values[k] = from.getOptionValue(k);
        }
        return values as T;
      };
    }
    shareShadowedOptions(s, above);
  }
}

/**
 * The `color` setting, for every command: read and verified as every reader does
 * (src/settings/state.ts readState), a file read. Settings that do not
 * load leave `auto`: the commands that need them report why.
 */
async function applyColorSetting(): Promise<void> {
  try {
    const [{ readState }, { toCoreSettings }, { ctx }] = await Promise.all([import('../settings/state.js'), import('../settings/schema.js'), import('./context.js')]);
    const state = readState(ctx().paths);
    if (state.exists) setColorMode(toCoreSettings(state.values).color);
  } catch {
    /* keep auto */
  }
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    await (await import('./unlock.js')).afterCommand();
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      return EXIT.usage; // commander already printed its one-line message
    }
    return reportError(e);
  }
}
