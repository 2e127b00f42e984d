// Entry payloads: what is inside one entry's ciphertext (docs/FORMAT.md "Entry payload").
import { usageError } from '../core/errors.js';
import type { StoredFile } from './blobs.js';

export const ENTRY_TYPES = ['login', 'card', 'identity', 'note', 'document', 'ssh-key'] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

/** Documented fields per type; custom fields go in `custom`. */
export const TYPE_FIELDS: Record<EntryType, readonly string[]> = {
  login: ['username', 'password', 'url', 'notes', 'totp'],
  card: ['cardholder', 'number', 'expiry', 'code', 'pin', 'brand', 'notes'],
  identity: ['fullname', 'address', 'city', 'postcode', 'country', 'phone', 'email', 'birthday', 'notes'],
  note: ['notes'],
  document: ['notes'],
  // src/ssh/entry.ts: an OpenSSH private key (unencrypted inside the entry's ciphertext) and what is derived from it
  'ssh-key': ['private-key', 'public-key', 'fingerprint', 'key-type', 'comment', 'hosts', 'confirm', 'notes'],
};

/** Fields whose values are secret: hidden in human output unless asked for. */
export const SECRET_FIELDS = new Set(['password', 'totp', 'number', 'code', 'pin', 'private-key']);

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

export function isEntryType(t: string): t is EntryType {
  return (ENTRY_TYPES as readonly string[]).includes(t);
}

/** The field `kpm get NAME` prints when no --field is given. */
export function primaryField(type: EntryType): string {
  if (type === 'ssh-key') return 'public-key';
  return type === 'card' ? 'number' : type === 'identity' ? 'fullname' : type === 'login' ? 'password' : 'notes';
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
