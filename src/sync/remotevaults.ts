// Data vaults with their own password that another device created: this device cannot open their
// key without that password, so a sync keeps their envelope (data/sync/remote/<id>.env) and
// `kpm vault list` shows them locked; `kpm vault unlock NAME` opens the key with the password,
// checks the envelope's signature (the account's key), and only then creates the vault here (its records follow with
// the next sync, which runs right away).
import * as fs from 'node:fs';
import { join } from 'node:path';
import { concatBytes, fromBase64, utf8, wipe } from '../crypto/bytes.js';
import { openKey, AuthError } from '../crypto/aead.js';
import { accountPublicKey } from '../crypto/sign.js';
import { AAD, decodeVaultKeyPart } from '../vault/format.js';
import { deriveKek } from '../vault/keyring.js';
import { ensureDir, readFileOrNull, writeFileAtomic } from '../core/fsutil.js';
import { wrongPassword } from '../core/errors.js';
import { openVaultMeta } from '../vault/store.js';
import type { Session, VaultInfo } from '../vault/session.js';
import type { KpmPaths } from '../core/paths.js';
import { parseVaultEnvelope, tampered, verifyVaultEnvelope } from './envelope.js';

const dir = (paths: KpmPaths) => join(paths.data, 'sync', 'remote');

/**
 * Keeps (or updates) the envelope of a data vault known only from the server. Its epoch is pinned
 * like a local vault's: an older envelope (say, from before a password change) or other bytes under
 * the same epoch is a rollback, exit 8. The caller has verified the signature.
 */
export function keepRemoteVault(paths: KpmPaths, id: string, body: string): void {
  const bytes = fromBase64(body);
  if (checkKeptEpoch(paths, id, bytes) === 'same') return;
  ensureDir(dir(paths));
  writeFileAtomic(join(dir(paths), `${id}.env`), bytes);
}

/** Exit 8 if `bytes` rolls back the kept envelope of data vault `id`; 'same' if it is the kept one. */
export function checkKeptEpoch(paths: KpmPaths, id: string, bytes: Uint8Array): 'same' | 'new' {
  const kept = readFileOrNull(join(dir(paths), `${id}.env`));
  if (kept) {
    let keptEpoch = -1;
    try {
      keptEpoch = parseVaultEnvelope(kept).epoch;
    } catch {
      /* unreadable: replaced */
    }
    const epoch = parseVaultEnvelope(bytes).epoch;
    if (epoch < keptEpoch) throw tampered(`data vault ${id} was rolled back to an older key envelope (epoch ${epoch} < ${keptEpoch})`);
    if (epoch === keptEpoch && Buffer.compare(Buffer.from(kept), Buffer.from(bytes)) === 0) return 'same';
    if (epoch === keptEpoch) throw tampered(`data vault ${id} key envelope changed without a new epoch`);
  }
  return 'new';
}

export function forgetRemoteVault(paths: KpmPaths, id: string): void {
  fs.rmSync(join(dir(paths), `${id}.env`), { force: true });
}

function remoteVaults(s: Session): { id: string; name: string; bytes: Uint8Array }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir(s.paths));
  } catch {
    return [];
  }
  const out = [];
  for (const n of names) {
    const m = /^([0-9a-f]{32})\.env$/.exec(n);
    if (!m || fs.existsSync(join(s.paths.vaults, m[1]))) continue;
    const bytes = readFileOrNull(join(dir(s.paths), n));
    if (!bytes) continue;
    try {
      const kp = decodeVaultKeyPart(parseVaultEnvelope(bytes).keyPart);
      out.push({ id: m[1], name: openVaultMeta(kp, s.profile).name, bytes });
    } catch {
      /* unreadable: ignored, the next sync replaces it */
    }
  }
  return out;
}

/** The vaults of this device plus the data vaults known only from the server (locked). */
export function listWithRemote(s: Session): VaultInfo[] {
  return [...s.listVaults(), ...remoteVaults(s).map((r) => ({ id: r.id, name: r.name, ownPassword: true, locked: true, entries: 0 }))];
}

/** Opens a remote-only data vault with its password and creates it here; undefined if there is none by that name. */
export async function unlockRemoteVault(s: Session, name: string, password: string): Promise<VaultInfo | undefined> {
  const r = remoteVaults(s).find((x) => x.name.toLowerCase() === name.toLowerCase() || x.id === name.toLowerCase());
  if (!r) return undefined;
  const env = parseVaultEnvelope(r.bytes);
  const kp = decodeVaultKeyPart(env.keyPart);
  const kek = await deriveKek(utf8.encode(password), kp.ownKdf!);
  let vk: Uint8Array;
  try {
    vk = openKey(kek, kp.wrappedKey, concatBytes(AAD.vaultKey, kp.keyBoundBytes));
  } catch (e) {
    if (e instanceof AuthError) throw wrongPassword(`wrong password for vault "${r.name}"`);
    throw e;
  } finally {
    wipe(kek);
  }
  verifyVaultEnvelope(accountPublicKey(s.profile.accountKey), env);
  const v = await s.adoptVault(kp, vk, openVaultMeta(kp, s.profile));
  forgetRemoteVault(s.paths, r.id);
  return { id: v.id, name: v.name, ownPassword: true, locked: false, entries: 0 };
}
