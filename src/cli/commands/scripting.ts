// kpm read, kpm run, kpm inject: secrets for scripts through kpm:// references (README "Scripts and CI").
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { usageError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/fsutil.js';
import { openApi } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { ctx } from '../context.js';
import { readStdinText } from '../io.js';
import { parseRef, resolveRefs, type SecretRef } from '../refs.js';
import { scanTemplate } from '../envfile.js';
import { exitWith, readTextFile, runChild, runEnv } from '../runchild.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Resolves every reference of one command with one unlock (agent, or the master password once). */
async function resolveAll(refs: SecretRef[], passwordStdin?: boolean): Promise<string[]> {
  if (refs.length === 0) return [];
  const { paths } = ctx();
  const api = await openApi(paths, { passwordStdin }, async () => (await loadSettings(paths)).autolock);
  const sh = await import('../shared.js');
  // shared vaults (docs/SHARING.md): a reference finds their entries too, verified as `kpm get` does
  const shared = await sh.sharedFor(paths, api);
  try {
    return await sh.withDiscovery(paths, api, shared, true, (s) => resolveRefs(refs, s ? { get: async (item, vault) => (await sh.entryAnywhere(api, s, item, vault)).view } : api));
  } finally {
    await shared?.done();
    await api.close();
  }
}

/** Writes a secret file: 0600, atomically, never over an existing file without --force. */
function writeSecretFile(path: string, data: string, force?: boolean): void {
  if (!force && existsSync(path)) throw usageError(`${path} exists already`, 'use --force to overwrite it');
  writeFileAtomic(path, Buffer.from(data, 'utf8'));
}

export function register(program: Command): void {
  program
    .command('read <reference>')
    .description('print one secret named by a reference kpm://VAULT/ITEM/FIELD (or kpm://ITEM/FIELD)')
    .option('-n, --no-newline', 'do not print a newline after the value')
    .option('--raw', 'the same as --no-newline: the value exactly as stored')
    .option('-o, --out-file <file>', 'write the value to FILE (mode 0600) instead of stdout')
    .option('--force', 'overwrite --out-file if it exists')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', `
FIELD is a field of the entry's type (password, username, url, notes, number, code, …) or a custom
field; "totp" prints the current one-time code. Write "/" in a name as %2F and "%" as %25.

Examples:
  kpm read kpm://Personal/github/password
  kpm read "kpm://Work/AWS prod/access key" --no-newline | pbcopy
  kpm read kpm://github/totp
  kpm read kpm://Personal/deploy%2Fssh/notes --out-file ~/.ssh/id_deploy
  printf %s "$MASTER" | kpm read kpm://Personal/db/password --password-stdin`)
    .action(async (reference: string, o: { newline: boolean; raw?: boolean; outFile?: string; force?: boolean; passwordStdin?: boolean }) => {
      const ref = parseRef(reference);
      if (o.outFile && !o.force && existsSync(o.outFile)) throw usageError(`${o.outFile} exists already`, 'use --force to overwrite it');
      const [value] = await resolveAll([ref], o.passwordStdin);
      if (o.outFile) return writeSecretFile(o.outFile, value, o.force);
      const bare = o.raw || !o.newline || value.endsWith('\n');
      process.stdout.write(bare ? value : value + '\n');
    });

  program
    .command('run')
    .description('run a command with secrets in its environment: variables whose values are kpm:// references are resolved for the child only')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--env-file <file>', 'read variables from a dotenv file (repeatable; later files win, and files win over the environment)', collect)
    .option('--no-masking', "do not conceal secrets in the command's output (stdout and stderr are passed through untouched)")
    .option('--password-stdin', 'read the master password from stdin (when not unlocked); the command then gets no stdin')
    .usage('[options] -- <command> [args...]')
    .addHelpText('after', `
The command's stdout and stderr are filtered: every resolved secret prints as <concealed by kpm>.
Exit code: the command's own; 128+N if it died of signal N; 127 if it was not found, 126 if it
could not be run. SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed on to it (on a terminal, Ctrl-C
reaches it directly and is not sent twice). kpm's secret variables (KPM_MASTER_PASSWORD,
KPM_EXPORT_PASSWORD, KPM_TOKEN, … see README) are never passed to it. Put -- before the
command, so that its own options are not read as kpm's.

Examples:
  DB_PASSWORD=kpm://Personal/db/password kpm run -- ./migrate.sh
  kpm run --env-file .env -- npm start
  echo 'API_KEY="kpm://Work/stripe/api key"' > .env.kpm && kpm run --env-file .env.kpm -- node app.js
  kpm run --no-masking -- psql "$DATABASE_URL"`)
    .action(async (command: string[], o: { envFile?: string[]; masking: boolean; passwordStdin?: boolean }) => {
      const [cmd, ...args] = command;
      const { env, names, refs } = runEnv(o.envFile ?? []);
      const values = await resolveAll(refs, o.passwordStdin);
      names.forEach((k, i) => (env[k] = values[i]));
      const code = await runChild(cmd, args, env, values, o.masking);
      return exitWith(code);
    });

  program
    .command('inject')
    .description('fill a template: every {{ kpm://… }} is replaced by the secret it names')
    .option('-i, --in-file <file>', 'the template (default: stdin)')
    .option('-o, --out-file <file>', 'write the result to FILE (mode 0600) instead of stdout')
    .option('--force', 'overwrite --out-file if it exists')
    .option('--password-stdin', 'read the master password from stdin (needs -i)')
    .addHelpText('after', `
Nothing is written unless every reference resolves (exit 3 names the missing one).

Examples:
  kpm inject -i config.yml.tpl -o config.yml
  echo 'password: {{ kpm://Personal/db/password }}' | kpm inject
  kpm inject -i .env.tpl -o .env --force`)
    .action(async (o: { inFile?: string; outFile?: string; force?: boolean; passwordStdin?: boolean }) => {
      if (o.passwordStdin && !o.inFile) throw usageError('--password-stdin needs the template in a file (-i FILE)');
      if (o.outFile && !o.force && existsSync(o.outFile)) throw usageError(`${o.outFile} exists already`, 'use --force to overwrite it');
      const template = o.inFile ? readTextFile(o.inFile, 'template') : await readStdinText('template', false);
      const parts = scanTemplate(template);
      const refParts = parts.filter((p) => p.ref);
      const values = await resolveAll(refParts.map((p) => parseRef(p.text)), o.passwordStdin);
      let k = 0;
      const result = parts.map((p) => (p.ref ? values[k++] : p.text)).join('');
      if (o.outFile) return writeSecretFile(o.outFile, result, o.force);
      process.stdout.write(result);
    });
}
