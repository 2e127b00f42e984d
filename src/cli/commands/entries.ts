// add, get, list, edit, rm, totp, trash: everyday work with entries.
import type { Command } from 'commander';
import { checkValue, fieldValue, primaryField, type EntryPayload } from '../../vault/entry.js';
import { ADDABLE_TYPES, typeSpec } from '../../vault/types/index.js';
import { notFound, usageError } from '../../core/errors.js';
import type { EntryView } from '../../vault/session.js';
import { totpNow, parseOtpauthUri } from '../../vault/totp.js';
import { info, isInteractive, json, out, readStdinText, warn } from '../io.js';
import { askConfirm, askSecret, askText, needTerminal, withRetries } from '../prompt.js';
import { openApi } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { ctx } from '../context.js';
import { applySecretFields, editText } from '../entryprompts.js';
import { applyFieldFlags, applyJsonFields, completeEntry, entryType, generatedSecret, setField, type EntryFlags, type GeneratorDefaults } from '../../vault/entryinput.js';
import { entryJson, printEntry } from '../format.js';
import { finishEdit, saveNewEntry } from '../../agent/entrywrite.js';
import type { VaultApi } from '../../agent/api.js';
import type { Shared } from '../shared.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface CommonOpts {
  vault?: string;
  passwordStdin?: boolean;
  json?: boolean;
}

const api = (o: { masterStdin?: boolean }) => {
  const { paths } = ctx();
  return openApi(paths, { passwordStdin: o.masterStdin }, async () => (await loadSettings(paths)).autolock);
};

function secretOptions(cmd: Command): Command {
  return cmd
    .option('--password-stdin', "read the entry's password from the first line of stdin")
    .option('--no-check', 'do not warn when a typed password is weak')
    .option('-g, --generate', 'generate the password')
    .option('--length <n>', 'generated password length (default: the generator.length setting, 20)')
    .option('--symbols', 'generated password with symbols (the default unless generator.symbols is false)')
    .option('--no-symbols', 'generated password without symbols')
    .option('--no-digits', 'generated password without digits')
    .option('--words [n]', 'generate a passphrase of N words instead (default: the generator.words setting, 6)')
    .option('--separator <s>', 'passphrase word separator (default "-")');
}

function entryOptions(cmd: Command): Command {
  return cmd
    .option('-u, --username <username>', 'user name')
    .option('--url <url>', 'website address')
    .option('--notes <text>', 'notes')
    .option('--totp <uri>', 'TOTP secret: an otpauth:// URI or a base32 secret')
    .option('-f, --field <key=value>', 'set a field (repeatable); an empty value removes it', collect)
    .option('--secret-field <name>', 'set a secret custom field, hidden by `kpm show`: its value from a hidden prompt, or off a terminal the first line of stdin (repeatable on a terminal)', collect)
    .option('--hide-field <name>', 'make an existing custom field secret (repeatable)', collect)
    .option('--from-json <file>', 'read fields from a JSON document ("-" for stdin)')
    .option('--vault <name>', 'vault (default: the default_vault setting, Personal)');
}

/** The shared vaults for this command (null: this device has none); `write`: always from the server. */
async function sharedFor(a: VaultApi, write = false): Promise<Shared | null> {
  return (await import('../shared.js')).sharedFor(ctx().paths, a, write);
}

/** The same, unless `vault` names a vault of your own (which wins over a shared one of that name). */
async function sharedUnlessOwn(a: VaultApi, vault: string | undefined, write = false): Promise<Shared | null> {
  return (await import('../shared.js')).sharedUnlessOwn(ctx().paths, a, vault, write);
}

/** Runs a lookup with the shared vaults (src/cli/shared.ts withShared). */
async function lookup<T>(a: VaultApi, vault: string | undefined, write: boolean, fn: (s: Shared | null) => Promise<T>): Promise<T> {
  return (await import('../shared.js')).withShared(ctx().paths, a, vault, write, fn);
}

async function readJsonDoc(file: string): Promise<unknown> {
  const text = file === '-' ? await readStdinText('JSON document', false) : (await import('node:fs')).readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw usageError(`--from-json: invalid JSON: ${(e as Error).message}`);
  }
}

/** On a terminal: asks for each documented field of the type (empty answers are skipped). */
async function askFields(p: EntryPayload): Promise<void> {
  for (const { name: field, secret, noPrompt } of typeSpec(p.type).fields) {
    if (noPrompt) continue; // derived (a card's brand from the number)
    const label = `${field[0].toUpperCase()}${field.slice(1)}`;
    const value = secret ? await askSecret(label) : await askText(label);
    if (value.trim()) setField(p, field, value.trim());
  }
}

