// Reading import results in the transfer tests.
import { FileFormatError, type ImportedEntry, type ParseResult } from '../../src/transfer/index.js';

/** The imported entry named `name` (an error listing the names there are when there is none). */
export function entryNamed(r: ParseResult, name: string): ImportedEntry {
  const e = r.entries.find((x) => x.payload.name === name);
  if (!e) throw new Error(`no entry ${name} in ${r.entries.map((x) => x.payload.name).join(', ')}`);
  return e;
}

/** The FileFormatError that `fn` throws (anything else, or nothing, fails the test). */
export function fileError(fn: () => unknown): FileFormatError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FileFormatError) return e;
    throw e;
  }
  throw new Error('expected a FileFormatError');
}
