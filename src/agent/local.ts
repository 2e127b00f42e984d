// VaultApi over an in-process Session (no agent: CI, --password-stdin, KPM_MASTER_PASSWORD).
import { fromBase64, toBase64, utf8, wipe } from '../crypto/bytes.js';
import type { KdfParams } from '../crypto/kdf.js';
import type { EntryPayload } from '../vault/entry.js';
import type { Session } from '../vault/session.js';
import type { VaultApi } from './api.js';

/**
 * `offline`: this command runs with --offline / KPM_OFFLINE=1 (in the agent: the request says so),
 * so nothing touches the network, such as the sync after unlocking a data vault from the server.
 */
export function sessionApi(s: Session, viaAgent = false, offline = process.env.KPM_OFFLINE === '1'): VaultApi {
  // Without an agent, a list that decrypted every summary writes the summary index for the next
  // command (src/vault/summaryindex.ts); the agent does that in its own background work.
  const listed = async <T>(items: T): Promise<T> => {
    if (!viaAgent) await s.saveSummaryIndexes();
    return items;
  };
  return {
    viaAgent,
    get: async (q, vault) => s.get(q, vault),
    list: async (filter) => listed(s.list(filter)),
    entries: async (filter) => s.entries(filter),
    listText: async (filter, json) => listed(s.listText(filter, json)),
    add: (vault, payload: EntryPayload) => s.add(vault, payload),
    addMany: (vault, payloads: EntryPayload[]) => s.addMany(vault, payloads),
    update: (vault, id, base, payload) => s.update(vault, id, base, payload),
    remove: (q, vault) => s.remove(q, vault),
    trash: async (vault) => s.trash(vault),
    listVaults: async () => (await import('../sync/remotevaults.js')).listWithRemote(s),
    createVault: (name, pw?: string, params?: KdfParams) => s.createVault(name, pw === undefined ? undefined : utf8.encode(pw), params),
    unlockVault: async (name, pw) => {
      const remote = await (await import('../sync/remotevaults.js')).unlockRemoteVault(s, name, pw);
      if (!remote) {
        const v = await s.unlockVault(name, utf8.encode(pw));
        if (!offline) await (await import('../sync/lockflush.js')).syncAfterUnlock(s); // what waited while it was locked
        return { ...v, entries: s.listVaults().find((x) => x.id === v.id)?.entries ?? v.entries };
      }
      const run = await import('../sync/run.js');
      if (run.isSignedIn(s) && !offline) await run.syncNow(s).catch(() => undefined); // its records; a failure waits for the next sync
      return { ...remote, entries: s.listVaults().find((v) => v.id === remote.id)?.entries ?? 0 };
    },
    lockVault: async (name) => {
      s.vault(name); // exists and is unlocked, or the usual error
      if (!offline) await (await import('../sync/lockflush.js')).syncBeforeLock(s); // only its key can seal its changes for the server
      s.lockVault(name);
    },
    renameVault: (name, newName) => s.renameVault(name, newName),
    changeVaultPassword: (name, oldPw, newPw) => s.changeVaultPassword(name, oldPw === undefined ? undefined : utf8.encode(oldPw), utf8.encode(newPw)),
    removeVault: async (name) => {
      const { rememberRemoval } = await import('../sync/removal.js');
      rememberRemoval(s, name);
      return s.removeVault(name);
    },
    rotateVaultKey: async (name, pw) => (await import('../sync/rotate.js')).rotateVaultKey(s, name, pw === undefined ? undefined : utf8.encode(pw)),
    history: async (q, vault) => s.history(q, vault),
    restore: (q, vault, version, oldName) => s.restore(q, vault, version, oldName),
    purgeTrash: (q, vault) => s.purgeTrash(q, vault),
    purgeHistory: (q, vault) => s.purgeHistory(q, vault),
    sync: async () => (await import('../sync/run.js')).syncNow(s),
    // the agent holds the shared vaults itself (src/agent/server.ts); in-process, the full program reads them
    sharedHeld: async () => false,
    tokenKey: async (vault, tokenId, wrapKey) => (await import('../sync/tokenvault.js')).sealVaultForToken(s, vault, tokenId, wrapKey),
    auditCacheKey: async () => {
      const k = (await import('../audit/cache.js')).auditCacheKey(s.profile.accountKey);
      try {
        return toBase64(k);
      } finally {
        wipe(k);
      }
    },
    shareSecrets: async () => {
      const { accountShareSecrets } = await import('../crypto/keys.js');
      const { accountIdentity } = await import('../share/identity.js');
      const me = accountIdentity(s.profile.accountKey, '');
      const k = accountShareSecrets(s.profile.accountKey);
      try {
        return { profileId: toBase64(s.profile.profileId), signPublic: toBase64(me.signPublic), boxPublic: toBase64(me.boxPublic), secrets: toBase64(k) };
      } finally {
        wipe(k);
      }
    },
    shareDh: async (peer) => {
      // the X25519 seed stays here too: only the shared secret with the given public key goes out
      const { accountIdentity } = await import('../share/identity.js');
      const d = await accountIdentity(s.profile.accountKey, '').dh(fromBase64(peer));
      try {
        return toBase64(d);
      } finally {
        wipe(d);
      }
    },
    shareSign: async (message) => {
      // the signing seed stays here: only this account's sharing messages are signed (S3: it is the key of every signed write)
      const { accountIdentity } = await import('../share/identity.js');
      const { checkSharingMessage } = await import('../share/format.js');
      const me = accountIdentity(s.profile.accountKey, '');
      const body = fromBase64(message);
      checkSharingMessage(body, me);
      return toBase64(await me.signer.sign(body));
    },
    close: async () => s.close(),
  };
}
