// `kpm vault rm` of a synced vault: its deletion must reach the server and the other devices, and
// only the account's signing key can authenticate it (a service token's holder cannot), so the
// deletion envelope is signed now, while the vault's key part is at hand, and sent by the next sync.
// Once sent, the device keeps the vault's id and deletion epoch for good (profile.json "gone").
import { toBase64 } from '../crypto/bytes.js';
import type { Session } from '../vault/session.js';
import { loadProfileState, loadVaultState, saveProfileState } from './state.js';
import { envelopeOf } from './vaultsync.js';

export function rememberRemoval(s: Session, name: string): void {
  const info = s.listVaults().find((v) => v.name.toLowerCase() === name.toLowerCase() || v.id === name.toLowerCase());
  const v = info && s.openVault(info.id);
  const ps = loadProfileState(s.paths);
  if (!v || !ps) return;
  const vs = loadVaultState(v.dir);
  if (!vs || vs.epoch === 0) return;
  ps.removed[v.id] = toBase64(envelopeOf(v, vs.epoch + 1, true));
  saveProfileState(s.paths, ps);
}
