// Issue 21 (operators): contrib/kpm-server.service is a valid unit with a dedicated user, a state
// directory and the hardening the README names, checked with `systemd-analyze verify` where it exists.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/server.js';

const UNIT = join(ROOT, 'contrib', 'kpm-server.service');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const HAVE = analyze.status === 0;
if (!HAVE) console.warn('systemd-analyze is not available: the `systemd-analyze verify` test of contrib/kpm-server.service is skipped');

describe('contrib/kpm-server.service', () => {
  const text = readFileSync(UNIT, 'utf8');
  const directive = (k: string) => [...text.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]);

  it('runs as a dedicated user with a StateDirectory, hardened (ProtectSystem=strict, NoNewPrivileges, no capabilities)', () => {
    expect(directive('DynamicUser')).toEqual(['yes']);
    expect(directive('User')).toEqual(['kpm-server']);
    expect(directive('StateDirectory')).toEqual(['kpm-server']);
    expect(directive('Environment')).toContain('KPM_SERVER_DATA=/var/lib/kpm-server');
    expect(directive('ProtectSystem')).toEqual(['strict']);
    expect(directive('NoNewPrivileges')).toEqual(['yes']);
    expect(directive('CapabilityBoundingSet')).toEqual(['']);
    expect(directive('ExecStart')[0]).toMatch(/kpm-server serve --trust-proxy 127\.0\.0\.1/);
    // no secret in the unit: they come from the EnvironmentFile
    expect(text.split('\n').filter((l) => !l.startsWith('#')).join('\n')).not.toMatch(/:\/\/[^\s/]*:[^\s@]*@/);
  });

  it.skipIf(!HAVE)('systemd-analyze verify accepts it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kpm-unit-'));
    try {
      // verify checks that ExecStart's program exists: point it at this checkout's bin/kpm-server
      const unit = join(dir, 'kpm-server.service');
      writeFileSync(unit, text.replace('/usr/bin/kpm-server', join(ROOT, 'bin', 'kpm-server')));
      const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      expect(r.stderr.split('\n').filter((l) => l.includes('kpm-server.service')), r.stderr).toEqual([]);
      expect(r.status, r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
