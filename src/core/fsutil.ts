// Crash-safe file primitives: private modes, atomic replace, fsync, and an inter-process lock.
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { KpmError, EXIT } from './errors.js';
import { privateDirProblem } from './fscheck.js';

export { privateDirProblem, ownFileProblem } from './fscheck.js';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

export function ensureDir(path: string): void {
  fs.mkdirSync(path, { recursive: true, mode: DIR_MODE });
  fs.chmodSync(path, DIR_MODE);
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A new temporary file beside `path`, for kpm's every temporary write: a random name
 * (`.NAME.<96 random bits>.kpm-tmp`), created exclusively (O_EXCL: an existing file or symlink
 * there is an error, never opened or followed) with mode 0600 whatever the umask. The caller
 * writes, then `commitTemp` (fsync, rename) or `discardTemp`.
 */
export function openTemp(path: string): { fd: number; tmp: string } {
  const dir = dirname(path);
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW ?? 0);
  for (let attempt = 0; ; attempt++) {
    const tmp = join(dir, `.${basename(path).slice(0, 180)}.${randomBytes(12).toString('hex')}.kpm-tmp`);
    try {
      const fd = fs.openSync(tmp, flags, FILE_MODE);
      fs.fchmodSync(fd, FILE_MODE);
      return { fd, tmp };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw e;
    }
  }
}

/** Writes all of `data` to `fd`. */
export function writeAll(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
}

/** Finishes a temporary file from `openTemp`: fsync, close, rename over `path`, fsync the folder. */
export function commitTemp(fd: number, tmp: string, path: string): void {
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    discardTemp(fd, tmp);
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}

/** Closes and removes a temporary file from `openTemp` (after a failure). */
export function discardTemp(fd: number | undefined, tmp: string): void {
  if (fd !== undefined) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  }
  fs.rmSync(tmp, { force: true });
}

/** Writes to a temporary file (see `openTemp`), fsyncs, renames over `path`, fsyncs the folder: old or new, never half. */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const { fd, tmp } = openTemp(path);
  try {
    writeAll(fd, data);
  } catch (e) {
    discardTemp(fd, tmp);
    throw e;
  }
  commitTemp(fd, tmp, path);
}

/** A private scratch folder (0700, random name) inside `parent`, which must itself be private. */
/** A new random 0700 folder inside `parent`, which must be (or becomes) a private folder of this user: never the shared temp folder. */
export function makePrivateTempDir(parent: string, prefix: string): string {
  ensureDir(parent);
  const bad = privateDirProblem(parent);
  if (bad) throw new KpmError(`refusing to use ${parent}: ${bad.replace(`${parent} `, '')}`, EXIT.forbidden);
  const dir = fs.mkdtempSync(join(parent, prefix)); // mkdtemp: a new random name, created 0700 exclusively
  fs.chmodSync(dir, DIR_MODE);
  return dir;
}

