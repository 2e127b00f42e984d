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

/**
 * The public key of each account key seen, by the key's array (the agent syncs with one profile for
 * hours: deriving it again for every envelope, manifest and keyring check cost a key derivation and a
 * private-key object each). Public, so keeping it is harmless; a copy goes out.
 */
const publicKeys = new WeakMap<Uint8Array, Uint8Array>();

function publicKeyFor(accountKey: Uint8Array): Uint8Array {
  let pk = publicKeys.get(accountKey);
  if (!pk) {
    const seed = offHeapCopy(accountSubkey(accountKey, 'signing'));
    try {
      pk = publicKeyOf(seed);
    } finally {
      wipe(seed);
    }
    publicKeys.set(accountKey, pk);
  }
  return pk.slice();
}

/** The account's signer; the seed is derived per signature and wiped right after. */
export function accountSigner(accountKey: Uint8Array): Signer {
  const publicKey = publicKeyFor(accountKey);
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
