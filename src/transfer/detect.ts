// `kpm import FILE` without --format: the format from the file's content (never from its name alone).
import type { ImportFormat } from './model.js';

export interface Detected {
  format?: ImportFormat;
  /** what the content looks like, for the message */
  why: string;
}

const KDBX_SIG1 = 0x9aa2d903, KDBX_SIG2 = 0xb54bfb67;

export function detectFormat(bytes: Uint8Array): Detected {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 8 && b.readUInt32LE(0) === KDBX_SIG1 && b.readUInt32LE(4) === KDBX_SIG2) return { format: 'kdbx', why: 'a KeePass database' };
  if (b.length >= 4 && b.readUInt32LE(0) === 0x04034b50) {
    // a zip archive: 1PUX has export.data (its name is in the central directory, in clear)
    return b.includes('export.data') ? { format: '1password-1pux', why: 'a zip archive with export.data' } : { why: 'a zip archive without export.data' };
  }
  // The start of the text, without a byte-order mark and leading blanks.
  const head = b.subarray(0, 64 * 1024).toString('utf8').replace(/^\uFEFF/, '').trimStart();
  if (head.startsWith('{')) {
    if (/"format"\s*:\s*"kpm-export(-encrypted)?"/.test(head)) return { format: 'kpm-json', why: 'a kpm export' };
    if (/"encrypted"\s*:\s*(true|false)/.test(head) || /"items"\s*:\s*\[/.test(head)) return { format: 'bitwarden-json', why: 'Bitwarden JSON ("encrypted", "items")' };
    return { why: 'JSON that is neither a kpm nor a Bitwarden export' };
  }
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<KeePassFile[\s>]/.test(head)) return { format: 'keepass-xml', why: 'KeePass XML (<KeePassFile>)' };
  if (head.startsWith('<')) return { why: 'XML that is not KeePass XML' };
  const firstLine = head.split(/\r?\n/, 1)[0];
  if (firstLine.includes(',')) return { format: 'csv', why: 'CSV (a header row)' };
  return { why: 'none of the formats kpm reads' };
}