export function readFileOrNull(path: string): Uint8Array | null {
  try {
    return fs.readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** A file's text (UTF-8), or null when it does not exist; other errors are thrown. */
export function readTextOrNull(path: string): string | null {
  const bytes = readFileOrNull(path);
  return bytes && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** Whether a process with this pid exists (one of another user counts). */
export function pidAlive(pid: number): boolean {
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
 * Runs `fn` while holding an exclusive lock file in `dir` (used where contention is rare: the
 * keyring and the settings). The lock holds the owner's pid. A lock whose owner died is removed,
 * but only under a second, short-lived "takeover" lock, and only after re-reading that it still
 * names the dead owner, so two processes can never both remove a lock and both go on.
 * Waits up to `timeoutMs`, then fails (exit 7).
 */
export function withLock<T>(dir: string, fn: () => T, timeoutMs = 30_000): T {
  const lockPath = join(dir, 'lock');
  const deadline = Date.now() + timeoutMs;
  for (let delay = 2; !tryLockFile(lockPath, deadline); delay = Math.min(delay * 2, 50)) sleepMs(delay);
  let result: T;
  try {
    result = fn();
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
  // The lock is gone the moment `fn` returns: an async `fn` would run on unlocked. Use withLockAsync.
  if (typeof (result as { then?: unknown } | null)?.then === 'function') throw new Error('withLock: fn returned a promise; use withLockAsync');
  return result;
}

/**
 * `withLock` for an async `fn`: the lock file is held until the promise settles, and waiting for
 * it never blocks the event loop (a holder in this same process can finish meanwhile).
 */
export async function withLockAsync<T>(dir: string, fn: () => T | Promise<T>, timeoutMs = 30_000): Promise<T> {
  const lockPath = join(dir, 'lock');
  const deadline = Date.now() + timeoutMs;
  for (let delay = 2; !tryLockFile(lockPath, deadline); delay = Math.min(delay * 2, 50)) await new Promise((r) => setTimeout(r, delay));
  try {
    return await fn();
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
}

/** One try at the lock file: true when it is ours; a dead owner's lock is taken over; past `deadline`, exit 7. */
function tryLockFile(lockPath: string, deadline: number): boolean {
  for (;;) {
    if (tryCreateLock(lockPath)) return true;
    const owner = readPid(lockPath);
    if ((owner !== undefined && !pidAlive(owner)) || (owner === undefined && lockAgeMs(lockPath) > 5_000)) {
      removeStaleLock(lockPath, owner);
      continue;
    }
    if (Date.now() > deadline) throw new KpmError('the vault is locked by another kpm process; try again', EXIT.conflict);
    return false;
  }
}

/**
 * Takes a lock file that lasts as long as this process (the agent's "one per profile"): created
 * exclusively with our pid; a lock whose owner died (`isOwner` false: by default, no process with
 * that pid) is taken over as in `withLock`. False when a live owner holds it. The caller removes
 * the file when it exits.
 */
export function tryHoldLock(lockPath: string, isOwner: (pid: number) => boolean = pidAlive): boolean {
  for (let i = 0; i < 20; i++) {
    if (tryCreateLock(lockPath)) return true;
    const owner = readPid(lockPath);
    if (owner === process.pid) return true;
    if ((owner !== undefined && !isOwner(owner)) || (owner === undefined && lockAgeMs(lockPath) > 5_000)) {
      removeStaleLock(lockPath, owner);
      continue;
    }
    if (owner !== undefined) return false;
    sleepMs(5); // being written by its owner this instant
  }
  return false;
}

function tryCreateLock(path: string): boolean {
  try {
    const fd = fs.openSync(path, 'wx', FILE_MODE);
    fs.writeSync(fd, String(process.pid));
    fs.closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  }
}

function readPid(path: string): number | undefined {
  const n = Number.parseInt(String(readFileOrNull(path) ?? ''), 10);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function removeStaleLock(lockPath: string, staleOwner: number | undefined): void {
  const takeover = `${lockPath}.takeover`;
  if (!tryCreateLock(takeover)) {
    // Someone else is taking over; a takeover lock left by a crash expires after a few seconds.
    const t = readPid(takeover);
    if ((t === undefined || !pidAlive(t)) && lockAgeMs(takeover) > 3_000) fs.rmSync(takeover, { force: true });
    else sleepMs(2);
    return;
  }
  try {
    if (readPid(lockPath) === staleOwner) fs.rmSync(lockPath, { force: true });
  } finally {
    fs.rmSync(takeover, { force: true });
  }
}

/**
 * The vault writers' lock. On Linux it is an abstract-namespace Unix socket named after the vault
 * folder: binding it is atomic, and the kernel releases it the instant its owner exits or is
 * killed, so a crashed writer never leaves a stale lock behind. Elsewhere: the lock file above.
 */
export async function withVaultLock<T>(dir: string, fn: () => T | Promise<T>, timeoutMs = 30_000, purpose = 'vault'): Promise<T> {
  // Elsewhere: the lock file, held until `fn`'s promise settles.
  if (process.platform !== 'linux') return withLockAsync(purpose === 'vault' ? dir : join(dir, `.${purpose}`), fn, timeoutMs);
  const { createServer } = await import('node:net');
  const { createHash } = await import('node:crypto');
  const name = `\0kpm-${purpose}-lock-${createHash('sha256').update(fs.realpathSync(dir)).digest('hex').slice(0, 40)}`;
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    const server = createServer();
    const got = await new Promise<boolean>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(false) : reject(e)));
      server.listen(name, () => resolve(true));
    });
    if (got) {
      try {
        return await fn();
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    }
    if (Date.now() > deadline) throw new KpmError('the vault is locked by another kpm process; try again', EXIT.conflict);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 20);
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
