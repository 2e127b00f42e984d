// Syncing a whole unlocked profile with the signed-in account: the keyring first (a master-password
// change made elsewhere arrives here; one made here goes out), then every vault (src/sync/vaultsync.ts).
// One sync runs at a time per profile (a lock next to the data); all checks of what the server sent
// happen before anything is written, and a failed check exits 8 with this device unchanged.
import { bytesEqual, fromBase64, toBase64, toHex } from '../crypto/bytes.js';
import { sha256 } from '../crypto/keys.js';
import { accountPublicKey, accountSigner } from '../crypto/sign.js';
import { decodeKeyring, WRAP_BY_OWN_PASSWORD } from '../vault/format.js';
import { readFileOrNull, withLock, withVaultLock, writeFileAtomic } from '../core/fsutil.js';
import { KpmError, EXIT } from '../core/errors.js';
import { checkAccountVaultKey, listVaultDirs, openVaultMeta } from '../vault/store.js';
import type { Session } from '../vault/session.js';
import type { SyncStateT } from '../protocol/schemas.js';
import { checkNotWeaker, parseKeyringEnvelope, parseVaultEnvelope, sealKeyringEnvelope, tampered, verifyKeyringEnvelope } from './envelope.js';
import { loadProfileState, saveProfileState, type ProfileSyncState } from './state.js';
import { checkKeptEpoch, forgetRemoteVault, keepRemoteVault } from './remotevaults.js';
import { checkSameProfile } from './profilecheck.js';
import { lockedVaultReport } from './unsent.js';
import { checkVaultEnvelope, StaleError, syncVault, remoteKeyError, withRemoteVaultKey, type SyncTransport, type VaultReport } from './vaultsync.js';
import { basename } from 'node:path';
import type { Retention } from '../settings/retention.js';

export type { SyncTransport, VaultReport } from './vaultsync.js';

export interface SyncReport {
  keyring: 'unchanged' | 'uploaded' | 'updated';
  vaults: VaultReport[];
  warnings: string[];
}

const hashHex = (b: Uint8Array) => toHex(sha256(b));

