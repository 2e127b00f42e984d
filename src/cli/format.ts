// Human and JSON renderings of entries. The JSON shape is documented in README "JSON output".
import { maskedValue, SECRET_FIELDS } from '../vault/entry.js';
import type { EntryView } from '../vault/session.js';
import { dim, out } from './io.js';

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

export function printEntry(v: EntryView, reveal: boolean): void {
  const p = v.payload;
  out(`${p.name}  ${dim(`(${p.type}, ${v.vault}, ${v.id.slice(0, 8)})`)}`);
  const hidden = (k: string, val: string) => maskedValue(p.type, k, val);
  const show = (k: string, val: string, secret: boolean) => out(`  ${k}: ${secret && !reveal ? hidden(k.toLowerCase(), val) : val}`);
  for (const [k, val] of Object.entries(p.fields)) show(k, val, SECRET_FIELDS.has(k.toLowerCase()));
  for (const c of p.custom) show(c.name, c.value, c.kind === 'hidden' || SECRET_FIELDS.has(c.name.toLowerCase()));
  out(dim(`  updated ${p.updated}`));
}
