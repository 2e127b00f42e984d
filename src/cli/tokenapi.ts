// KPM_TOKEN: a read-only VaultApi over a service token (README "Service tokens"). No local vault is
// needed: the token's vault is fetched, verified and decrypted in memory; what was verified is kept
// in the encrypted token cache (src/sync/tokencache.ts), so the next command pulls only what is new.
// Every write (or another vault) is refused with exit 9.
import { existsSync } from 'node:fs';
import type { VaultApi } from '../agent/api.js';
import type { PullResultT, TokenVaultT } from '../protocol/schemas.js';
import { KpmError, EXIT, usageError } from '../core/errors.js';
import { renderList } from '../vault/listing.js';
import { ctx } from './context.js';
import type { TokenVault } from '../sync/tokenvault.js';
import type { ShareTokenVault } from '../share/tokenvault.js';
import type { SharePullT, TokenShareT } from '../protocol/share.js';
import type { TokenFiles } from './tokenfiles.js';

/** The token's VaultApi, and the files of its vault (`kpm doc list|get`, `kpm attachments`: src/cli/tokenfiles.ts). */
export type TokenApi = VaultApi & { files(): Promise<TokenFiles> };

/** True when this command runs with a service token (env only: secrets never go in argv). */
export const tokenMode = (): boolean => (process.env.KPM_TOKEN ?? '') !== '';

export const tokenForbidden = (what: string) =>
  new KpmError(`a service token (KPM_TOKEN) only reads its vault: ${what} is not allowed`, EXIT.forbidden, 'unset KPM_TOKEN to use the vault of this device');

/** KPM_SERVER, else the `server` setting (read only if the settings file exists: nothing is created). */
async function serverUrl(): Promise<string> {
  const env = process.env.KPM_SERVER;
  if (env) return env;
  const { paths } = ctx();
  const { settingsFiles } = await import('../settings/protection.js');
  if (existsSync(settingsFiles(paths).config)) {
    const { loadSettings } = await import('../settings/load.js');
    const s = (await loadSettings(paths)) as unknown as Record<string, unknown>;
    if (typeof s.server === 'string' && s.server !== '') return s.server;
  }
  throw usageError('KPM_TOKEN is set but no kpm server is', 'set KPM_SERVER=https://your-kpm-server');
}

export async function tokenApi(): Promise<TokenApi> {
  const tv = await import('../sync/tokenvault.js');
  const { parseServiceToken, tokenKeys, tokenAuthHeader } = tv;
  const { ApiClient, ServerError } = await import('../sync/http.js');
  const token = parseServiceToken(process.env.KPM_TOKEN ?? '');
  const { TokenCache, tokenCacheRoot } = await import('../sync/tokencache.js');
  const root = tokenCacheRoot();
  const cache = root === null ? undefined : new TokenCache(root, token);
  let loaded: Promise<TokenVault | ShareTokenVault> | undefined;
  let client: InstanceType<typeof ApiClient> | undefined;
  let authorization = '';
  type Route = 'tokenVault' | 'tokenPull' | 'tokenShare' | 'tokenSharePull' | 'tokenBlobGet' | 'tokenShareBlobGet';
  const call = async <T>(name: Route, body?: unknown): Promise<T> => {
    try {
      return await client!.call<T>(name, { body, authorization });
    } catch (e) {
      if (!(e instanceof ServerError)) throw e;
      if (e.code === 'unauthorized') cache?.remove(); // a dead token's cache serves no one
      if (e.code === 'unauthorized') throw new KpmError('the service token is revoked or expired', EXIT.locked, 'create a new one with `kpm token create`');
      // a blob the server lacks: src/cli/tokenfiles.ts says so (exit 8: the verified entry names it)
      // (a kpm-server older than the token blob routes answers not_found too, so it reads as a missing file: exit 8)
      if (e.code === 'not_found' && (name === 'tokenBlobGet' || name === 'tokenShareBlobGet')) throw e;
      if (e.code === 'not_found') throw new KpmError(`the vault of this service token is gone from the server (${e.message})`, EXIT.notFound);
      if (e.code === 'forbidden' && token.shared) cache?.remove();
      if (e.code === 'forbidden' && token.shared) throw new KpmError(`the server no longer serves this service token's shared vault: ${e.message}`, EXIT.forbidden, 'a member must create a new token (`kpm token create --vault …`)');
      throw e;
    }
  };
  const vault = () =>
    (loaded ??= (async () => {
      client = new ApiClient(await serverUrl()); // https, or http to loopback (R20); a private CA: NODE_EXTRA_CA_CERTS
      const { authKey } = tokenKeys(token);
      authorization = tokenAuthHeader(token.id, authKey);
      authKey.fill(0);
      if (token.shared) {
        // a shared vault (docs/SHARING.md "Service tokens on shared vaults"): verified as a member does, the token cache too
        const { ShareTokenVault } = await import('../share/tokenvault.js');
        const { wrapKey } = tokenKeys(token);
        try {
          const v = await ShareTokenVault.load({ vault: () => call<TokenShareT>('tokenShare'), pull: (after) => call<SharePullT>('tokenSharePull', { after }) }, token.id, wrapKey, cache);
          for (const w of v.warnings) process.stderr.write(`warning: ${w}\n`);
          return v;
        } finally {
          wrapKey.fill(0);
        }
      }
      const v = await tv.TokenVault.load({ vault: () => call<TokenVaultT>('tokenVault'), pull: (after) => call<PullResultT>('tokenPull', { after }) }, token, cache);
      for (const w of v.warnings) process.stderr.write(`warning: ${w}\n`);
      return v;
    })());
  const refuse = (what: string) => async (): Promise<never> => {
    throw tokenForbidden(what);
  };
  return {
    viaAgent: false,
    files: async () => {
      const v = await vault();
      const { TokenFiles } = await import('./tokenfiles.js');
      const route = token.shared ? 'tokenShareBlobGet' : 'tokenBlobGet';
      return new TokenFiles(v, (blob, index) => call<{ data: string; last: boolean }>(route, { blob, index }));
    },
    get: async (q, v) => (await vault()).get(q, v),
    list: async (f) => (await vault()).list(f),
    listText: async (f, json) => renderList((await vault()).list(f), json),
    entries: async (f) => (await vault()).entries(f),
    listVaults: async () => {
      const tv = await vault();
      return [{ id: tv.id, name: tv.name, ownPassword: false, locked: false, entries: tv.list().length }];
    },
    add: refuse('adding entries'),
    addMany: refuse('importing entries'),
    update: refuse('changing entries'),
    remove: refuse('removing entries'),
    restore: refuse('restoring entries'),
    purgeTrash: refuse('purging the trash'),
    purgeHistory: refuse('purging history'),
    trash: refuse('the trash'),
    history: refuse('entry history'),
    createVault: refuse('creating vaults'),
    unlockVault: refuse('unlocking vaults'),
    lockVault: refuse('locking vaults'),
    renameVault: refuse('renaming vaults'),
    changeVaultPassword: refuse('changing vault passwords'),
    removeVault: refuse('removing vaults'),
    rotateVaultKey: refuse('rotating vault keys'),
    sync: refuse('sync'),
    sharedHeld: async () => false,
    tokenKey: refuse('creating service tokens'),
    auditCacheKey: refuse('the audit cache'),
    shareSecrets: refuse('shared vaults'),
    shareSign: refuse('shared vaults'),
    shareDh: refuse('shared vaults'),
    close: async () => {
      if (loaded) (await loaded.catch(() => undefined))?.close();
      await client?.close();
      cache?.close();
    },
  };
}
