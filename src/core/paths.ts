// Where kpm keeps its files. KPM_HOME relocates everything (tests, CI, several profiles);
// otherwise the XDG base directories are used.
import { join } from 'node:path';
import envPaths from 'env-paths';

export interface KpmPaths {
  home: string;
  data: string;
  config: string;
  run: string;
  keyring: string;
  vaults: string;
}

export function resolvePaths(env: NodeJS.ProcessEnv = process.env): KpmPaths {
  let data: string, config: string, run: string, home: string;
  if (env.KPM_HOME) {
    home = env.KPM_HOME;
    data = join(home, 'data');
    config = join(home, 'config');
    run = join(home, 'run');
  } else {
    const xdg = envPaths('kpm', { suffix: '' });
    data = xdg.data;
    config = xdg.config;
    run = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'kpm') : join(data, 'run');
    home = data;
  }
  return { home, data, config, run, keyring: join(data, 'keyring.kpm'), vaults: join(data, 'vaults') };
}
