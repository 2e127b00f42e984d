// The kpm agent's methods for `kpm ssh-agent` (AgentControl in src/agent/api.ts):
//   sshIdentities()                        → SshIdentity[]  (public keys and their rules)
//   sshSign(blobBase64, dataBase64, flags) → signature blob, base64
// Both need the same token as every other agent method.
import type { Session } from '../vault/session.js';
import { SshKeyring, type SshIdentity } from './keyring.js';

const rings = new WeakMap<Session, SshKeyring>();

function ring(session: Session): SshKeyring {
  let r = rings.get(session);
  if (!r) rings.set(session, (r = new SshKeyring(session)));
  return r;
}

export const sshIdentities = (session: Session): SshIdentity[] => ring(session).identities();

export const sshSign = (session: Session, blob: string, data: string, flags: number): string => ring(session).sign(blob, data, flags);
