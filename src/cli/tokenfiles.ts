// Files (documents and attachments) read through a service token (README "Service tokens",
// docs/PROTOCOL.md "Service tokens": files, docs/SECURITY.md "Service tokens"). The token finds a
// file in an entry it verified (TokenVault: the entry's signed, encrypted payload holds the file's
// blob id, size and random key; ShareTokenVault: the writer's signed record names the blob, its
// size, epoch and SHA-256, and the key derives from the epoch's record key), fetches the sealed blob
// from its own token route in transfer chunks into a private temporary file, and checks it before a
// byte is decrypted to the output:
//   - no more bytes, nor more transfer chunks, than the size the record declares makes, and exactly
//     that many bytes (a truncated or padded file: exit 8);
//   - a shared file: SHA-256 of all of it equal to the signed record's (a swapped, reordered or
//     replayed chunk, another file's blob: exit 8);
//   - then every AEAD chunk of the STREAM construction (src/vault/blobs.ts) opens under the file's
//     key with its index and final flag (an own vault's file: this is what catches a swapped,
//     reordered, replayed chunk or another file's blob, since the key is random per file and only
//     the entry holds it).
// Nothing reaches the output unless all of that held (the caller renames a temp file, or writes to
// stdout only after a first full pass; src/cli/commands/documents.ts).
import { fromHex, wipe } from '../crypto/bytes.js';
import { KpmError, EXIT } from '../core/errors.js';
import { checkStoredFile, downloadBlob, filesOf, ownFrame, type BlobFrame, type StoredFile } from '../vault/blobs.js';
import type { EntryView, ListFilter } from '../vault/records.js';
import { downloadSharedFile, shareBlobKey, shareFrame, type BlobCall, type SharedFile } from '../share/blobs.js';
import type { ShareTokenVault } from '../share/tokenvault.js';
import type { TokenVault } from '../sync/tokenvault.js';
import { tampered } from '../sync/envelope.js';

/** A file as the commands show it: never its key or blob id. */
export interface TokenFile {
  name: string;
  type: string;
  size: number;
}

type FileRef = TokenFile & ({ kind: 'own'; stored: StoredFile } | { kind: 'shared'; shared: SharedFile });

export interface TokenDoc {
  view: EntryView;
  files: TokenFile[];
}

/** A file fetched and checked against its record: read `fd` with `key` and `frame`; call `remove`. */
export interface FetchedFile {
  fd: number;
  key: Uint8Array;
  frame: BlobFrame;
  file: TokenFile;
  remove(): void;
}

/** One transfer chunk of a blob from the token's route (POST /v1/token/blobs/get or /v1/token/share/blobs/get). */
export type TokenBlobCall = (blob: string, index: number) => Promise<{ data: string; last: boolean }>;

const isShared = (v: TokenVault | ShareTokenVault): v is ShareTokenVault => 'fileRecordKey' in v;

/** The files of a verified token vault, and their download. */
export class TokenFiles {
  private readonly refs = new WeakMap<TokenFile, FileRef>();

  constructor(
    private readonly v: TokenVault | ShareTokenVault,
    private readonly call: TokenBlobCall,
  ) {}

  private filesOf(view: EntryView): TokenFile[] {
    const refs: FileRef[] = isShared(this.v)
      ? this.v.filesOf(view.id).map((f) => ({ name: f.name, type: f.type, size: f.size, kind: 'shared', shared: f }))
      : filesOf(view.payload).map((f) => ({ name: f.name, type: f.type, size: f.size, kind: 'own', stored: f }));
    return refs.map((r) => {
      const shown: TokenFile = { name: r.name, type: r.type, size: r.size };
      this.refs.set(shown, r);
      return shown;
    });
  }

  /** An entry as `kpm get` finds it (the same errors: exit 3 not found, 9 another vault, 4 sealed off), with its files. */
  find(query: string, vault?: string): TokenDoc {
    const view = this.v.get(query, vault);
    return { view, files: this.filesOf(view) };
  }

  /** The live entries (as `kpm list` filters them), each with its files. */
  all(filter: ListFilter = {}): TokenDoc[] {
    return this.v.entries(filter).map((view) => ({ view, files: this.filesOf(view) }));
  }

  /**
   * Fetches `file` (one that find() or all() returned) into a new temporary file in `dir` and checks
   * it against its record (above); exit 8, the temporary file removed, when anything differs.
   */
  async fetch(file: TokenFile, dir: string): Promise<FetchedFile> {
    const ref = this.refs.get(file);
    if (!ref) throw new KpmError(`file "${file.name}" is not a file of this service token's vault`, EXIT.error);
    if (ref.kind === 'shared') {
      const v = this.v as ShareTokenVault;
      const rk = v.fileRecordKey(ref.shared); // exit 4 before anything is fetched, if the token lacks its epoch's key
      const key = shareBlobKey(rk, fromHex(v.id), ref.shared.epoch, fromHex(ref.shared.blob));
      wipe(rk);
      try {
        const blobCall = (<T>(_name: string, o: { body: unknown }) => {
          const b = o.body as { blob: string; index: number };
          return this.call(b.blob, b.index) as Promise<T>;
        }) as BlobCall;
        const got = await downloadSharedFile(blobCall, dir, v.id, ref.shared);
        return { fd: got.fd, key, frame: shareFrame(fromHex(v.id), ref.shared.epoch, fromHex(ref.shared.blob)), file, remove: () => (got.remove(), key.fill(0)) };
      } catch (e) {
        key.fill(0);
        throw e;
      }
    }
    const key = checkStoredFile(ref.stored);
    try {
      const got = await downloadOwnFile(this.call, dir, ref.stored);
      return { fd: got.fd, key, frame: ownFrame(fromHex(ref.stored.blob)), file, remove: () => (got.remove(), key.fill(0)) };
    } catch (e) {
      key.fill(0);
      throw e;
    }
  }
}

/**
 * An own vault's sealed blob into a temporary file in `dir` (downloadBlob: no more bytes or transfer
 * chunks than the size its entry declares makes, and exactly that many). The chunks' AEAD is checked
 * when it is decrypted (the key is the entry's).
 */
export function downloadOwnFile(call: TokenBlobCall, dir: string, file: StoredFile): Promise<{ fd: number; remove(): void }> {
  return downloadBlob(dir, `token-${file.blob}`, {
    name: file.name,
    size: file.size,
    source: 'its entry',
    fetch: (index) => call(file.blob, index),
    tampered,
  });
}
