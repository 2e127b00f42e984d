// vitest globalSetup: runs once in the vitest main process before any test worker starts. It builds
// dist/ when the sources are newer and snapshots bin/ + dist/ for the e2e tests (test/helpers/kpm.ts),
// so the workers never race each other over a build (there is no lock between them), and removes the
// snapshot when the run ends.
import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { buildAndSnapshot } from './helpers/build.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kpmE2eSnapshot: string;
  }
}

export default function setup(project: TestProject): () => void {
  const snap = buildAndSnapshot();
  project.provide('kpmE2eSnapshot', snap);
  return () => rmSync(snap, { recursive: true, force: true });
}
