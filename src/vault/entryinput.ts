// Building an entry payload from flags, stdin JSON and prompts (shared by add and edit).
import { completeFields, ENTRY_TYPES, isEntryType, SECRET_FIELDS, TYPE_FIELDS, checkValue, type EntryPayload, type EntryType } from './entry.js';
import { usageError } from '../core/errors.js';
import { parseOtpauthUri, OtpParseError } from './totp.js';
import { generatePassword, generatePassphrase } from './generator.js';
import { intOption } from '../core/options.js';

export interface EntryFlags {
  type?: string;
  username?: string;
  url?: string;
  notes?: string;
  totp?: string;
  field?: string[];
  /** custom fields to set as secret (value from a hidden prompt or stdin) */
  secretField?: string[];
  /** existing custom fields to mark as secret */
  hideField?: string[];
  generate?: boolean;
  length?: string;
  symbols?: boolean;
  digits?: boolean;
  /** --words N, or true for --words without a number (generator.words) */
  words?: string | boolean;
  separator?: string;
}

/** The generator settings (generator.length, generator.symbols, generator.words). */
export interface GeneratorDefaults {
  length: number;
  symbols: boolean;
  words: number;
}

export function entryType(t: string | undefined): EntryType {
  const type = t ?? 'login';
  if (!isEntryType(type)) throw usageError(`unknown entry type "${type}"`, `use one of: ${ENTRY_TYPES.join(', ')}`);
  return type;
}

/** Sets a documented field of the type, or a custom field; an empty value removes it. `hidden` marks a custom field secret. */
export function setField(p: EntryPayload, key: string, value: string, hidden?: boolean): void {
  const k = key.trim();
  if (!k) throw usageError('a field name must not be empty');
  checkValue(k, value);
  const lower = k.toLowerCase();
  if (lower === 'totp' && value !== '') {
    try {
      parseOtpauthUri(value);
    } catch (e) {
      if (e instanceof OtpParseError) throw usageError(`--totp: ${e.message}`);
      throw e;
    }
  }
  if (TYPE_FIELDS[p.type].includes(lower) || lower === 'password') {
    if (hidden && !SECRET_FIELDS.has(lower)) throw usageError(`"${k}" is a field of every ${p.type} and cannot be made secret`, 'choose another name for a secret custom field');
    if (value === '') delete p.fields[lower];
    else p.fields[lower] = value;
    return;
  }
  const i = p.custom.findIndex((c) => c.name.toLowerCase() === lower);
  if (value === '') {
    if (i >= 0) p.custom.splice(i, 1);
  } else if (i >= 0) {
    p.custom[i].value = value;
    if (hidden) p.custom[i].kind = 'hidden';
  } else p.custom.push(hidden ? { name: k, value, kind: 'hidden' } : { name: k, value });
}

/** Whether `key` names a secret custom field of `p`. */
export function isSecretCustom(p: EntryPayload, key: string): boolean {
  const lower = key.trim().toLowerCase();
  return p.custom.some((c) => c.kind === 'hidden' && c.name.toLowerCase() === lower);
}

/** Applies --username/--url/--notes/--totp/--field KEY=VALUE. Passwords are refused on argv. */
export function applyFieldFlags(p: EntryPayload, f: EntryFlags): void {
  if (f.username !== undefined) setField(p, 'username', f.username);
  if (f.url !== undefined) setField(p, 'url', f.url);
  if (f.notes !== undefined) setField(p, 'notes', f.notes);
  if (f.totp !== undefined) setField(p, 'totp', f.totp);
  for (const kv of f.field ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 0) throw usageError(`--field expects KEY=VALUE, got "${kv}"`);
    const key = kv.slice(0, eq);
    if (key.trim().toLowerCase() === 'password') {
      throw usageError('passwords never go on the command line', 'use --password-stdin, --generate or the prompt');
    }
    if (isSecretCustom(p, key) && kv.slice(eq + 1) !== '') {
      throw usageError(`"${key.trim()}" is a secret field: its value never goes on the command line`, `use --secret-field "${key.trim()}" (a hidden prompt, or the first line of stdin)`);
    }
    setField(p, key, kv.slice(eq + 1));
  }
  for (const name of f.hideField ?? []) {
    const c = p.custom.find((x) => x.name.toLowerCase() === name.trim().toLowerCase());
    if (!c) throw usageError(`--hide-field: the entry has no custom field "${name}"`, 'add one with --secret-field NAME');
    c.kind = 'hidden';
  }
}


/** A generated password or passphrase: the flags, else the generator settings. */
export function generatedSecret(f: EntryFlags, d: GeneratorDefaults): string {
  if (f.words !== undefined) {
    const words = f.words === true ? d.words : intOption('--words', String(f.words), 1, 64);
    return generatePassphrase({ words, separator: f.separator ?? '-' });
  }
  return generatePassword({
    length: f.length !== undefined ? intOption('--length', f.length, 4, 1024) : d.length,
    symbols: f.symbols ?? d.symbols,
    digits: f.digits !== false,
  });
}

/** Fields given as a JSON document: {"fields": {...}, "custom": [...]} or a flat {"number": "…"}. */
export function applyJsonFields(p: EntryPayload, doc: unknown): void {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw usageError('--from-json expects a JSON object');
  const o = doc as Record<string, unknown>;
  const fields = (o.fields && typeof o.fields === 'object' ? o.fields : o) as Record<string, unknown>;
  for (const [k, v] of Object.entries(fields)) {
    if (['name', 'type', 'custom', 'tags', 'fields'].includes(k)) continue;
    if (typeof v !== 'string') throw usageError(`field "${k}" must be a string`);
    setField(p, k, v);
  }
  if (Array.isArray(o.custom)) {
    for (const c of o.custom) {
      if (!c || typeof c.name !== 'string' || typeof c.value !== 'string' || (c.kind !== undefined && c.kind !== 'hidden' && c.kind !== 'boolean')) {
        throw usageError('custom fields must be {"name": "…", "value": "…"} (and optionally "kind": "hidden" for a secret one)');
      }
      setField(p, c.name, c.value, c.kind === 'hidden');
      if (c.kind === 'boolean') p.custom.find((x) => x.name === c.name)!.kind = 'boolean';
    }
  }
  if (Array.isArray(o.tags)) p.tags = o.tags.map(String);
}

/** Fills in what the type derives (a card's brand from its number); a warning, e.g. a card number failing the Luhn check. */
export function completeEntry(p: EntryPayload): string | undefined {
  return completeFields(p);
}