async function generatorDefaults(): Promise<GeneratorDefaults> {
  return (await loadSettings(ctx().paths)).generator;
}

/** Where a new password comes from: stdin, the generator, a prompt on a TTY (asked twice), or nowhere. */
async function newSecret(f: EntryFlags & { passwordStdin?: boolean; password?: boolean }, name: string, required: boolean): Promise<{ value?: string; generated: boolean }> {
  if (f.passwordStdin && f.generate) throw usageError('use either --password-stdin or --generate, not both');
  if (f.passwordStdin) {
    const value = await readStdinText('password');
    if (value === '') {
      if (f.password === false) return { generated: false }; // --no-password: a login without one, on purpose
      throw usageError(`the password for "${name}" on stdin is empty; nothing saved`, 'check the variable you piped in (an unset $PW is empty); --no-password saves a login without a password');
    }
    checkValue('password', value);
    return { value, generated: false };
  }
  if (f.generate || f.words !== undefined || f.length !== undefined) return { value: generatedSecret(f, await generatorDefaults()), generated: true };
  if (required && f.password !== false) {
    needTerminal(`a password for "${name}"`, 'use --password-stdin, --generate, or --no-password for a login without one');
    const v = await withRetries(async () => {
      const a = await askSecret(`Password for ${name} (empty to generate one)`);
      if (a === '') return a;
      if ((await askSecret(`Repeat the password for ${name}`)) !== a) throw usageError('the two entries do not match');
      return a;
    });
    return v ? { value: v, generated: false } : { value: generatedSecret(f, await generatorDefaults()), generated: true };
  }
  return { generated: false };
}

