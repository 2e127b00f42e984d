// Settings the core commands read. Stored with `conf` in the config folder; loaded only by the
// commands that need them, so `kpm get` does not pay for it.
import type { KpmPaths } from '../vault/paths.js';

export interface CoreSettings {
  autolock: number; // minutes; 0 = never
  clipboard_clear: number; // seconds; 0 = never
}

export const DEFAULT_SETTINGS: CoreSettings = { autolock: 15, clipboard_clear: 30 };

export async function loadSettings(paths: KpmPaths): Promise<CoreSettings> {
  const { default: Conf } = await import('conf');
  const conf = new Conf<CoreSettings>({
    cwd: paths.config,
    configName: 'config',
    projectName: 'kpm',
    defaults: DEFAULT_SETTINGS,
    configFileMode: 0o600,
    schema: {
      autolock: { type: 'integer', minimum: 0, maximum: 10080 },
      clipboard_clear: { type: 'integer', minimum: 0, maximum: 3600 },
    },
  });
  return { autolock: conf.get('autolock'), clipboard_clear: conf.get('clipboard_clear') };
}
