// Entry payloads: what is inside one entry's ciphertext (docs/FORMAT.md "Entry payload").
import { usageError } from '../core/errors.js';
import type { StoredFile } from './blobs.js';
import { fieldSpec, TYPE_SPECS, typeSpec, type EntryType } from './types/index.js';

export { ENTRY_TYPES, isEntryType, type EntryType } from './types/index.js';

/** Documented fields per type (src/vault/types/); custom fields go in `custom`. */
export const TYPE_FIELDS = Object.fromEntries(TYPE_SPECS.map((s) => [s.type, s.fields.map((f) => f.name)])) as unknown as Record<EntryType, readonly string[]>;

/** Fields whose values are secret (in any type): hidden in human output unless asked for. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(TYPE_SPECS.flatMap((s) => s.fields.filter((f) => f.secret).map((f) => f.name)));

export interface CustomField {
  name: string;
  value: string;
  /** how another password manager typed the field (kept so an export gives it back); absent: text */
  kind?: CustomFieldKind;
}

/** hidden: a secret (masked like a password); boolean: "true" / "false" */
export const CUSTOM_FIELD_KINDS = ['hidden', 'boolean'] as const;
export type CustomFieldKind = (typeof CUSTOM_FIELD_KINDS)[number];

export interface EntryPayload {
  type: EntryType;
  name: string;
  fields: Record<string, string>;
  custom: CustomField[];
  tags: string[];
  created: string;
  updated: string;
  passwordChanged?: string;
  /** documents and attachments: each file's blob id, key and metadata */
  files?: StoredFile[];
}

export const MAX_NAME_LENGTH = 256;
export const MAX_VALUE_BYTES = 1 << 20;
export const MAX_PAYLOAD_BYTES = 16 << 20;

/** The form names are compared in: Unicode NFC, trimmed, case-folded. */
export function normalizeName(name: string): string {
  return name.normalize('NFC').trim().toLowerCase();
}

export function checkName(name: string, what = 'entry name'): string {
  const n = name.normalize('NFC').trim();
  if (!n) throw usageError(`${what} must not be empty`);
  if (n.length > MAX_NAME_LENGTH) throw usageError(`${what} is longer than ${MAX_NAME_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(n)) throw usageError(`${what} must not contain control characters`);
  return n;
}

export function checkValue(field: string, value: string): void {
  if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) throw usageError(`value of field "${field}" is larger than 1 MiB`);
}

/** The field `kpm get NAME` prints when no --field is given. */
export function primaryField(type: EntryType): string {
  return typeSpec(type).primary;
}

/** What `kpm list` shows beside the name (cards: the masked number); never a secret. */
export function entryHint(p: Pick<EntryPayload, 'type' | 'fields'>): string | undefined {
  return typeSpec(p.type).hint?.(p.fields);
}

/** Fills in the fields the type derives (a card's brand); a warning for the user, if any. */
export function completeFields(p: Pick<EntryPayload, 'type' | 'fields'>): string | undefined {
  return typeSpec(p.type).complete?.(p.fields);
}

/** How `kpm show` hides the value of a secret field (a card number: "•••• 4242"). */
export function maskedValue(type: EntryType, field: string, value: string): string {
  return fieldSpec(type, field)?.mask?.(value) ?? '••••••••';
}

/** Reads a field by name: a documented field of the type first, then a custom field. */
export function fieldValue(p: EntryPayload, field: string): string | undefined {
  const f = field.toLowerCase();
  if (f === 'name') return p.name;
  if (f === 'type') return p.type;
  if (p.fields[f] !== undefined) return p.fields[f];
  return p.custom.find((c) => c.name.toLowerCase() === f)?.value;
}

/** What list and the agent's index keep in memory: no secret fields. */
export interface EntrySummary {
  id: string;
  vault: string;
  name: string;
  type: EntryType;
  username?: string;
  url?: string;
  /** cards: the masked number, e.g. "•••• 4242" */
  hint?: string;
  updated: string;
}
