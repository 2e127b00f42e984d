// Sync test helpers: profiles made in process (fast KDF), and a sync transport over the in-process
// server (testServer) whose answers a test can rewrite: the malicious server double.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { ROUTES, routePath, type RouteName } from '../../src/protocol/routes.js';
import { validate } from '../../src/protocol/validate.js';
import type { PullResultT, SyncStateT } from '../../src/protocol/schemas.js';
import { toServerError } from '../../src/sync/http.js';
import { syncProfile, type SyncTransport } from '../../src/sync/engine.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import { resolvePaths, type KpmPaths } from '../../src/core/paths.js';
import { createKeyring, unlockKeyring } from '../../src/vault/keyring.js';
import { TEST_KDF } from './kdf.js';
import { Session } from '../../src/vault/session.js';
import { fromBase64, utf8 } from '../../src/crypto/bytes.js';
import { saveKeyringEnvelope } from '../../src/sync/state.js';
import { installDownloadedKeyring } from '../../src/sync/newdevice.js';
import { createAccount, loginTokens, testServer, type TestServer } from './server.js';

/** The tests' KDF (./kdf.ts), under the name the sync tests know it by. */
export const FAST = { ...TEST_KDF };
export const PW = 'correct horse battery staple';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

export function tempPaths(): KpmPaths {
  const home = fs.mkdtempSync(join(os.tmpdir(), 'kpm-sync-'));
  dirs.push(home);
  return resolvePaths({ KPM_HOME: home });
}

/** A new profile with a Personal vault, unlocked. */
export async function newProfile(pw = PW): Promise<Session> {
  const paths = tempPaths();
  const profile = await createKeyring(paths, utf8.encode(pw), FAST);
  const s = await Session.open(paths, profile);
  await s.createVault('Personal');
  return s;
}

/** A second device of the account: downloads the keyring envelope (as `kpm login` does) and unlocks it. */
export async function secondDevice(t: SyncTransport, accountId: string, pw = PW): Promise<Session> {
  const st = await t.state();
  const paths = tempPaths();
  saveKeyringEnvelope(paths, fromBase64(st.keyring!.body));
  await installDownloadedKeyring(paths, utf8.encode(pw), accountId);
  return openProfile(paths, pw);
}

export async function openProfile(paths: KpmPaths, pw = PW): Promise<Session> {
  return Session.open(paths, await unlockKeyring(paths, utf8.encode(pw)));
}

export interface Tamper {
  state?(b: SyncStateT): SyncStateT;
  pull?(id: string, after: number, b: PullResultT): PullResultT;
  /** rewrites a compaction before the server gets it (a server that drops records while compacting) */
  compact?(id: string, b: { generation: number; base: number; records: string[]; manifest: string }): { generation: number; base: number; records: string[]; manifest: string };
  /** answers blob downloads instead of the server */
  blobGet?(id: string, index: number): { data: string; last: boolean };
}

export interface TestTransport extends SyncTransport {
  /** routes of every write request sent (keyring, vault, push) */
  writes: { route: RouteName; body: any }[];
  tamper: Tamper;
}

/** A transport over the in-process server, answers checked like the real client checks them. */
export function transport(ts: TestServer, token: string): TestTransport {
  const writes: TestTransport['writes'] = [];
  const tamper: Tamper = {};
  const call = async <T>(name: RouteName, params: Record<string, string> = {}, body?: unknown): Promise<T> => {
    const spec = ROUTES[name];
    if (spec.method !== 'GET' && !['syncPull', 'syncBlobsHave', 'syncBlobGet'].includes(name)) writes.push({ route: name, body });
    const r = await ts.call(spec.method, routePath(spec, params), body, { token });
    if (r.status !== spec.status) throw toServerError(r.status, r.body);
    const problem = validate(spec.response, r.body, { allowExtra: false });
    if (problem) throw new Error(`bad answer: ${problem}`);
    return r.body as T;
  };
  return {
    writes,
    tamper,
    state: async () => {
      const b = await call<SyncStateT>('syncState');
      return tamper.state ? tamper.state(structuredClone(b)) : b;
    },
    putKeyring: async (expectedEpoch, epoch, body) => void (await call('syncKeyring', {}, { expectedEpoch, epoch, body })),
    putVault: async (id, expectedEpoch, epoch, body) => void (await call('syncVault', { id }, { expectedEpoch, epoch, body })),
    pull: async (id, after) => {
      const b = await call<PullResultT>('syncPull', { id }, { after });
      return tamper.pull ? tamper.pull(id, after, structuredClone(b)) : b;
    },
    push: (id, base, records, manifest, generation) => call<{ head: number }>('syncPush', { id }, { base, records, manifest, generation }),
    compact: async (id, generation, base, records, manifest) => {
      const b = { generation, base, records, manifest };
      return call<{ head: number; generation: number }>('syncCompact', { id }, tamper.compact ? tamper.compact(id, b) : b);
    },
    blobsHave: (ids) => call<{ have: string[] }>('syncBlobsHave', {}, { ids }),
    blobPut: async (id, index, data, last) => void (await call('syncBlobPut', { id }, { index, data, last })),
    blobGet: async (id, index) => (tamper.blobGet ? tamper.blobGet(id, index) : call<{ data: string; last: boolean }>('syncBlobGet', { id }, { index })),
  };
}

let n = 0;
/** An activated account and a signed-in device token. */
export async function account(ts: TestServer): Promise<{ email: string; accountId: string; token: string }> {
  const email = `sync${++n}-${process.pid}@example.org`;
  await createAccount(ts, email);
  const t = await loginTokens(ts, email);
  return { email, accountId: t.account.id, token: t.accessToken };
}

/** A second device token for the same account. */
export async function device(ts: TestServer, email: string): Promise<string> {
  return (await loginTokens(ts, email)).accessToken;
}

/** A login entry (user name "ann"), as the sync tests write them. */
export const login = (name: string, password: string, updated = new Date().toISOString()): EntryPayload =>
  ({ type: 'login', name, fields: { username: 'ann', password }, custom: [], tags: [], created: updated, updated }) as unknown as EntryPayload;

/** Device A with one entry ("github"), synced; device B of the same account, synced. */
export async function syncedPair() {
  const ts = await testServer();
  const acc = await account(ts);
  const a = await newProfile();
  await a.add(undefined, login('github', 'v1'));
  const ta = transport(ts, acc.token);
  await syncProfile(a, ta, acc.accountId);
  const tb = transport(ts, await device(ts, acc.email));
  const b = await secondDevice(tb, acc.accountId);
  await syncProfile(b, tb, acc.accountId);
  return { acc, a, b, ta, tb };
}
