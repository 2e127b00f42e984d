// CSV with a header row. kpm writes name,type,url,username,password,totp,notes,tags,fields,created,
// updated; it reads those and the column names of common exports (Bitwarden, Chrome, Firefox,
// LastPass, KeePassXC, 1Password CSV). Columns it does not know become custom fields. See
// docs/IMPORT-EXPORT.md "CSV".
import { parse } from 'csv-parse/sync';
import { isEntryType, type EntryPayload, type EntryType } from '../vault/entry.js';
import { ADDABLE_TYPES } from '../vault/types/index.js';
import {
  addTag, collect, emptyResult, FileFormatError, finish, newPayload, put, RecordError, setDates, type ParseResult,
} from './model.js';

type Role = 'name' | 'type' | 'url' | 'username' | 'password' | 'totp' | 'notes' | 'tags' | 'folder' | 'fields' | 'created' | 'updated' | 'favorite' | 'ignore';

const ALIASES: Record<string, Role> = {
  name: 'name', title: 'name', account: 'name',
  type: 'type',
  url: 'url', uri: 'url', login_uri: 'url', website: 'url', 'web site': 'url', 'login url': 'url',
  username: 'username', 'user name': 'username', login_username: 'username', login: 'username', user: 'username',
  password: 'password', login_password: 'password',
  totp: 'totp', login_totp: 'totp', otp: 'totp', otpauth: 'totp',
  notes: 'notes', note: 'notes', extra: 'notes', comments: 'notes',
  tags: 'tags', folder: 'folder', grouping: 'folder', group: 'folder',
  fields: 'fields',
  created: 'created', timecreated: 'created',
  updated: 'updated', 'last modified': 'updated', modified: 'updated', timepasswordchanged: 'updated',
  favorite: 'favorite', fav: 'favorite',
  reprompt: 'ignore', icon: 'ignore', guid: 'ignore', timelastused: 'ignore',
};

const roleOf = (header: string): Role | undefined => ALIASES[header.trim().toLowerCase()];

/** Bitwarden's "fields" column: one "name: value" per line; other lines continue the value above. */
export function parseFieldsCell(cell: string): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const line of cell.split(/\r?\n/)) {
    const m = /^([^:\n]+?): ?(.*)$/.exec(line);
    if (m) out.push({ name: m[1].trim(), value: m[2] });
    else if (out.length) out[out.length - 1].value += `\n${line}`;
    else if (line.trim()) out.push({ name: 'field', value: line });
  }
  return out;
}

function csvType(v: string | undefined): EntryType {
  const t = (v ?? '').trim().toLowerCase();
  if (!t) return 'login';
  if (t === 'securenote' || t === 'secure note') return 'note';
  if (!isEntryType(t)) throw new RecordError(`unknown type "${v}" (use ${ADDABLE_TYPES.slice(0, -1).join(', ')} or ${ADDABLE_TYPES[ADDABLE_TYPES.length - 1]})`);
  return t;
}

const truthy = (v: string) => /^(1|true|yes|x)$/i.test(v.trim());
const dateValue = (v: string | undefined) => (v && /^\d+$/.test(v.trim()) ? Number(v.trim()) : v);

/** The line where a quoted value opens that is still open at the end of the text. */
function unclosedQuoteLine(text: string): number | undefined {
  let line = 1, open = 0, quoted = false, fieldStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"' && fieldStart) {
      quoted = true;
      open = line;
    }
    fieldStart = c === ',' || c === '\n' || (c === '\r' && fieldStart);
  }
  return quoted ? open : undefined;
}

/** LastPass writes secure notes as rows whose url is "http://sn". */
const LASTPASS_NOTE_URL = 'http://sn';

/** KeePassXC's CSV export: Group,Title,Username,Password,URL,Notes,TOTP,Icon,Last Modified,Created. */
const isKeepassxcCsv = (header: string[]) => ['group', 'title', 'username', 'password', 'url', 'notes'].every((h, i) => header[i]?.trim().toLowerCase() === h);

/** KeePassXC's recycle bin group (its English name: the CSV does not mark it otherwise). */
const KEEPASSXC_RECYCLE_BIN = 'Recycle Bin';

