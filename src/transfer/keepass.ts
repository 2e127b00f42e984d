// KeePass 2.x XML (File → Export → "KeePass XML (2.x)"; also KeePassXC's XML export):
// KeePassFile/Root/Group, groups nested to any depth, each Entry a list of String Key/Value pairs.
// Title/UserName/Password/URL/Notes map to kpm fields, otp / TOTP Seed (KeePassXC) and TimeOtp-*
// (KeePass 2.47+) to the TOTP (src/transfer/otp.ts); every other string becomes a custom field; the
// group path becomes a tag; attachments held in Meta/Binaries become the entry's files.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { gunzipSync } from 'node:zlib';
import {
  addCustom, addTag, collect, emptyResult, FileFormatError, finish, isoDate, lineAt, newPayload, put, RecordError, setDates, type ImportedFile, type ParseResult,
} from './model.js';
import { keepassOtp } from './otp.js';
import { isEntryType, SECRET_FIELDS, type EntryPayload } from '../vault/entry.js';

/** preserveOrder nodes: { Tag: Node[], ":@"?: {attributes} } or { "#text": string } */
type Node = Record<string, unknown>;

const tagOf = (n: Node): string | undefined => Object.keys(n).find((k) => k !== ':@');
const kids = (n: Node): Node[] => {
  const t = tagOf(n);
  const v = t ? n[t] : undefined;
  return Array.isArray(v) ? (v as Node[]) : [];
};
const child = (n: Node, tag: string): Node | undefined => kids(n).find((c) => tagOf(c) === tag);
const children = (n: Node, tag: string): Node[] => kids(n).filter((c) => tagOf(c) === tag);
const text = (n: Node | undefined): string => (n ? kids(n).map((c) => (typeof c['#text'] === 'string' ? c['#text'] : '')).join('') : '');
const attr = (n: Node, name: string): string | undefined => (n[':@'] as Record<string, string> | undefined)?.[`@${name}`];

const STANDARD: Record<string, string> = { title: 'name', username: 'username', password: 'password', url: 'url', notes: 'notes' };

/** Lines of the <Entry> start tags that are not inside <History>, in document order. */
function entryLines(xml: string): number[] {
  const lines: number[] = [];
  let line = 1, last = 0, history = 0;
  for (const m of xml.matchAll(/<(\/?)(Entry|History)(?=[\s>/])[^>]*?(\/?)>/g)) {
    for (let i = last; i < m.index; i++) if (xml.charCodeAt(i) === 10) line++;
    last = m.index;
    if (m[3]) continue; // <History/>, <Entry/>: opens nothing
    if (m[2] === 'History') history += m[1] ? -1 : 1;
    else if (!m[1] && history === 0) lines.push(line);
  }
  return lines;
}

/** Seconds between 0001-01-01 and 1970-01-01 (KDBX 4 times count from year 1). */
const YEAR1_TO_1970 = 62135596800n;

/**
 * A KeePass time: ISO 8601 (KDBX 3.1 XML, KeePass 2 exports) or, in KeePassXC's XML of a KDBX 4
 * database, base64 of a little-endian int64 counting seconds since 0001-01-01T00:00:00Z.
 */
