// The read model of a vault, one copy for every reader: the local store (src/vault/store.ts), the
// unlocked profile (src/vault/session.ts) and the service-token reader (src/sync/tokenvault.ts).
//  - an entry record opens with the record AEAD key and the AAD that binds it to its profile, vault,
//    entry id, version, flags and name tag (docs/FORMAT.md "Entry records");
//  - a name tag is HMAC(name-tag key, normalized name), first 16 bytes;
//  - an entry's summary (what `kpm list` shows: no secret field);
//  - a lookup by exact name (through the tag) or by an id prefix of 8 or more hex digits;
//  - the latest record of each entry, with an index of live entries by name tag.
// Nothing here touches files or writes: sealing and the log stay in store.ts.
import { AuthError, open } from '../crypto/aead.js';
import { decodeUtf8, toHex, utf8 } from '../crypto/bytes.js';
import { hmacSha256 } from '../crypto/keys.js';
import type { KpmError } from '../core/errors.js';
import { entryAad, FLAG_DELETED, type LogRecord } from './format.js';
import { entryHint, normalizeName, type EntryPayload, type EntrySummary, type EntryType } from './entry.js';

export interface EntryView {
  id: string;
  vault: string;
  version: number;
  payload: EntryPayload;
  /** history only: this version is a deletion */
  deleted?: boolean;
}

export interface ListFilter {
  vault?: string;
  search?: string;
  type?: EntryType;
}

/** The 16-byte name tag of an entry name. */
export function nameTagOf(tagKey: Uint8Array, name: string): Uint8Array {
  return hmacSha256(tagKey, utf8.encode(normalizeName(name))).subarray(0, 16);
}

/** What opening a vault's records needs: the record key and the ids the AAD binds. */
export interface RecordOpener {
  recordKey: Uint8Array;
  profileId: Uint8Array;
  vaultId: Uint8Array;
}

/** Opens one entry record; `fail` makes the error (exit 8) for a record that does not open or parse. */
export function decryptRecord(k: RecordOpener, r: LogRecord, fail: (r: LogRecord) => KpmError): EntryPayload {
  const aad = entryAad(k.profileId, k.vaultId, r.entryId, r.version, r.flags, r.nameTag);
  try {
    return JSON.parse(decodeUtf8(open(k.recordKey, r.sealed, aad))) as EntryPayload;
  } catch (e) {
    if (e instanceof AuthError || e instanceof SyntaxError || e instanceof TypeError) throw fail(r);
    throw e;
  }
}

/** An entry's summary: no secret field (cards: the masked number). */
export function summaryOf(id: string, vault: string, p: EntryPayload): EntrySummary {
  const s: EntrySummary = { id, vault, name: p.name, type: p.type, updated: p.updated };
  if (p.fields.username) s.username = p.fields.username;
  if (p.fields.url) s.url = p.fields.url;
  const hint = entryHint(p);
  if (hint) s.hint = hint;
  return s;
}

/** The normalized search text of a filter (compare with `matchesFilter`). */
export const searchOf = (filter: ListFilter): string | undefined => (filter.search ? normalizeName(filter.search) : undefined);

/** Whether a summary passes a list filter's type and search (name, username or URL contains it). */
export function matchesFilter(s: EntrySummary, filter: ListFilter, q: string | undefined = searchOf(filter)): boolean {
  if (filter.type && s.type !== filter.type) return false;
  return !q || [s.name, s.username, s.url].some((f) => f && f.toLowerCase().includes(q));
}

/** A query that may be an entry id or id prefix: 8 to 32 hex digits. */
export const isIdQuery = (query: string): boolean => /^[0-9a-f]{8,32}$/i.test(query);

/** The records among `records` whose entry id starts with `query` (an id query, see isIdQuery). */
export function byIdPrefix(records: Iterable<LogRecord>, query: string): LogRecord[] {
  const prefix = query.toLowerCase();
  const out: LogRecord[] = [];
  for (const r of records) if (toHex(r.entryId).startsWith(prefix)) out.push(r);
  return out;
}

export const isLive = (r: LogRecord): boolean => !(r.flags & FLAG_DELETED);

/**
 * The latest record of each entry (by id, hex) and the live entries by name tag (hex), built one
 * record at a time in log order.
 */
export class LatestRecords {
  readonly latest = new Map<string, LogRecord>();
  /** name tag (hex) → id of the live entry with that name */
  readonly liveByTag = new Map<string, string>();

  clear(): void {
    this.latest.clear();
    this.liveByTag.clear();
  }

  /**
   * Takes `r` as its entry's latest record. `strict`: a version that does not go up is refused
   * (`onBackwards` makes the error); otherwise such a record is ignored. `id`: its entry id in hex, when the caller has it.
   */
  apply(r: LogRecord, onBackwards?: (r: LogRecord) => Error, id: string = toHex(r.entryId)): void {
    const prev = this.latest.get(id);
    if (prev && r.version <= prev.version) {
      if (onBackwards) throw onBackwards(r);
      return;
    }
    this.latest.set(id, r);
    const prevTag = prev && isLive(prev) ? toHex(prev.nameTag) : undefined;
    if (prevTag !== undefined && this.liveByTag.get(prevTag) === id) this.liveByTag.delete(prevTag);
    if (isLive(r)) this.liveByTag.set(toHex(r.nameTag), id);
  }

  /** The live entry with this name tag. */
  byTag(tag: Uint8Array): LogRecord | undefined {
    const id = this.liveByTag.get(toHex(tag));
    return id === undefined ? undefined : this.latest.get(id);
  }

  live(): LogRecord[] {
    const out: LogRecord[] = [];
    for (const r of this.latest.values()) if (isLive(r)) out.push(r);
    return out;
  }
}
