// What a call ends in: 'ok', or the exit code of the KpmError it throws (anything else is rethrown).
import { KpmError } from '../../src/core/errors.js';

export function exitCodeOf(fn: () => unknown): number | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof KpmError) return e.exitCode;
    throw e;
  }
}

export async function asyncExitCodeOf(fn: () => Promise<unknown>): Promise<number | 'ok'> {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    if (e instanceof KpmError) return e.exitCode;
    throw e;
  }
}
