// Every registered entry type (src/vault/types/) through the built binary: made the way its file
// says (`kpm add --type T`, or its own command), then every documented field read back with
// `get --field`, the default field with `get`, and `show` hiding exactly the secret fields unless
// --reveal. A new type file is covered here without editing this test (unless it has its own command).
import { beforeAll, describe, expect, it } from 'vitest';
import { initHome, MASTER, runOk } from '../helpers/kpm.js';
import { examplePayload } from '../helpers/entrytypes.js';
import { maskedValue } from '../../src/vault/entry.js';
import { TYPE_SPECS, typeSpec } from '../../src/vault/types/index.js';
import type { EntryType } from '../../src/vault/entry.js';

/** Types made by their own command: how this test makes one (a type with `addedBy` needs a line here). */
const ADDERS: Partial<Record<EntryType, (home: string, name: string) => Promise<unknown>>> = {
  'ssh-key': async (home, name) => {
    await runOk(['ssh', 'generate', name, '--comment', 'me@example.org', '--hosts', '*.example.org,git.example.com', '--confirm'], { home });
    await runOk(['edit', name, '--notes', 'ssh-key notes ✓', '--field', 'extra=x ✓'], { home });
  },
};

describe('every entry type through add, get and show', () => {
  let home: string;
  beforeAll(async () => {
    home = initHome();
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
  });

  for (const spec of TYPE_SPECS) {
    it(`${spec.type}: every field by get --field, ${spec.primary} by get, secrets hidden by show`, async () => {
      const name = `${spec.type} example`;
      const adder = ADDERS[spec.type];
      if (spec.addedBy) {
        expect(adder, `${spec.type} is added by ${spec.addedBy}: give test/e2e/entry-types.test.ts a way to make one`).toBeDefined();
        await adder!(home, name);
      } else {
        const p = examplePayload(spec.type);
        await runOk(['add', name, '--type', spec.type, '--from-json', '-'], { home, input: JSON.stringify({ fields: p.fields, custom: p.custom }) });
      }
      const entry = JSON.parse((await runOk(['get', name, '--json'], { home })).stdout);
      expect(entry.type).toBe(spec.type);
      // the example sets every documented field (a made key: all but none), and nothing else
      expect(Object.keys(entry.fields).sort()).toEqual(spec.fields.map((f) => f.name).sort());
      expect(entry.custom).toEqual([{ name: 'extra', value: 'x ✓' }]);
      const fields = entry.fields as Record<string, string>;
      const printed = (v: string) => (v.endsWith('\n') ? v : `${v}\n`);
      for (const f of spec.fields) {
        const got = (await runOk(['get', name, '--field', f.name], { home })).stdout;
        if (f.name === 'totp') expect(got, f.name).toMatch(/^\d{6}\n$/); // the current code
        else expect(got, `${spec.type} get --field ${f.name}`).toBe(printed(fields[f.name]));
      }
      expect((await runOk(['get', name], { home })).stdout).toBe(printed(fields[typeSpec(spec.type).primary]));
      expect((await runOk(['get', name, '--field', 'extra'], { home })).stdout).toBe('x ✓\n');
      const show = (await runOk(['show', name], { home })).stdout;
      const reveal = (await runOk(['show', name, '--reveal'], { home })).stdout;
      for (const f of spec.fields) {
        const v = fields[f.name];
        expect(reveal, `${spec.type} show --reveal ${f.name}`).toContain(`  ${f.name}: ${v}`);
        if (f.secret) {
          expect(show, `${spec.type} show hides ${f.name}`).toContain(`  ${f.name}: ${maskedValue(spec.type, f.name, v)}\n`);
          expect(show, `${spec.type} show hides ${f.name}`).not.toContain(v);
        } else expect(show, `${spec.type} show ${f.name}`).toContain(`  ${f.name}: ${v}`);
      }
      expect(show).toContain('  extra: x ✓\n');
    });
  }
});
