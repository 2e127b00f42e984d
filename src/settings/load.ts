// Settings the commands read. Stored in config.json in the config folder and checked on every read
// (src/settings/: schema, protection); loaded only by the commands that need them. A file that is invalid or fails verification ends
// the command with exit 8.
import { existsSync } from 'node:fs';
import type { KpmPaths } from '../core/paths.js';
import { DEFAULT_SETTINGS, toCoreSettings, type CoreSettings } from './schema.js';

export type { CoreSettings };
export { DEFAULT_SETTINGS };

export async function loadSettings(paths: KpmPaths): Promise<CoreSettings> {
  // Reading settings never creates anything: with no config.json and no protection marker, the
  // defaults (a machine with only KPM_TOKEN has no KPM_HOME at all).
  const { settingsFiles } = await import('./protection.js');
  const f = settingsFiles(paths);
  if (!existsSync(f.config) && !existsSync(f.marker)) return toCoreSettings({});
  const { loadState } = await import('./store.js');
  return toCoreSettings((await loadState(paths)).values);
}
