// The SSH keys of the unlocked vault, as the kpm agent serves them (on the SSH socket it took over
// from `kpm ssh-agent`, src/ssh/direct.ts, or to `kpm ssh-agent` itself): public identities (with
// each key's host patterns and confirmation flag) and signatures. Private keys stay in this
// process; a parsed key is cached per entry version (the summary of the record that holds it: a
// new version is a new record) and dropped when its entry changes or goes, when its vault locks
// (prune), and when the agent stops (clear).
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
  /** the summary of the record the key came from: another one means another version */
  summary: EntrySummary;
  key: VaultSshKey;
  blob: string;
  object?: KeyObject;
}

export class SshKeyring {
  private cache = new Map<string, Cached>();
  constructor(private readonly src: EntrySource) {}

  private load(s: EntrySummary): Cached | undefined {
    const hit = this.cache.get(s.id);
    if (hit && hit.summary === s) return hit;
    try {
      const key = keyFromEntry(this.src.get(s.id, s.vault));
      const c: Cached = { summary: s, key, blob: key.key.publicBlob.toString('base64') };
      this.cache.set(s.id, c);
      return c;
    } catch {
      this.cache.delete(s.id);
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
    return this.signBytes(blob, Buffer.from(data, 'base64'), flags).toString('base64');
  }

  /** The same, for the SSH socket the agent serves itself: the data and the signature as bytes. */
  signBytes(blob: string, data: Uint8Array, flags: number): Buffer {
    const c = this.all().find((k) => k.blob === blob);
    if (!c) throw notFound('no SSH key in the unlocked vaults has this public key');
    c.object ??= privateKeyObject(c.key.key);
    return signRaw(c.key.key, data, flags, c.object);
  }

  /** How many parsed keys are held (for tests: what a lock or an edit leaves behind). */
  get size(): number {
    return this.cache.size;
  }

  /** Drops the keys of entries that are gone or whose vault is locked now. */
  prune(): void {
    const ids = new Set(this.src.list({ type: SSH_KEY_TYPE }).map((s) => s.id));
    for (const id of this.cache.keys()) if (!ids.has(id)) this.cache.delete(id);
  }

  clear(): void {
    this.cache.clear();
  }
}