async function syncKeyring(session: Session, t: SyncTransport, accountId: string, server: { epoch: number; body: string } | null, hasRemoteVaults: boolean, warnings: string[]): Promise<[ProfileSyncState, SyncReport['keyring']]> {
  const { paths, profile } = session;
  const ps = loadProfileState(paths);
  if (ps && ps.accountId !== accountId) throw new KpmError('this vault syncs with another account', EXIT.conflict, 'sign in to that account again (`kpm login`)');
  const local = readFileOrNull(paths.keyring);
  if (!local) throw new KpmError('no keyring on this device', EXIT.notFound);
  if (!server) {
    if (ps && ps.keyringEpoch > 0) throw tampered('the keyring vanished from the server');
    if (hasRemoteVaults) throw tampered('the server has vaults but no keyring');
    const body = sealKeyringEnvelope(accountSigner(profile.accountKey), { epoch: 1, keyring: local });
    await t.putKeyring(0, 1, toBase64(body));
    const s: ProfileSyncState = { v: 1, accountId, keyringEpoch: 1, keyringHash: hashHex(local), removed: {}, gone: ps?.gone ?? {} };
    saveProfileState(paths, s);
    return [s, 'uploaded'];
  }
  const bytes = fromBase64(server.body);
  const parsed = parseKeyringEnvelope(bytes);
  if (parsed.epoch !== server.epoch) throw tampered('the keyring epoch does not match its envelope');
  let inner;
  try {
    inner = decodeKeyring(parsed.keyring);
  } catch (e) {
    if (e instanceof KpmError) throw tampered(`the keyring is malformed (${e.message})`);
    throw e;
  }
  if (!bytesEqual(inner.profileId, profile.profileId)) {
    throw new KpmError('this account already holds another vault (a different master-password profile)', EXIT.conflict, 'use another account, or move this vault aside (another KPM_HOME), `kpm login` and unlock the account\'s vault');
  }
  verifyKeyringEnvelope(accountPublicKey(profile.accountKey), bytes);
  const known = ps?.keyringEpoch ?? 0;
  const s: ProfileSyncState = ps ?? { v: 1, accountId, keyringEpoch: 0, keyringHash: '', removed: {} };
  if (parsed.epoch < known) throw tampered(`the keyring was rolled back (epoch ${parsed.epoch} < ${known})`);
  if (parsed.epoch === known) {
    if (hashHex(parsed.keyring) !== s.keyringHash) throw tampered('the keyring changed without a new epoch');
    if (hashHex(local) === s.keyringHash) return [s, 'unchanged'];
    const body = sealKeyringEnvelope(accountSigner(profile.accountKey), { epoch: known + 1, keyring: local });
    try {
      await t.putKeyring(known, known + 1, toBase64(body));
    } catch (e) {
      if (e instanceof KpmError && e.exitCode === EXIT.conflict) throw new StaleError(e.message);
      throw e;
    }
    Object.assign(s, { keyringEpoch: known + 1, keyringHash: hashHex(local) });
    saveProfileState(paths, s);
    return [s, 'uploaded'];
  }
  checkNotWeaker(inner.kdf.params, decodeKeyring(local).kdf.params);
  if (ps && hashHex(local) !== ps.keyringHash) warnings.push('the master password was also changed on another device; that change wins');
  let status: SyncReport['keyring'] = 'unchanged';
  if (!bytesEqual(parsed.keyring, local)) {
    withLock(paths.data, () => writeFileAtomic(paths.keyring, parsed.keyring));
    status = 'updated';
  }
  Object.assign(s, { keyringEpoch: parsed.epoch, keyringHash: hashHex(parsed.keyring) });
  saveProfileState(paths, s);
  return [s, status];
}

/**
 * Checks every vault envelope the server sent before anything is written or sent (R12): ids and
 * profile, the account's signature, and that an account-wrapped vault key this device lacks opens.
 */
function checkAllEnvelopes(session: Session, vaults: SyncStateT['vaults']): void {
  const pk = accountPublicKey(session.profile.accountKey);
  for (const rv of vaults) {
    const { kp } = checkVaultEnvelope(rv, session.profile.profileId, pk);
    if (session.openVault(rv.id)) continue;
    if (kp.wrapKind === WRAP_BY_OWN_PASSWORD) {
      checkKeptEpoch(session.paths, rv.id, fromBase64(rv.body)); // a data vault known only from the server
      continue;
    }
    withRemoteVaultKey(kp, () => checkAccountVaultKey(session.profile, kp));
  }
}

/**
 * S4: a vault this device removed, or saw deleted, that the server offers again (not deleted) is a
 * rollback: exit 8 before anything is written or sent. The ids are kept for good (profile.json).
 */
function checkRemovedStayRemoved(session: Session, vaults: SyncStateT['vaults']): void {
  const gone = loadProfileState(session.paths)?.gone ?? {};
  for (const rv of vaults) {
    if (gone[rv.id] === undefined) continue;
    if (!parseVaultEnvelope(fromBase64(rv.body)).deleted) throw tampered(`vault ${rv.id} was removed (deletion epoch ${gone[rv.id]}) and the server brought it back`);
  }
}

