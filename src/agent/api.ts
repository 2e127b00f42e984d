// The vault operations the CLI needs, whether served by the agent or by an in-process Session.
import type { KdfParams } from '../crypto/kdf.js';
import type { EntryPayload, EntrySummary } from '../vault/entry.js';
import type { EntryView, ListFilter, VaultInfo } from '../vault/session.js';
import type { SyncReport } from '../sync/engine.js';

export interface VaultApi {
  readonly viaAgent: boolean;
  get(query: string, vault?: string): Promise<EntryView>;
  list(filter: ListFilter): Promise<EntrySummary[]>;
  /** `kpm list` output, rendered next to the data */
  listText(filter: ListFilter, json: boolean): Promise<string>;
  /** full entries, secrets included (audit, export) */
  entries(filter: ListFilter): Promise<EntryView[]>;
  add(vault: string | undefined, payload: EntryPayload): Promise<EntryView>;
  /** many new entries in one commit (import); all or none */
  addMany(vault: string | undefined, payloads: EntryPayload[]): Promise<{ vault: string; ids: string[] }>;
  update(vault: string, id: string, baseVersion: number, payload: EntryPayload): Promise<EntryView>;
  remove(query: string, vault?: string): Promise<EntryView>;
  trash(vault?: string): Promise<EntrySummary[]>;
  listVaults(): Promise<VaultInfo[]>;
  createVault(name: string, ownPassword?: string, params?: KdfParams): Promise<VaultInfo>;
  unlockVault(name: string, password: string): Promise<VaultInfo>;
  lockVault(name: string): Promise<void>;
  renameVault(name: string, newName: string): Promise<VaultInfo>;
  changeVaultPassword(name: string, oldPassword: string | undefined, newPassword: string): Promise<void>;
  removeVault(name: string): Promise<VaultInfo>;
  /** every version of an entry, oldest first */
  history(query: string, vault?: string): Promise<EntryView[]>;
  /** brings back a deleted entry, or an earlier version */
  restore(query: string, vault?: string, version?: number, oldName?: boolean): Promise<EntryView>;
  /** syncs with the signed-in account now */
  sync(): Promise<SyncReport>;
  /** seals a vault's key and name for a new service token under its wrap key (base64); src/sync/tokenvault.ts */
  tokenKey(vault: string, tokenId: string, wrapKey: string): Promise<{ vaultId: string; vaultName: string; wrappedKey: string }>;
  close(): Promise<void>;
}

/** Methods the agent answers; everything else is refused. */
export const AGENT_METHODS = ['get', 'list', 'listText', 'entries', 'add', 'addMany', 'update', 'remove', 'trash', 'listVaults', 'createVault', 'unlockVault', 'lockVault', 'renameVault', 'changeVaultPassword', 'removeVault', 'history', 'restore', 'sync', 'tokenKey'] as const;

/** Methods that change the vault: an automatic sync follows them. */
export const WRITE_METHODS: readonly string[] = ['add', 'addMany', 'update', 'remove', 'restore', 'createVault', 'renameVault', 'changeVaultPassword', 'removeVault'];
