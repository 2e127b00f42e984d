// Per-invocation context shared by the commands.
import { resolvePaths, type KpmPaths } from '../core/paths.js';

let paths: KpmPaths | undefined;

export function ctx(): { paths: KpmPaths } {
  paths ??= resolvePaths();
  return { paths };
}

export { intOption } from '../core/options.js';