export function keepassTime(v: string): string | undefined {
  const t = v.trim();
  if (!t) return undefined;
  if (/^\d{4}-\d\d-\d\d/.test(t)) return isoDate(t);
  if (/^[A-Za-z0-9+/]{11}=$/.test(t)) {
    const b = Buffer.from(t, 'base64');
    if (b.length !== 8) return undefined;
    const ms = Number((b.readBigInt64LE(0) - YEAR1_TO_1970) * 1000n);
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  return undefined;
}

/** S12: an attachment in the XML may unpack to at most this much, all of them together to TOTAL. */
export const XML_ATTACHMENT_LIMITS = { member: 128 << 20, total: 192 << 20 };

/**
 * Meta/Binaries (KeePass 2 XML and KDBX 3.1): attachment contents by ID, gzip when Compressed.
 * Each is unpacked once (an ID shared by many entries is not unpacked again), within the limits.
 */
class BinaryPool {
  private readonly nodes = new Map<string, Node>();
  private readonly done = new Map<Node, Uint8Array>();
  private used = 0;

  constructor(meta: Node | undefined) {
    const bins = meta && child(meta, 'Binaries');
    if (bins) for (const b of children(bins, 'Binary')) this.nodes.set(attr(b, 'ID') ?? String(this.nodes.size), b);
  }

  node(ref: string): Node | undefined {
    return this.nodes.get(ref);
  }

  bytes(b: Node): Uint8Array {
    const cached = this.done.get(b);
    if (cached) return cached;
    const raw = Buffer.from(text(b).replace(/\s+/g, ''), 'base64');
    let out: Uint8Array = new Uint8Array(raw);
    if (attr(b, 'Compressed')?.toLowerCase() === 'true') {
      try {
        out = new Uint8Array(gunzipSync(raw, { maxOutputLength: Math.min(XML_ATTACHMENT_LIMITS.member, XML_ATTACHMENT_LIMITS.total - this.used) + 1 }));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new FileFormatError(`refused: the attachments unpack to more than ${XML_ATTACHMENT_LIMITS.member >> 20} MiB each or ${XML_ATTACHMENT_LIMITS.total >> 20} MiB together`);
        throw new RecordError(`an attachment cannot be unpacked: ${(e as Error).message}`);
      }
    }
    this.used += out.length;
    if (out.length > XML_ATTACHMENT_LIMITS.member || this.used > XML_ATTACHMENT_LIMITS.total) throw new FileFormatError(`refused: the attachments unpack to more than ${XML_ATTACHMENT_LIMITS.member >> 20} MiB each or ${XML_ATTACHMENT_LIMITS.total >> 20} MiB together`);
    this.done.set(b, out);
    return out;
  }
}

export interface Mapped {
  payload: EntryPayload;
  files: ImportedFile[];
  skipped: string[];
  changed: string[];
}

/** One KeePass entry as both readers (XML here, KDBX in kdbx.ts) see it. */
export interface KeepassEntrySource {
  strings: Map<string, string>;
  /** keys of protected strings (ProtectInMemory / protected in the database) */
  hidden: Set<string>;
  tags: string[];
  created?: string;
  updated?: string;
  /** the expiry time, when the entry expires */
  expires?: string;
  /** attachments; bytes undefined: not in the file (with the reason) */
  binaries: { name: string; bytes?: Uint8Array; missing?: string }[];
}

export function mapKeepassEntry(src: KeepassEntrySource, groupPath: string[]): Mapped {
  const { strings, hidden } = src;
  // "kpm type" (written by kpm's KDBX export): the entry's kpm type, its strings that type's fields
  const kpmType = strings.get('kpm type');
  const p = newPayload(kpmType && isEntryType(kpmType) ? kpmType : 'login', '');
  if (kpmType && isEntryType(kpmType)) strings.delete('kpm type');
  const out: Mapped = { payload: p, files: [], skipped: [], changed: [] };
  let name: string | undefined;
  const otp = keepassOtp(strings, strings.get('Title') ?? '');
  if (otp?.problem) out.changed.push(`TOTP kept as custom fields, kpm cannot compute its codes: ${otp.problem}`);
  const used = new Set(otp?.used ?? []);
  for (const [key, value] of strings) {
    if (used.has(key)) continue;
    const std = STANDARD[key.toLowerCase()];
    if (std === 'name') name = value;
    else if (std) put(p, std, value);
    else put(p, key, value, hidden.has(key) ? 'hidden' : undefined);
  }
  if (otp?.uri) put(p, 'totp', otp.uri);
  if (groupPath.length) addTag(p, groupPath.join('/'));
  for (const t of src.tags) addTag(p, t);
  setDates(p, src.created, src.updated);
  if (src.expires) {
    const field = addCustom(p, 'expires', src.expires);
    out.changed.push(`expiry date ${src.expires} kept as the custom field "${field}" (kpm does not expire entries)`);
  }
  for (const b of src.binaries) {
    if (b.bytes) out.files.push({ name: b.name, bytes: b.bytes });
    else out.skipped.push(`attachment "${b.name}" ${b.missing ?? 'is not in the file'}`);
  }
  out.payload = finish(p, name);
  return out;
}

function mapEntry(e: Node, groupPath: string[], pool: BinaryPool): Mapped {
  const strings = new Map<string, string>();
  const hidden = new Set<string>();
  for (const s of children(e, 'String')) {
    const key = text(child(s, 'Key'));
    const valueNode = child(s, 'Value');
    if (!key) throw new RecordError('a String without a Key');
    if (valueNode && attr(valueNode, 'Protected')?.toLowerCase() === 'true') {
      throw new RecordError(`the value of "${key}" is encrypted (Protected="True"): this is a database's inner XML; export with KeePass "KeePass XML (2.x)" instead`);
    }
    if (valueNode && attr(valueNode, 'ProtectInMemory')?.toLowerCase() === 'true') hidden.add(key);
    strings.set(key, valueNode ? text(valueNode) : '');
  }
  const src: KeepassEntrySource = { strings, hidden, tags: text(child(e, 'Tags')).split(/[;,]/), binaries: [] };
  const times = child(e, 'Times');
  if (times) {
    src.created = keepassTime(text(child(times, 'CreationTime')));
    src.updated = keepassTime(text(child(times, 'LastModificationTime')));
    if (text(child(times, 'Expires')).trim().toLowerCase() === 'true') src.expires = keepassTime(text(child(times, 'ExpiryTime')));
  }
  for (const b of children(e, 'Binary')) {
    const fileName = text(child(b, 'Key')) || 'attachment';
    const v = child(b, 'Value');
    const ref = v ? attr(v, 'Ref') : undefined;
    const data = ref !== undefined ? pool.node(ref) : v && text(v) ? v : undefined;
    src.binaries.push(data
      ? { name: fileName, bytes: pool.bytes(data) }
      : { name: fileName, missing: "is not in the XML file (KeePassXC's XML export of a KDBX 4 database leaves attachments out; import the .kdbx itself)" });
  }
  return mapKeepassEntry(src, groupPath);
}

/** Refuses DOCTYPE and entity declarations (S12): KeePass never writes them. */
function checkNoDoctype(xml: string): void {
  const m = /<!(DOCTYPE|ENTITY)\b/i.exec(xml);
  if (m) throw new FileFormatError(`refused: the XML has a ${m[1].toUpperCase()} declaration (KeePass never writes one; entity declarations are not read)`, lineAt(xml, m.index));
}

/** Element nesting deeper than this is refused before parsing (KeePass groups nest far less). */
export const MAX_XML_DEPTH = 512;

function checkDepth(xml: string): void {
  let depth = 0;
  for (const m of xml.matchAll(/<(\/?)[A-Za-z_][^>]*?(\/?)>/g)) {
    if (m[1]) depth--;
    else if (!m[2]) depth++;
    if (depth > MAX_XML_DEPTH) throw new FileFormatError(`refused: elements are nested more than ${MAX_XML_DEPTH} deep`, lineAt(xml, m.index));
  }
}

export function parseKeepassXml(xml: string): ParseResult {
  checkNoDoctype(xml);
  checkDepth(xml);
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new FileFormatError(`malformed XML: ${valid.err.msg}`, valid.err.line);
  const doc = new XMLParser({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, trimValues: false, processEntities: true, htmlEntities: true }).parse(xml) as Node[];
  const file = doc.find((n) => tagOf(n) === 'KeePassFile');
  const root = file && child(file, 'Root');
  if (!file || !root) throw new FileFormatError('not a KeePass 2.x XML export: KeePassFile/Root is missing');
  const meta = child(file, 'Meta');
  const recycleBin = meta ? text(child(meta, 'RecycleBinUUID')).trim() : '';
  const pool = new BinaryPool(meta);
  const lines = entryLines(xml);
  const res = emptyResult();
  let record = 0;
  const walk = (group: Node, path: string[], inBin: boolean, top: boolean) => {
    const here = top ? path : [...path, text(child(group, 'Name')).trim() || 'Group'];
    const bin = inBin || (recycleBin !== '' && text(child(group, 'UUID')).trim() === recycleBin);
    for (const c of kids(group)) {
      const tag = tagOf(c);
      if (tag === 'Entry') {
        record++;
        const n = record, line = lines[n - 1];
        if (bin) {
          res.skipped.push({ record: n, line, message: 'in the recycle bin' });
          continue;
        }
        collect(res, n, line, () => {
          const { payload, files, skipped, changed } = mapEntry(c, here, pool);
          for (const m of skipped) res.skipped.push({ record: n, line, message: m });
          for (const m of changed) res.changed.push({ record: n, line, message: m });
          // KeePass keeps older versions oldest first: they become the entry's kpm history.
          const history = children(c, 'History').flatMap((h) => children(h, 'Entry')).flatMap((h) => {
            try {
              const old = mapEntry(h, here, new BinaryPool(undefined)).payload;
              delete old.files;
              return [old];
            } catch (err) {
              if (err instanceof RecordError) return [];
              throw err;
            }
          });
          return { record: n, line, payload, files: files.length ? files : undefined, ...(history.length ? { history } : {}) };
        });
      } else if (tag === 'Group') walk(c, here, bin, false);
    }
  };
  // The root group is the database itself: its name is not a tag.
  for (const g of children(root, 'Group')) walk(g, [], false, true);
  return res;
}

// ------------------------------------------------------------------------------------------------
// Export: KeePass 2.x XML (KDBX 3.1 style: ISO times, values in clear, attachments in Meta/Binaries),
// which KeePass ("Import → KeePass XML") and `keepassxc-cli import` read.

const xmlEscape = (v: string): string =>
  v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => `&#${c.charCodeAt(0)};`);

