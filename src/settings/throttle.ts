// Local throttling of settings-password guesses, persisted in <data>/settings.throttle (0600):
//   {"version":1,"failures":N,"nextAt":EPOCH_MS}
// The first 3 wrong passwords in a row cost nothing extra; after that each try waits 1 s, 2 s,
// 4 s, … up to 60 s after the previous failure. The wait is served by sleeping before the password
// is checked (the user just sees a slower answer). An attempt is counted as a failure BEFORE the
// check runs, under the settings lock, so killing kpm during the check does not escape the count
// and parallel attempts are given successive slots instead of all running at once.
import * as fs from 'node:fs';
import { utf8 } from '../crypto/bytes.js';
import { ensureDir, readFileOrNull, withLock, writeFileAtomic } from '../core/fsutil.js';
import type { KpmPaths } from '../core/paths.js';
import { settingsFiles } from './protection.js';

export const FREE_FAILURES = 3;
export const BASE_DELAY_MS = 1000;
export const MAX_DELAY_MS = 60_000;

export interface ThrottleState {
  failures: number;
  nextAt: number;
}

/** The wait required after `failures` consecutive failures. */
export function delayAfter(failures: number): number {
  if (failures < FREE_FAILURES) return 0;
  return Math.min(BASE_DELAY_MS * 2 ** Math.min(failures - FREE_FAILURES, 30), MAX_DELAY_MS);
}

/** Runs `fn` holding the lock that serialises every change to the settings files. */
export function withSettingsLock<T>(paths: KpmPaths, fn: () => T): T {
  ensureDir(paths.config);
  return withLock(paths.config, fn);
}

export function readThrottle(paths: KpmPaths): ThrottleState {
  const bytes = readFileOrNull(settingsFiles(paths).throttle);
  if (bytes === null) return { failures: 0, nextAt: 0 };
  try {
    const s = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    if (s.version === 1 && Number.isSafeInteger(s.failures) && (s.failures as number) >= 0 && Number.isSafeInteger(s.nextAt)) {
      return { failures: s.failures as number, nextAt: s.nextAt as number };
    }
  } catch {
    /* below */
  }
  // A damaged state file is read as "the free tries are used up", not as a fresh start.
  return { failures: FREE_FAILURES, nextAt: 0 };
}

function writeThrottle(paths: KpmPaths, s: ThrottleState): void {
  ensureDir(paths.data);
  writeFileAtomic(settingsFiles(paths).throttle, utf8.encode(JSON.stringify({ version: 1, failures: s.failures, nextAt: s.nextAt }) + '\n'));
}

export interface Reservation {
  /** how long to wait before checking the password */
  waitMs: number;
  /** consecutive failures before this attempt */
  failuresBefore: number;
}

/** Books the next attempt: counts it as a failure in advance and says how long to wait for it. */
export function reserveAttempt(paths: KpmPaths, now = Date.now()): Reservation {
  return withSettingsLock(paths, () => {
    const s = readThrottle(paths);
    const slot = Math.max(now, s.nextAt);
    const failures = s.failures + 1;
    writeThrottle(paths, { failures, nextAt: slot + delayAfter(failures) });
    return { waitMs: slot - now, failuresBefore: s.failures };
  });
}

/** After a wrong password: the next try waits the full delay counted from now. */
export function recordFailure(paths: KpmPaths, now = Date.now()): ThrottleState {
  return withSettingsLock(paths, () => {
    const s = readThrottle(paths);
    const next = { failures: s.failures, nextAt: Math.max(s.nextAt, now + delayAfter(s.failures)) };
    writeThrottle(paths, next);
    return next;
  });
}

/** After the right password: the count starts again. */
export function recordSuccess(paths: KpmPaths): void {
  withSettingsLock(paths, () => fs.rmSync(settingsFiles(paths).throttle, { force: true }));
}
