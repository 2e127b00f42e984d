// The kpm agent's methods for `kpm ssh-agent` (one small block in src/agent/server.ts calls this):
//   sshIdentities()                      → SshIdentity[]  (public keys and their rules)
//   sshSign(blobBase64, dataBase64, flags) → signature blob, base64
// Both need the same token as every other agent method.
import type { Session } from '../vault/session.js';
import { SshKeyring } from './keyring.js';

export const SSH_AGENT_METHODS: readonly string[] = ['sshIdentities', 'sshSign'];

const rings = new WeakMap<Session, SshKeyring>();

export function sshAgentMethod(session: Session, method: string, params: unknown[]): unknown {
  let ring = rings.get(session);
  if (!ring) rings.set(session, (ring = new SshKeyring(session)));
  if (method === 'sshIdentities') return ring.identities();
  return ring.sign(params[0] as string, params[1] as string, params[2] as number);
}
