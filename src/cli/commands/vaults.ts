// kpm vault …: several vaults per profile, and data vaults with their own password.
import type { Command } from 'commander';
import { EXIT, usageError } from '../../core/errors.js';
import { info, isInteractive, json, out, plural, readOldAndNew, readStdinText } from '../io.js';
import { askConfirm, askNewSecret, askSecret, needTerminal, withRetries } from '../prompt.js';
import { openApi } from '../unlock.js';
import { ctx } from '../context.js';
import { requireSettingsPassword } from '../guard.js';
import { checkNewPassword } from '../unlock.js';

const OWN_UNRECOVERABLE = "This vault's password cannot be recovered by anyone. If you forget it, the vault's data is lost.";

const api = (o: { passwordStdin?: boolean }) => openApi(ctx().paths, { passwordStdin: o.passwordStdin });

/** S14: a new data-vault password gets the same check as a new master password. */
const newVaultCheck = (o: { allowWeakPassword?: boolean }, name: string) => (pw: string) =>
  checkNewPassword(pw, { what: `the password of vault "${name}"`, allowWeak: Boolean(o.allowWeakPassword), userInputs: [name] });

async function vaultPassword(o: { vaultPasswordStdin?: boolean; allowWeakPassword?: boolean }, isNew: boolean, name: string): Promise<string> {
  if (o.vaultPasswordStdin) return readStdinText('vault password');
  // opening a data vault off a terminal is exit 4 (locked), choosing a new password exit 2 (README "Exit codes")
  needTerminal(`the password of vault "${name}"`, 'pass it with --vault-password-stdin', isNew ? EXIT.usage : EXIT.locked);
  if (!isNew) return askSecret(`Password of vault "${name}"`);
  info(OWN_UNRECOVERABLE);
  return askNewSecret(`Choose a password for vault "${name}"`, 'Repeat it', newVaultCheck(o, name));
}

