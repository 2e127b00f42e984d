// The entry-type registry (src/vault/types/): every registered type, with a value in each of its
// documented fields, goes through every export format the way its file says (round-trip, or what
// it becomes), and is in the README's table. A new type file without that support fails here.
// The CLI side (add, show, get --field) of every type: test/e2e/entry-types.test.ts.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { ENTRY_TYPES, SECRET_FIELDS, TYPE_FIELDS, type EntryPayload } from '../../src/vault/entry.js';
import { TYPE_SPECS, typeSpec, type TransferSupport } from '../../src/vault/types/index.js';
import { EXPORT_FORMATS, type ExportFormat } from '../../src/transfer/model.js';
import { parseKpmJson, toKpmJson } from '../../src/transfer/kpmjson.js';
import { parseBitwardenJson, toBitwardenJson } from '../../src/transfer/bitwarden.js';
import { parseCsv, toCsv } from '../../src/transfer/csv.js';
import { parseKeepassXml, toKeepassXml } from '../../src/transfer/keepass.js';
import { parseKdbx, toKdbx } from '../../src/transfer/kdbx.js';
import { examplePayload } from '../helpers/entrytypes.js';
import { ENTRY_PAYLOAD_SCHEMA } from '../../src/vault/types/schema.js';
import { validate } from '../../src/protocol/validate.js';

/** Export one payload in a format and read it back with kpm's importer. */
async function roundTrip(format: ExportFormat, p: EntryPayload): Promise<EntryPayload> {
  const copy = () => structuredClone(p);
  let r;
  switch (format) {
    case 'kpm-json': r = parseKpmJson(toKpmJson([{ vault: 'Personal', payload: copy() }])); break;
    case 'bitwarden-json': r = parseBitwardenJson(toBitwardenJson([copy()])); break;
    case 'csv': r = parseCsv(toCsv([copy()])); break;
    case 'keepass-xml': r = parseKeepassXml(toKeepassXml([{ payload: copy(), files: [] }])); break;
    case 'kdbx': r = await parseKdbx((await toKdbx([{ payload: copy(), files: [] }], 'db password 1')).bytes, 'db password 1'); break;
    default: throw new Error(`no round trip for export format ${String(format)}: add it to test/unit/entry-types.test.ts`);
  }
  expect(r.errors).toEqual([]);
  expect(r.entries).toHaveLength(1);
  return r.entries[0].payload;
}


describe('entry-type registry', () => {
  it('every type has its own file with fields, a primary field among them and a way to export it to every format', () => {
    expect(ENTRY_TYPES).toEqual(TYPE_SPECS.map((s) => s.type));
    for (const s of TYPE_SPECS) {
      const names = s.fields.map((f) => f.name);
      expect(new Set(names).size, s.type).toBe(names.length);
      for (const n of names) expect(n, s.type).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(names, s.type).toContain(s.primary);
      expect(Object.keys(s.transfer).sort(), s.type).toEqual([...EXPORT_FORMATS].sort());
      expect(Number.isInteger(s.bitwardenType) && s.bitwardenType >= 1 && s.bitwardenType <= 5, s.type).toBe(true);
    }
    // every secret field of a type is in the set `show` and the exports hide
    for (const s of TYPE_SPECS) for (const f of s.fields) expect(SECRET_FIELDS.has(f.name), `${s.type}.${f.name}`).toBe(Boolean(f.secret));
  });

  for (const s of TYPE_SPECS) {
    for (const format of EXPORT_FORMATS) {
      const support: TransferSupport | undefined = s.transfer[format];
      it(`${s.type} through ${format}: ${typeof support === 'string' ? support : support ? `becomes a ${support.becomes}` : 'undeclared'}`, async () => {
        expect(support, `src/vault/types/${s.type}.ts declares nothing for ${format}`).toBeDefined();
        const p = examplePayload(s.type);
        const back = await roundTrip(format, p);
        if (support === 'round-trip') {
          expect(back.type).toBe(p.type);
          expect(back.name).toBe(p.name);
          expect(back.fields).toEqual(p.fields);
          expect(back.custom).toEqual(p.custom);
          expect(back.tags).toEqual(p.tags);
        } else {
          expect(back.type).toBe(support!.becomes);
          expect(back.name).toBe(p.name);
          // every field not declared lost is kept: as a field of the new type, or a custom field
          for (const [k, v] of Object.entries(p.fields)) {
            const kept = back.fields[k] ?? back.custom.find((c) => c.name.toLowerCase() === k)?.value;
            if (support!.lost?.includes(k)) expect(kept, `${s.type}.${k} is declared lost through ${format}`).toBeUndefined();
            else if (support!.rewritten?.includes(k)) expect(kept, `${s.type}.${k} through ${format}`).toBeTruthy();
            else expect(kept, `${s.type}.${k} through ${format}`).toBe(v);
          }
          for (const c of p.custom) expect(back.custom, `${s.type} custom fields through ${format}`).toContainEqual(c);
        }
      });
    }
  }

  it('KeePass exports protect every secret field of every type (ProtectInMemory), and only those', async () => {
    const keyOf: Record<string, string> = { username: 'UserName', password: 'Password', url: 'URL', notes: 'Notes', totp: 'otp' };
    for (const s of TYPE_SPECS) {
      const xml = toKeepassXml([{ payload: examplePayload(s.type), files: [] }]);
      for (const f of s.fields) {
        const key = keyOf[f.name] ?? f.name;
        expect(xml, `${s.type}.${f.name}`).toContain(`<Key>${key}</Key><Value${f.secret ? ' ProtectInMemory="True"' : ''}>`);
      }
    }
  });

  it('the agent accepts an example payload of every type and refuses an unknown type', () => {
    const schema = ENTRY_PAYLOAD_SCHEMA;
    for (const t of ENTRY_TYPES) expect(validate(schema, examplePayload(t), {}, t), t).toBeNull();
    expect(validate(schema, { ...examplePayload('note'), type: 'rocket' }, {}, 'rocket')).not.toBeNull();
  });

  it('the README\'s "Entry types and fields" table lists every type with its fields (in order) and the field `get` prints; docs/FORMAT.md names every type', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const from = readme.indexOf('### Entry types and fields');
    const table = readme.slice(from, readme.indexOf('\n\n', readme.indexOf('| type |', from)));
    const rows = new Map<string, string[]>();
    for (const m of table.matchAll(/^\| `([a-z-]+)` \| (.*) \| (.*) \|$/gm)) rows.set(m[1], [m[2], m[3]]);
    expect([...rows.keys()]).toEqual(ENTRY_TYPES);
    for (const t of ENTRY_TYPES) {
      const [fields, primary] = rows.get(t)!;
      const listed = fields.replace(/\([^)]*\)/g, '').split(/,\s*/).map((x) => x.replace(/^plus .*/, '').trim()).filter(Boolean);
      expect(listed, t).toEqual(TYPE_FIELDS[t]);
      expect(primary.trim(), t).toBe(typeSpec(t).primary);
    }
    const format = fs.readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
    expect(format).toContain(`// ${ENTRY_TYPES.join(' | ')} (src/vault/types/)`);
  });
});
