// The one KDF the tests derive keys with: Argon2id at kpm's floor (src/crypto/kdf.ts KDF_FLOOR,
// m=19 MiB, t=2, p=1), the cheapest parameters kpm accepts. Tests import it from here, never restate it.
// (The built binary always derives with DEFAULT_KDF: `kpm init` has no test mode, and a keyring below
// the default is re-wrapped with it on the first unlock (R8); e2e tests copy fixture homes instead,
// test/helpers/fixtures.ts.)
import { KDF_FLOOR, type KdfParams } from '../../src/crypto/kdf.js';

export const TEST_KDF: Readonly<KdfParams> = Object.freeze({ ...KDF_FLOOR });
