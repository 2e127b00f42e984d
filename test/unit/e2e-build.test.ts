// The e2e build happens once, in the vitest globalSetup before any worker starts; workers only
// reuse its snapshot. (A lock file between workers raced: one worker removed it between another's
// EEXIST and its read of the owner, ENOENT at start-up.)
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { BIN } from '../helpers/kpm.js';

describe('e2e build', () => {
  it('is made by the globalSetup and shared with the workers, no build lock among them', () => {
    const snap = inject('kpmE2eSnapshot');
    expect(snap, 'the globalSetup provides the snapshot').toBeTruthy();
    expect(existsSync(join(snap, 'complete'))).toBe(true);
    expect(existsSync(join(snap, 'dist', 'kpm.mjs'))).toBe(true);
    if (!process.env.KPM_E2E_IN_PLACE) expect(BIN).toBe(join(snap, 'bin', 'kpm'));
    expect(readdirSync(tmpdir()).filter((n) => /^kpm-e2e-build-.*\.lock$/.test(n))).toEqual([]);
  });
});
