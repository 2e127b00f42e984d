// The set-up the sharing e2e files share: one real kpm-server, three accounts (alice, bob, carol)
// registered through the server's API, each on a device of its own (alice's a copy of the fixture
// home, the others their own `kpm init`), signed in; alice's second device `a2` on request.
import SQLite from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProxy, type Proxy } from './proxy.js';
import { initHome, kpm as runKpm, makeHome, MASTER, type RunResult } from './kpm.js';
import { registerAccount, startServer, type RunningServer } from './server.js';
import { resolvePaths } from '../../src/core/paths.js';
import { unlockKeyring } from '../../src/vault/keyring.js';
import { ApiClient, authedCall, loadSession } from '../../src/sync/http.js';
import { ShareClient } from '../../src/share/client.js';
import { utf8 } from '../../src/crypto/bytes.js';

export const SHARE_ACCOUNT_PW = 'Share7Password';
export const master = { KPM_MASTER_PASSWORD: MASTER };

export function shareTeam(domain: string) {
  const t = {
    srv: undefined as unknown as RunningServer,
    homes: {} as Record<string, string>,
    email: (who: string) => `${who}@${domain}`,
    /** `kpm(dev, ARGS, code, input, env)`: the one runner (test/helpers/kpm.ts) in device `dev`'s home, against the server */
    kpm: (dev: string, args: string[], code = 0, input?: string, env: Record<string, string> = master): Promise<RunResult> =>
      runKpm(t.homes[dev], args, code, { input, env: { KPM_SERVER: t.srv.url, ...env } }).catch((e: Error) => {
        throw new Error(`${dev}: ${e.message}`);
      }),
    /** the server's SQLite database (close it after use) */
    db: () => new SQLite(join(t.srv.dataDir, 'kpm-server.sqlite')),
    /**
     * Device `dev` talks to the server through a proxy from now on (its signed-in session names the
     * proxy's URL), so a test can count the requests the device makes (`seen`).
     */
    async viaProxy(dev: string): Promise<Proxy> {
      const proxy = await startProxy(t.srv.url);
      const file = join(resolvePaths({ KPM_HOME: t.homes[dev] }).data, 'session.json');
      const session = JSON.parse(readFileSync(file, 'utf8'));
      writeFileSync(file, JSON.stringify({ ...session, server: proxy.url }, null, 2) + '\n');
      return proxy;
    },
    /** The account's share client in this process (what a modified kpm could do with the account's own keys). */
    async inProcess(dev: string, who: string) {
      const paths = resolvePaths({ KPM_HOME: t.homes[dev] });
      const prof = await unlockKeyring(paths, utf8.encode(MASTER));
      const session = loadSession(paths)!;
      const api = new ApiClient(session.server, false);
      const c = new ShareClient(paths, prof.accountKey, prof.profileId, t.email(who), (name, o = {}) => authedCall(paths, api, session, name, o));
      return { c, api, accountKey: prof.accountKey };
    },
    /**
     * Alice shares `vault` with bob (writer) and carol (reader), who accept it; bob's and carol's
     * keys are published first (`whoami --fingerprint`), so the shares pin them.
     */
    async shareWithBobAndCarol(vault: string) {
      for (const dev of ['b1', 'c1']) await t.kpm(dev, ['whoami', '--fingerprint']);
      await t.kpm('a1', ['share', vault, '--with', t.email('bob')]);
      await t.kpm('a1', ['share', vault, '--with', t.email('carol'), '--read-only']);
      await t.kpm('b1', ['share', 'accept', vault]);
      await t.kpm('c1', ['share', 'accept', vault]);
    },
    /**
     * Starts the server and makes the accounts (registerAccount: `kpm register`/`activate` are tested
     * in server-flow.test.ts); alice's vault is a copy of the fixture home (one per server: a second
     * copy would be the same profile). `a2`: alice's second device, signed in (`unlocked`: and unlocked).
     */
    async setUp(o: { a2?: 'signed-in' | 'unlocked' } = {}) {
      t.srv = await startServer();
      for (const d of [...(o.a2 ? ['a2'] : []), 'b1', 'c1']) t.homes[d] = makeHome();
      t.homes.a1 = initHome();
      for (const [who, dev] of [['alice', 'a1'], ['bob', 'b1'], ['carol', 'c1']]) {
        await registerAccount(t.srv, t.email(who), SHARE_ACCOUNT_PW, 'DE');
        if (dev !== 'a1') await t.kpm(dev, ['init', '--password-stdin'], 0, MASTER + '\n', {});
        await t.kpm(dev, ['login', t.email(who), '--password-stdin'], 0, SHARE_ACCOUNT_PW + '\n', {});
      }
      if (!o.a2) return;
      await t.kpm('a1', ['sync']); // the keyring goes to the server: a2 gets the account key from it
      await t.kpm('a2', ['login', t.email('alice'), '--password-stdin'], 0, SHARE_ACCOUNT_PW + '\n', {});
      if (o.a2 === 'unlocked') await t.kpm('a2', ['unlock', '--password-stdin'], 0, MASTER + '\n', {});
    },
  };
  return t;
}