export function parseCsv(text: string): ParseResult {
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parse(text.replace(/^\uFEFF/, ''), { info: true, relax_column_count: true, skip_empty_lines: true }) as unknown as typeof rows;
  } catch (e) {
    const err = e as Error & { lines?: number; code?: string };
    const open = err.code === 'CSV_QUOTE_NOT_CLOSED' ? unclosedQuoteLine(text) : undefined;
    if (open !== undefined) throw new FileFormatError(`malformed CSV: a quoted value that starts on line ${open} is never closed`, open);
    throw new FileFormatError(`malformed CSV: ${err.message.replace(/ at line \d+/, '')}`, err.lines);
  }
  if (rows.length === 0) throw new FileFormatError('the CSV file is empty (a header row is required)');
  const header = rows[0].record;
  const roles = header.map(roleOf);
  if (!roles.some((r) => r === 'name' || r === 'url' || r === 'username' || r === 'password' || r === 'notes')) {
    throw new FileFormatError(`the first row is not a header with known columns (got: ${header.slice(0, 6).join(', ')}); expected at least name, url, username, password or notes`, 1);
  }
  const res = emptyResult();
  const keepassxc = isKeepassxcCsv(header);
  rows.slice(1).forEach(({ record: cells, info }, i) => {
    const start = info.lines - cells.reduce((n, c) => n + (c.match(/\n/g)?.length ?? 0), 0);
    if (keepassxc && cells.length === header.length) {
      // The first part of the group path is the root group, i.e. the database: not a tag.
      const path = cells[0].split('/').slice(1);
      if (path[0] === KEEPASSXC_RECYCLE_BIN) {
        res.skipped.push({ record: i + 1, line: start, message: 'in the recycle bin' });
        return;
      }
      cells = [path.join('/'), ...cells.slice(1)];
    }
    collect(res, i + 1, start, () => {
      if (cells.length !== header.length) throw new RecordError(`expected ${header.length} columns, found ${cells.length}`);
      const get = (role: Role) => cells.find((_, c) => roles[c] === role);
      const lastpassNote = get('url')?.trim() === LASTPASS_NOTE_URL && !get('type');
      const p: EntryPayload = newPayload(lastpassNote ? 'note' : csvType(get('type')), '');
      const name = get('name');
      header.forEach((h, c) => {
        const v = cells[c];
        if (v === '') return;
        switch (roles[c]) {
          case 'url':
            if (lastpassNote) return;
            v.split(/,(?=\s*[a-z][a-z0-9+.-]*:\/\/)/i).forEach((u) => put(p, 'url', u.trim()));
            return;
          case 'username': case 'password': case 'totp': case 'notes':
            return put(p, roles[c]!, v);
          case 'tags':
            return v.split(/[,;]/).forEach((t) => addTag(p, t));
          case 'folder':
            return addTag(p, v); // one folder or group path, commas and all
          case 'favorite':
            if (truthy(v)) addTag(p, 'favorite');
            return;
          case 'fields':
            return parseFieldsCell(v).forEach((f) => put(p, f.name, f.value));
          case 'name': case 'type': case 'created': case 'updated': case 'ignore':
            return;
          default:
            return put(p, h.trim() || `column ${c + 1}`, v);
        }
      });
      setDates(p, dateValue(get('created')), dateValue(get('updated')));
      return { record: i + 1, line: start, payload: finish(p, name) };
    });
  });
  return res;
}

// ------------------------------------------------------------------------------------------------
// Export

export const CSV_COLUMNS = ['name', 'type', 'url', 'username', 'password', 'totp', 'notes', 'tags', 'fields', 'created', 'updated'] as const;
const DIRECT = new Set(['url', 'username', 'password', 'totp', 'notes']);

export function csvCell(v: string): string {
  return /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function toCsv(entries: EntryPayload[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const p of entries) {
    const extra = [
      ...Object.entries(p.fields).filter(([k]) => !DIRECT.has(k)).map(([k, v]) => `${k}: ${v}`),
      ...p.custom.map((c) => `${c.name}: ${c.value}`),
    ];
    const row = [p.name, p.type, p.fields.url ?? '', p.fields.username ?? '', p.fields.password ?? '', p.fields.totp ?? '', p.fields.notes ?? '', p.tags.join(', '), extra.join('\n'), p.created, p.updated];
    lines.push(row.map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}
