// The import formats behind one call, and the naming rule for duplicates.
import { MAX_NAME_LENGTH, normalizeName } from '../vault/entry.js';
import { parseBitwardenJson } from './bitwarden.js';
import { parseCsv } from './csv.js';
import { parseKeepassXml } from './keepass.js';
import { parseOnePux } from './onepux.js';
import { parseKpmJson } from './kpmjson.js';
import { decodeText, type ImportedEntry, type ImportFormat, type ParseResult } from './model.js';

export * from './model.js';

/** Parses a file of a given format (encrypted kpm-json and .kdbx are opened by the caller). */
export function parseImport(format: Exclude<ImportFormat, 'kdbx'>, bytes: Uint8Array): ParseResult {
  switch (format) {
    case '1password-1pux':
      return parseOnePux(bytes);
    case 'bitwarden-json':
      return parseBitwardenJson(decodeText(bytes));
    case 'keepass-xml':
      return parseKeepassXml(decodeText(bytes));
    case 'csv':
      return parseCsv(decodeText(bytes));
    case 'kpm-json':
      return parseKpmJson(decodeText(bytes));
  }
}

export interface Rename {
  record: number;
  from: string;
  to: string;
}

/**
 * Names are unique per vault (case-insensitively). An imported entry whose name is taken, by an
 * entry already in the vault or by an earlier record of the same import, gets " (2)", " (3)", …
 */
export function uniqueNames(entries: ImportedEntry[], existing: Iterable<string>): Rename[] {
  const taken = new Set([...existing].map(normalizeName));
  const renames: Rename[] = [];
  for (const e of entries) {
    const base = e.payload.name;
    let name = base;
    for (let i = 2; taken.has(normalizeName(name)); i++) {
      const suffix = ` (${i})`;
      name = base.slice(0, MAX_NAME_LENGTH - suffix.length) + suffix;
    }
    taken.add(normalizeName(name));
    if (name !== base) {
      renames.push({ record: e.record, from: base, to: name });
      e.payload.name = name;
    }
  }
  return renames;
}
