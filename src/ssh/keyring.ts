// The SSH keys of the unlocked vault, as the kpm agent serves them to `kpm ssh-agent`: public
// identities (with each key's host patterns and confirmation flag) and signatures. Private keys
// stay in this process; parsed keys are cached per entry version and dropped on lock.
import type { KeyObject } from 'node:crypto';
import type { EntrySummary } from '../vault/entry.js';
import type { EntryView, ListFilter } from '../vault/session.js';
import { notFound, usageError } from '../core/errors.js';
import { keyFromEntry, SSH_KEY_TYPE, type VaultSshKey } from './entry.js';
import { fingerprint, privateKeyObject, signRaw } from './keys.js';

/** What `kpm ssh-agent` learns about a key: never its private half. */
export interface SshIdentity {
  /** the public key blob, base64 */
  blob: string;
  comment: string;
  name: string;
  vault: string;
  id: string;
  fingerprint: string;
  hosts: string[];
  confirm: boolean;
}

export interface EntrySource {
  list(filter: ListFilter): EntrySummary[];
  get(query: string, vault?: string): EntryView;
}

interface Cached {
  updated: string;
  key: VaultSshKey;
  blob: string;
  object?: KeyObject;
}

export class SshKeyring {
  private cache = new Map<string, Cached>();
  constructor(private readonly src: EntrySource) {}

  private load(s: EntrySummary): Cached | undefined {
    const hit = this.cache.get(s.id);
    if (hit && hit.updated === s.updated && hit.key.vault === s.vault) return hit;
    try {
      const key = keyFromEntry(this.src.get(s.id, s.vault));
      const c: Cached = { updated: s.updated, key, blob: key.key.publicBlob.toString('base64') };
      this.cache.set(s.id, c);
      return c;
    } catch {
      return undefined; // an ssh-key entry without a usable key is not offered (`kpm ssh list` says why)
    }
  }

  private all(): Cached[] {
    const live = this.src.list({ type: SSH_KEY_TYPE });
    const ids = new Set(live.map((s) => s.id));
    for (const id of this.cache.keys()) if (!ids.has(id)) this.cache.delete(id);
    return live.map((s) => this.load(s)).filter((c): c is Cached => c !== undefined);
  }

  identities(): SshIdentity[] {
    return this.all().map((c) => ({
      blob: c.blob, comment: c.key.key.comment || c.key.name, name: c.key.name, vault: c.key.vault, id: c.key.id,
      fingerprint: fingerprint(c.key.key.publicBlob), hosts: c.key.hosts, confirm: c.key.confirm,
    }));
  }

  /** Signs with the key whose public blob (base64) is given; returns the SSH signature blob, base64. */
  sign(blob: string, data: string, flags: number): string {
    if (typeof blob !== 'string' || typeof data !== 'string' || !Number.isInteger(flags)) throw usageError('bad sshSign request');
    const c = this.all().find((k) => k.blob === blob);
    if (!c) throw notFound('no SSH key in the unlocked vaults has this public key');
    c.object ??= privateKeyObject(c.key.key);
    return signRaw(c.key.key, Buffer.from(data, 'base64'), flags, c.object).toString('base64');
  }

  clear(): void {
    this.cache.clear();
  }
}
