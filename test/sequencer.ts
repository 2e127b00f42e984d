// File order for vitest (vitest.config.ts `sequence.sequencer`): the slowest files first, so that on
// 2 workers no long file starts last and leaves one core idle at the end (longest-first scheduling).
// vitest's own order needs the results cache of an earlier run, which a clean clone (CI) does not have:
// it then orders by file size, which puts e.g. sync-firsthour (the slowest) 17th. The weights are
// measured seconds (one file alone, 2026-12, load 5-15); a file not listed comes after, largest first.
// The order changes no outcome: every file is independent of the others.
import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SLOW_FILES: Record<string, number> = {
  'test/e2e/sync-firsthour.test.ts': 157,
  'test/e2e/sync.test.ts': 106,
  'test/e2e/settings.test.ts': 98,
  'test/e2e/settings-effects.test.ts': 96,
  'test/e2e/transfer.test.ts': 82,
  'test/e2e/server-instances.test.ts': 79,
  'test/e2e/first-hour.test.ts': 76,
  'test/e2e/server-flow.test.ts': 69,
  'test/e2e/share.test.ts': 67,
  'test/e2e/share-pg.test.ts': 65,
  'test/unit/server-throttle.test.ts': 65,
  'test/e2e/agent-protocol.test.ts': 60,
  'test/e2e/core.test.ts': 60,
  'test/e2e/audit.test.ts': 58,
  'test/e2e/tokens.test.ts': 58,
  'test/unit/vault-processes.test.ts': 51,
  'test/e2e/tamper.test.ts': 49,
  'test/e2e/badinput.test.ts': 46,
  'test/e2e/sso.test.ts': 43,
  'test/e2e/concurrency.test.ts': 42,
  'test/e2e/agent-security.test.ts': 40,
  'test/e2e/types-vaults.test.ts': 39,
  'test/e2e/sync-pg.test.ts': 34,
  'test/e2e/docs.test.ts': 34,
  'test/e2e/ssh-agent.test.ts': 33,
  'test/e2e/credential-helpers.test.ts': 33,
  'test/e2e/tty.test.ts': 33,
  'test/e2e/scripting.test.ts': 32,
  'test/e2e/entry-types.test.ts': 32,
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
