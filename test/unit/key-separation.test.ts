// Format 2 key separation (docs/FORMAT.md "Keys"): the account key and the vault keys are only ever
// HKDF input, each use has its own subkey; and files of format 1 are refused with a clear message
// (exit 8), never misread.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { newProfile } from '../helpers/sync.js';
import { concatBytes, toHex } from '../../src/crypto/bytes.js';
import { open, openKey } from '../../src/crypto/aead.js';
import { ACCOUNT_LABEL, accountSubkey, sha256, VAULT_LABEL, vaultSubkey } from '../../src/crypto/keys.js';
import { AAD, CHECKSUM_BYTES, entryAad } from '../../src/vault/format.js';
import { readKeyring } from '../../src/vault/keyring.js';
import { readVaultHeader } from '../../src/vault/store.js';
import type { EntryPayload } from '../../src/vault/entry.js';

const login = (name: string): EntryPayload => ({ type: 'login', name, fields: { password: 'pw' }, custom: [], tags: [], created: new Date().toISOString(), updated: new Date().toISOString() }) as unknown as EntryPayload;

const opens = (f: () => unknown) => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

/** A copy of a checksummed kpm file with its format version set to 1 (checksum made right again). */
function asVersion1(file: Uint8Array): Uint8Array {
  const body = file.slice(0, file.length - CHECKSUM_BYTES);
  body[4] = 0;
  body[5] = 1;
  return concatBytes(body, sha256(body));
}

describe('key separation (format 2)', () => {
  it('every subkey label is distinct, and no subkey equals its parent key', async () => {
    const labels = [...Object.values(ACCOUNT_LABEL), ...Object.values(VAULT_LABEL)];
    expect(new Set(labels).size).toBe(labels.length);
    const s = await newProfile();
    const ak = s.profile.accountKey;
    const vk = s.vault('Personal').exportKey();
    const keys = [ak, vk, ...Object.keys(ACCOUNT_LABEL).map((u) => accountSubkey(ak, u as keyof typeof ACCOUNT_LABEL)), ...Object.keys(VAULT_LABEL).map((u) => vaultSubkey(vk, u as keyof typeof VAULT_LABEL))].map(toHex);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('records open only with the record subkey, the vault key only with the wrap subkey, the name only with the meta subkey', async () => {
    const s = await newProfile();
    await s.add(undefined, login('github'));
    const v = s.vault('Personal');
    const vk = v.exportKey();
    const ak = s.profile.accountKey;
    const r = v.liveRecords()[0];
    const aad = entryAad(s.profile.profileId, readVaultHeader(v.dir).vaultId, r.entryId, r.version, r.flags, r.nameTag);
    expect(opens(() => open(vaultSubkey(vk, 'record'), r.sealed, aad))).toBe(true);
    expect(opens(() => open(vk, r.sealed, aad))).toBe(false);
    const h = readVaultHeader(v.dir);
    const keyAad = concatBytes(AAD.vaultKey, h.keyBoundBytes);
    expect(toHex(openKey(accountSubkey(ak, 'vaultKeyWrap'), h.wrappedKey, keyAad))).toBe(toHex(vk));
    expect(opens(() => openKey(ak, h.wrappedKey, keyAad))).toBe(false);
    const metaAad = concatBytes(AAD.vaultMeta, h.vaultId, h.profileId);
    expect(opens(() => open(accountSubkey(ak, 'vaultMeta'), h.sealedMeta, metaAad))).toBe(true);
    expect(opens(() => open(ak, h.sealedMeta, metaAad))).toBe(false);
    expect(opens(() => open(accountSubkey(ak, 'vaultKeyWrap'), h.sealedMeta, metaAad))).toBe(false);
  });

  it('a keyring, vault header or log of format 1 is refused with exit 8 and a hint; the file is left as it was', async () => {
    const s = await newProfile();
    const v = s.vault('Personal');
    const cases: [string, () => unknown][] = [];
    const keyring = asVersion1(fs.readFileSync(s.paths.keyring));
    fs.writeFileSync(s.paths.keyring, keyring);
    cases.push(['keyring', () => readKeyring(s.paths)]);
    const header = join(v.dir, 'vault.kpm');
    const hv1 = asVersion1(fs.readFileSync(header));
    fs.writeFileSync(header, hv1);
    cases.push(['vault header', () => readVaultHeader(v.dir)]);
    for (const [what, f] of cases) {
      let err: any;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err?.exitCode, what).toBe(8);
      expect(err.message).toMatch(new RegExp(`${what} uses format version 1, which this kpm no longer reads`));
      expect(err.hint).toMatch(/kpm export/);
    }
    expect(toHex(fs.readFileSync(s.paths.keyring))).toBe(toHex(keyring));
    expect(toHex(fs.readFileSync(header))).toBe(toHex(hv1));
  });
});