const KEEPASS_KEY: Record<string, string> = { username: 'UserName', password: 'Password', url: 'URL', notes: 'Notes', totp: 'otp' };

/** A 16-byte UUID in base64, as KeePass writes them. */
const uuid = (): string => Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64');

export interface KeepassExportEntry {
  payload: EntryPayload;
  files: ImportedFile[];
}

export function toKeepassXml(entries: KeepassExportEntry[], name = 'kpm export'): string {
  interface G { name: string; groups: Map<string, G>; entries: string[] }
  const root: G = { name, groups: new Map(), entries: [] };
  const binaries: string[] = [];
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const iso = (t: string) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
  for (const { payload: p, files } of entries) {
    const [first, ...rest] = p.tags;
    let g = root;
    for (const part of (first ?? '').split('/').map((x) => x.trim()).filter(Boolean)) {
      let next = g.groups.get(part.toLowerCase());
      if (!next) g.groups.set(part.toLowerCase(), (next = { name: part, groups: new Map(), entries: [] }));
      g = next;
    }
    const strings: string[] = [];
    const taken = new Set<string>();
    const str = (key: string, value: string, protect: boolean) => {
      let k = key;
      for (let i = 2; taken.has(k.toLowerCase()); i++) k = `${key} ${i}`;
      taken.add(k.toLowerCase());
      strings.push(`<String><Key>${xmlEscape(k)}</Key><Value${protect ? ' ProtectInMemory="True"' : ''}>${xmlEscape(value)}</Value></String>`);
    };
    str('Title', p.name, false);
    for (const [k, v] of Object.entries(p.fields)) str(KEEPASS_KEY[k] ?? k, v, SECRET_FIELDS.has(k));
    for (const c of p.custom) str(c.name, c.value, c.kind === 'hidden');
    if (p.type !== 'login') str('kpm type', p.type, false);
    const bins = files.map((f) => {
      binaries.push(Buffer.from(f.bytes).toString('base64'));
      return `<Binary><Key>${xmlEscape(f.name)}</Key><Value Ref="${binaries.length - 1}"/></Binary>`;
    });
    g.entries.push(`<Entry><UUID>${uuid()}</UUID><Tags>${xmlEscape(rest.join(';'))}</Tags>` +
      `<Times><CreationTime>${iso(p.created)}</CreationTime><LastModificationTime>${iso(p.updated)}</LastModificationTime><LastAccessTime>${iso(p.updated)}</LastAccessTime><ExpiryTime>${iso(p.updated)}</ExpiryTime><Expires>False</Expires><UsageCount>0</UsageCount><LocationChanged>${iso(p.updated)}</LocationChanged></Times>` +
      `${strings.join('')}${bins.join('')}<History/></Entry>`);
  }
  const group = (g: G): string =>
    `<Group><UUID>${uuid()}</UUID><Name>${xmlEscape(g.name)}</Name><Times><CreationTime>${now}</CreationTime><LastModificationTime>${now}</LastModificationTime><Expires>False</Expires></Times>` +
    `${g.entries.join('\n')}${[...g.groups.values()].map(group).join('\n')}</Group>`;
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<KeePassFile>
<Meta><Generator>kpm</Generator><DatabaseName>${xmlEscape(name)}</DatabaseName><RecycleBinEnabled>False</RecycleBinEnabled><Binaries>${binaries.map((b, i) => `<Binary ID="${i}" Compressed="False">${b}</Binary>`).join('')}</Binaries></Meta>
<Root>
${group(root)}
</Root>
</KeePassFile>
`;
}
