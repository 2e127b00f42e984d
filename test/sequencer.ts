// File order for vitest (vitest.config.ts `sequence.sequencer`): the slowest files first, so that on
// 2 workers no long file starts last and leaves one core idle at the end (longest-first scheduling).
// vitest's own order needs the results cache of an earlier run, which a clean clone (CI) does not have:
// it then orders by file size, which puts e.g. sync-firsthour (the slowest) 17th. The weights are
// seconds each file took in the last clean-clone full run (.ci/run, 2 workers, 2026-12-01 17:05, 1175 s),
// every file of 12 s or more; a file not listed comes after, largest first.
// The order changes no outcome: every file is independent of the others.
import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SLOW_FILES: Record<string, number> = {
  'test/e2e/sync.test.ts': 142,
  'test/e2e/sync-firsthour.test.ts': 130, // 162 in that run; its devices now unlock once (2026-12-02): 162 x its CPU ratio after/before alone (about 0.8, agents counted at their measured cost)
  'test/e2e/share-entries.test.ts': 110,
  'test/e2e/transfer.test.ts': 99,
  'test/e2e/settings.test.ts': 86,
  'test/e2e/share-types.test.ts': 81, // new: its time alone (2026-12-01, load 3)
  'test/unit/strength-prefilter.test.ts': 60, // new: its time alone (2026-12-02, 46-106 s at load 4-8)
  'test/e2e/settings-effects.test.ts': 70, // 85 in that run; through agents since 2026-12-02: 85 x its CPU ratio after/before alone (about 0.82)
  'test/e2e/tokens.test.ts': 81,
  'test/e2e/token-files.test.ts': 150, // new: 292 s at load 16 (2026-12-02; its halves alone 230 s and 220 s at load 14); a 4.3 MiB file, two servers, four accounts
  'test/e2e/server-instances.test.ts': 66,
  'test/e2e/server-migrate-race.test.ts': 20, // new: its time alone (2026-12-02, load 6)
  'test/e2e/core.test.ts': 63,
  'test/unit/server-throttle.test.ts': 57,
  'test/e2e/agent-protocol.test.ts': 56,
  'test/e2e/first-hour.test.ts': 51,
  'test/e2e/agent-security.test.ts': 51,
  'test/e2e/sso.test.ts': 50,
  'test/e2e/badinput.test.ts': 49,
  'test/e2e/server-flow.test.ts': 49,
  'test/e2e/audit.test.ts': 47,
  'test/e2e/tamper.test.ts': 46,
  'test/e2e/concurrency.test.ts': 46,
  'test/e2e/share.test.ts': 46,
  'test/e2e/share-pins.test.ts': 38, // new: its time alone (2026-12-01, load 3)
  'test/e2e/share-move.test.ts': 50, // new: its time alone (2026-12-02, load 14)
  'test/e2e/share-files.test.ts': 39, // new: its time alone (2026-12-02, load about 3)
  'test/unit/share-files.test.ts': 23, // new: its time alone (2026-12-02, load about 3)
  'test/e2e/share-agent.test.ts': 27, // new: its time alone (2026-12-02, load 3-4)
  'test/e2e/share-pg.test.ts': 45,
  'test/unit/vault-processes.test.ts': 43,
  'test/e2e/types-vaults.test.ts': 39,
  'test/e2e/credential-helpers.test.ts': 33,
  'test/e2e/install.test.ts': 32,
  'test/e2e/ssh-agent.test.ts': 31,
  'test/e2e/crash.test.ts': 31,
  'test/unit/sync-malicious.test.ts': 29,
  'test/e2e/docs.test.ts': 29,
  'test/e2e/web-account.test.ts': 28,
  'test/e2e/scripting.test.ts': 28,
  'test/e2e/tty.test.ts': 28,
  'test/e2e/sync-pg.test.ts': 27,
  'test/unit/share.test.ts': 27,
  'test/e2e/ssh-direct.test.ts': 23,
  'test/unit/vault.test.ts': 22,
  'test/unit/server-sso.test.ts': 18,
  'test/e2e/sso-device.test.ts': 18,
  'test/unit/server-2fa.test.ts': 17,
  'test/e2e/entry-types.test.ts': 15,
  'test/e2e/golden-vaults.test.ts': 14,
  'test/e2e/bitwarden-encrypted.test.ts': 14,
  'test/e2e/secrets-in-memory.test.ts': 13,
  'test/e2e/server-config.test.ts': 13,
  'test/unit/strength.test.ts': 13,
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
