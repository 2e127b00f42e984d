// The share client against the in-process server, with a malicious-server double in front of it
// (answers rewritten) and direct database changes: the people and world of test/unit/share.test.ts
// and test/unit/share-token.test.ts.
import * as fs from 'node:fs';
import { expect } from 'vitest';
import { testServer, type Engine, type TestServer } from './server.js';
import { account, device, tempPaths, FAST, PW } from './sync.js';
import { ROUTES, routePath, type RouteName } from '../../src/protocol/routes.js';
import { validate } from '../../src/protocol/validate.js';
import { toServerError } from '../../src/sync/http.js';
import { createKeyring } from '../../src/vault/keyring.js';
import { fromBase64, fromHex, toBase64, utf8 } from '../../src/crypto/bytes.js';
import { randomBytes } from '../../src/crypto/random.js';
import { KpmError, EXIT } from '../../src/core/errors.js';
import type { KpmPaths } from '../../src/core/paths.js';
import { ShareClient, type ShareCall } from '../../src/share/client.js';
import { accountIdentity } from '../../src/share/identity.js';
import { initialChain, ownerOf, sealRecord, sealRecordPlaintext } from '../../src/share/format.js';
import { grantOf, sealShareForToken } from '../../src/share/tokenvault.js';
import { newServiceToken, tokenAuthHash, tokenKeys, type ServiceToken } from '../../src/sync/tokenvault.js';
import { shareStateFile } from '../../src/share/state.js';
import type { EntryPayload } from '../../src/vault/entry.js';

export const READS: RouteName[] = ['shareIdentityGet', 'shareList', 'shareVault', 'sharePull', 'sharePinsGet'];

export interface Person {
  email: string;
  accountId: string;
  paths: KpmPaths;
  accountKey: Uint8Array;
  profileId: Uint8Array;
  token: string;
  writes: RouteName[];
  /** rewrites the server's answer to a route */
  tamper: Partial<Record<RouteName, (body: any) => any>>;
  c: () => ShareClient;
}

export function caller(ts: TestServer, p: Pick<Person, 'token' | 'writes' | 'tamper'>): ShareCall {
  return async <T>(name: RouteName, o: { params?: Record<string, string>; body?: unknown } = {}): Promise<T> => {
    const spec = ROUTES[name];
    if (!READS.includes(name)) p.writes.push(name);
    const r = await ts.call(spec.method, routePath(spec, o.params), o.body, { token: p.token });
    if (r.status !== spec.status) throw toServerError(r.status, r.body);
    const problem = validate(spec.response, r.body, { allowExtra: false });
    if (problem) throw new Error(`bad answer: ${problem}`);
    const t = p.tamper[name];
    return (t ? await t(structuredClone(r.body)) : r.body) as T;
  };
}

export async function person(ts: TestServer): Promise<Person> {
  const a = await account(ts);
  const paths = tempPaths();
  const prof = await createKeyring(paths, utf8.encode(PW), FAST);
  const p: Person = { email: a.email, accountId: a.accountId, paths, accountKey: prof.accountKey, profileId: prof.profileId, token: a.token, writes: [], tamper: {}, c: () => new ShareClient(paths, prof.accountKey, prof.profileId, a.email, caller(ts, p)) };
  await p.c().publish();
  return p;
}

/** Another device of the same account: its own folder and session, the same account key. */
export async function secondDeviceOf(ts: TestServer, p: Person): Promise<Person> {
  const paths = tempPaths();
  const q: Person = { ...p, paths, token: await device(ts, p.email), writes: [], tamper: {}, c: () => new ShareClient(paths, p.accountKey, p.profileId, p.email, caller(ts, q)) };
  return q;
}

/** Runs one command the way the CLI does: the state is saved only when it succeeds. */
export async function run<T>(p: Person, fn: (c: ShareClient) => Promise<T>): Promise<T> {
  const c = p.c();
  const r = await fn(c);
  await c.finish();
  return r;
}

export const stateBytes = (p: Person) => (fs.existsSync(shareStateFile(p.paths)) ? fs.readFileSync(shareStateFile(p.paths)).toString('hex') : '');

