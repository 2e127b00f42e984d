// The kpm agent's SSH keys (AgentControl in src/agent/api.ts), one keyring per session:
//   sshIdentities()                        → SshIdentity[]  (public keys and their rules)
//   sshSign(blobBase64, dataBase64, flags) → signature blob, base64
// for a `kpm ssh-agent` whose socket the kpm agent could not take over (src/ssh/direct.ts serves
// the others from the same keyring). Both need the same token as every other agent method.
import type { Session } from '../vault/session.js';
import { SshKeyring, type SshIdentity } from './keyring.js';

const rings = new WeakMap<Session, SshKeyring>();

export function sshKeyring(session: Session): SshKeyring {
  let r = rings.get(session);
  if (!r) rings.set(session, (r = new SshKeyring(session)));
  return r;
}

export const sshIdentities = (session: Session): SshIdentity[] => sshKeyring(session).identities();

export const sshSign = (session: Session, blob: string, data: string, flags: number): string => sshKeyring(session).sign(blob, data, flags);

/** A vault locked: the keys of its entries are dropped at once (not at the next request). */
export function pruneSshKeys(session: Session): void {
  rings.get(session)?.prune();
}

/** The agent stops: every parsed key is dropped. */
export function dropSshKeys(session: Session): void {
  rings.get(session)?.clear();
  rings.delete(session);
}
