// Output conventions: data on stdout, messages on stderr, one clear line per error, exit codes from
// src/core/errors.ts. Colour is decided for each stream on its own (setting `color`): with `auto`
// only where that stream is a terminal, and never with NO_COLOR or TERM=dumb.
import { Chalk } from 'chalk';
import { decodeUtf8 } from '../crypto/bytes.js';
import { KpmError, EXIT, usageError } from '../core/errors.js';

export const isInteractive = (): boolean => Boolean(process.stdin.isTTY && process.stderr.isTTY);

export type ColorMode = 'auto' | 'always' | 'never';
let colorMode: ColorMode = 'auto';
const chalks = new Map<string, InstanceType<typeof Chalk>>();

/** The `color` setting, applied before a command runs. */
export function setColorMode(mode: ColorMode): void {
  colorMode = mode;
  chalks.clear();
}

/** Whether text written to `stream` is coloured. */
export function colorOn(stream: 'stdout' | 'stderr'): boolean {
  if (colorMode === 'never') return false;
  if (colorMode === 'always') return true;
  return Boolean(process[stream].isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

function colors(stream: 'stdout' | 'stderr'): InstanceType<typeof Chalk> {
  const key = `${stream}:${colorOn(stream)}`;
  let c = chalks.get(key);
  if (!c) chalks.set(key, (c = new Chalk({ level: colorOn(stream) ? 1 : 0 })));
  return c;
}

/** Dimmed text for stdout. */
export const dim = (s: string) => colors('stdout').dim(s);
/** Yellow text for stderr. */
export const yellow = (s: string) => colors('stderr').yellow(s);

import { describeSystemError } from '../core/text.js';
export { plural } from '../core/text.js';

export function out(line: string): void {
  process.stdout.write(line + '\n');
}

export function json(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function info(msg: string): void {
  process.stderr.write(msg + '\n');
}

export function warn(msg: string): void {
  process.stderr.write(yellow('warning: ') + msg + '\n');
}

/** Prints one line for the error (and a hint line if there is one) and returns its exit code. */
export function reportError(e: unknown): number {
  const name = (e as Error)?.name;
  if (name === 'KpmInterrupted' || name === 'ExitPromptError' || name === 'AbortPromptError') {
    process.stderr.write('\n'); // Ctrl-C at a prompt: quietly, as a shell would (exit 130)
    return 130;
  }
  if (e instanceof KpmError) {
    process.stderr.write(`kpm: ${e.message}\n`);
    if (e.hint) process.stderr.write(`hint: ${e.hint}\n`);
    return e.exitCode;
  }
  const err = e as NodeJS.ErrnoException;
  const sys = describeSystemError(err);
  if (sys !== undefined) {
    process.stderr.write(`kpm: ${sys}\n`);
    if (process.env.KPM_DEBUG) process.stderr.write(String(err?.stack) + '\n');
    return EXIT.error;
  }
  process.stderr.write(`kpm: unexpected error: ${err?.message ?? String(e)}\n`);
  if (process.env.KPM_DEBUG) process.stderr.write(String(err?.stack) + '\n');
  return EXIT.error;
}

// stdin is read once per process, and kept on globalThis: the hot paths (dist/fast*.cjs) and the
// full program are separate bundles, and a hot path that steps aside after reading the master
// password hands the same bytes to the full program.
const shared = globalThis as { __kpmStdin?: Promise<Buffer> };
export function readStdinBytes(): Promise<Buffer> {
  shared.__kpmStdin ??= (async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  })();
  return shared.__kpmStdin;
}

/** Reads stdin as strict UTF-8; with `firstLine`, only up to the first newline (for secrets). */
export async function readStdinText(what: string, firstLine = true): Promise<string> {
  if (process.stdin.isTTY) throw usageError(`${what}: expected input on stdin, but stdin is a terminal`);
  const bytes = await readStdinBytes();
  let text: string;
  try {
    text = decodeUtf8(bytes);
  } catch {
    throw usageError(`${what}: input is not valid UTF-8`);
  }
  if (firstLine) {
    const nl = text.indexOf('\n');
    if (nl >= 0) text = text.slice(0, nl);
    text = text.replace(/\r$/, '');
  }
  return text;
}

/** Two secrets from stdin, the current one on line 1 and the new one on line 2 (password changes). */
export async function readOldAndNew(flag: string): Promise<[string, string]> {
  const lines = (await readStdinText(flag, false)).split(/\r?\n/);
  if (lines.length < 2 || !lines[1]) throw usageError(`${flag} expects the current password on line 1 and the new one on line 2`);
  return [lines[0], lines[1]];
}