/** The command fails with `exit` (8 unless said), nothing written on the device, nothing sent. */
export async function refused(p: Person, fn: (c: ShareClient) => Promise<unknown>, msg: RegExp, exit: number = EXIT.corrupt): Promise<void> {
  const before = stateBytes(p);
  p.writes.length = 0;
  const e = await run(p, fn).then(
    () => null,
    (x) => x,
  );
  expect(e, 'the command should have failed').toBeInstanceOf(KpmError);
  expect((e as KpmError).message).toMatch(msg);
  expect((e as KpmError).exitCode).toBe(exit);
  expect(stateBytes(p)).toBe(before);
  expect(p.writes).toEqual([]);
}

/** A login as a shared record holds it (an entry payload, docs/SHARING.md "Record plaintext"). */
export const entry = (name: string, password: string): EntryPayload => ({ type: 'login', name, fields: { username: 'team', password }, custom: [], tags: [], created: '2026-11-24T12:00:00.000Z', updated: '2026-11-24T12:00:00.000Z' });

/** Owner A shares "Team" with B (writer) and C (reader); both accept; A and B write one entry each. */
export async function world(engine: Engine = 'sqlite') {
  const ts = await testServer({ engine });
  const [a, b, c] = [await person(ts), await person(ts), await person(ts)];
  await run(a, (x) => x.share('Team', b.email, 'writer', false));
  await run(a, (x) => x.share('Team', c.email, 'reader', false));
  await run(b, (x) => x.accept('Team'));
  await run(c, (x) => x.accept('Team'));
  await run(a, (x) => x.write('Team', entry('deploy', 'pw-deploy-1')));
  await run(b, (x) => x.write('Team', entry('db', 'pw-db-1')));
  const id = (await run(a, (x) => x.resolve('Team')))!.id;
  for (const p of [a, b, c]) p.writes.length = 0;
  return { ts, a, b, c, id };
}

export const read = async (p: Person, name: string) => ShareClient.find(await run(p, (x) => x.openForUse('Team')), name)?.[1].fields.password;

/** Inserts a record straight into the server's database, as a server that accepts anything would (`e`: an entry, or the record's plaintext bytes as they are). */
export async function inject(ts: TestServer, id: string, signerKey: Uint8Array, email: string, vaultKey: Uint8Array, epoch: number, e: EntryPayload | Uint8Array = entry('deploy', 'evil')) {
  const v = await ts.store.db.selectFrom('share_vaults').select('head').where('vault_id', '=', id).executeTakeFirstOrThrow();
  const rows = await ts.store.db.selectFrom('share_records').select('body').where('vault_id', '=', id).orderBy('rev').execute();
  let chain = initialChain(fromHex(id));
  const { nextChain } = await import('../../src/share/format.js');
  for (const r of rows) chain = nextChain(chain, fromBase64(r.body));
  const rev = Number(v.head) + 1;
  const h = { vaultId: fromHex(id), rev, epoch, prevChain: chain, entryId: randomBytes(16), deleted: false };
  const signer = accountIdentity(signerKey, email).signer;
  const rec = e instanceof Uint8Array ? await sealRecordPlaintext(signer, vaultKey, h, e) : await sealRecord(signer, vaultKey, h, e);
  await ts.store.db.insertInto('share_records').values({ vault_id: id, rev, writer_id: 'x', body: toBase64(rec) }).execute();
  await ts.store.db.updateTable('share_vaults').set({ head: rev }).where('vault_id', '=', id).execute();
}

/** `kpm token create --vault VAULT` by `p` (as src/cli/commands/tokens.ts does it, from p's verified view of the vault). */
export async function makeShareToken(ts: TestServer, p: Person, vault = 'Team'): Promise<ServiceToken> {
  const c = p.c();
  const v = await c.openForUse(vault);
  c.save();
  const t = newServiceToken(true);
  const { authKey, wrapKey } = tokenKeys(t);
  const me = accountIdentity(p.accountKey, p.email);
  const g = grantOf({ id: v.id, name: v.name, owner: ownerOf(v.latest), creator: { email: me.email, signPublic: me.signPublic }, epoch: v.latest.epoch, epochBody: v.bodies[v.latest.epoch - 1], head: v.head, chainHash: v.chainHash, keys: v.keys });
  const r = await ts.call('POST', '/v1/tokens', { id: t.id, vaultId: v.id, name: 'team-ci', expiresAt: new Date(ts.clock.now + 86_400_000).toISOString(), authHash: tokenAuthHash(authKey), wrappedKey: toBase64(sealShareForToken(wrapKey, t.id, g)) }, { token: p.token });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return t;
}
