// Build-time entry (scripts/build.mjs): the audit's data files, made from the zxcvbn-ts set-up the
// build bundles: dist/audit-prefilter.bin (src/audit/prefilter-data.ts) and
// dist/audit-dictionary.bin (src/audit/dictindex-file.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DICTIONARY_FILE, encodeIndexedWords } from './dictindex-file.js';
import { encodePrefilterData, PREFILTER_FILE } from './prefilter-data.js';
import { ESTIMATOR_ID, indexedWordsFromLibrary, prefilterDataFromLibrary } from './strength.js';

/**
 * The files by name; none when zxcvbn-ts is not laid out as the prefilter expects (then the audit
 * runs without a prefilter, and its estimator indexes the word lists itself: the dictionary file
 * is read only beside a prefilter file). Throws when ESTIMATOR_ID does not name the installed
 * versions: the estimator id must change with them (cached estimates of another version are never reused).
 */
export async function auditDataFiles(root: string): Promise<Record<string, Buffer>> {
  for (const pkg of ['core', 'language-common', 'language-en']) {
    const v = (JSON.parse(readFileSync(join(root, 'node_modules', '@zxcvbn-ts', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    if (!ESTIMATOR_ID.includes(`${pkg}@${v}`)) throw new Error(`ESTIMATOR_ID (src/audit/strength.ts) does not name @zxcvbn-ts/${pkg}@${v}: update it`);
  }
  const data = await prefilterDataFromLibrary();
  if (!data) return {};
  return { [PREFILTER_FILE]: encodePrefilterData(data), [DICTIONARY_FILE]: encodeIndexedWords(await indexedWordsFromLibrary(), ESTIMATOR_ID) };
}
