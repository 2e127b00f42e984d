// The server key: 32 random bytes from KPM_SERVER_KEY / --server-key-file, or generated once into
// <data dir>/server.key (0600). Sub-keys come from HKDF with their own labels. It encrypts TOTP
// secrets and captcha answers at rest and keys the HMAC of SMS codes, so a database dump alone
// reveals neither (R33). Every instance sharing one database needs the same key.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { seal, open } from '../crypto/aead.js';
import { hkdf, hmacSha256 } from '../crypto/keys.js';
import { randomBytes } from '../crypto/random.js';
import { toHex, utf8, fromBase64, toBase64, fromHex } from '../crypto/bytes.js';

export interface ServerKeys {
  seal(label: string, id: string, plaintext: Uint8Array): string;
  open(label: string, id: string, sealed: string): Uint8Array;
  hmac(label: string, id: string, data: string): string;
}

export function parseKey(text: string): Uint8Array {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? fromHex(t) : fromBase64(t);
  if (key.length !== 32) throw new Error('the server key must be 32 bytes (64 hex digits or base64)');
  return key;
}

export function loadServerKey(opts: { key?: string; keyFile: string }): Uint8Array {
  if (opts.key) return parseKey(opts.key);
  if (existsSync(opts.keyFile)) return parseKey(readFileSync(opts.keyFile, 'utf8'));
  mkdirSync(dirname(opts.keyFile), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(opts.keyFile, toHex(key) + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

export function serverKeys(master: Uint8Array): ServerKeys {
  const sealKey = hkdf(master, 'kpm-server/v1/seal');
  const macKey = hkdf(master, 'kpm-server/v1/mac');
  const aad = (label: string, id: string) => utf8.encode(`kpm-server/v1/${label}/${id}`);
  return {
    seal: (label, id, plaintext) => toBase64(seal(sealKey, plaintext, aad(label, id))),
    open: (label, id, sealed) => open(sealKey, fromBase64(sealed), aad(label, id)),
    hmac: (label, id, data) => toHex(hmacSha256(macKey, utf8.encode(`kpm-server/v1/${label}/${id}\n${data}`))),
  };
}
