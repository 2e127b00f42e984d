// Human and JSON renderings of entries. The JSON shape is documented in README "JSON output".
import { maskedValue, SECRET_FIELDS } from '../vault/entry.js';
import type { EntryView } from '../vault/session.js';
import { dim, out } from './io.js';

/** A file's size for people: 512 B, 1.5 KiB, 300 KiB, … */
export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) v /= 1024, i++;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export type FileInfo = { name: string; type: string; size: number };

/** An entry's files, one a line: name, size, media type (`kpm attachments`, `kpm doc list`, `kpm show`). */
export function printFiles(files: FileInfo[], indent = ''): void {
  const w = Math.min(50, Math.max(4, ...files.map((f) => f.name.length)));
  for (const f of files) out(`${indent}${f.name.padEnd(w)}  ${formatSize(f.size).padStart(9)}  ${f.type}`);
}

export function entryJson(v: EntryView) {
  const p = v.payload;
  return {
    id: v.id,
    vault: v.vault,
    type: p.type,
    name: p.name,
    fields: p.fields,
    custom: p.custom,
    tags: p.tags,
    created: p.created,
    updated: p.updated,
    passwordChanged: p.passwordChanged ?? null,
    version: v.version,
  };
}

/** `kpm show`: every field, secrets masked unless `reveal`, then the entry's files (`files`: a shared entry's, beside its payload). */
export function printEntry(v: EntryView, reveal: boolean, files: FileInfo[] = (v.payload as { files?: FileInfo[] }).files ?? []): void {
  const p = v.payload;
  out(`${p.name}  ${dim(`(${p.type}, ${v.vault}, ${v.id.slice(0, 8)})`)}`);
  const hidden = (k: string, val: string) => maskedValue(p.type, k, val);
  const show = (k: string, val: string, secret: boolean) => out(`  ${k}: ${secret && !reveal ? hidden(k.toLowerCase(), val) : val}`);
  for (const [k, val] of Object.entries(p.fields)) show(k, val, SECRET_FIELDS.has(k.toLowerCase()));
  for (const c of p.custom) show(c.name, c.value, c.kind === 'hidden' || SECRET_FIELDS.has(c.name.toLowerCase()));
  if (files.length) {
    out(`  files:`);
    printFiles(files, '    ');
  }
  out(dim(`  updated ${p.updated}`));
}
