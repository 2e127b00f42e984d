// The device session on disk (session.json in the data folder, 0600): a module of its own, so that
// deciding whether to sync (auto.ts) or `kpm status` does not load the HTTP client.
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { KpmPaths } from '../core/paths.js';
import { ensureDir, readFileOrNull, writeFileAtomic } from '../core/fsutil.js';
import type { TokensT } from '../protocol/schemas.js';

export const sessionFile = (paths: KpmPaths): string => join(paths.data, 'session.json');

export interface StoredSession extends TokensT {
  server: string;
  /** signed in with --insecure (plain http to a non-loopback host, or an untrusted certificate) */
  insecure?: boolean;
}


export function loadSession(paths: KpmPaths): StoredSession | null {
  const bytes = readFileOrNull(sessionFile(paths));
  if (!bytes) return null;
  try {
    const s = JSON.parse(Buffer.from(bytes).toString('utf8')) as StoredSession;
    if (typeof s.server === 'string' && typeof s.refreshToken === 'string' && typeof s.accessToken === 'string' && s.account && s.device) return s;
  } catch {
    /* unreadable: treated as signed out */
  }
  return null;
}

export function saveSession(paths: KpmPaths, s: StoredSession): void {
  ensureDir(paths.data);
  writeFileAtomic(sessionFile(paths), Buffer.from(JSON.stringify(s, null, 2) + '\n'));
}

export function clearSession(paths: KpmPaths): void {
  try {
    unlinkSync(sessionFile(paths));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
