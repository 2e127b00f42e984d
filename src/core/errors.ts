// Every failure a user can cause maps to one documented exit code (README "Exit codes").

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notFound: 3,
  locked: 4,
  wrongPassword: 5,
  network: 6,
  conflict: 7,
  corrupt: 8,
  forbidden: 9,
  auditFindings: 10,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class KpmError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.error,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export const usageError = (msg: string, hint?: string) => new KpmError(msg, EXIT.usage, hint);
export const notFound = (msg: string, hint?: string) => new KpmError(msg, EXIT.notFound, hint);
export const corrupt = (msg: string) => new KpmError(msg, EXIT.corrupt);
export const wrongPassword = (msg = 'wrong master password') => new KpmError(msg, EXIT.wrongPassword);
export const locked = (msg: string, hint?: string) => new KpmError(msg, EXIT.locked, hint);
