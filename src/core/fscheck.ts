// Checks of the folders and files kpm trusts with secrets, with lstat (a symlink is refused, not
// followed). Only node:fs, so that the hot path (`kpm get` through the agent) can load it.
import * as fs from 'node:fs';

/**
 * lstat of `path` (a symlink is refused, not followed): of the expected kind and owned by this
 * user. The stats, or the problem.
 */
function ownedLstat(path: string, isKind: (st: fs.Stats) => boolean, kindText: string): fs.Stats | string {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch (e) {
    return `${path} cannot be checked (${(e as NodeJS.ErrnoException).code})`;
  }
  if (st.isSymbolicLink()) return `${path} is a symbolic link`;
  if (!isKind(st)) return `${path} is not a ${kindText}`;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `${path} belongs to another user (uid ${st.uid})`;
  return st;
}

const modeText = (st: fs.Stats) => (st.mode & 0o777).toString(8).padStart(4, '0');
const hasUids = () => process.getuid?.() !== undefined;

/**
 * A folder kpm trusts with secrets (the agent's folder, the editor's scratch folder): checked
 * with lstat, so a symlink is refused, not followed; it must be a real folder owned by this user
 * with mode 0700. Returns the problem, or null. (No check where there are no uids: Windows.)
 */
export function privateDirProblem(path: string): string | null {
  const st = ownedLstat(path, (x) => x.isDirectory(), 'folder');
  if (typeof st === 'string') return st;
  if (hasUids() && (st.mode & 0o777) !== 0o700) return `${path} has mode ${modeText(st)}, not 0700`;
  return null;
}

/** The same for a file in such a folder: lstat, owned by this user, of the expected kind, no access for group or others. */
export function ownFileProblem(path: string, kind: 'file' | 'socket'): string | null {
  const st = ownedLstat(path, (x) => (kind === 'file' ? x.isFile() : x.isSocket()), kind);
  if (typeof st === 'string') return st;
  if (hasUids() && (st.mode & 0o077) !== 0) return `${path} has mode ${modeText(st)}, readable by others`;
  return null;
}
