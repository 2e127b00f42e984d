// S2's pattern for `kpm ssh-agent`: when the socket path in the run folder is too long for a Unix
// socket, the SSH agent's folder must not be a name another user could create first in the shared
// temp folder.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/core/paths.js';
import { sshAgentPaths } from '../../src/ssh/server.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function longHome(): string {
  const base = fs.mkdtempSync(join(os.tmpdir(), 'kpm-sshpaths-'));
  made.push(base);
  const home = join(base, 'x'.repeat(60), 'y'.repeat(60));
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  return home;
}

describe('kpm ssh-agent socket folder', () => {
  it('S2 (ssh-agent): a run folder too long for a socket gives a random private folder, named in run/ssh-agent.dir and reused', () => {
    const paths = resolvePaths({ KPM_HOME: longHome() });
    const tmpMode = fs.statSync(os.tmpdir()).mode;
    const a = sshAgentPaths(paths);
    made.push(a.dir);
    expect(fs.statSync(os.tmpdir()).mode).toBe(tmpMode); // the shared temp folder is left as it is
    expect(a.socket.length).toBeLessThanOrEqual(100);
    expect(a.dir.startsWith(join(paths.run, 'ssh'))).toBe(false);
    const st = fs.lstatSync(a.dir);
    expect(st.isDirectory() && !st.isSymbolicLink()).toBe(true);
    expect(st.mode & 0o777).toBe(0o700);
    expect(st.uid).toBe(process.getuid!());
    expect(fs.readFileSync(join(paths.run, 'ssh-agent.dir'), 'utf8')).toBe(a.dir);
    // the same profile finds the same folder again (the path printed for IdentityAgent stays valid)
    expect(sshAgentPaths(paths).dir).toBe(a.dir);
    // two profiles never share one
    const b = sshAgentPaths(resolvePaths({ KPM_HOME: longHome() }));
    made.push(b.dir);
    expect(b.dir).not.toBe(a.dir);
  });

  it('S2 (ssh-agent): a named folder that is no longer private to the user is not reused', () => {
    const paths = resolvePaths({ KPM_HOME: longHome() });
    const a = sshAgentPaths(paths);
    made.push(a.dir);
    fs.chmodSync(a.dir, 0o777); // as if another user could now write into it
    const b = sshAgentPaths(paths);
    made.push(b.dir);
    expect(b.dir).not.toBe(a.dir);
    expect(fs.lstatSync(b.dir).mode & 0o777).toBe(0o700);
  });
});
