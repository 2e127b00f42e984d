// The service-token cache (docs/SECURITY.md "Service tokens: the cache"): what a token read
// verified, kept so that the next read (a CI job reads many secrets, often in parallel steps) pulls
// only the records after it instead of the whole vault.
//
// One file per token, `<cache>/kpm-tokens/<name>.kpmc`, 0600 in a 0700 folder of this user, where
// <cache> is KPM_CACHE_DIR, else the user cache folder ($XDG_CACHE_HOME/kpm, ~/.cache/kpm): not under
// KPM_HOME, which a token machine need not have.
// name = hex(HKDF(S, "kpm/v1/token-cache-name"))[0..32]: the file names no token id.
// The file is  "KPMC" ‖ u16 version ‖ nonce ‖ XChaCha20-Poly1305(cacheKey, state, AAD)  with
// cacheKey = HKDF(S, "kpm/v1/token-cache") and AAD = "kpm/v1/token-cache" ‖ token id ‖ "KPMC" ‖ version.
// The state: vault id, profile id, the account's public key, the envelope's epoch and hash, the
// verified head revision, its chain and time, then the latest record of each entry as the server
// sent it (still sealed under the vault's record key). So the file holds no plaintext, and only the
// token's holder can make or change one: anything that does not open is discarded and the vault
// fetched again. The head it holds is the highest one seen: a server that serves less is refused.
import * as fs from 'node:fs';
import { join } from 'node:path';
import envPaths from 'env-paths';
import { AuthError, open, sealParts } from '../crypto/aead.js';
import { bytesEqual, concatBytes, fromHex, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hkdf } from '../crypto/keys.js';
import { ByteReader, ByteWriter } from '../vault/binary.js';
import { decodeRecords, ID_BYTES, type LogRecord } from '../vault/format.js';
import { KpmError, EXIT } from '../core/errors.js';
import { DIR_MODE, privateDirProblem, readFileOrNull, withLock, writeFileAtomic } from '../core/fsutil.js';

export const CACHE_LABEL = { key: 'kpm/v1/token-cache', name: 'kpm/v1/token-cache-name' } as const;
const MAGIC = utf8.encode('KPMC');
const VERSION = 2;
/** a shared vault's token: u64 epoch ‖ u64 head ‖ the state src/share/tokenvault.ts encodes (docs/SHARING.md "Service tokens on shared vaults") */
const VERSION_SHARED = 3;
export const CACHE_FOLDER = 'kpm-tokens';

export interface CachedVault {
  vaultId: Uint8Array;
  profileId: Uint8Array;
  publicKey: Uint8Array;
  epoch: number;
  /** SHA-256 of the vault envelope as the server sent it */
  envelopeHash: Uint8Array;
  /** the server log generation (a compaction starts a new one, docs/PROTOCOL.md "Compaction") */
  generation: number;
  /** the verified head revision in that generation, its sync chain and the time of its manifest */
  head: number;
  chain: Uint8Array;
  time: number;
  /** the latest record of each entry (tombstones included), as sent: encoded one after the other (decode with recordsOf) */
  log: Uint8Array;
}

/** The records of a cached state's log. */
export const recordsOf = (c: Pick<CachedVault, 'log'>): LogRecord[] => decodeRecords(c.log).records;

/** Encodes records one after the other, as CachedVault.log holds them. */
export function logOf(records: LogRecord[]): Uint8Array {
  const w = new ByteWriter();
  for (const r of records) w.bytes(r.raw);
  return w.finish();
}

/**
 * The latest record of each entry of `log` (raw records one after the other, as pulled): a later
 * version wins, an earlier or equal one is ignored, in the order of each entry's first record (as
 * LatestRecords keeps them). `log` itself when no entry has two records (nothing is copied).
 */
