// S6: every temporary file kpm writes has a random name, is created exclusively (no symlink
// followed, no file reused) with mode 0600, and is fsynced and renamed into place.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTemp, writeFileAtomic, privateDirProblem, ownFileProblem, makePrivateTempDir } from '../../src/core/fsutil.js';

const base = fs.mkdtempSync(join(os.tmpdir(), 'kpm-fsutil-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe('S6: temporary files', () => {
  it('S6: writeFileAtomic never writes through FILE.<pid>.tmp prepared by someone else (symlink or file)', () => {
    const dir = fs.mkdtempSync(join(base, 'shared-'));
    fs.chmodSync(dir, 0o777);
    const trap = join(base, 'trap');
    fs.writeFileSync(trap, '');
    const target = join(dir, 'secret.txt');
    fs.symlinkSync(trap, `${target}.${process.pid}.tmp`); // the old, predictable name
    umask(0o000, () => writeFileAtomic(target, Buffer.from('the secret')));
    expect(fs.readFileSync(trap, 'utf8')).toBe('');
    const st = fs.lstatSync(target);
    expect([st.isFile(), st.mode & 0o777]).toEqual([true, 0o600]);
    expect(fs.readFileSync(target, 'utf8')).toBe('the secret');
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.kpm-tmp'))).toEqual([]);
  });

  it('S6: temporary names are random and created exclusively with mode 0600 whatever the umask', () => {
    const dir = fs.mkdtempSync(join(base, 'names-'));
    const names = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const { fd, tmp } = umask(0o000, () => openTemp(join(dir, 'f')));
      expect(fs.fstatSync(fd).mode & 0o777).toBe(0o600);
      fs.closeSync(fd);
      names.add(tmp);
    }
    expect(names.size).toBe(50);
    for (const n of names) expect(n).toMatch(/\/\.f\.[0-9a-f]{24}\.kpm-tmp$/);
  });

  it('private folder checks: lstat, owner, mode 0700; symlinks refused', () => {
    const d = makePrivateTempDir(join(base, 'run'), 'edit-');
    expect(privateDirProblem(d)).toBeNull();
    fs.chmodSync(d, 0o755);
    expect(privateDirProblem(d)).toMatch(/mode 0755/);
    fs.chmodSync(d, 0o700);
    const link = join(base, 'link');
    fs.symlinkSync(d, link);
    expect(privateDirProblem(link)).toMatch(/symbolic link/);
    const f = join(d, 'token');
    fs.writeFileSync(f, 'x', { mode: 0o644 });
    expect(ownFileProblem(f, 'file')).toMatch(/mode 0644/);
    expect(ownFileProblem(f, 'socket')).toMatch(/not a socket/);
    if (process.getuid?.() === 0) {
      fs.chmodSync(f, 0o600);
      fs.chownSync(f, 65534, 65534);
      expect(ownFileProblem(f, 'file')).toMatch(/another user \(uid 65534\)/);
    }
  });
});

function umask<T>(mask: number, fn: () => T): T {
  const old = process.umask(mask);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}
