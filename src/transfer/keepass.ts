// KeePass 2.x XML (File → Export → "KeePass XML (2.x)"; also KeePassXC's XML export):
// KeePassFile/Root/Group, groups nested to any depth, each Entry a list of String Key/Value pairs.
// Title/UserName/Password/URL/Notes map to kpm fields, otp (KeePassXC) and TimeOtp-* (KeePass 2.47+)
// to the TOTP; every other string becomes a custom field; the group path becomes a tag.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import {
  addTag, collect, emptyResult, FileFormatError, finish, newPayload, put, RecordError, setDates, type ParseResult,
} from './model.js';
import type { EntryPayload } from '../vault/entry.js';

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

const STANDARD: Record<string, string> = { title: 'name', username: 'username', password: 'password', url: 'url', notes: 'notes', otp: 'totp', 'totp seed': 'totp' };

/** Lines of the <Entry> start tags that are not inside <History>, in document order. */
function entryLines(xml: string): number[] {
  const lines: number[] = [];
  let line = 1, last = 0, history = 0;
  for (const m of xml.matchAll(/<(\/?)(Entry|History)(?=[\s>/])/g)) {
    for (let i = last; i < m.index; i++) if (xml.charCodeAt(i) === 10) line++;
    last = m.index;
    if (m[2] === 'History') history += m[1] ? -1 : 1;
    else if (!m[1] && history === 0) lines.push(line);
  }
  return lines;
}

function timeOtpUri(strings: Map<string, string>, title: string): string | undefined {
  const secret = strings.get('TimeOtp-Secret-Base32');
  if (!secret) return undefined;
  const q = new URLSearchParams({ secret: secret.replace(/\s+/g, '') });
  const period = strings.get('TimeOtp-Period');
  const digits = strings.get('TimeOtp-Length');
  const algo = strings.get('TimeOtp-Algorithm');
  if (period) q.set('period', period);
  if (digits) q.set('digits', digits);
  if (algo) q.set('algorithm', algo.replace(/^HMAC-/i, '').replace('-', ''));
  return `otpauth://totp/${encodeURIComponent(title || 'kpm')}?${q}`;
}

function mapEntry(e: Node, groupPath: string[]): { payload: EntryPayload; attachments: string[] } {
  const strings = new Map<string, string>();
  for (const s of children(e, 'String')) {
    const key = text(child(s, 'Key'));
    const valueNode = child(s, 'Value');
    if (!key) throw new RecordError('a String without a Key');
    if (valueNode && attr(valueNode, 'Protected')?.toLowerCase() === 'true') {
      throw new RecordError(`the value of "${key}" is encrypted (Protected="True"): this is a database's inner XML; export with KeePass "KeePass XML (2.x)" instead`);
    }
    strings.set(key, valueNode ? text(valueNode) : '');
  }
  const p = newPayload('login', '');
  let name: string | undefined;
  const totp = timeOtpUri(strings, strings.get('Title') ?? '');
  for (const [key, value] of strings) {
    const std = STANDARD[key.toLowerCase()];
    if (std === 'name') name = value;
    else if (std) put(p, std, value);
    else if (key.startsWith('TimeOtp-') && totp) continue;
    else put(p, key, value);
  }
  if (totp) put(p, 'totp', totp);
  if (groupPath.length) addTag(p, groupPath.join('/'));
  for (const t of text(child(e, 'Tags')).split(/[;,]/)) addTag(p, t);
  const times = child(e, 'Times');
  if (times) setDates(p, text(child(times, 'CreationTime')), text(child(times, 'LastModificationTime')));
  const attachments = children(e, 'Binary').map((b) => text(child(b, 'Key')) || 'attachment');
  return { payload: finish(p, name), attachments };
}

export function parseKeepassXml(xml: string): ParseResult {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new FileFormatError(`malformed XML: ${valid.err.msg}`, valid.err.line);
  const doc = new XMLParser({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, trimValues: false, processEntities: true, htmlEntities: true }).parse(xml) as Node[];
  const file = doc.find((n) => tagOf(n) === 'KeePassFile');
  const root = file && child(file, 'Root');
  if (!file || !root) throw new FileFormatError('not a KeePass 2.x XML export: KeePassFile/Root is missing');
  const meta = child(file, 'Meta');
  const recycleBin = meta ? text(child(meta, 'RecycleBinUUID')).trim() : '';
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
          const { payload, attachments } = mapEntry(c, here);
          for (const a of attachments) res.skipped.push({ record: n, line, message: `attachment "${a}" not imported` });
          const history = children(c, 'History').flatMap((h) => children(h, 'Entry')).length;
          if (history) res.skipped.push({ record: n, line, message: `history (${history} older version${history === 1 ? '' : 's'}) not imported` });
          return { record: n, line, payload };
        });
      } else if (tag === 'Group') walk(c, here, bin, false);
    }
  };
  // The root group is the database itself: its name is not a tag.
  for (const g of children(root, 'Group')) walk(g, [], false, true);
  return res;
}
