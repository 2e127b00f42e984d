// The entry types kpm knows: one file each in this folder (see ./spec.ts). Adding a type is a new
// file here and its line below; test/unit/entry-types.test.ts then requires it to work through
// add, show, get --field and every export format, and to be in the README's table.
import card from './card.js';
import document from './document.js';
import identity from './identity.js';
import login from './login.js';
import note from './note.js';
import sshKey from './ssh-key.js';
import type { EntryTypeSpec, FieldSpec } from './spec.js';

export type { EntryTypeSpec, FieldSpec, TransferSupport } from './spec.js';

/** Every type, in the order docs and help list them. */
export const TYPE_SPECS = [login, card, identity, note, document, sshKey] as const;

export type EntryType = (typeof TYPE_SPECS)[number]['type'];

export const ENTRY_TYPES: readonly EntryType[] = TYPE_SPECS.map((s) => s.type);

const byType = new Map<string, EntryTypeSpec>(TYPE_SPECS.map((s) => [s.type, s]));

export function isEntryType(t: string): t is EntryType {
  return byType.has(t);
}

export function typeSpec(t: EntryType): EntryTypeSpec<EntryType> {
  return byType.get(t) as EntryTypeSpec<EntryType>;
}

/** The documented field of a type by name (lower case), if it is one. */
export function fieldSpec(t: EntryType, field: string): FieldSpec | undefined {
  return typeSpec(t).fields.find((f) => f.name === field);
}

/** The types `kpm add --type` offers (the others have their own commands). */
export const ADDABLE_TYPES: readonly EntryType[] = TYPE_SPECS.filter((s: EntryTypeSpec) => !s.addedBy).map((s) => s.type);