export function latestOfLog(log: Uint8Array): Uint8Array {
  const b = Buffer.from(log.buffer, log.byteOffset, log.byteLength);
  const at = new Map<string, number>(); // entry id (16 bytes as latin1) → its index in `winners`
  const winners: number[] = []; // the offset of each entry's latest record, by its first record
  let superseded = false;
  for (let o = 0; o < b.length; o += 4 + b.readUInt32BE(o)) {
    const id = b.toString('latin1', o + 4, o + 4 + ID_BYTES);
    const i = at.get(id);
    if (i === undefined) {
      at.set(id, winners.length);
      winners.push(o);
    } else {
      superseded = true;
      if (b.readUInt32BE(o + 4 + ID_BYTES) > b.readUInt32BE(winners[i] + 4 + ID_BYTES)) winners[i] = o;
    }
  }
  if (!superseded) return log;
  let size = 0;
  for (const o of winners) size += 4 + b.readUInt32BE(o);
  const out = Buffer.alloc(size);
  let w = 0;
  for (const o of winners) w += b.copy(out, w, o, o + 4 + b.readUInt32BE(o));
  return out;
}

/** The cache's parent folder, or null when KPM_CACHE_DIR=off (nothing is kept). */
export function tokenCacheRoot(env: NodeJS.ProcessEnv = process.env): string | null {
  const dir = env.KPM_CACHE_DIR;
  if (dir === 'off') return null;
  if (dir) return dir;
  return envPaths('kpm', { suffix: '' }).cache;
}

/** The state: its fixed fields, then the log (two parts: the log, megabytes, is sealed where it is). */
function encode(c: CachedVault): [Uint8Array, Uint8Array] {
  return [new ByteWriter().bytes(c.vaultId).bytes(c.profileId).bytes(c.publicKey).u64(c.epoch).bytes(c.envelopeHash).u64(c.generation).u64(c.head).bytes(c.chain).u64(c.time).finish(), c.log];
}

function decode(plain: Uint8Array): CachedVault {
  const r = new ByteReader(plain, 'the token cache');
  const head = { vaultId: r.bytes(ID_BYTES), profileId: r.bytes(ID_BYTES), publicKey: r.bytes(32), epoch: r.u64(), envelopeHash: r.bytes(32), generation: r.u64(), head: r.u64(), chain: r.bytes(32), time: r.u64() };
  const log = plain.subarray(r.offset);
  return { ...head, log };
}

/** Whether the cached state `cur` is at least as new as `c`: a later generation, or a later head in the same one. */
function newerOrSame(cur: CachedVault, c: CachedVault): boolean {
  if (cur.generation !== c.generation) return cur.generation > c.generation;
  return cur.head > c.head || (cur.head === c.head && cur.epoch >= c.epoch);
}

/** The cache of one token. Reads take no lock (files are replaced atomically); writes do. */
export class TokenCache {
  readonly dir: string;
  readonly file: string;
  private readonly key: Uint8Array;
  private readonly aad: Uint8Array;
  /** why the last read found nothing usable (for a warning), or undefined */
  discarded?: string;

  private readonly version: number;

  constructor(root: string, token: { id: string; secret: Uint8Array; shared?: boolean }) {
    this.dir = join(root, CACHE_FOLDER);
    this.file = join(this.dir, `${toHex(hkdf(token.secret, CACHE_LABEL.name)).slice(0, 32)}.kpmc`);
    this.key = hkdf(token.secret, CACHE_LABEL.key);
    this.version = token.shared ? VERSION_SHARED : VERSION;
    const version = new Uint8Array([this.version >> 8, this.version & 0xff]);
    this.aad = concatBytes(utf8.encode(CACHE_LABEL.key), fromHex(token.id), MAGIC, version);
  }

  /** The cached state, or null: none, or one that does not open (then it is removed and `discarded` says why). */
  read(): CachedVault | null {
    const plain = this.readPlain();
    return plain && decode(plain);
  }

  /** A shared vault's token: its cached epoch, head and state, or null (as `read`). */
  readShared(): { epoch: number; head: number; state: Uint8Array } | null {
    const plain = this.readPlain();
    if (!plain) return null;
    if (plain.length < 16) {
      this.discard('it is malformed');
      return null;
    }
    const r = new ByteReader(plain, 'the token cache');
    return { epoch: r.u64(), head: r.u64(), state: plain.subarray(16) };
  }