export function register(program: Command): void {
  const add = program
    .command('add <name>')
    .description('add an entry (a login by default); the password comes from a prompt, stdin or the generator, never from arguments')
    .option('-t, --type <type>', ADDABLE_TYPES.join(' | '), 'login');
  entryOptions(secretOptions(add))
    .option('--no-password', 'a login without a password (no prompt)')
    .option('--json', 'print the new entry as JSON')
    .addHelpText('after', `
Examples:
  kpm add github --username octocat --url https://github.com --generate
  printf %s "$PW" | kpm add db --username admin --password-stdin
  kpm add visa --type card --field cardholder="A N Other" --field expiry=12/29 < /dev/null
  echo '{"number":"4242424242424242","code":"123"}' | kpm add visa --type card --from-json -`)
    .action(async (name: string, o) => {
      const type = entryType(o.type);
      const spec = typeSpec(type);
      const now = new Date().toISOString();
      const p: EntryPayload = { type, name, fields: {}, custom: [], tags: [], created: now, updated: now };
      if (o.fromJson) applyJsonFields(p, await readJsonDoc(o.fromJson));
      applyFieldFlags(p, o);
      const noteFromStdin = Boolean(spec.notesFromInput) && o.notes === undefined && !o.fromJson && !process.stdin.isTTY;
      await applySecretFields(p, o, Boolean(o.passwordStdin) || o.fromJson === '-' || noteFromStdin);
      const noFieldsGiven = !o.fromJson && !o.field?.length && !o.secretField?.length && o.username === undefined && o.url === undefined && o.notes === undefined;
      if (spec.promptFields && noFieldsGiven && isInteractive()) await askFields(p);
      if (spec.notesFromInput && o.notes === undefined && !o.fromJson) {
        p.fields.notes = process.stdin.isTTY ? await editText() : await readStdinText('note', false);
      }
      const cardWarning = completeEntry(p);
      if (cardWarning) warn(cardWarning);
      // --vault naming a shared vault: a signed member write (refused for read-only members before anything is sent)
      // (a vault of your own of that name wins)
      const a = o.vault !== undefined ? await api(o) : undefined;
      const own = a ? (await a.listVaults()).some((x) => x.name === o.vault) : true;
      const shared = a && !own ? await sharedFor(a, true) : null;
      try {
        const sh = await import('../shared.js');
        const target = a ? sh.sharedTarget(shared, o.vault) : null;
        if (target) {
          (await import('../../share/client.js')).ShareClient.checkWritable(target, shared!.client.me.email);
          await sh.toSharedEntry(p); // refused (exit 2) before a password is asked for
        }
        const secret = await newSecret(o, name, Boolean(spec.needsPassword) && p.fields.password === undefined);
        const add = async (vault: string, q: EntryPayload) => (target ? sh.writeShared(shared!, target, await sh.toSharedEntry(q), {}) : (a ?? (await api(o))).add(vault, q));
        const v = await saveNewEntry(p, secret, { check: o.check !== false, vault: o.vault }, () => loadSettings(ctx().paths), add, warn);
        if (o.json) return json(entryJson(v));
        info(`Added ${v.vault}/${v.payload.name}${secret.generated ? ' with a generated password' : ''}${target ? ' (shared vault)' : ''}.`);
      } finally {
        await shared?.done();
      }
    });

  program
    .command('get <name>')
    .description('print one entry\'s password (or another field); exact name or id')
    .option('--field <field>', 'password | username | url | notes | totp (current code) | a custom field name')
    .option('--json', 'print the whole entry as JSON')
    .option('--raw', 'print the value exactly as stored, without a newline after it')
    .option('-c, --copy', 'copy the value to the clipboard instead of printing it; cleared after clipboard_clear seconds')
    .option('--vault <name>', 'look only in this vault')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm get github\n  kpm get github --field username\n  export TOKEN="$(kpm get api-token)"\n  kpm get github --json | jq .fields.url\n  kpm get deploy-key --field notes --raw > id_deploy')
    .action(async (name: string, o: CommonOpts & { field?: string; copy?: boolean; raw?: boolean }) => {
      const a = await api({ masterStdin: o.passwordStdin });
      const sh = await import('../shared.js');
      const value = await lookup(a, o.vault, false, async (shared): Promise<string | undefined> => {
        if (a.viaAgent && !o.json) {
          // only the asked field crosses the agent's socket
          const { agentCall } = await import('../../agent/call.js');
          const getField = () => agentCall(ctx().paths, 'getField', [name, o.vault, o.field]);
          const loc = shared ? await sh.localLookup(getField) : { hit: await getField() };
          const p = sh.pickOne(name, { ...loc, label: loc.hit && `${loc.hit.vault}/${loc.hit.name}` }, shared ? sh.findShared(shared, name, o.vault) : []);
          if ('shared' in p) return valueOf(sh.sharedView(p.shared.v, p.shared.id), o.field);
          if (p.local.value === undefined) throw notFound(`entry "${p.local.name}" has no field "${p.local.field}"`);
          return p.local.value;
        }
        const v = (await sh.entryAnywhere(a, shared, name, o.vault)).view;
        if (o.json) return void json(entryJson(v));
        return valueOf(v, o.field);
      });
      if (value === undefined) return;
      if (o.copy) {
        const { copyAndClear } = await import('../clipboard.js');
        await copyAndClear(value, (await loadSettings(ctx().paths)).clipboard_clear);
        return;
      }
      process.stdout.write(o.raw || value.endsWith('\n') ? value : value + '\n');
    });

  program
    .command('list')
    .alias('ls')
    .description('list entries (names, user names, addresses; never passwords)')
    .option('-s, --search <text>', 'only entries whose name, user name or URL contains TEXT')
    .option('-t, --type <type>', 'only entries of this type')
    .option('--vault <name>', 'only this vault')
    .option('--json', 'print JSON')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm list\n  kpm list --search git --json')
    .action(async (o) => {
      const type = o.type ? entryType(o.type) : undefined;
      const a = await api({ masterStdin: o.passwordStdin });
      const shared = await sharedUnlessOwn(a, o.vault);
      let text: string;
      if (!shared) text = await a.listText({ vault: o.vault, search: o.search, type }, Boolean(o.json));
      else {
        try {
          const sh = await import('../shared.js');
          const { renderList, collator } = await import('../../vault/listing.js');
          const filter = { vault: o.vault, search: o.search, type };
          const own = o.vault !== undefined && sh.isSharedVault(shared, o.vault) ? [] : await a.list(filter);
          const items = [...own, ...sh.sharedSummaries(shared, filter)].sort((x, y) => collator.compare(x.vault, y.vault) || collator.compare(x.name, y.name));
          text = renderList(items, Boolean(o.json));
        } finally {
          await shared.done();
        }
      }
      if (!text && !o.json) return info('No entries.');
      process.stdout.write(text);
    });

  const edit = program.command('edit <name>').description('change fields of an entry').option('--name <new>', 'rename the entry');
  entryOptions(secretOptions(edit))
    .option('--json', 'print the changed entry as JSON')
    .addHelpText('after', '\nExamples:\n  kpm edit github --generate\n  kpm edit github --username new-login --field "recovery email=me@example.com"\n  kpm edit github --field "old field="   (removes it)\n  kpm edit mail --secret-field "api key"   (asks for the value, hidden; masked by kpm show)\n  printf %s "$KEY" | kpm edit mail --secret-field "api key"')
    .action(async (name: string, o) => {
      const a = await api(o);
      const sh = await import('../shared.js');
      await lookup(a, o.vault, true, async (shared) => {
        const found = await sh.entryAnywhere(a, shared, name, o.vault);
        const cur = found.view;
        if (found.shared) (await import('../../share/client.js')).ShareClient.checkWritable(found.shared.v, shared!.client.me.email);
        const p = cur.payload;
        if (o.fromJson) applyJsonFields(p, await readJsonDoc(o.fromJson));
        applyFieldFlags(p, o);
        await applySecretFields(p, o, Boolean(o.passwordStdin) || o.fromJson === '-');
        if (o.name !== undefined) p.name = o.name;
        const cardWarning = completeEntry(p);
        if (cardWarning) warn(cardWarning);
        if (found.shared) await sh.toSharedEntry(p); // refused (exit 2) before a password is asked for
        const secret = await newSecret(o, name, false);
        await finishEdit(p, secret, o.check !== false, async () => (await loadSettings(ctx().paths)).audit_min_score, warn);
        const v = found.shared ? await sh.writeShared(shared!, found.shared.v, await sh.toSharedEntry(p), { entryId: found.shared.id }) : await a.update(cur.vault, cur.id, cur.version, p);
        if (o.json) return json(entryJson(v));
        info(`Updated ${v.vault}/${v.payload.name}${found.shared ? ' (shared vault)' : ''}.`);
      });
    });

  program
    .command('rm <name>')
    .alias('remove')
    .description('delete an entry (it moves to the trash: `kpm trash`)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--vault <name>', 'vault')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm rm old-site\n  kpm rm old-site --yes')
    .action(async (name: string, o) => {
      if (!o.yes && !isInteractive()) throw usageError('refusing to delete without confirmation', 'add --yes when running without a terminal');
      const a = await api({ masterStdin: o.passwordStdin });
      const sh = await import('../shared.js');
      await lookup(a, o.vault, true, async (shared) => {
        const found = shared ? await sh.entryAnywhere(a, shared, name, o.vault) : undefined;
        if (found?.shared) (await import('../../share/client.js')).ShareClient.checkWritable(found.shared.v, shared!.client.me.email);
        if (!o.yes) {
          const cur = found?.view ?? (await a.get(name, o.vault));
          if (!(await askConfirm(`Delete ${cur.vault}/${cur.payload.name}?`, false))) return info('Nothing deleted.');
        }
        if (found?.shared) {
          await sh.writeShared(shared!, found.shared.v, { ...found.view.payload, updated: new Date().toISOString() }, { entryId: found.shared.id, deleted: true });
          return info(`Deleted ${found.view.vault}/${found.view.payload.name} (shared vault; every member sees it gone).`);
        }
        const v = await a.remove(found ? found.view.id : name, found ? found.view.vault : o.vault);
        info(`Deleted ${v.vault}/${v.payload.name}.`);
      });
    });

  program
    .command('totp <name>')
    .description('print the current one-time code of an entry (seconds left on stderr)')
    .option('--json', 'print {code, secondsLeft, period}')
    .option('--raw', 'print the code without a newline')
    .option('--vault <name>', 'vault')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm totp github\n  kpm totp github --json')
    .action(async (name: string, o) => {
      const a = await api({ masterStdin: o.passwordStdin });
      const sh = await import('../shared.js');
      const v = await lookup(a, o.vault, false, async (shared) => (await sh.entryAnywhere(a, shared, name, o.vault)).view);
      const uri = v.payload.fields.totp;
      if (!uri) throw notFound(`entry "${v.payload.name}" has no TOTP secret`, 'add one with `kpm edit NAME --totp otpauth://…`');
      const t = totpNow(parseOtpauthUri(uri));
      if (o.json) return json(t);
      if (o.raw) return void process.stdout.write(t.code);
      out(t.code);
      if (process.stderr.isTTY) info(`(${t.secondsLeft}s left)`);
    });

  const trash = program
    .command('trash')
    .description('list deleted entries (after trash.days days they are deleted for good)')
    .option('--vault <name>', 'vault')
    .option('--json', 'print JSON')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm trash\n  kpm trash --json\n  kpm trash purge github --yes')
    .action(async (o) => {
      const a = await api({ masterStdin: o.passwordStdin });
      // deleted entries of the shared vaults too (their log keeps them: `kpm restore NAME` by a writer)
      const shared = await sharedUnlessOwn(a, o.vault);
      let items;
      try {
        const sh = await import('../shared.js');
        items = [...(shared && o.vault !== undefined && sh.isSharedVault(shared, o.vault) ? [] : await a.trash(o.vault)), ...(shared ? sh.sharedTrash(shared, o.vault) : [])];
      } finally {
        await shared?.done();
      }
      if (o.json) return json(items);
      if (items.length === 0) return info('The trash is empty.');
      for (const i of items) out(`${i.name}  [${i.vault}]  deleted ${i.updated}`);
    });

  trash
    .command('purge [name]')
    .description('delete an entry in the trash (or, without NAME, every one) for good, on every device: it cannot be restored')
    .option('--vault <name>', 'vault')
    .option('-y, --yes', 'do not ask for confirmation (needed without a terminal)')
    .option('--json', 'print JSON')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nIn a shared vault (--vault SHARED, or NAME found only there) only its owner purges; without NAME only the own vaults\' trash is purged unless --vault names a shared vault.\n\nExit codes: 0 done (or not confirmed), 2 no confirmation without a terminal or the entry is not in the trash, 3 no such entry, 9 a shared vault you do not own.\n\nExamples:\n  kpm trash purge github\n  kpm trash purge --yes\n  kpm trash purge --vault Team --yes')
    .action(async (name: string | undefined, _o, cmd: Command) => {
      // --vault, --json and --password-stdin are also options of `kpm trash`, which commander gives them to wherever they stand
      const o = cmd.optsWithGlobals();
      const a = await api({ masterStdin: o.passwordStdin });
      if (!o.yes) {
        if (!isInteractive()) throw usageError('refusing to delete for good without confirmation', 'add --yes when running without a terminal');
        const what = name === undefined ? 'every entry in the trash' : `"${name}" and all its versions`;
        if (!(await askConfirm(`Delete ${what} for good, on every device? This cannot be undone.`, false))) return info('Nothing deleted.');
      }
      const sh = await import('../shared.js');
      // a shared vault's trash: its owner signs a compaction statement (docs/SHARING.md "Purging and compacting a shared vault")
      const r = await sh.withShared(ctx().paths, a, o.vault, true, async (shared) => {
        if (!shared) return a.purgeTrash(name, o.vault);
        if (o.vault !== undefined && sh.isSharedVault(shared, o.vault)) {
          const v = sh.sharedTarget(shared, o.vault)!;
          if (name === undefined) return sh.purgeShared(ctx().paths, shared, v, { purgeTrash: 'all' });
          const hit = sh.findSharedAny(shared, name, o.vault);
          if (hit.length === 0) throw notFound(`no entry named "${name}" in shared vault "${o.vault}"`, 'see `kpm trash --vault ' + o.vault + '`');
          return sh.purgeShared(ctx().paths, shared, v, { purgeTrash: [hit[0].id] });
        }
        if (name === undefined) return a.purgeTrash(name, o.vault);
        const loc = await sh.localLookup(() => a.history(name, o.vault));
        const last = loc.hit?.[loc.hit.length - 1];
        const p = sh.pickOne(name, { ...loc, label: last && `${last.vault}/${last.payload.name} (${last.id.slice(0, 8)})` }, sh.findSharedAny(shared, name, o.vault));
        if ('local' in p) return a.purgeTrash(name, o.vault);
        return sh.purgeShared(ctx().paths, shared, p.shared.v, { purgeTrash: [p.shared.id] });
      });
      if (o.json) return json({ purged: r.purged, dropped: r.dropped });
      if (r.purged.length === 0) return info('The trash is empty.');
      info(`Deleted for good: ${r.purged.map((p) => `"${p.name}"`).join(', ')} (${r.dropped} record${r.dropped === 1 ? '' : 's'} removed).`);
    });

  program
    .command('show <name>')
    .description('show an entry for people: every field, secrets hidden unless --reveal')
    .option('--reveal', 'show secret fields too')
    .option('--vault <name>', 'vault')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm show github\n  kpm show visa --reveal')
    .action(async (name: string, o) => {
      const a = await api({ masterStdin: o.passwordStdin });
      const sh = await import('../shared.js');
      // a shared entry's files are beside its payload, in the writer's signed record
      const found = await lookup(a, o.vault, false, async (shared) => sh.entryAnywhere(a, shared, name, o.vault));
      printEntry(found.view, Boolean(o.reveal), found.shared ? found.shared.v.entries.get(found.shared.id)!.files : undefined);
    });
}

/** The value `get` prints: the asked field, or the type's primary field. */
function valueOf(v: EntryView, field?: string): string {
  const f = (field ?? primaryField(v.payload.type)).toLowerCase();
  if (f === 'totp' && v.payload.fields.totp) return totpNow(parseOtpauthUri(v.payload.fields.totp)).code;
  const value = fieldValue(v.payload, f);
  if (value === undefined) throw notFound(`entry "${v.payload.name}" has no field "${field ?? f}"`);
  return value;
}
