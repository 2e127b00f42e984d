// The retention settings (`history.keep`, `trash.days`) for the layers below the CLI (the session
// compacting after writes, sync): read the way src/settings/load.ts reads every setting, and only
// when a compaction is due, so an ordinary write does not read config.json.
import { existsSync } from 'node:fs';
import type { KpmPaths } from '../core/paths.js';
import { toCoreSettings } from './schema.js';

export interface Retention {
  /** versions kept per entry */
  keep: number;
  /** days a deleted entry stays in the trash; 0 = until purged by hand */
  trashDays: number;
}

export async function loadRetention(paths: KpmPaths): Promise<Retention> {
  const { settingsFiles } = await import('./protection.js');
  const f = settingsFiles(paths);
  let values = {};
  if (existsSync(f.config) || existsSync(f.marker)) values = (await (await import('./store.js')).loadState(paths)).values;
  const s = toCoreSettings(values);
  return { keep: s.history.keep, trashDays: s.trash.days };
}
