// Crash-safe file primitives: private modes, atomic replace, fsync, and an inter-process lock.
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { KpmError, EXIT } from './errors.js';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

export function ensureDir(path: string): void {
  fs.mkdirSync(path, { recursive: true, mode: DIR_MODE });
  fs.chmodSync(path, DIR_MODE);
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes to a temporary file, fsyncs, renames over `path`, fsyncs the folder: old or new, never half. */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', FILE_MODE);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
  fsyncDir(dirname(path));
}

export function readFileOrNull(path: string): Uint8Array | null {
  try {
    return fs.readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockAgeMs(path: string): number {
  try {
    return Date.now() - fs.statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

const sleepBuffer = new Int32Array(new SharedArrayBuffer(4));
export function sleepMs(ms: number): void {
  Atomics.wait(sleepBuffer, 0, 0, ms);
}

/**
 * Runs `fn` while holding an exclusive lock file in `dir`. The lock holds the owner's pid; a lock
 * whose owner died (SIGKILL, crash) is taken over. Waits up to `timeoutMs`, then fails (exit 7).
 */
export function withLock<T>(dir: string, fn: () => T, timeoutMs = 30_000): T {
  const lockPath = join(dir, 'lock');
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, 'wx', FILE_MODE);
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number.parseInt(String(readFileOrNull(lockPath) ?? ''), 10);
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
        // Stale: its owner is gone. Remove it only if it is still the same stale lock.
        const again = Number.parseInt(String(readFileOrNull(lockPath) ?? ''), 10);
        if (again === owner) fs.rmSync(lockPath, { force: true });
        continue;
      }
      if (!Number.isInteger(owner) && lockAgeMs(lockPath) > 5_000) {
        // Created but never given a pid: its creator died between the two steps.
        fs.rmSync(lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new KpmError('the vault is locked by another kpm process; try again', EXIT.conflict);
      sleepMs(delay);
      delay = Math.min(delay * 2, 50);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
}

/** Reads bytes [start, end) of a file; fails as corrupt if the file is shorter. */
export function readRange(path: string, start: number, end: number): Uint8Array {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new KpmError(`vault file ${path} is missing`, EXIT.corrupt);
    throw e;
  }
  try {
    const buf = Buffer.allocUnsafe(end - start);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) throw new KpmError('vault log is truncated or corrupt', EXIT.corrupt);
      got += n;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}
