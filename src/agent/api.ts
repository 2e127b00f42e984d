// The vault operations the CLI needs, whether served by the agent or by an in-process Session.
import type { KdfParams } from '../crypto/kdf.js';
import { ENTRY_TYPES, MAX_NAME_LENGTH, MAX_VALUE_BYTES } from '../vault/entry.js';
import { ENTRY_PAYLOAD_SCHEMA } from '../vault/types/schema.js';
import { validate, type JsonSchema } from '../protocol/validate.js';
import type { EntryPayload, EntrySummary } from '../vault/entry.js';
import type { EntryView, ListFilter, VaultInfo } from '../vault/session.js';
import type { SyncReport } from '../sync/engine.js';
import type { SshIdentity } from '../ssh/keyring.js';
import type { WriteFlags, WriteOutcome } from './entrywrite.js';
import type { SharedSyncRow } from '../share/view.js';

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
  /**
   * syncs with the signed-in account now; through the agent also the shared vaults it holds
   * (`shared`: a row per shared vault, when this device has any; `sharedNotes`: lines for the user)
   */
  sync(): Promise<SyncReport & { shared?: SharedSyncRow[]; sharedNotes?: string[] }>;
  /**
   * whether the agent holds this device's shared vaults and syncs them itself (src/agent/sharedhold.ts):
   * the full program then reads their verified copy without asking the server; a sync of the agent that
   * found the server misbehaving is thrown (exit 8) unless offline. An in-process session: false.
   */
  sharedHeld(): Promise<boolean>;
  /** seals a vault's key and name for a new service token under its wrap key (base64); src/sync/tokenvault.ts */
  tokenKey(vault: string, tokenId: string, wrapKey: string): Promise<{ vaultId: string; vaultName: string; wrappedKey: string }>;
  /** the key of the audit's strength cache (base64), derived from the account key; src/audit/cache.ts */
  auditCacheKey(): Promise<string>;
  /**
   * for shared vaults (docs/SHARING.md): the key of share.kpms derived from the account key
   * (src/crypto/keys.ts accountShareSecrets), the profile id and the public signing and X25519 keys,
   * base64; never the signing seed or the X25519 seed (shareSign, shareDh use them here)
   */
  shareSecrets(): Promise<{ profileId: string; signPublic: string; boxPublic: string; secrets: string }>;
  /** X25519 of the account's sharing key with a peer's public key (base64, 32 bytes): the shared secret (base64), to open or wrap key bundles */
  shareDh(peerPublic: string): Promise<string>;
  /**
   * the account's Ed25519 signature (base64) over one sharing message of this account (base64; the
   * bytes the signature covers): refused (exit 9) for anything else, such as a sync envelope or manifest
   * (src/share/format.ts checkSharingMessage)
   */
  shareSign(message: string): Promise<string>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The agent's one method table: every method it answers, the schema of each parameter, and
// whether it writes (an automatic sync follows a write). The parameter and result types come from
// VaultApi and AgentControl below, and the compiler checks each schema against its parameter: the
// client's methods (agent/client.ts), the agent's dispatch (agent/server.ts) and the write list
// (WRITE_METHODS, used by cli/unlock.ts) all derive from the table. Anything that does not match
// (another method, a missing, extra or malformed parameter) is refused (S13).

/** A JSON Schema that stands for values of type T (the type is for the compiler only). */
export type Schema<T> = JsonSchema & { readonly __value?: T };
const schema = <T>(s: JsonSchema): Schema<T> => s;

const str = (maxLength = 65_536): Schema<string> => schema({ type: 'string', maxLength });
const opt = <T>(s: Schema<T>): Schema<T | undefined> => schema({ ...s, type: [...(typeof s.type === 'string' ? [s.type] : (s.type ?? [])), 'null'] });
const name = str(1024);
const secret = str(1 << 16);
const bool: Schema<boolean> = schema({ type: 'boolean' });
const uint = (maximum: number): Schema<number> => schema({ type: 'integer', minimum: 0, maximum });
const filter: Schema<ListFilter> = schema({
  type: 'object',
  additionalProperties: false,
  properties: { vault: opt(name), search: opt(str(4096)), type: opt(schema({ type: 'string', enum: ENTRY_TYPES })) },
});
const value = str(MAX_VALUE_BYTES);
// the payload schema is the entry registry's (src/vault/types/schema.ts)
const payload: Schema<EntryPayload> = schema(ENTRY_PAYLOAD_SCHEMA);
const payloads: Schema<EntryPayload[]> = schema({ type: 'array', maxItems: 1_000_000, items: payload });
const kdf: Schema<KdfParams> = schema({
  type: 'object',
  additionalProperties: false,
  required: ['m', 't', 'p'],
  properties: { m: { type: 'integer', minimum: 1 }, t: { type: 'integer', minimum: 1 }, p: { type: 'integer', minimum: 1 } },
});
const version = uint(Number.MAX_SAFE_INTEGER);
const writeFlags: Schema<WriteFlags> = schema({
  type: 'object',
  additionalProperties: false,
  properties: {
    username: value,
    url: value,
    notes: value,
    field: { type: 'array', maxItems: 10_000, items: value },
    generate: bool,
    length: str(16),
    symbols: bool,
    digits: bool,
    separator: str(64),
    vault: name,
    check: bool,
    name: str(MAX_NAME_LENGTH * 2),
    password: value,
  },
});

