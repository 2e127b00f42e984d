// The agent's automatic sync and the offline hold (src/agent/syncsched.ts), on a fake clock.
import { describe, expect, it } from 'vitest';
import { SyncScheduler, type Timers } from '../../src/agent/syncsched.js';

/** A clock the test advances by hand. */
function fakeTimers(): Timers & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout: (fn, ms) => {
      timers.set(++seq, { at: now + ms, fn });
      return seq;
    },
    clearTimeout: (h) => void timers.delete(h as number),
    advance(ms) {
      now += ms;
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now) {
          timers.delete(id);
          t.fn();
        }
      }
    },
    pending: () => timers.size,
  };
}

const flush = () => new Promise((r) => setImmediate(r));

function setup() {
  const clock = fakeTimers();
  const pushed: number[] = [];
  let changes = 0;
  let fail: string | undefined;
  const s = new SyncScheduler(async () => {
    pushed.push(changes);
    return fail ? { failed: fail } : {};
  }, clock, 200, () => new Date('2026-01-02T03:04:05Z'));
  return { clock, pushed, s, write: async (offline: boolean) => { await s.beforeWrite(offline); changes++; s.afterWrite(offline); }, setFail: (f?: string) => (fail = f) };
}

describe('agent background sync', () => {
  it('a write schedules one sync; writes in a row go out together', async () => {
    const { clock, pushed, write } = setup();
    await write(false);
    clock.advance(100);
    await write(false);
    clock.advance(199);
    expect(pushed).toEqual([]);
    clock.advance(1);
    await flush();
    expect(pushed).toEqual([2]);
  });

  it('an offline write made while a sync is already scheduled: the scheduled sync does not carry it out', async () => {
    const { clock, pushed, s, write } = setup();
    await write(false); // schedules a sync in 200 ms
    expect(s.isPending).toBe(true);
    await write(true); // offline, before the timer fires
    expect([s.isHeld, s.isPending]).toEqual([true, false]);
    clock.advance(10_000);
    await flush();
    expect(pushed).toEqual([]); // nothing went out on its own
    expect(clock.pending()).toBe(0);
  });

  it('the hold lasts through more offline writes and ends with the next online write (which sends everything) or an explicit sync', async () => {
    const { clock, pushed, s, write } = setup();
    await write(true);
    await write(true);
    clock.advance(1000);
    await flush();
    expect(pushed).toEqual([]);
    await write(false);
    expect(s.isHeld).toBe(false);
    clock.advance(200);
    await flush();
    expect(pushed).toEqual([3]);
    await write(true);
    expect(s.isHeld).toBe(true);
    let explicit = 0;
    await s.explicitSync(async () => explicit++);
    expect([explicit, s.isHeld]).toEqual([1, false]);
  });

  it('an offline write waits for a sync that is already running, so that sync cannot include it', async () => {
    const clock = fakeTimers();
    const log: string[] = [];
    let release!: () => void;
    const s = new SyncScheduler(async () => {
      log.push('sync start');
      await new Promise<void>((r) => (release = r));
      log.push('sync end');
      return {};
    }, clock);
    s.afterWrite(false);
    clock.advance(200);
    await flush();
    expect(log).toEqual(['sync start']);
    const offline = s.beforeWrite(true).then(() => log.push('offline write'));
    await flush();
    expect(log).toEqual(['sync start']);
    release();
    await offline;
    expect(log).toEqual(['sync start', 'sync end', 'offline write']);
  });

  it('a background failure is kept: shown once as a notice, kept for status until a sync succeeds', async () => {
    const { clock, s, write, setFail } = setup();
    setFail('the server sent data that fails verification (tampered?)');
    await write(false);
    clock.advance(200);
    await flush();
    expect(s.error).toEqual({ message: 'the server sent data that fails verification (tampered?)', at: '2026-01-02T03:04:05.000Z' });
    expect(s.takeNotice()).toBe('the background sync failed at 2026-01-02T03:04:05.000Z: the server sent data that fails verification (tampered?)');
    expect(s.takeNotice()).toBeUndefined();
    expect(s.error).toBeDefined();
    setFail(undefined);
    await write(false);
    clock.advance(200);
    await flush();
    expect(s.error).toBeUndefined();
  });
});
