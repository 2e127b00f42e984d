// The vault operations the CLI needs, whether served by the agent or by an in-process Session.
import type { KdfParams } from '../crypto/kdf.js';
import { ENTRY_TYPES, MAX_VALUE_BYTES } from '../vault/entry.js';
import { ENTRY_PAYLOAD_SCHEMA } from '../vault/types/schema.js';
import { validate, type JsonSchema } from '../protocol/validate.js';
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
  /** a new key for a vault: its records re-sealed into a new vault, the old one removed (src/sync/rotate.ts) */
  rotateVaultKey(name: string, ownPassword?: string): Promise<{ oldId: string; vault: VaultInfo; entries: number }>;
  /** every version of an entry, oldest first */
  history(query: string, vault?: string): Promise<EntryView[]>;
  /** brings back a deleted entry, or an earlier version */
  restore(query: string, vault?: string, version?: number, oldName?: boolean): Promise<EntryView>;
  /** deletes one entry in the trash (or all of them) for good; the vault is compacted at once */
  purgeTrash(query?: string, vault?: string): Promise<{ purged: EntrySummary[]; dropped: number }>;
  /** drops every version of an entry but the current one, for good */
  purgeHistory(query: string, vault?: string): Promise<{ entry: EntryView; dropped: number }>;
  /** syncs with the signed-in account now */
  sync(): Promise<SyncReport>;
  /** seals a vault's key and name for a new service token under its wrap key (base64); src/sync/tokenvault.ts */
  tokenKey(vault: string, tokenId: string, wrapKey: string): Promise<{ vaultId: string; vaultName: string; wrappedKey: string }>;
  /** the key of the audit's strength cache (base64), derived from the account key; src/audit/cache.ts */
  auditCacheKey(): Promise<string>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The agent's one method table: every method it answers, the schema of each parameter, and
// whether it writes (an automatic sync follows a write). The client's method list, the agent's
// dispatch and the CLI's "this command changed the vault" all derive from it. Anything that does
// not match (another method, a missing, extra or malformed parameter) is refused (S13).

const str = (maxLength = 65_536): JsonSchema => ({ type: 'string', maxLength });
const opt = (s: JsonSchema): JsonSchema => ({ ...s, type: [...(typeof s.type === 'string' ? [s.type] : (s.type ?? [])), 'null'] });
const name = str(1024);
const secret = str(1 << 16);
const filter: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { vault: opt(name), search: opt(str(4096)), type: opt({ type: 'string', enum: ENTRY_TYPES }) },
};
// the payload schema is the entry registry's (src/vault/types/schema.ts)
const payload = ENTRY_PAYLOAD_SCHEMA;
const kdf: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['m', 't', 'p'],
  properties: { m: { type: 'integer', minimum: 1 }, t: { type: 'integer', minimum: 1 }, p: { type: 'integer', minimum: 1 } },
};
const version: JsonSchema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

export interface MethodSpec {
  /** one schema per positional parameter; a trailing parameter whose schema allows null may be left out */
  params: readonly JsonSchema[];
  write: boolean;
}

type ApiMethod = Exclude<keyof VaultApi, 'viaAgent' | 'close'>;

/** The vault methods (VaultApi) the agent serves. */
export const METHOD_TABLE: Readonly<Record<ApiMethod, MethodSpec>> = {
  get: { params: [name, opt(name)], write: false },
  list: { params: [filter], write: false },
  listText: { params: [filter, { type: 'boolean' }], write: false },
  entries: { params: [filter], write: false },
  add: { params: [opt(name), payload], write: true },
  addMany: { params: [opt(name), { type: 'array', maxItems: 1_000_000, items: payload }], write: true },
  update: { params: [name, name, version, payload], write: true },
  remove: { params: [name, opt(name)], write: true },
  trash: { params: [opt(name)], write: false },
  listVaults: { params: [], write: false },
  createVault: { params: [name, opt(secret), opt(kdf)], write: true },
  unlockVault: { params: [name, secret], write: false },
  lockVault: { params: [name], write: false },
  renameVault: { params: [name, name], write: true },
  changeVaultPassword: { params: [name, opt(secret), secret], write: true },
  removeVault: { params: [name], write: true },
  rotateVaultKey: { params: [name, opt(secret)], write: true },
  history: { params: [name, opt(name)], write: false },
  restore: { params: [name, opt(name), opt(version)], write: true },
  purgeTrash: { params: [opt(name), opt(name)], write: true },
  purgeHistory: { params: [name, opt(name)], write: true },
  sync: { params: [], write: false },
  tokenKey: { params: [name, name, str(256)], write: false },
  auditCacheKey: { params: [], write: false },
};