/** What `kpm status` and `kpm agent status` learn from the agent. */
export interface AgentState {
  pid: number;
  idleSeconds: number;
  entries: number;
  /** the agent protocol it speaks (AGENT_PROTOCOL in agent/socket.ts) */
  protocol?: number;
  /** an offline change holds back the background sync */
  syncHeld?: boolean;
  /** a background sync is scheduled */
  syncPending?: boolean;
  syncRuns?: number;
  /** the last background sync failure, if none succeeded since */
  lastSyncError?: { message: string; at: string } | null;
  /** the SSH agent sockets this agent serves itself (taken over from `kpm ssh-agent`) */
  sshSockets?: string[];
}

/** One field of one entry (`kpm get NAME --field F`, `kpm read`): only that value crosses the socket. */
export interface FieldResult {
  /** the entry's name (for messages) */
  name: string;
  vault: string;
  /** the field asked for, or the type's primary field */
  field: string;
  /** absent when the entry has no such field; for `totp`, the current code */
  value?: string;
}

/** The agent's own methods (not vault operations). */
export interface AgentControl {
  status(): Promise<AgentState>;
  /** wipes the keys and stops; understood by an agent of any protocol version */
  lock(): Promise<true>;
  /** `kpm unlock --timeout N` while unlocked: the idle timeout in whole seconds */
  setIdleTimeout(seconds: number): Promise<{ idleSeconds: number }>;
  /** one field of an entry (undefined field: the type's primary field) */
  getField(query: string, vault: string | undefined, field: string | undefined): Promise<FieldResult>;
  /** the same over the own vaults and the shared vaults the agent holds (`kpm get`, `read`, `run` on the hot path; docs/SHARING.md) */
  getFieldAll(query: string, vault: string | undefined, field: string | undefined): Promise<FieldResult>;
  /** `kpm list` output over the own and the held shared vaults (the hot path) */
  listTextAll(filter: ListFilter, json: boolean): Promise<string>;
  /** summaries of the own and the held shared vaults' entries (shell completion) */
  listAll(filter: ListFilter): Promise<EntrySummary[]>;
  /** `kpm add NAME …` on the hot path (src/agent/entrywrite.ts): a login from plain flags, the strength check in the agent */
  addEntry(name: string, flags: WriteFlags): Promise<WriteOutcome>;
  /** `kpm edit NAME …` on the hot path */
  editEntry(query: string, flags: WriteFlags): Promise<WriteOutcome>;
  /** `kpm ssh-agent` whose socket the agent could not take over (src/ssh/agentmethods.ts): the public keys and their rules */
  sshIdentities(): Promise<SshIdentity[]>;
  /** the public key blob (base64), the data to sign (base64), the flags; the signature (base64) */
  sshSign(blob: string, data: string, flags: number): Promise<string>;
  /** a `kpm ssh-agent` started: the agent takes over the SSH sockets not served yet (src/ssh/direct.ts); those it serves */
  sshAttach(): Promise<{ sockets: string[] }>;
}

type VaultMethods = Omit<VaultApi, 'viaAgent' | 'close'>;
/** Every method the agent answers. */
export type AgentMethods = VaultMethods & AgentControl;
export type MethodName = keyof AgentMethods;
type ParamMap = { [K in MethodName]: Parameters<AgentMethods[K]> };
type ResultMap = { [K in MethodName]: Awaited<ReturnType<AgentMethods[K]>> };
export type ParamsOf<K extends MethodName> = ParamMap[K];
export type ResultOf<K extends MethodName> = ResultMap[K];
/** The agent's methods as functions of their parameters (the shape the dispatch calls). */
export type MethodFns = { [K in MethodName]: (...params: ParamsOf<K>) => Promise<ResultOf<K>> };

/** One schema per parameter, each checked by the compiler against the parameter's type. */
type ParamSchemas<P extends unknown[]> = { [I in keyof P]-?: Schema<{} extends Pick<P, I> ? P[I] | undefined : P[I]> };

