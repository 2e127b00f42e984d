// Bitwarden's password-protected export, written by kpm (`kpm export --format bitwarden-json
// --encrypted`). The file is what bitwarden/clients writes in BaseVaultExportService.buildPasswordExport
// (libs/tools/export/vault-export/vault-export-core, commit 21858ba4): a random 16-byte salt in base64
// (used as its UTF-8 string), the key derived from the password (PBKDF2-SHA256, or Argon2id with
// the SHA-256 of the salt) and HKDF-expanded into enc/mac keys, a random GUID as the validation
// string, and the plain JSON export as `data`; both EncStrings are type 2 (AES-256-CBC + HMAC-SHA256).
// The key derivation is the importer's own (bitwardenKey in bitwarden.ts), so both sides agree.
import { createCipheriv, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { bitwardenKey } from './bitwarden.js';

export type BitwardenKdf = { kdfType: 0; kdfIterations: number } | { kdfType: 1; kdfIterations: number; kdfMemory: number; kdfParallelism: number };

/** Bitwarden's default Argon2id settings (64 MiB, 3 passes, 4 lanes): what kpm writes. */
export const BITWARDEN_EXPORT_KDF: BitwardenKdf = { kdfType: 1, kdfIterations: 3, kdfMemory: 64, kdfParallelism: 4 };

/** "2.<iv>|<ciphertext>|<mac>": AES-256-CBC (PKCS#7) with a random IV, HMAC-SHA256(mac key, iv ‖ ciphertext). */
function sealEncString(key: { enc: Uint8Array; mac: Uint8Array }, plain: string): string {
  const iv = randomBytes(16);
  const c = createCipheriv('aes-256-cbc', key.enc, iv);
  const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  const mac = createHmac('sha256', key.mac).update(Buffer.concat([iv, ct])).digest();
  return `2.${iv.toString('base64')}|${ct.toString('base64')}|${mac.toString('base64')}`;
}

/** Encrypts a plain Bitwarden JSON export (the text of toBitwardenExport) with a file password. */
export async function encryptBitwardenJson(plainJson: string, password: string, kdf: BitwardenKdf = BITWARDEN_EXPORT_KDF): Promise<string> {
  const head = { encrypted: true, passwordProtected: true, salt: randomBytes(16).toString('base64'), ...kdf };
  const key = await bitwardenKey(head, password); // refuses parameters outside Bitwarden's bounds
  try {
    const doc = { ...head, encKeyValidation_DO_NOT_EDIT: sealEncString(key, randomUUID()), data: sealEncString(key, plainJson) };
    return JSON.stringify(doc, null, 2) + '\n';
  } finally {
    key.enc.fill(0);
    key.mac.fill(0);
  }
}
