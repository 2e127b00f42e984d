// Per-invocation context shared by the commands.
import { resolvePaths, type KpmPaths } from '../core/paths.js';
import { usageError } from '../core/errors.js';

let paths: KpmPaths | undefined;

export function ctx(): { paths: KpmPaths } {
  paths ??= resolvePaths();
  return { paths };
}

export function intOption(flag: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw usageError(`${flag} expects a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw usageError(`${flag} must be between ${min} and ${max}`);
  return n;
}
