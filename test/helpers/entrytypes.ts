// One example entry of each registered type (src/vault/types/), every documented field set: the
// registry tests (test/unit/entry-types.test.ts, test/e2e/entry-types.test.ts) run them through
// the CLI and every export format. Deterministic except the ssh-key's freshly generated key.
import { TYPE_FIELDS, type EntryPayload, type EntryType } from '../../src/vault/entry.js';
import { keyPayload } from '../../src/ssh/entry.js';
import { generateKey } from '../../src/ssh/keys.js';

const T1 = '2024-01-02T03:04:05.000Z', T2 = '2024-05-06T07:08:09.000Z';

/** Values a field must have to be valid; any other documented field gets "<type> <field> ✓". */
const VALID: Record<string, string> = {
  'login.totp': 'otpauth://totp/GH?secret=JBSWY3DPEHPK3PXP',
  'login.url': 'https://example.org/login',
  'card.number': '4111111111111111',
  'card.expiry': '07/29',
  'card.brand': 'Visa',
  'identity.email': 'ada@example.org',
};

/** A payload of the type with every documented field set (ssh-key: a real key, as `kpm ssh generate` makes it). */
export function examplePayload(type: EntryType): EntryPayload {
  if (type === 'ssh-key') {
    const p = keyPayload('ssh-key example', generateKey('ed25519', undefined, 'me@example.org'), { hosts: ['*.example.org', 'git.example.com'], confirm: true }, T1);
    p.fields.notes = 'ssh-key notes ✓';
    return { ...p, updated: T2 };
  }
  const fields: Record<string, string> = {};
  for (const f of TYPE_FIELDS[type]) fields[f] = VALID[`${type}.${f}`] ?? `${type} ${f} ✓`;
  const p: EntryPayload = { type, name: `${type} example`, fields, custom: [{ name: 'extra', value: 'x ✓' }], tags: ['Work'], created: T1, updated: T2 };
  if (fields.password !== undefined) p.passwordChanged = T2;
  return p;
}

