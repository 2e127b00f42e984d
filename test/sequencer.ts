// File order for vitest (vitest.config.ts `sequence.sequencer`): the slowest files first, so that on
// 2 workers no long file starts last and leaves one core idle at the end (longest-first scheduling).
// vitest's own order needs the results cache of an earlier run, which a clean clone (CI) does not have:
// it then orders by file size, which would put long files late. The weights are the seconds each
// file took in the last clean-clone full run (.ci/run, 2 workers, 2026-12-02 11:35 on c8e735e, 909 s,
// the machine otherwise quiet), every file of 6 s or more (share-entries: 83 s with its share-rotate
// test, measured alone); a file not listed comes after, largest first.
// The order changes no outcome: every file is independent of the others.
import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SLOW_FILES: Record<string, number> = {
  'test/e2e/share-entries.test.ts': 83,
  'test/e2e/sync.test.ts': 76,
  'test/e2e/server-flow.test.ts': 73,
  'test/e2e/transfer.test.ts': 70,
  'test/e2e/web-account.test.ts': 63,
  'test/e2e/share-pg.test.ts': 62,
  'test/e2e/token-files.test.ts': 60,
  'test/unit/server-throttle.test.ts': 54,
  'test/e2e/sync-firsthour.test.ts': 48,
  'test/e2e/core.test.ts': 44,
  'test/unit/share-files.test.ts': 43,
  'test/e2e/agent-protocol.test.ts': 42,
  'test/e2e/first-hour.test.ts': 41,
  'test/e2e/tokens.test.ts': 41,
  'test/e2e/share-files.test.ts': 40,
  'test/e2e/settings.test.ts': 39,
  'test/e2e/settings-effects.test.ts': 38,
  'test/e2e/share-types.test.ts': 38,
  'test/e2e/server-instances.test.ts': 35,
  'test/e2e/share-move.test.ts': 33,
  'test/e2e/fastget.test.ts': 32,
  'test/e2e/share.test.ts': 28,
  'test/e2e/share-purge.test.ts': 28,
  'test/unit/share-purge.test.ts': 26,
  'test/unit/vault-processes.test.ts': 23,
  'test/e2e/install.test.ts': 23,
  'test/e2e/audit.test.ts': 22,
  'test/e2e/sso.test.ts': 22,
  'test/e2e/share-agent.test.ts': 21,
  'test/unit/share.test.ts': 20,
  'test/e2e/concurrency.test.ts': 19,
  'test/e2e/share-pins.test.ts': 19,
  'test/e2e/scripting.test.ts': 19,
  'test/e2e/types-vaults.test.ts': 18,
  'test/e2e/tamper.test.ts': 17,
  'test/e2e/ssh-agent.test.ts': 17,
  'test/unit/sync-malicious.test.ts': 16,
  'test/e2e/docs.test.ts': 16,
  'test/e2e/agent-security.test.ts': 16,
  'test/e2e/badinput.test.ts': 15,
  'test/e2e/credential-helpers.test.ts': 15,
  'test/e2e/crash.test.ts': 13,
  'test/unit/vault.test.ts': 13,
  'test/e2e/ssh-direct.test.ts': 12,
  'test/e2e/tty.test.ts': 12,
  'test/e2e/sync-pg.test.ts': 11,
  'test/unit/server-sso.test.ts': 11,
  'test/e2e/server-migrate-race.test.ts': 10,
  'test/e2e/sso-device.test.ts': 10,
  'test/unit/server-2fa.test.ts': 10,
  'test/unit/server-accounts.test.ts': 9,
  'test/unit/share-pins.test.ts': 9,
  'test/unit/share-token.test.ts': 8,
  'test/unit/strength-prefilter.test.ts': 8,
  'test/unit/sync-engine.test.ts': 8,
  'test/e2e/secrets-in-memory.test.ts': 7,
  'test/e2e/entry-types.test.ts': 7,
  'test/e2e/server-config.test.ts': 7,
  'test/unit/token-vault.test.ts': 6,
  'test/unit/server-web.test.ts': 6,
};

export default class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const weight = (f: TestSpecification) => {
      const rel = relative(root, f.moduleId).split('\\').join('/');
      if (rel in SLOW_FILES) return [1, SLOW_FILES[rel]] as const;
      let size = 0;
      try {
        size = statSync(f.moduleId).size;
      } catch {
        /* gone: last */
      }
      return [0, size] as const;
    };
    const w = new Map(files.map((f) => [f, weight(f)]));
    return [...files].sort((a, b) => {
      const [ka, va] = w.get(a)!;
      const [kb, vb] = w.get(b)!;
      return kb - ka || vb - va || a.moduleId.localeCompare(b.moduleId);
    });
  }
}
