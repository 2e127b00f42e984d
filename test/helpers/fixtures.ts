// Fixture homes, made ONCE per vitest run by the globalSetup (test/global-setup.ts) with the built
// binary, so e2e tests copy a ready KPM_HOME instead of running `kpm init` (about 1 s a run on the
// CI machine, most of it the Argon2id derivation and the strength check) in every test.
//  - `init`: `kpm init --password-stdin` with MASTER (test/helpers/kpm.ts), nothing else.
// A copy is a new home with the SAME profile (same keys, same vault id): fine for one device, but
// two homes that sync with each other, or a test about what `kpm init` writes, run `kpm init` itself.
// Imported by the globalSetup (main process) without vitest's runtime, so nothing here uses it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';

/** The master password of the fixture homes (the same as test/helpers/kpm.ts MASTER). */
export const FIXTURE_MASTER = 'correct horse battery staple';

export type FixtureName = 'init';

/** Makes the fixture homes with the snapshot's bin/kpm; returns their folder. */
export function makeFixtures(snapshot: string): string {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-e2e-fixtures-'));
  const init = join(dir, 'init');
  fs.mkdirSync(init, { mode: 0o700 });
  execFileSync(process.execPath, [join(snapshot, 'bin', 'kpm'), 'init', '--password-stdin'], {
    cwd: init,
    env: { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR, LANG: 'C.UTF-8', NO_COLOR: '1', TERM: 'dumb', KPM_HOME: init, HOME: init },
    input: FIXTURE_MASTER + '\n',
    stdio: ['pipe', 'ignore', 'pipe'],
    timeout: 60_000,
  });
  fs.writeFileSync(join(dir, 'complete'), '');
  return dir;
}

/** Copies fixture `name` (from `fixtures`, the globalSetup's folder) into the empty home `home`. */
export function copyFixture(fixtures: string, name: FixtureName, home: string): void {
  if (!fs.existsSync(join(fixtures, 'complete'))) throw new Error('e2e: no fixture homes; run the tests with vitest.config.ts (its globalSetup makes them)');
  fs.cpSync(join(fixtures, name), home, { recursive: true, preserveTimestamps: true });
}
