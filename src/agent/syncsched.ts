// The agent's automatic sync: shortly after a write (several writes in a row go out together),
// never carrying out a change made offline (README "Sync"):
//
// - A write made with --offline / KPM_OFFLINE=1 puts the agent on *hold*: a sync already scheduled
//   is cancelled, one running is waited for before the offline change is written, and no background
//   sync runs while the hold lasts. Changes made before the offline one wait with it.
// - The hold ends with the next write of a command that is not offline (its sync then sends
//   everything), or an explicit `kpm sync`.
// - The last background sync failure is kept: shown once on the next command, and by `kpm status`
//   until a sync succeeds.
// The timers are injectable, so the tests drive the clock instead of sleeping.

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface SyncOutcome {
  /** the sync failed: why (one line) */
  failed?: string;
}

export interface SyncError {
  message: string;
  at: string;
}

export class SyncScheduler {
  private timer: unknown;
  private running: Promise<void> = Promise.resolve();
  private held = false;
  private lastError: SyncError | undefined;
  private errorShown = true;
  /** how many background syncs ran (tests, `kpm agent status`) */
  runs = 0;

  constructor(
    /** runs one background sync (if the settings want one); never throws */
    private readonly sync: () => Promise<SyncOutcome | undefined>,
    private readonly timers: Timers = realTimers,
    private readonly delayMs = 200,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Before a write is applied. An offline write: hold, cancel what is scheduled, wait for what runs. */
  async beforeWrite(offline: boolean): Promise<void> {
    if (!offline) return;
    this.held = true;
    this.cancel();
    await this.running;
  }

  /** After a write was applied: schedule the sync, unless the write was offline. */
  afterWrite(offline: boolean): void {
    if (offline) {
      this.held = true;
      this.cancel();
      return;
    }
    this.held = false;
    this.cancel();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (this.held) return;
      this.running = this.running.then(() => this.runOnce());
    }, this.delayMs);
  }

  /** An explicit `kpm sync` (through the agent): ends the hold; waits for a background sync that runs. */
  async explicitSync<T>(fn: () => Promise<T>): Promise<T> {
    this.held = false;
    this.cancel();
    const before = this.running;
    let result!: Promise<T>;
    this.running = before.then(() => {
      result = fn();
      return result.then(
        () => this.clearError(),
        () => undefined,
      );
    });
    await this.running;
    return result;
  }

  private async runOnce(): Promise<void> {
    if (this.held) return;
    this.runs++;
    let outcome: SyncOutcome | undefined;
    try {
      outcome = await this.sync();
    } catch (e) {
      outcome = { failed: (e as Error).message };
    }
    if (outcome?.failed) {
      this.lastError = { message: outcome.failed, at: this.now().toISOString() };
      this.errorShown = false;
    } else if (outcome) this.clearError();
  }

  private clearError(): void {
    this.lastError = undefined;
    this.errorShown = true;
  }

  private cancel(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The last background sync failure, if no sync succeeded since. */
  get error(): SyncError | undefined {
    return this.lastError;
  }

  /** The failure to show on the next command, once. */
  takeNotice(): string | undefined {
    if (!this.lastError || this.errorShown) return undefined;
    this.errorShown = true;
    return `the background sync failed at ${this.lastError.at}: ${this.lastError.message}`;
  }

  get isHeld(): boolean {
    return this.held;
  }

  get isPending(): boolean {
    return this.timer !== undefined;
  }

  /** Resolves when no background sync runs (after one that runs now). */
  idle(): Promise<void> {
    return this.running;
  }
}
