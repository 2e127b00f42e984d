// What one entry type declares (one file per type in this folder, listed in ./index.ts). The CLI
// (add/edit options and prompts, show, get --field), list summaries, the token reader, the agent's
// payload schema and the import/export formats take the type's fields from here. A type needs
// nothing else to be added, shown, read, synced and exported; a format that maps a type onto
// another program's own fields (Bitwarden's card, KeePass's UserName) does so in its own file.
export interface FieldSpec {
  /** the key in the payload's `fields` (lower case) */
  readonly name: string;
  /** hidden by `kpm show` unless --reveal, asked on a hidden prompt, a hidden/protected field in exports */
  readonly secret?: boolean;
  /** not asked for on a terminal (a card's brand is detected from the number) */
  readonly noPrompt?: boolean;
  /** how `kpm show` masks this secret (default ••••••••) */
  readonly mask?: (value: string) => string;
}

/**
 * How an export format carries the type: `round-trip` = export then import gives back the same
 * type, fields and custom fields; otherwise what it becomes (the test in
 * test/unit/entry-types.test.ts checks either).
 */
export type TransferSupport =
  | 'round-trip'
  | {
      /** the type it is imported back as */
      readonly becomes: string;
      /** fields that do not come back */
      readonly lost?: readonly string[];
      /** fields that come back with the same meaning in other bytes (a re-serialised key) */
      readonly rewritten?: readonly string[];
      /** why, for docs/IMPORT-EXPORT.md readers */
      readonly why: string;
    };

export interface EntryTypeSpec<T extends string = string> {
  readonly type: T;
  /** one line for help and docs */
  readonly description: string;
  /** the documented fields, in the order they are asked for */
  readonly fields: readonly FieldSpec[];
  /** the field `kpm get NAME` prints without --field */
  readonly primary: string;
  /** `kpm add` asks for each field on a terminal when no field is given */
  readonly promptFields?: boolean;
  /** `kpm add` needs a password (a prompt, stdin or the generator; --no-password skips it) */
  readonly needsPassword?: boolean;
  /** `kpm add` reads the notes from stdin, or $EDITOR on a terminal, when --notes is not given */
  readonly notesFromInput?: boolean;
  /** made by another command than `kpm add --type` (not offered in its help) */
  readonly addedBy?: string;
  /** what `kpm list` shows beside the name (never a secret) */
  readonly hint?: (fields: Readonly<Record<string, string>>) => string | undefined;
  /** fills in derived fields (in place) after add, edit and import; returns a warning for the user */
  readonly complete?: (fields: Record<string, string>) => string | undefined;
  /** Bitwarden's CipherType for the export (1 login, 2 secure note, 3 card, 4 identity, 5 SSH key) */
  readonly bitwardenType: number;
  /**
   * per export format (EXPORT_FORMATS in src/transfer/model.ts; the vault layer does not import
   * transfer): how the type travels. test/unit/entry-types.test.ts requires every format.
   */
  readonly transfer: Readonly<Record<string, TransferSupport>>;
}

export const defineType = <T extends string>(s: EntryTypeSpec<T>): EntryTypeSpec<T> => s;
