// Settings the core commands read. Stored with `conf` in the config folder; loaded only by the
// commands that need them, so `kpm get` does not pay for it.
import type { KpmPaths } from '../vault/paths.js';

export interface CoreSettings {
  autolock: number; // minutes; 0 = never
  clipboard_clear: number; // seconds; 0 = never
  audit_min_score: number; // zxcvbn score 0-4; below it a password is weak
  audit_max_age_days: number; // older passwords are reported as old
  hibp_url: string; // Pwned Passwords range API base URL
}

export const DEFAULT_SETTINGS: CoreSettings = {
  autolock: 15,
  clipboard_clear: 30,
  audit_min_score: 3,
  audit_max_age_days: 365,
  hibp_url: 'https://api.pwnedpasswords.com',
};

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
      audit_min_score: { type: 'integer', minimum: 0, maximum: 4 },
      audit_max_age_days: { type: 'integer', minimum: 1, maximum: 36500 },
      hibp_url: { type: 'string', pattern: '^https?://' },
    },
  });
  return { ...DEFAULT_SETTINGS, ...conf.store };
}
