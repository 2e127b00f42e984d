// Interactive prompts (only ever on a TTY; output to stderr so stdout stays data-only).
// Ctrl-C at a prompt ends the command quietly with exit 130 (Interrupted). Answers that can be
// wrong (a password, a code) are asked up to 3 times through `withRetries`, as sudo does.
import { EXIT, KpmError, usageError } from '../core/errors.js';
import { colorOn, isInteractive } from './io.js';

/** Where prompts read and write: stdout stays for data. */
export const PROMPT_IO = { input: process.stdin, output: process.stderr, clearPromptOnDone: false };
const ctx = () => PROMPT_IO;

/** Ctrl-C (or Ctrl-D) at a prompt: the command ends without a message, exit 130 as in a shell. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'KpmInterrupted';
  }
}

export const INTERRUPTED_EXIT = 130;

const plain = (s: string) => s;
/** Inquirer's theme without colour when stderr gets none (setting `color`, NO_COLOR, no terminal). */
function theme(): Record<string, unknown> | undefined {
  if (colorOn('stderr')) return undefined;
  return {
    prefix: { idle: '?', done: '✔' },
    style: { answer: plain, message: plain, error: (t: string) => `> ${t}`, defaultAnswer: (t: string) => `(${t})`, help: plain, highlight: plain, key: (t: string) => `<${t}>` },
  };
}

async function prompting<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if ((e as Error)?.name === 'ExitPromptError' || (e as Error)?.name === 'AbortPromptError') throw new Interrupted();
    throw e;
  }
}

/**
 * The one check for "an answer is needed, but there is no terminal to ask on" (kind `no_terminal`).
 * Its exit code is the README's (table "Exit codes"): 4 (locked) when the answer is what unlocks or
 * signs in — the master password of a locked vault, a data vault's or the settings password, and
 * everything an account command asks to sign in (address, account password, verification code,
 * security check); 2 (usage) for any other answer: a new password being chosen, a file's
 * password or passphrase, a name, a confirmation.
 */
export function needTerminal(what: string, hint: string, exit: typeof EXIT.locked | typeof EXIT.usage = EXIT.usage): void {
  if (!isInteractive()) throw noTerminal(what, hint, exit);
}

/** The error of `needTerminal`, for callers that have checked the terminal themselves. */
export const noTerminal = (what: string, hint: string, exit: typeof EXIT.locked | typeof EXIT.usage = EXIT.usage): KpmError =>
  new KpmError(`${what} is needed, but there is no terminal to ask on`, exit, hint, 'no_terminal');

const requireTty = (what: string) => needTerminal(what, 'pass it on stdin with --password-stdin (or the documented flag)');

export async function askSecret(message: string): Promise<string> {
  requireTty(message);
  const { password } = await import('@inquirer/prompts');
  return prompting(() => password({ message, mask: '*', theme: theme() as never }, ctx()));
}

export const MAX_TRIES = 3;

/**
 * Runs `attempt` up to 3 times on a terminal (once off one) while it fails with a KpmError whose
 * exit code is in `retryOn` (default: wrong password, usage): each failure prints its message and
 * how many tries are left; the last one is thrown.
 */
export async function withRetries<T>(attempt: (tryNo: number) => Promise<T>, retryOn: readonly number[] = [EXIT.wrongPassword, EXIT.usage]): Promise<T> {
  const tries = isInteractive() ? MAX_TRIES : 1;
  for (let i = 1; ; i++) {
    try {
      return await attempt(i);
    } catch (e) {
      if (i >= tries || !(e instanceof KpmError) || !retryOn.includes(e.exitCode)) throw e;
      const left = tries - i;
      process.stderr.write(`${e.message}; try again (${left} ${left === 1 ? 'try' : 'tries'} left).\n`);
    }
  }
}

/**
 * A new secret, asked twice. `check` runs on the first entry, before the confirmation is asked
 * (too short, too long, too weak): it throws a usage error to have the secret asked again. A
 * mismatch asks again too; after 3 failed tries the last error ends the command (exit 2).
 */
export async function askNewSecret(message: string, confirmMessage: string, check?: (secret: string) => Promise<void>): Promise<string> {
  return withRetries(async () => {
    const a = await askSecret(message);
    if (check) await check(a);
    const b = await askSecret(confirmMessage);
    if (a !== b) throw usageError('the two entries do not match');
    return a;
  }, [EXIT.usage]);
}

export async function askText(message: string, def?: string): Promise<string> {
  requireTty(message);
  const { input } = await import('@inquirer/prompts');
  return prompting(() => input({ message, default: def, theme: theme() as never }, ctx()));
}

export async function askConfirm(message: string, def = false): Promise<boolean> {
  requireTty(message);
  const { confirm } = await import('@inquirer/prompts');
  return prompting(() => confirm({ message, default: def, theme: theme() as never }, ctx()));
}

export async function askSelect<T>(message: string, choices: { name: string; value: T }[], def?: T): Promise<T> {
  requireTty(message);
  const { select } = await import('@inquirer/prompts');
  return prompting(() => select({ message, choices, default: def, theme: theme() as never }, ctx()));
}

/** A list to pick from by typing a filter (regions). */
export async function askSearch<T>(message: string, choices: { name: string; value: T }[]): Promise<T> {
  requireTty(message);
  const { search } = await import('@inquirer/prompts');
  return prompting(() => search({ message, source: (term: string | undefined) => choices.filter((c) => !term || c.name.toLowerCase().includes(term.toLowerCase())), theme: theme() as never }, ctx()));
}