  /**
   * Stores a shared vault's verified state unless the file holds one at least as new (a higher head,
   * or the same head and a higher or equal epoch): the highest seen stays. As `save`.
   */
  saveShared(epoch: number, head: number, state: Uint8Array): void {
    this.checkFolder(true);
    withLock(this.dir, () => {
      const on = readFileOrNull(this.file);
      if (on) {
        try {
          const cur = new ByteReader(this.open(on), 'the token cache');
          const [e, h] = [cur.u64(), cur.u64()];
          if (h > head || (h === head && e >= epoch)) return;
        } catch (e) {
          if (!(e instanceof AuthError || e instanceof KpmError)) throw e;
        }
      }
      this.write(new ByteWriter().u64(epoch).u64(head).bytes(state).finish());
    });
  }

  private readPlain(): Uint8Array | null {
    this.checkFolder(false);
    let bytes: Uint8Array | null;
    try {
      bytes = readFileOrNull(this.file);
    } catch (e) {
      this.discarded = `it cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
      return null;
    }
    if (!bytes) return null;
    try {
      const plain = this.open(bytes);
      if (this.version === VERSION) decode(plain); // malformed: discarded below
      return plain;
    } catch (e) {
      if (!(e instanceof AuthError || e instanceof KpmError)) throw e;
      this.discard(e instanceof AuthError ? 'it does not open with this token (altered, or of another token)' : 'it is malformed');
      return null;
    }
  }

  private open(bytes: Uint8Array): Uint8Array {
    if (bytes.length < MAGIC.length + 2 || !bytesEqual(bytes.subarray(0, 4), MAGIC) || bytes[4] !== this.version >> 8 || bytes[5] !== (this.version & 0xff)) throw new AuthError();
    return open(this.key, bytes.subarray(6), this.aad);
  }

  /** "KPMC" ‖ version ‖ seal(the parts, one after the other), in one buffer */
  private write(...plain: Uint8Array[]): void {
    writeFileAtomic(this.file, sealParts(this.key, concatBytes(MAGIC, new Uint8Array([this.version >> 8, this.version & 0xff])), plain, this.aad));
  }

  /** Removes an unusable cache file (the next read fetches the vault again). */
  discard(why: string): void {
    this.discarded = why;
    this.remove();
  }

  remove(): void {
    try {
      fs.rmSync(this.file, { force: true });
    } catch {
      /* a folder we cannot write: nothing to remove */
    }
  }

  /**
   * Stores `c` unless the file already holds a state at least as new (a parallel read got further):
   * the highest head seen stays. Under the folder's lock; the file is replaced atomically.
   */
  save(c: CachedVault): void {
    this.checkFolder(true);
    withLock(this.dir, () => {
      const on = readFileOrNull(this.file);
      if (on) {
        try {
          const cur = decode(this.open(on));
          if (bytesEqual(cur.vaultId, c.vaultId) && newerOrSame(cur, c)) return;
        } catch (e) {
          if (!(e instanceof AuthError || e instanceof KpmError)) throw e;
        }
      }
      this.write(...encode(c));
    });
  }

  /** The folder must be a real 0700 folder of this user (created so when missing); otherwise exit 9. */
  private checkFolder(create: boolean): void {
    if (create) {
      fs.mkdirSync(this.dir, { recursive: true, mode: DIR_MODE }); // only the leaf is ours to chmod: KPM_CACHE_DIR may be shared
      const st = fs.lstatSync(this.dir);
      if (st.isDirectory() && !st.isSymbolicLink() && st.uid === process.getuid?.() && (st.mode & 0o777) !== DIR_MODE) fs.chmodSync(this.dir, DIR_MODE);
    } else if (!fs.existsSync(this.dir)) return;
    const bad = privateDirProblem(this.dir);
    if (bad) throw new KpmError(`refusing the service-token cache: ${bad}`, EXIT.forbidden, 'remove it, or set KPM_CACHE_DIR to a folder of your own (KPM_CACHE_DIR=off keeps nothing)');
  }

  close(): void {
    wipe(this.key);
  }
}
