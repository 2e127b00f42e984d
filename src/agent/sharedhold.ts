// The shared vaults the unlocked agent holds (docs/SHARING.md "The agent"): the verified state of
// every shared vault this account can use on this device, so that `kpm get`/`list`/`read`/`run` and
// shell completion answer shared entries on the agent's fast path, with no request to the server and
// no full program, as for own vaults.
//
// - Loaded from the verified copy in share.kpms (the membership chain, the key bundle and every
//   record verified again, src/share/client.ts usable offline) when first needed, and again whenever
//   the file changed (a write by the full program, `kpm share accept`, another command): a read never
//   serves an older state than the file.
// - Synced from the server with the agent's own sync (after writes, on `kpm sync`, on `kpm unlock`),
//   with every check a member makes; the offline hold and sync=manual apply as to own vaults (the
//   agent's SyncScheduler runs both).
// - A sync that finds the server misbehaving (exit 8) is kept: every later read (not one made
//   --offline, which reads the last verified state) is exit 8 with that message until a sync succeeds.
// - `close()` (lock, idle timeout, signal) wipes the vault keys and drops the entries.
import { statSync } from 'node:fs';
import { wipe } from '../crypto/bytes.js';
import { EXIT, KpmError } from '../core/errors.js';
import type { Session } from '../vault/session.js';
import type { OpenedVault, ShareClient } from '../share/client.js';
import { shareStateFile } from '../share/state.js';
import { sharedSyncRow, type SharedSyncRow } from '../share/view.js';

/** What one shared sync brought: a row per vault, and the notes for the user (first-use pins, removals). */
export interface SharedSyncResult {
  rows: SharedSyncRow[];
  notes: string[];
}

export class SharedHold {
  private vaults: OpenedVault[] | null = null;
  /** the share.kpms the vaults were loaded from (inode, size, mtime); undefined: not loaded */
  private stamp: string | undefined;
  private loading: Promise<void> | undefined;
  /** a sync found the server misbehaving (exit 8): kept until a sync succeeds */
  private failure: KpmError | undefined;
  private closed = false;
  /** this agent asked the server whether anything is shared with a device that had no share.kpms */
  private discovered = false;

  /**
   * `session`: the unlocked session (its paths and account key); `connect`: a share client of this
   * account (null: not signed in), by default over the signed-in session (tests give their own).
   */
  constructor(
    private readonly session: Pick<Session, 'paths' | 'profile'>,
    private readonly connect: () => Promise<{ client: ShareClient; close: () => Promise<void> } | null> = () => this.client(),
  ) {}

  private fileStamp(): string {
    try {
      const st = statSync(shareStateFile(this.session.paths));
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return '';
    }
  }

  /** Whether this device has shared vaults at all (share.kpms). */
  get present(): boolean {
    return this.fileStamp() !== '';
  }

  /** The kept failure of the last sync (exit 8), if none succeeded since. */
  get kept(): KpmError | undefined {
    return this.failure;
  }

  /**
   * The shared vaults to serve (null: none on this device, or not signed in), as verified; the kept
   * failure of a sync unless this request runs offline.
   */
  async current(offline: boolean): Promise<OpenedVault[] | null> {
    if (this.closed) throw new KpmError('the agent is locking', EXIT.locked);
    if (this.failure && !offline) throw this.failure;
    for (;;) {
      const st = this.fileStamp();
      if (st === this.stamp) return this.vaults;
      if (!this.loading) {
        this.loading = this.load(st).finally(() => (this.loading = undefined));
      }
      await this.loading;
      if (this.stamp === undefined) return this.vaults; // the load failed: it threw in its own caller
    }
  }

  private async load(st: string): Promise<void> {
    if (st === '') return this.replace(null, '');
    const c = await this.connect();
    if (!c) return this.replace(null, st);
    try {
      const r = await c.client.usable({ online: false });
      this.replace(r.vaults, st);
    } catch (e) {
      this.stamp = undefined;
      throw e;
    } finally {
      await c.close();
    }
  }

  private replace(vaults: OpenedVault[] | null, stamp: string): void {
    const old = this.vaults;
    this.vaults = vaults;
    this.stamp = stamp;
    // the keys are needed only to open the records, which is done
    for (const v of old ?? []) for (const k of v.keys) wipe(k);
    for (const v of vaults ?? []) for (const k of v.keys) wipe(k);
  }

  /** A share client of this account over the signed-in session (null: not signed in). */
  private async client(): Promise<{ client: ShareClient; close: () => Promise<void> } | null> {
    const paths = this.session.paths;
    const h = await import('../sync/http.js');
    const signedIn = h.loadSession(paths);
    if (!signedIn) return null;
    const { ShareClient } = await import('../share/client.js');
    const http = new h.ApiClient(signedIn.server, signedIn.insecure === true);
    const { profile } = this.session;
    const client = new ShareClient(paths, profile.accountKey, profile.profileId, signedIn.account.email, (name, opt = {}) => h.authedCall(paths, http, signedIn, name, opt));
    return {
      client,
      close: async () => {
        client.close();
        await http.close();
      },
    };
  }

  /**
   * Syncs the shared vaults with the server, verified as every member read is; saved to share.kpms
   * and held. `discover`: also on a device without share.kpms (`kpm sync`, `kpm unlock`: the server is
   * asked whether anything was shared with this account, once per agent). Null when there is nothing shared here. A server that
   * cannot be reached is exit 6 (the held state stays); one that fails a check is exit 8, kept.
   */
  async sync(discover: boolean): Promise<SharedSyncResult | null> {
    if (this.closed) return null;
    const existed = this.present;
    // a device without share.kpms asks once per unlock (then the entry commands' not-found asks: src/cli/shared.ts withDiscovery)
    if (!existed && (!discover || this.discovered)) return null;
    if (!existed) this.discovered = true;
    const c = await this.connect();
    if (!c) return null;
    try {
      let r: Awaited<ReturnType<ShareClient['usable']>>;
      try {
        r = await c.client.usable({ online: true });
      } catch (e) {
        if (e instanceof KpmError && e.exitCode === EXIT.corrupt) this.failure = e;
        if (existed || (e instanceof KpmError && e.exitCode === EXIT.corrupt)) throw e;
        return null; // asking a server for shared vaults this device never saw: only tampering is worth failing for
      }
      if (!existed && r.vaults.length === 0) return null; // nothing shared with this account: no share.kpms
      if (r.offline) throw new KpmError('shared vaults: the server could not be reached', EXIT.network);
      if (this.closed) return null;
      c.client.save();
      this.failure = undefined;
      this.replace(r.vaults, this.fileStamp());
      return { rows: r.vaults.map(sharedSyncRow), notes: c.client.notes.splice(0) };
    } finally {
      await c.close();
    }
  }

  /** The background sync's part: never throws; the failure, if any (one line). */
  async syncOutcome(): Promise<{ failed?: string }> {
    try {
      await this.sync(false);
      return {};
    } catch (e) {
      return { failed: `shared vaults: ${(e as Error).message.split('\n')[0]}` };
    }
  }

  /** Lock: the keys wiped, the entries dropped. */
  close(): void {
    this.closed = true;
    this.replace(null, '');
    this.failure = undefined;
  }
}
