// The account's signing key pair (docs/SECURITY.md "Signed writes"): Ed25519, its seed derived from
// the account key, so every device of the account holds it and nothing else does (a service token
// gets only the public key). Every write a device puts on the sync server is signed with it; every
// reader verifies against the public key it pinned.
import { wipe } from './bytes.js';
import { accountSubkey } from './keys.js';
import { offHeapCopy } from './aead.js';
import { publicKeyOf, signBytes, verifyBytes, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './ed25519.js';

export { PUBLIC_KEY_BYTES, SIGNATURE_BYTES };

export interface Signer {
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** The account's signer; the seed is derived per signature and wiped right after. */
export function accountSigner(accountKey: Uint8Array): Signer {
  const seed = offHeapCopy(accountSubkey(accountKey, 'signing'));
  const publicKey = publicKeyOf(seed);
  wipe(seed);
  return {
    publicKey,
    sign(message) {
      const s = offHeapCopy(accountSubkey(accountKey, 'signing'));
      try {
        return signBytes(s, message);
      } finally {
        wipe(s);
      }
    },
  };
}

/** The account's public signing key (what a device pins, and hands to a service token). */
export const accountPublicKey = (accountKey: Uint8Array): Uint8Array => accountSigner(accountKey).publicKey;

export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verifyBytes(publicKey, message, signature);
}
