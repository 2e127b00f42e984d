// The KDF floor and cap are defined once (src/crypto/kdf.ts); the docs and `kpm init`'s options
// state the same numbers.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { DEFAULT_KDF, KDF_CAP, KDF_FLOOR } from '../../src/crypto/kdf.js';

const read = (f: string) => fs.readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');

describe('KDF bounds', () => {
  it('docs/FORMAT.md and docs/SETTINGS.md state the floor and cap of src/crypto/kdf.ts', () => {
    expect(read('docs/FORMAT.md')).toContain(`floor ${KDF_FLOOR.m}, cap ${KDF_CAP.m / (1024 * 1024)} GiB`);
    expect(read('docs/SETTINGS.md')).toContain(`never below m=${KDF_FLOOR.m}, t=${KDF_FLOOR.t}, p=${KDF_FLOOR.p}`);
    expect(read('docs/SETTINGS.md')).toContain(`$argon2id$v=19$m=${DEFAULT_KDF.m},t=${DEFAULT_KDF.t},p=${DEFAULT_KDF.p}$`);
  });

  it('kpm init --kdf-* take their ranges from the floor and cap', () => {
    const src = read('src/cli/commands/profile.ts');
    // no range restated as a number literal next to the options
    expect(src).not.toMatch(/intOption\('--kdf-[a-z]+', o\.kdf[A-Za-z]+, \d+, \d+\)/);
    expect(src).not.toMatch(/'Argon2id [^']*\(\d+-\d+/);
  });
});
