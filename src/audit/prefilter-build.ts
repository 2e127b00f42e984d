// Build-time entry (scripts/build.mjs): the audit prefilter's data file, dist/audit-prefilter.bin
// (src/audit/prefilter-data.ts), made from the zxcvbn-ts set-up the build bundles.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePrefilterData } from './prefilter-data.js';
import { ESTIMATOR_ID, prefilterDataFromLibrary } from './strength.js';

/**
 * The file's bytes, or undefined when zxcvbn-ts is not laid out as the prefilter expects (then the
 * audit runs without a prefilter). Throws when ESTIMATOR_ID does not name the installed versions:
 * the estimator id must change with them (cached estimates of another version are never reused).
 */
export async function prefilterFile(root: string): Promise<Buffer | undefined> {
  for (const pkg of ['core', 'language-common', 'language-en']) {
    const v = (JSON.parse(readFileSync(join(root, 'node_modules', '@zxcvbn-ts', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    if (!ESTIMATOR_ID.includes(`${pkg}@${v}`)) throw new Error(`ESTIMATOR_ID (src/audit/strength.ts) does not name @zxcvbn-ts/${pkg}@${v}: update it`);
  }
  const data = await prefilterDataFromLibrary();
  return data && encodePrefilterData(data);
}