export function register(program: Command): void {
  const vault = program.command('vault').description('manage vaults (default vault: Personal)').addHelpText('after', '\nExamples:\n  kpm vault list\n  kpm vault create Work\n  kpm add aws --vault Work --generate');

  vault
    .command('list')
    .description('list vaults, which have their own password, and which are locked')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  kpm vault list\n  kpm vault list --json | jq -r ".[].name"')
    .action(async (o) => {
      const vs = await (await api({})).listVaults();
      if (o.json) return json(vs);
      for (const v of vs) out(`${v.name}${v.ownPassword ? `  (own password, ${v.locked ? 'locked' : 'unlocked'})` : ''}  ${v.entries} entr${v.entries === 1 ? 'y' : 'ies'}`);
    });

  vault
    .command('create <name>')
    .description('create a vault; with --own-password it is protected by its own password instead of the master password')
    .option('--own-password', 'protect the vault with its own password (asked twice, or --vault-password-stdin)')
    .option('--vault-password-stdin', "read the vault's own password from stdin")
    .option('--allow-weak-password', 'accept a vault password the strength check calls weak (not recommended)')
    .addHelpText('after', '\nExamples:\n  kpm vault create Work\n  kpm vault create Private --own-password')
    .action(async (name: string, o) => {
      let pw: string | undefined;
      if (o.ownPassword || o.vaultPasswordStdin) {
        pw = await vaultPassword(o, true, name);
        if (o.vaultPasswordStdin) {
          await newVaultCheck(o, name)(pw);
          info(OWN_UNRECOVERABLE);
        }
      }
      const v = await (await api({})).createVault(name, pw);
      info(`Created vault "${v.name}"${v.ownPassword ? ' with its own password' : ''}.`);
    });

  vault
    .command('unlock <name>')
    .description('unlock a vault that has its own password (kept by the agent until it locks)')
    .option('--vault-password-stdin', "read the vault's password from stdin")
    .addHelpText('after', '\nExamples:\n  kpm vault unlock Private\n  printf %s "$VAULT_PW" | kpm vault unlock Private --vault-password-stdin')
    .action(async (name: string, o) => {
      const a = await api({});
      // at a terminal a wrong password is asked again (3 tries)
      const v = o.vaultPasswordStdin ? await a.unlockVault(name, await vaultPassword(o, false, name)) : await withRetries(async () => a.unlockVault(name, await vaultPassword(o, false, name)), [EXIT.wrongPassword]);
      info(a.viaAgent ? `Vault "${v.name}" is unlocked.` : `Vault "${v.name}" opened (run \`kpm unlock\` first to keep it unlocked).`);
    });

  vault
    .command('lock <name>')
    .description('lock a vault that has its own password (signed in, sync=auto: its changes are sent first)')
    .addHelpText('after', '\nExamples:\n  kpm vault lock Private')
    .action(async (name: string) => {
      await (await api({})).lockVault(name);
      info(`Vault "${name}" is locked.`);
    });

  vault
    .command('passwd <name>')
    .description("change a data vault's own password (rewraps its key only)")
    .option('--vault-password-stdin', 'read the current password from line 1 of stdin and the new one from line 2')
    .option('--allow-weak-password', 'accept a new vault password the strength check calls weak (not recommended)')
    .addHelpText('after', '\nExamples:\n  kpm vault passwd Private\n  printf "%s\\n%s\\n" "$OLD" "$NEW" | kpm vault passwd Private --vault-password-stdin')
    .action(async (name: string, o) => {
      let current: string, next: string;
      if (o.vaultPasswordStdin) {
        [current, next] = await readOldAndNew('--vault-password-stdin');
        await newVaultCheck(o, name)(next);
      } else {
        current = await vaultPassword(o, false, name);
        next = await vaultPassword(o, true, name);
      }
      await (await api({})).changeVaultPassword(name, current, next);
      info(`Password of vault "${name}" changed.`);
    });

  vault
    .command('rm <name>')
    .description('delete a vault and every entry in it from this device')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--settings-password-stdin', 'read the settings password from stdin (when the settings are protected)')
    .addHelpText('after', '\nExamples:\n  kpm vault rm Old\n  kpm vault rm Old --yes')
    .action(async (name: string, o) => {
      await requireSettingsPassword('vault rm', { settingsPasswordStdin: o.settingsPasswordStdin });
      const a = await api({});
      if (!o.yes) {
        if (!isInteractive()) throw usageError('refusing to delete a vault without confirmation', 'add --yes when running without a terminal');
        if (!(await askConfirm(`Delete vault "${name}" and all its entries?`, false))) return info('Nothing deleted.');
      }
      const v = await a.removeVault(name);
      info(`Deleted vault "${v.name}" (${plural(v.entries, 'entry', 'entries')}).`);
    });

  vault
    .command('rotate-key <name>')
    .description('give a vault a new key, so a revoked service token or a lost device cannot read what is added from now on')
    .option('--vault-password-stdin', "read the vault's own password from stdin (a data vault keeps its password)")
    .addHelpText('after', `
Every record of the vault (all versions, the trash) is re-encrypted under a new key into a new vault
of the same name; the old vault is removed, here now and on the server and the other devices at the
next sync. Service tokens of the vault stop reading: create new ones. What an old key holder already
read, and files attached before the rotation (their own keys are unchanged), stay readable to it.

Examples:
  kpm vault rotate-key CI
  printf %s "$VAULT_PW" | kpm vault rotate-key Private --vault-password-stdin`)
    .action(async (name: string, o) => {
      const a = await api({});
      const own = (await a.listVaults()).find((v) => v.name.toLowerCase() === name.toLowerCase() || v.id === name.toLowerCase())?.ownPassword;
      const pw = own ? await vaultPassword(o, false, name) : undefined;
      const r = await a.rotateVaultKey(name, pw);
      info(`Vault "${r.vault.name}" has a new key (${r.entries} record${r.entries === 1 ? '' : 's'} re-encrypted); the vault with the old key is removed (the next sync removes it everywhere).`);
      info('Service tokens of this vault no longer read it: create new ones with `kpm token create`.');
    });

  vault
    .command('rename <name> <newName>')
    .description('rename a vault')
    .addHelpText('after', '\nExamples:\n  kpm vault rename Work Office')
    .action(async (name: string, newName: string) => {
      const v = await (await api({})).renameVault(name, newName);
      info(`Renamed to "${v.name}".`);
    });
}
