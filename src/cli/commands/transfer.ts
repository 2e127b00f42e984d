// `kpm import` and `kpm export`: the options here; the work, with the format modules (kdbxweb, the
// XML and CSV parsers), in ./transfer-run.ts, loaded only when one of them runs, so that no other
// command pays for loading them.
import type { Command } from 'commander';
import { EXPORT_FORMATS, IMPORT_FORMATS } from '../../transfer/model.js';

export function register(program: Command): void {
  program
    .command('import <file>')
    .description('import entries from another password manager (or a kpm export); all or nothing unless --continue-on-error')
    .option('--format <format>', `${IMPORT_FORMATS.join(' | ')} (default: detected from the content)`)
    .option('--vault <name>', 'the vault to import into (default: the default_vault setting, Personal; a kpm export: the vaults it names)')
    .option('--dry-run', 'only read and check the file; the vault is not opened and nothing is written')
    .option('--continue-on-error', 'import the good records and report the malformed ones')
    .option('--json', 'print a summary as JSON')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .option('--export-password-stdin', 'read the password of an encrypted kpm export or a .kdbx from stdin (after the master password)')
    .option('--key-file <file>', 'a .kdbx: its key file')
    .option('--no-password', 'a .kdbx: it has only a key file, no password')
    .addHelpText('after', `
Examples:
  kpm import bitwarden_export.json                 (the format is detected and named)
  kpm import export.1pux --format 1password-1pux --vault Family
  kpm import passwords.csv --format csv --dry-run
  kpm import backup.json --format kpm-json     (asks the export password if it is encrypted)
  kpm import Passwords.kdbx --key-file db.keyx (asks the database password)
Duplicate names get " (2)", " (3)", …; formats and mappings: docs/IMPORT-EXPORT.md`)
    .action(async (file: string, o) => {
      await (await import('./transfer-run.js')).runImport(file, o);
    });

  program
    .command('export')
    .description('export entries; asks for the master password again (even when unlocked)')
    .option('--format <format>', `${EXPORT_FORMATS.join(' | ')}`)
    .option('--encrypted', "protect the export with an export password (kpm-json; bitwarden-json: Bitwarden's password-protected .json; kdbx always is)")
    .option('--vault <name>', 'only this vault (default: every vault)')
    .option('--skip-locked', 'leave out vaults that are locked (their own password); without it, a locked vault fails the export')
    .option('-o, --output <file>', 'write to FILE (created 0600) instead of stdout')
    .option('--force', 'overwrite FILE if it exists')
    .option('--json', 'with -o: print a summary as JSON')
    .option('--password-stdin', 'read the master password from the first line of stdin')
    .option('--export-password-stdin', 'read the export password from stdin (after the master password)')
    .addHelpText('after', `
Examples:
  kpm export --format kpm-json --encrypted -o backup.kpm.json
  kpm export --format bitwarden-json -o bitwarden.json     (unencrypted: a warning is printed)
  kpm export --format bitwarden-json --encrypted -o bw.json (Bitwarden's "password protected" .json)
  kpm export --format kdbx -o Passwords.kdbx                (KeePass/KeePassXC; asks a database password twice)
  printf '%s\\n%s\\n' "$MASTER" "$EXPORT_PW" | kpm export --format kpm-json --encrypted --password-stdin --export-password-stdin -o b.json
Environment: KPM_MASTER_PASSWORD, KPM_EXPORT_PASSWORD (non-interactive use).`)
    .action(async (o) => {
      await (await import('./transfer-run.js')).runExport(o);
    });
}

