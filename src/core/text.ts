// Small text helpers shared by the CLI and the server.

/** "1 minute", "15 minutes"; `pluralWord` for irregular ones ("1 entry", "2 entries"). */
export const plural = (n: number, word: string, pluralWord = `${word}s`): string => `${n} ${n === 1 ? word : pluralWord}`;

/**
 * One line for a failed file-system or network call (an errno error from Node), or undefined for
 * anything else: `not a directory: /x/data (a file is in the way)` instead of Node's
 * "ENOTDIR: not a directory, mkdir '/x/data'".
 */
export function describeSystemError(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException | undefined;
  const code = err?.code;
  if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return undefined;
  const at = err!.path ?? (err as { address?: string }).address ?? '';
  const on = at ? `: ${at}` : '';
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied${on}`;
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space left on device; nothing was saved';
    case 'EROFS':
      return `read-only file system${on}; nothing was saved`;
    case 'ENOTDIR':
      return `not a directory${on} (a file is in the way of a folder)`;
    case 'EEXIST':
      return `already exists${on} (and is not what was expected: a file in the way of a folder?)`;
    case 'EISDIR':
      return `is a directory${on} (a file was expected)`;
    case 'ENOENT':
      return `no such file or folder${on}`;
    case 'ENAMETOOLONG':
      return `file name too long${on}`;
    case 'ELOOP':
      return `too many symbolic links${on}`;
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files';
    case 'EIO':
      return `input/output error${on} (the disk or file system failed)`;
    case 'EADDRINUSE':
      return 'the port is already in use';
    case 'EADDRNOTAVAIL':
      return `the address is not available on this machine${on}`;
    default:
      return `${err!.syscall ? `${err!.syscall} ` : ''}failed${on}: ${code}`;
  }
}
