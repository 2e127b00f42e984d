// The backup `kpm login --merge` keeps of this device's own vault (data/merge-backup-<time>/: its
// keyring, vaults and sync state), until the merged entries are on the server. A sync that succeeds
// afterwards removes the backups marked so; one kept for good (a locked data vault or trashed
// entries were not merged) stays until the user removes it.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { KpmPaths } from '../core/paths.js';

export interface MergeBackupInfo {
  v: 1;
  /** remove it at the next successful sync */
  removeWhenSynced: boolean;
  account: string;
  at: string;
}

export const MERGE_BACKUP_PREFIX = 'merge-backup-';

export function mergeBackups(paths: KpmPaths): string[] {
  try {
    return fs.readdirSync(paths.data).filter((n) => n.startsWith(MERGE_BACKUP_PREFIX)).map((n) => join(paths.data, n));
  } catch {
    return [];
  }
}

export function writeBackupInfo(dir: string, info: MergeBackupInfo): void {
  fs.writeFileSync(join(dir, 'merge.json'), JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
}

/** After a successful sync: the merge is on the server, the backups waiting for that go. */
export function removeSyncedMergeBackups(paths: KpmPaths): void {
  for (const dir of mergeBackups(paths)) {
    try {
      const info = JSON.parse(fs.readFileSync(join(dir, 'merge.json'), 'utf8')) as MergeBackupInfo;
      if (info.removeWhenSynced === true) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* no marker or unreadable: kept */
    }
  }
}
