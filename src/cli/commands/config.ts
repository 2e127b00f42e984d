// kpm config list|get|set|reset: the settings in config.json (src/settings/schema.ts), typed and
// checked; while the settings are protected, set and reset need the settings password.
import type { Command } from 'commander';
import { locked, usageError } from '../../core/errors.js';
import { effectiveFlat, parseValue, RETIRED_KEYS, SETTINGS, specFor, withPath } from '../../settings/schema.js';
import { resign, wipeSigner, type Signer } from '../../settings/protection.js';
import type { SettingsState } from '../../settings/protection.js';
import { info, json, out } from '../io.js';
import { ctx } from '../context.js';
import { unlockSettings, type GuardOptions } from '../guard.js';

const store = () => import('../../settings/store.js');

const show = (v: unknown) => (v === null ? '(unset)' : String(v));

/** Applies a change to the stored values, re-signed when the settings are protected. */
async function change(action: string, o: GuardOptions, fn: (values: SettingsState['values']) => SettingsState['values']): Promise<void> {
  const { paths } = ctx();
  const { loadState, commitSettings } = await store();
  const state = await loadState(paths);
  let signer: Signer | null = null;
  try {
    signer = await unlockSettings(paths, action, o, state);
    await commitSettings(paths, (cur) => {
      const values = fn(cur.values);
      if (!cur.record) return { values, record: null };
      if (!signer) throw locked('the settings were protected meanwhile by another kpm process; try again');
      return { values, record: resign(values, cur.record, signer) };
    });
  } finally {
    wipeSigner(signer);
  }
}

/** default_vault must name a vault of this profile (the names are encrypted: this unlocks). */
async function checkVaultExists(name: string): Promise<void> {
  const { openApi } = await import('../unlock.js');
  const { normalizeName } = await import('../../vault/entry.js');
  const a = await openApi(ctx().paths, {});
  const vaults = await a.listVaults();
  if (!vaults.some((v) => normalizeName(v.name) === normalizeName(name))) {
    throw usageError(`default_vault must name an existing vault; there is no vault "${name}"`, `the vaults are: ${vaults.map((v) => v.name).join(', ')} (\`kpm vault create ${name}\` makes it)`);
  }
}

export function register(program: Command): void {
  const config = program
    .command('config')
    .description('show and change settings (config.json; `kpm config list` shows every key)')
    .addHelpText('after', '\nExamples:\n  kpm config list\n  kpm config set autolock 30\n  kpm config get autolock --json')
    .addHelpText('after', `\nSettings:\n${SETTINGS.map((s) => `  ${s.key.padEnd(30)} ${s.help} (default: ${show(s.default)})`).join('\n')}`);

  config
    .command('list')
    .description('every setting and its value (defaults marked)')
    .option('--json', 'print {key: value, ...} (unset: null)')
    .addHelpText('after', '\nExamples:\n  kpm config list\n  kpm config list --json')
    .action(async (o) => {
      const { loadState } = await store();
      const state = await loadState(ctx().paths);
      const flat = effectiveFlat(state.values);
      if (o.json) return json(flat);
      const explicit = effectiveFlat({});
      const width = Math.max(...SETTINGS.map((s) => s.key.length));
      for (const s of SETTINGS) {
        const isDefault = JSON.stringify(flat[s.key]) === JSON.stringify(explicit[s.key]);
        out(`${s.key.padEnd(width)} = ${show(flat[s.key])}${isDefault ? '  # default' : ''}`);
      }
    });

  config
    .command('get <key>')
    .description('print the value of one setting (nothing for an unset one)')
    .option('--json', 'print {key, value, default, isDefault}')
    .addHelpText('after', '\nExamples:\n  kpm config get autolock\n  kpm config get generator.length --json')
    .action(async (key: string, o) => {
      const spec = specFor(key);
      const { loadState } = await store();
      const value = effectiveFlat((await loadState(ctx().paths)).values)[key];
      if (o.json) return json({ key, value, default: spec.default, isDefault: value === spec.default });
      if (value !== null) out(String(value));
    });

  config
    .command('set <key> <value>')
    .description('change a setting (needs the settings password while the settings are protected)')
    .option('--settings-password-stdin', 'read the settings password from stdin')
    .allowUnknownOption() // so that a negative number reaches the value check instead of "unknown option"
    .addHelpText('after', '\nExamples:\n  kpm config set autolock 30\n  kpm config set sync manual\n  kpm config set server https://kpm.example.org\n  printf %s "$SETTINGS_PW" | kpm config set autolock 5 --settings-password-stdin')
    .action(async (key: string, text: string, o) => {
      const value = parseValue(key, text);
      if (key === 'default_vault') await checkVaultExists(value as string);
      await change('config set', o, (values) => withPath(values, key, value));
      info(`${key} = ${show(value)}`);
    });

  config
    .command('reset <key>')
    .description('reset a setting to its default (needs the settings password while the settings are protected)')
    .option('--settings-password-stdin', 'read the settings password from stdin')
    .addHelpText('after', '\nExamples:\n  kpm config reset autolock')
    .action(async (key: string, o) => {
      if (RETIRED_KEYS.has(key)) {
        await change('config reset', o, (values) => withPath(values, key, undefined));
        return info(`${key} removed (${RETIRED_KEYS.get(key)})`);
      }
      const spec = specFor(key);
      await change('config reset', o, (values) => withPath(values, key, undefined));
      info(`${key} = ${show(spec.default)} (default)`);
    });
}
