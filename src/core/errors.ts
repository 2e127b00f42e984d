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

/**
 * What went wrong, for code that must tell errors apart (never by their message text, which is for
 * people and may be reworded). Most errors need no kind beyond their exit code.
 *  - `name_taken`: an entry or vault of that name exists already (exit 7)
 *  - `tampered`: what the sync server sent fails its checks (exit 8)
 *  - `no_terminal`: an answer was needed and there is no terminal to ask on (exit 2 or 4)
 */
export const ERROR_KINDS = ['name_taken', 'tampered', 'no_terminal'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];
export const isErrorKind = (s: unknown): s is ErrorKind => typeof s === 'string' && (ERROR_KINDS as readonly string[]).includes(s);

export class KpmError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.error,
    readonly hint?: string,
    readonly kind?: ErrorKind,
  ) {
    super(message);
  }
}

/** Whether `e` is a KpmError of this kind. */
export const isKind = (e: unknown, kind: ErrorKind): e is KpmError => e instanceof KpmError && e.kind === kind;
/** Whether `e` is a server's error answer (src/sync/http.ts ServerError, a KpmError) with this code. */
export const isServerCode = (e: unknown, code: string): boolean => e instanceof KpmError && (e as { code?: string }).code === code;

export const usageError = (msg: string, hint?: string) => new KpmError(msg, EXIT.usage, hint);
export const notFound = (msg: string, hint?: string) => new KpmError(msg, EXIT.notFound, hint);
export const corrupt = (msg: string) => new KpmError(msg, EXIT.corrupt);
/** An entry or vault of that name exists already (exit 7, kind `name_taken`). */
export const nameTaken = (msg: string, hint?: string) => new KpmError(msg, EXIT.conflict, hint, 'name_taken');
export const wrongPassword = (msg = 'wrong master password') => new KpmError(msg, EXIT.wrongPassword);
export const locked = (msg: string, hint?: string) => new KpmError(msg, EXIT.locked, hint);
