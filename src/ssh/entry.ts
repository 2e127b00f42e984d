// The `ssh-key` entry type: an OpenSSH private key (stored unencrypted, inside the entry's
// ciphertext only) and the fields derived from it, so `kpm get NAME --field public-key` and
// `--field fingerprint` need no key parsing. `hosts` (comma-separated ssh host patterns) limits
// which servers the agent offers the key to; `confirm` = "yes" asks before each use.
import type { EntryPayload } from '../vault/entry.js';
import type { EntryView } from '../vault/session.js';
import { usageError } from '../core/errors.js';
import { fingerprint, keyBits, parseStoredKey, publicLine, serializePrivate, type SshPrivateKey } from './keys.js';

export const SSH_KEY_TYPE = 'ssh-key';

export interface SshKeyOptions {
  hosts?: string[];
  confirm?: boolean;
}

export function keyTypeLabel(k: SshPrivateKey): string {
  const t = k.type === 'ssh-ed25519' ? 'ED25519' : k.type === 'ssh-rsa' ? 'RSA' : 'ECDSA';
  return `${t}-${keyBits(k)}`;
}

/** Host patterns as the user writes them: comma or space separated, ssh_config(5) syntax. */
export function parseHosts(text: string | undefined): string[] {
  const hosts = (text ?? '').split(/[\s,]+/).filter(Boolean);
  for (const h of hosts) {
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f"'\\]/.test(h)) throw usageError(`bad host pattern "${h}"`);
  }
  return hosts;
}

export function keyPayload(name: string, k: SshPrivateKey, o: SshKeyOptions, now = new Date().toISOString()): EntryPayload {
  const fields: Record<string, string> = {
    'private-key': serializePrivate(k),
    'public-key': publicLine(k.publicBlob, k.comment),
    fingerprint: fingerprint(k.publicBlob),
    'key-type': keyTypeLabel(k),
  };
  if (k.comment) fields.comment = k.comment;
  if (o.hosts?.length) fields.hosts = o.hosts.join(',');
  if (o.confirm) fields.confirm = 'yes';
  return { type: SSH_KEY_TYPE, name, fields, custom: [], tags: [], created: now, updated: now };
}

export interface VaultSshKey {
  id: string;
  vault: string;
  name: string;
  key: SshPrivateKey;
  hosts: string[];
  confirm: boolean;
}

export function isConfirmOn(v: string | undefined): boolean {
  return /^(yes|true|1|on)$/i.test((v ?? '').trim());
}

/** The key of an ssh-key entry (throws a usage error when its private-key field is not a key). */
export function keyFromEntry(v: EntryView): VaultSshKey {
  const f = v.payload.fields;
  if (!f['private-key']) throw usageError(`entry "${v.payload.name}" has no private key`);
  const key = parseStoredKey(f['private-key']);
  return { id: v.id, vault: v.vault, name: v.payload.name, key, hosts: parseHosts(f.hosts), confirm: isConfirmOn(f.confirm) };
}
