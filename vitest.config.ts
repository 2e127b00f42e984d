import { defineConfig } from 'vitest/config';
import SlowestFirst from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // builds dist/ and snapshots it once, before the workers start (no build lock between workers)
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // the slowest files first (test/sequencer.ts): a clean clone has no results cache to order by
    sequence: { sequencer: SlowestFirst },
    // forks, not threads: the e2e files spend their time in child processes, and the native modules
    // (argon2, better-sqlite3) and process-wide state (env, cwd, signals) stay per file
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
