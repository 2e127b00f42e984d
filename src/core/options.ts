// Checking numeric command-line options (used by the CLI and by the agent's entry writes).
import { usageError } from './errors.js';

/** A whole number between min and max, or a usage error (exit 2) naming the flag. */
export function intOption(flag: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw usageError(`${flag} expects a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw usageError(`${flag} must be between ${min} and ${max}`);
  return n;
}