/** The agent's own methods (not vault operations). */
export const CONTROL_TABLE: Readonly<Record<'status' | 'lock' | 'setIdleTimeout' | 'sshIdentities' | 'sshSign', MethodSpec>> = {
  status: { params: [], write: false },
  lock: { params: [], write: false },
  // `kpm unlock --timeout N` while unlocked: the idle timeout in whole seconds (at most a week)
  setIdleTimeout: { params: [{ type: 'integer', minimum: 0, maximum: 10080 * 60 }], write: false },
  // `kpm ssh-agent` (src/ssh/agentmethods.ts): the public key blob (base64), the data to sign (base64), the flags
  sshIdentities: { params: [], write: false },
  sshSign: { params: [str(1 << 14), str(1 << 20), { type: 'integer', minimum: 0, maximum: 0xffffffff }], write: false },
};

/** Methods the agent answers as vault operations; everything else is refused. */
export const AGENT_METHODS = Object.keys(METHOD_TABLE) as ApiMethod[];

/** Methods that change the vault: an automatic sync follows them. */
export const WRITE_METHODS: ReadonlySet<string> = new Set(AGENT_METHODS.filter((m) => METHOD_TABLE[m].write));

const allowsNull = (s: JsonSchema) => s.type === 'null' || (Array.isArray(s.type) && s.type.includes('null'));

function payloadProblem(p: unknown, path: string): string | null {
  const fields = (p as { fields: Record<string, unknown> }).fields;
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v !== 'string') return `${path}.fields.${k}: expected string`;
    if (v.length > MAX_VALUE_BYTES) return `${path}.fields.${k}: too long`;
  }
  return null;
}

/**
 * Checks a request against the table: a known method, at most as many parameters as it takes,
 * each matching its schema (a missing trailing one only if optional). The problem, or null.
 */
export function checkRequest(method: unknown, params: unknown): string | null {
  if (typeof method !== 'string' || !(Object.hasOwn(METHOD_TABLE, method) || Object.hasOwn(CONTROL_TABLE, method))) return `unknown agent method ${String(method).slice(0, 64)}`;
  const spec: MethodSpec = (METHOD_TABLE as Record<string, MethodSpec>)[method] ?? (CONTROL_TABLE as Record<string, MethodSpec>)[method];
  if (params === undefined) params = [];
  if (!Array.isArray(params)) return `${method}: the parameters must be a list`;
  if (params.length > spec.params.length) return `${method}: takes at most ${spec.params.length} parameters`;
  for (let i = 0; i < spec.params.length; i++) {
    const s = spec.params[i];
    const v = i < params.length ? params[i] : null;
    if (v === null && allowsNull(s)) continue;
    const problem = validate(s, v, {}, `${method} parameter ${i + 1}`);
    if (problem) return problem;
    if (s === payload) {
      const p = payloadProblem(v, `${method} parameter ${i + 1}`);
      if (p) return p;
    }
    if (s.items === payload) {
      for (let j = 0; j < (v as unknown[]).length; j++) {
        const p = payloadProblem((v as unknown[])[j], `${method} parameter ${i + 1}[${j}]`);
        if (p) return p;
      }
    }
  }
  return null;
}