/** Syncs everything this unlocked session can open with the account `accountId`. */
export async function syncProfile(session: Session, t: SyncTransport, accountId: string, retention?: Retention): Promise<SyncReport> {
  const { paths, profile } = session;
  return withVaultLock(
    paths.data,
    async () => {
      const warnings: string[] = [];
      for (let attempt = 0; ; attempt++) {
        try {
          const st = await t.state();
          checkSameProfile(st, profile.profileId); // another profile's vault: exit 7 (`kpm login --merge`), before its envelopes look tampered
          checkAllEnvelopes(session, st.vaults);
          checkRemovedStayRemoved(session, st.vaults);
          const [ps, keyring] = await syncKeyring(session, t, accountId, st.keyring, st.vaults.length > 0, warnings);
          const remote = new Map(st.vaults.map((v) => [v.id, v]));
          const vaults: VaultReport[] = [];
          const gone = (ps.gone ??= {});
          const markGone = (id: string, epoch: number) => {
            if ((gone[id] ?? -1) >= epoch) return;
            gone[id] = epoch;
            saveProfileState(paths, ps);
          };
          // vaults removed here: send their deletion (signed when `kpm vault rm` ran)
          for (const [id, body] of Object.entries(ps.removed)) {
            const rv = remote.get(id);
            const epoch = parseVaultEnvelope(fromBase64(body)).epoch;
            const env = rv && parseVaultEnvelope(fromBase64(rv.body)); // signature checked above
            if (!rv || env!.deleted) markGone(id, Math.max(epoch, rv?.epoch ?? 0));
            else if (rv.epoch >= epoch) {
              // a change signed by another device of the account that raced the removal: it wins
              warnings.push(`vault ${id} was changed on another device before its removal here reached the server; it stays there`);
            } else if (rv.epoch < epoch - 1) {
              throw tampered(`vault ${id} was rolled back to an older key envelope (epoch ${rv.epoch} < ${epoch - 1}) before its removal reached the server`);
            } else {
              try {
                await t.putVault(id, epoch - 1, epoch, body);
              } catch (e) {
                // retried with a fresh state: the removal stays pending until the server takes it
                if (e instanceof KpmError && e.exitCode === EXIT.conflict) throw new StaleError(e.message);
                throw e;
              }
              markGone(id, epoch);
            }
            delete ps.removed[id];
            saveProfileState(paths, ps);
            remote.delete(id);
          }
          for (const rv of remote.values()) if (gone[rv.id] !== undefined) remote.delete(rv.id); // deleted (checked first)
          for (const dir of listVaultDirs(paths.vaults)) {
            const id = basename(dir);
            const v = session.openVault(id);
            const rv = remote.get(id);
            remote.delete(id);
            if (!v) {
              vaults.push(lockedVaultReport(session, id));
              continue;
            }
            const r = await syncVault(paths, v, rv, t, profile, warnings, retention);
            if (r.removed) {
              session.dropVault(id);
              markGone(id, rv!.epoch);
            }
            vaults.push(r);
          }
          for (const rv of remote.values()) {
            const { env, kp } = checkVaultEnvelope(rv, profile.profileId, null); // signature checked in checkAllEnvelopes
            if (env.deleted) {
              markGone(rv.id, env.epoch);
              forgetRemoteVault(paths, rv.id); // a data vault known only from the server: gone too
              continue;
            }
            if (kp.wrapKind === WRAP_BY_OWN_PASSWORD) {
              keepRemoteVault(paths, rv.id, rv.body); // shown locked; `kpm vault unlock` brings it here
              const name = openVaultMeta(kp, profile).name;
              vaults.push({ id: rv.id, name, pulled: 0, pushed: 0, conflicts: [], renamed: [], skipped: `has its own password: \`kpm vault unlock "${name}"\` brings it to this device` });
              continue;
            }
            const v = await session.adoptAccountVault(kp).catch((e: unknown) => {
              throw remoteKeyError(kp, e);
            });
            try {
              vaults.push({ ...(await syncVault(paths, v, rv, t, profile, warnings, retention)), created: true });
            } catch (e) {
              session.dropVault(rv.id); // a vault that failed its checks leaves nothing behind
              throw e;
            }
          }
          return { keyring, vaults, warnings };
        } catch (e) {
          if (!(e instanceof StaleError) || attempt >= 5) throw e instanceof StaleError ? new KpmError('the account keeps changing on the server; try again', EXIT.conflict) : e;
        }
      }
    },
    300_000,
    'sync',
  );
}