export interface MethodSpec<K extends MethodName = MethodName> {
  /** one schema per positional parameter; a trailing parameter whose schema allows null may be left out */
  params: ParamSchemas<ParamsOf<K>>;
  write: boolean;
}

type Table<M extends MethodName> = { readonly [K in M]: MethodSpec<K> };
type ApiMethod = keyof VaultMethods;
type ControlMethod = keyof AgentControl;

/** The vault methods (VaultApi) the agent serves. */
export const METHOD_TABLE: Table<ApiMethod> = {
  get: { params: [name, opt(name)], write: false },
  list: { params: [filter], write: false },
  listText: { params: [filter, bool], write: false },
  entries: { params: [filter], write: false },
  add: { params: [opt(name), payload], write: true },
  addMany: { params: [opt(name), payloads], write: true },
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
  restore: { params: [name, opt(name), opt(version), opt(bool)], write: true },
  purgeTrash: { params: [opt(name), opt(name)], write: true },
  purgeHistory: { params: [name, opt(name)], write: true },
  sync: { params: [], write: false },
  sharedHeld: { params: [], write: false },
  tokenKey: { params: [name, name, str(256)], write: false },
  auditCacheKey: { params: [], write: false },
  shareSecrets: { params: [], write: false },
  shareSign: { params: [str(24 << 20)], write: false },
  shareDh: { params: [str(64)], write: false },
};

/** The agent's own methods (not vault operations). */
export const CONTROL_TABLE: Table<ControlMethod> = {
  status: { params: [], write: false },
  lock: { params: [], write: false },
  setIdleTimeout: { params: [uint(10080 * 60)], write: false }, // at most a week
  getField: { params: [name, opt(name), opt(name)], write: false },
  getFieldAll: { params: [name, opt(name), opt(name)], write: false },
  listTextAll: { params: [filter, bool], write: false },
  listAll: { params: [filter], write: false },
  addEntry: { params: [str(MAX_NAME_LENGTH * 2), writeFlags], write: true },
  editEntry: { params: [name, writeFlags], write: true },
  sshIdentities: { params: [], write: false },
  sshSign: { params: [str(1 << 14), str(1 << 20), uint(0xffffffff)], write: false },
  sshAttach: { params: [], write: false },
};

const TABLE: Table<MethodName> = { ...METHOD_TABLE, ...CONTROL_TABLE };

/** Methods the agent answers as vault operations; everything else is refused. */
export const AGENT_METHODS = Object.keys(METHOD_TABLE) as ApiMethod[];

/** The VaultApi methods that change the vault: an automatic sync follows them (also after the writes of CONTROL_TABLE: isWrite). */
export const WRITE_METHODS: ReadonlySet<string> = new Set(AGENT_METHODS.filter((m) => METHOD_TABLE[m].write));

export const isMethod = (m: unknown): m is MethodName => typeof m === 'string' && Object.hasOwn(TABLE, m);
export const isWrite = (m: MethodName): boolean => TABLE[m].write;

/** A request the table accepted: its method and parameters, typed (missing optional ones are undefined). */
export type CheckedRequest = { [K in MethodName]: { method: K; params: ParamsOf<K> } }[MethodName];

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
  const r = parseRequest(method, params);
  return typeof r === 'string' ? r : null;
}

/** The same check; the typed request (nulls as undefined), or the problem. */
export function parseRequest(method: unknown, params: unknown): CheckedRequest | string {
  if (!isMethod(method)) return `unknown agent method ${String(method).slice(0, 64)}`;
  const spec: { params: readonly JsonSchema[] } = TABLE[method];
  if (params === undefined) params = [];
  if (!Array.isArray(params)) return `${method}: the parameters must be a list`;
  if (params.length > spec.params.length) return `${method}: takes at most ${spec.params.length} parameters`;
  const out: unknown[] = [];
  for (let i = 0; i < spec.params.length; i++) {
    const s = spec.params[i];
    const v: unknown = i < params.length ? params[i] : null;
    out.push(v === null ? undefined : v);
    if (v === null && allowsNull(s)) continue;
    const problem = validate(s, v, {}, `${method} parameter ${i + 1}`);
    if (problem) return problem;
    if (s === payload) {
      const p = payloadProblem(v, `${method} parameter ${i + 1}`);
      if (p) return p;
    }
    if (s === payloads) {
      for (let j = 0; j < (v as unknown[]).length; j++) {
        const p = payloadProblem((v as unknown[])[j], `${method} parameter ${i + 1}[${j}]`);
        if (p) return p;
      }
    }
  }
  // every parameter matched its schema, and each schema stands for its parameter's type
  return { method, params: out } as CheckedRequest;
}
