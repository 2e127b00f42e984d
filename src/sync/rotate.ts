// `kpm vault rotate-key NAME` (docs/SECURITY.md "Revocation"): a vault gets a new random key, so
// whoever held the old one (a revoked service token, a lost device's copy) cannot read what is added
// from now on. Sync cannot replace a vault's log on the server, so a rotation is a new vault (new id,
// new key) holding every record of the old one (every version, the trash, history), re-sealed under
// the new key with the same entry ids and versions, followed by the removal of the old vault (signed
// deletion, sent by the next sync; every device then drops it and takes the new one).
// Crash safety: each step commits on its own, and nothing is removed before the copy is committed.
// The copy is made under a temporary name "NAME (rotating key)"; an interrupted rotation leaves it
// (with every entry) next to the old vault, or alone; running the command on the old vault again
// (after removing the copy) or on the copy (when the old one is gone) finishes the job.
import { Vault } from '../vault/store.js';
import { KpmError, EXIT, usageError } from '../core/errors.js';
import type { Session, VaultInfo } from '../vault/session.js';
import { rememberRemoval } from './removal.js';

export const rotatingName = (name: string): string => `${name} (rotating key)`;
const ROTATING = / \(rotating key\)$/;

export interface RotateResult {
  oldId: string;
  vault: VaultInfo;
  entries: number;
}

export async function rotateVaultKey(s: Session, name: string, ownPassword?: Uint8Array): Promise<RotateResult> {
  let old = s.vault(name); // exit 3 if there is none, 4 if it is locked
  const target = old.name.replace(ROTATING, '');
  if (old.ownPassword) {
    if (!ownPassword) throw usageError(`vault "${old.name}" has its own password: it is needed to protect the new key`, 'pass it with --vault-password-stdin');
    (await Vault.open(old.dir, s.profile, { ownPassword })).close(); // exit 5 if it is not this vault's password
  }
  // an interrupted rotation (the copy was committed before the old vault went): it takes the name
  // back, and is rotated like any vault (one more new key costs nothing)
  if (target !== old.name && !s.listVaults().some((v) => v.name.toLowerCase() === target.toLowerCase())) {
    await s.renameVault(old.id, target);
    old = s.vault(old.id);
  }
  if (s.listVaults().some((v) => v.name.toLowerCase() === rotatingName(target).toLowerCase())) {
    throw new KpmError(`a vault named "${rotatingName(target)}" exists: an earlier rotation was interrupted`, EXIT.conflict, `check it, then \`kpm vault rm "${rotatingName(target)}"\` and run the rotation again`);
  }
  const info = await s.createVault(rotatingName(target), ownPassword);
  const fresh = s.openVault(info.id)!;
  const copied = await fresh.resealFrom(old);
  const oldId = old.id;
  rememberRemoval(s, oldId); // the signed deletion, for the next sync
  s.removeVault(oldId);
  const v = await s.renameVault(info.id, target);
  return { oldId, vault: v, entries: copied };
}
