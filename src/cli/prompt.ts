// Interactive prompts (only ever on a TTY; output to stderr so stdout stays data-only).
import { usageError } from '../vault/errors.js';
import { isInteractive } from './io.js';

const ctx = () => ({ input: process.stdin, output: process.stderr, clearPromptOnDone: false });

function requireTty(what: string): void {
  if (!isInteractive()) throw usageError(`${what} is needed, but there is no terminal to ask on`, 'pass it on stdin with --password-stdin (or the documented flag)');
}

export async function askSecret(message: string): Promise<string> {
  requireTty(message);
  const { password } = await import('@inquirer/prompts');
  return password({ message, mask: '*' }, ctx());
}

export async function askNewSecret(message: string, confirmMessage: string): Promise<string> {
  for (;;) {
    const a = await askSecret(message);
    const b = await askSecret(confirmMessage);
    if (a === b) return a;
    process.stderr.write('The two entries do not match. Try again.\n');
  }
}

export async function askText(message: string, def?: string): Promise<string> {
  requireTty(message);
  const { input } = await import('@inquirer/prompts');
  return input({ message, default: def }, ctx());
}

export async function askConfirm(message: string, def = false): Promise<boolean> {
  requireTty(message);
  const { confirm } = await import('@inquirer/prompts');
  return confirm({ message, default: def }, ctx());
}
