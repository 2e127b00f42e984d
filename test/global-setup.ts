// vitest globalSetup: runs once in the vitest main process before any test worker starts. It builds
// dist/ when the sources are newer and snapshots bin/ + dist/ for the e2e tests (test/helpers/kpm.ts),
// so the workers never race each other over a build (there is no lock between them), makes the
// fixture homes the e2e tests copy instead of running `kpm init` again (test/helpers/fixtures.ts),
// and removes both when the run ends.
import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { buildAndSnapshot } from './helpers/build.js';
import { makeFixtures } from './helpers/fixtures.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kpmE2eSnapshot: string;
    /** a folder of fixture homes (see test/helpers/fixtures.ts) */
    kpmE2eFixtures: string;
  }
}

export default function setup(project: TestProject): () => void {
  const snap = buildAndSnapshot();
  project.provide('kpmE2eSnapshot', snap);
  const fixtures = makeFixtures(snap);
  project.provide('kpmE2eFixtures', fixtures);
  return () => {
    rmSync(snap, { recursive: true, force: true });
    rmSync(fixtures, { recursive: true, force: true });
  };
}
