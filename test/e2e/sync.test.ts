// Sync end to end: three devices (separate KPM_HOMEs) of one account against the real kpm-server,
// through the built binaries. Auto-sync, explicit sync, conflicts, trash, offline changes, network
// faults in the middle of a push and a pull, and a grep of the server database for plaintext (R16).
import { once } from 'node:events';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRun, kpm as runKpm, makeHome, run, stopAgent, MASTER, type RunResult } from '../helpers/kpm.js';
import { outboxMails, startServer, type RunningServer } from '../helpers/server.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';

const ACCOUNT = 'Sync7Password';
const EMAIL = 'devices@example.org';

describe('sync across devices (real server, SQLite)', () => {
  let srv: RunningServer;
  let proxy: Proxy;
  const homes: Record<string, string> = {};
  /** `kpm(dev, ARGS, code, input, env)`: the shared runner (test/helpers/kpm.ts) in device `dev`'s home, through the proxy. */
  const kpm = (dev: string, args: string[], code = 0, input?: string, env: Record<string, string> = {}): Promise<RunResult> =>
    runKpm(homes[dev], args, code, { input, env: { KPM_SERVER: proxy.url, ...env } });
  const master = { KPM_MASTER_PASSWORD: MASTER };

  beforeAll(async () => {
    srv = await startServer();
    proxy = await startProxy(srv.url);
    for (const d of ['a', 'b', 'c']) homes[d] = makeHome();
    await kpm('a', ['register', '--email', EMAIL, '--password-stdin', '--region', 'DE'], 0, ACCOUNT + '\n');
    const code = /activation code: ([A-Z2-7-]+)/.exec(outboxMails(srv.dataDir).find((m) => m.to.includes(EMAIL))!.text)![1];
    await kpm('a', ['activate', '--code-stdin'], 0, code + '\n');
  });

  it('A creates a vault and signs in; a new device B logs in, unlocks with the master password, and has it', async () => {
    await kpm('a', ['init', '--password-stdin'], 0, MASTER + '\n');
    await kpm('a', ['login', EMAIL, '--password-stdin'], 0, ACCOUNT + '\n');
    const add = await kpm('a', ['add', 'github', '--username', 'ann-user', '--password-stdin'], 0, 'gh-secret-1\n', master);
    expect(add.stderr).toMatch(/synced: 1 sent/); // automatic sync after a change
    const login = await kpm('b', ['login', EMAIL, '--password-stdin'], 0, ACCOUNT + '\n');
    expect(login.stderr).toMatch(/already has a vault: run `kpm unlock`/);
    expect((await kpm('b', ['status'])).stdout).toMatch(/vault is waiting: run `kpm unlock`/);
    // no init on B: the account's vault is there
    expect((await kpm('b', ['init', '--password-stdin'], 7, MASTER + '\n')).stderr).toMatch(/already has a vault/);
    const wrong = await kpm('b', ['unlock', '--password-stdin'], 5, 'not the master password\n');
    expect(wrong.stderr).toMatch(/wrong/i);
    const unlock = await kpm('b', ['unlock', '--password-stdin'], 0, MASTER + '\n');
    expect(unlock.stderr).toMatch(/Synced: 0 changes sent, 1 received/);
    expect((await kpm('b', ['get', 'github'])).stdout).toBe('gh-secret-1\n');
    const st = JSON.parse((await kpm('b', ['status', '--json'])).stdout);
    expect(st.sync).toMatchObject({ account: EMAIL, lastChange: expect.stringMatching(/^20\d\d-/) });
  });

  it('B (agent) adds; A (no agent) gets it after `kpm sync`; C, a third device without an agent, too', async () => {
    await kpm('b', ['add', 'gitlab', '--username', 'bob-user', '--password-stdin'], 0, 'gl-secret\n');
    // the agent syncs shortly after the change, in the background: A syncs until it gets it (no
    // deadline of its own: a slow machine only takes longer; the test's timeout bounds it); the pause
    // between tries only spares the server, no outcome depends on its length
    for (;;) {
      const r = await kpm('a', ['sync'], 0, undefined, master);
      if (/1 received/.test(r.stderr)) break;
      await new Promise((ok) => setTimeout(ok, 200));
    }
    expect((await kpm('a', ['get', 'gitlab'], 0, undefined, master)).stdout).toBe('gl-secret\n');
    await kpm('c', ['login', EMAIL, '--password-stdin'], 0, ACCOUNT + '\n');
    const s = await kpm('c', ['sync', '--json'], 0, undefined, master);
    expect(JSON.parse(s.stdout).vaults[0]).toMatchObject({ created: true, pulled: 2 });
    expect((await kpm('c', ['list', '--json'], 0, undefined, master)).stdout).toMatch(/gitlab/);
  });

  it('offline changes queue and go out at the next sync; concurrent edits keep both versions', async () => {
    // C's edit is the later one: its process starts after A's has exited (no sleep needed)
    await kpm('a', ['--offline', 'edit', 'github', '--password-stdin'], 0, 'from-a\n', master);
    await kpm('c', ['--offline', 'edit', 'github', '--password-stdin'], 0, 'from-c-later\n', master);
    // kpm status tells how many changes wait (no password needed)
    expect(JSON.parse((await kpm('a', ['status', '--json'], 0)).stdout).sync.pending).toBe(1);
    expect((await kpm('a', ['status'], 0)).stdout).toMatch(/; 1 change waits to be sent \(`kpm sync`\)$/m);
    expect((await kpm('a', ['sync', '--json'], 0, undefined, master)).stdout).toMatch(/"pushed": 1/);
    expect(JSON.parse((await kpm('a', ['status', '--json'], 0)).stdout).sync.pending).toBe(0);
    expect((await kpm('a', ['status'], 0)).stdout).toMatch(/; nothing waits to be sent$/m);
    const c = await kpm('c', ['sync'], 0, undefined, master);
    expect(c.stderr).toMatch(/"github" was changed on two devices: the change made here \(the later one\) wins/);
    await kpm('a', ['sync'], 0, undefined, master);
    expect((await kpm('a', ['get', 'github'], 0, undefined, master)).stdout).toBe('from-c-later\n');
    const hist = await kpm('a', ['history', 'github', '--json'], 0, undefined, master);
    expect(JSON.parse(hist.stdout).map((v: any) => v.payload.fields.password)).toEqual(expect.arrayContaining(['gh-secret-1', 'from-a', 'from-c-later']));
    // bring the losing edit back
    const v = JSON.parse(hist.stdout).find((x: any) => x.payload.fields.password === 'from-a').version;
    const rs = await kpm('a', ['restore', 'github', '--rev', String(v)], 0, undefined, master);
    const cs = await kpm('c', ['sync'], 0, undefined, master);
    expect(rs.stderr).toMatch(/Restored/);
    expect(cs.stderr).toMatch(/1 received/);
    expect((await kpm('c', ['get', 'github'], 0, undefined, master)).stdout).toBe('from-a\n');
  });

  it('a deleted entry goes to the trash on every device', async () => {
    await kpm('c', ["rm", "gitlab", "--yes"], 0, undefined, master);
    await kpm('a', ['sync'], 0, undefined, master);
    await kpm('a', ['get', 'gitlab'], 3, undefined, master);
    expect((await kpm('a', ['trash'], 0, undefined, master)).stdout).toMatch(/gitlab/);
  });

  it('server answer lost after a push: nothing lost, nothing doubled; pull cut off: nothing written, next sync completes', async () => {
    proxy.fail(/\/push$/, 'after'); // the server stores the records, the client never hears of it
    const r = await kpm('a', ['add', 'lost-answer', '--password-stdin'], 0, 'la-secret\n', master);
    expect(r.stderr).toMatch(/not synced/);
    const again = await kpm('a', ['sync', '--json'], 0, undefined, master);
    expect(JSON.parse(again.stdout).vaults[0]).toMatchObject({ pushed: 0, pulled: 0 });
    proxy.fail(/\/pull$/, 'before');
    const before = fs.readFileSync(join(homes.c, 'data', 'vaults', fs.readdirSync(join(homes.c, 'data', 'vaults'))[0], 'vault.kpm'));
    await kpm('c', ['sync'], 6, undefined, master);
    const after = fs.readFileSync(join(homes.c, 'data', 'vaults', fs.readdirSync(join(homes.c, 'data', 'vaults'))[0], 'vault.kpm'));
    expect(after.equals(before)).toBe(true);
    await kpm('c', ['sync'], 0, undefined, master);
    expect((await kpm('c', ['get', 'lost-answer'], 0, undefined, master)).stdout).toBe('la-secret\n');
    expect((await kpm('c', ['list', '--json'], 0, undefined, master)).stdout.match(/lost-answer/g)).toHaveLength(1);
  });

  it('the server killed in the middle of a push: nothing lost; after a restart the next sync completes', async () => {
    proxy.onRequest = (path) => {
      if (path.endsWith('/push')) {
        proxy.onRequest = undefined;
        srv.proc.kill('SIGKILL');
      }
    };
    const r = await kpm('a', ['add', 'killed-push', '--password-stdin'], 0, 'kp-secret\n', master);
    expect(r.stderr).toMatch(/not synced/);
    if (srv.proc.exitCode === null && srv.proc.signalCode === null) await once(srv.proc, 'exit');
    expect(srv.proc.signalCode).toBe('SIGKILL');
    const again = await startServer({ dataDir: srv.dataDir });
    proxy.retarget(again.url);
    srv = again;
    expect((await kpm('a', ['sync', '--json'], 0, undefined, master)).stdout).toMatch(/"pushed": 1/);
    await kpm('c', ['sync'], 0, undefined, master);
    expect((await kpm('c', ['get', 'killed-push'], 0, undefined, master)).stdout).toBe('kp-secret\n');
  });

  it('a server that alters what it sends is caught by the binary: exit 8, nothing written', async () => {
    await kpm('a', ['add', 'tamper-target', '--password-stdin'], 0, 'tt-secret\n', master);
    const vaultDir = join(homes.c, 'data', 'vaults', fs.readdirSync(join(homes.c, 'data', 'vaults'))[0]);
    const before = fs.readdirSync(vaultDir).map((f) => fs.readFileSync(join(vaultDir, f)).toString('hex')).join();
    proxy.rewrite = (path, body) => {
      if (!path.endsWith('/pull')) return body;
      const j = JSON.parse(body.toString());
      if (j.records.length >= 1) {
        const raw = Buffer.from(j.records[0], 'base64');
        raw[raw.length - 5] ^= 1;
        j.records[0] = raw.toString('base64');
      }
      return Buffer.from(JSON.stringify(j));
    };
    try {
      const r = await kpm('c', ['sync'], 8, undefined, master);
      expect(r.stderr).toMatch(/tampered/);
    } finally {
      proxy.rewrite = undefined;
    }
    expect(fs.readdirSync(vaultDir).map((f) => fs.readFileSync(join(vaultDir, f)).toString('hex')).join()).toBe(before);
    await kpm('c', ['sync'], 0, undefined, master);
    expect((await kpm('c', ['get', 'tamper-target'], 0, undefined, master)).stdout).toBe('tt-secret\n');
  });

  it('R19: listing, getting and syncing an entry whose URL is a loopback listener never connects to it', async () => {
    let connections = 0;
    const { createServer } = await import('node:net');
    const trap = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((ok) => trap.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(trap.address() as { port: number }).port}/login`;
    try {
      await kpm('a', ['add', 'trap', '--url', url, '--password-stdin'], 0, 'trap-secret\n', master);
      await kpm('c', ['sync'], 0, undefined, master);
      await kpm('c', ['list'], 0, undefined, master);
      await kpm('c', ['get', 'trap', '--field', 'url'], 0, undefined, master);
      await kpm('c', ['show', 'trap'], 0, undefined, master);
      expect(connections).toBe(0);
    } finally {
      trap.close();
    }
  });

  it('a master password change on A: B needs the new one at its next unlock', async () => {
    await kpm('a', ['passwd', '--password-stdin'], 0, `${MASTER}\nan entirely new master password\n`);
    await kpm('a', ['sync'], 0, undefined, { KPM_MASTER_PASSWORD: 'an entirely new master password' });
    await kpm('b', ['sync'], 0); // B's agent is unlocked: it takes the new keyring
    stopAgent(homes.b);
    await kpm('b', ['unlock', '--password-stdin'], 5, MASTER + '\n');
    await kpm('b', ['unlock', '--password-stdin'], 0, 'an entirely new master password\n');
    stopAgent(homes.b);
  });

  it('`kpm init` after `kpm login` uploads the new vault; sync=manual and --offline keep changes local until `kpm sync`', async () => {
    const email = 'second@example.org';
    homes.d = makeHome();
    homes.e = makeHome();
    await kpm('d', ['register', '--email', email, '--password-stdin', '--region', 'FR'], 0, ACCOUNT + '\n');
    const code = /activation code: ([A-Z2-7-]+)/.exec(outboxMails(srv.dataDir).filter((m) => m.to.includes(email)).at(-1)!.text)![1];
    await kpm('d', ['activate', '--code-stdin'], 0, code + '\n');
    expect((await kpm('d', ['login', email, '--password-stdin'], 0, ACCOUNT + '\n')).stderr).not.toMatch(/already has a vault/);
    await kpm('d', ['init', '--password-stdin'], 0, MASTER + '\n');
    expect((await kpm('e', ['login', email, '--password-stdin'], 0, ACCOUNT + '\n')).stderr).toMatch(/already has a vault/);
    await kpm('d', ['config', 'set', 'sync', 'manual']);
    expect((await kpm('d', ['add', 'manual-1', '--password-stdin'], 0, 'm1-secret\n', master)).stderr).not.toMatch(/synced/);
    await kpm('d', ['config', 'set', 'sync', 'auto']);
    expect((await kpm('d', ['--offline', 'add', 'manual-2', '--password-stdin'], 0, 'm2-secret\n', master)).stderr).not.toMatch(/synced/);
    await kpm('e', ['sync'], 0, undefined, master);
    await kpm('e', ['get', 'manual-1'], 3, undefined, master);
    expect((await kpm('d', ['sync', '--json'], 0, undefined, master)).stdout).toMatch(/"pushed": 2/);
    await kpm('e', ['sync'], 0, undefined, master);
    expect((await kpm('e', ['get', 'manual-2'], 0, undefined, master)).stdout).toBe('m2-secret\n');
  });

  it('offline with the agent: a change made with --offline / KPM_OFFLINE=1 while a sync is already scheduled is not sent by the agent on its own, only by a later online change or `kpm sync`', async () => {
    // D's agent waits an hour after a change before its automatic sync, so one is surely scheduled
    await kpm('d', ['unlock', '--password-stdin'], 0, MASTER + '\n', { KPM_AGENT_SYNC_DELAY_MS: '3600000' });
    const agent = async () => {
      const r = await run(['agent', 'status', '--json'], { home: homes.d });
      return r.code === 0 ? JSON.parse(r.stdout) : { failed: describeRun(['agent', 'status'], r) };
    };
    try {
      await kpm('d', ['add', 'held-1', '--password-stdin'], 0, 'online-value\n');
      const scheduled = await agent(); // a sync is scheduled now (checked below)
      await kpm('d', ['--offline', 'edit', 'held-1', '--password-stdin'], 0, 'offline-value\n');
      const afterOffline = await agent();
      await kpm('d', ['add', 'held-2', '--password-stdin'], 0, 'offline-2\n', { KPM_OFFLINE: '1' });
      await kpm('d', ['get', 'held-1']); // reading, online, does not end the hold
      // nothing went out: not the offline changes, nor the online one before them
      await kpm('e', ['sync'], 0, undefined, master);
      await kpm('e', ['get', 'held-2'], 3, undefined, master);
      const e1 = await kpm('e', ['get', 'held-1'], 3, undefined, master);
      expect(e1.stdout).not.toContain('offline-value');
      expect(scheduled).toMatchObject({ syncPending: true, syncHeld: false });
      expect(afterOffline).toMatchObject({ syncPending: false, syncHeld: true }); // the scheduled sync is off
      expect(await agent()).toMatchObject({ syncPending: false, syncHeld: true, syncRuns: 0 });
      expect((await kpm('d', ['status'])).stdout).toMatch(/sync held/);
      // an explicit sync sends it all
      await kpm('d', ['sync']);
      expect(await agent()).toMatchObject({ syncHeld: false });
      await kpm('e', ['sync'], 0, undefined, master);
      expect((await kpm('e', ['get', 'held-1'], 0, undefined, master)).stdout).toBe('offline-value\n');
      expect((await kpm('e', ['get', 'held-2'], 0, undefined, master)).stdout).toBe('offline-2\n');
      // and the hold ends with the next online change, whose sync is scheduled again
      await kpm('d', ['--offline', 'add', 'held-3', '--password-stdin'], 0, 'offline-3\n');
      expect(await agent()).toMatchObject({ syncPending: false, syncHeld: true });
      await kpm('d', ['add', 'after-hold', '--password-stdin'], 0, 'online-2\n');
      expect(await agent()).toMatchObject({ syncPending: true, syncHeld: false });
    } finally {
      stopAgent(homes.d);
    }
  });

  it('a background sync failure of the agent (a tampering server) is shown once on the next command and by `kpm status` until a sync succeeds', async () => {
    await kpm('d', ['unlock', '--password-stdin'], 0, MASTER + '\n');
    const agent = async () => {
      const r = await run(['agent', 'status', '--json'], { home: homes.d });
      return r.code === 0 ? JSON.parse(r.stdout) : {};
    };
    try {
      await kpm('e', ['add', 'from-e', '--password-stdin'], 0, 'fe-secret\n', master); // something for D to pull
      proxy.rewrite = (path, body) => {
        if (!path.endsWith('/pull')) return body;
        const j = JSON.parse(body.toString());
        if (j.records.length >= 1) {
          const raw = Buffer.from(j.records[0], 'base64');
          raw[raw.length - 5] ^= 1;
          j.records[0] = raw.toString('base64');
        }
        return Buffer.from(JSON.stringify(j));
      };
      const runs = (await agent()).syncRuns;
      await kpm('d', ['add', 'bg-fail', '--password-stdin'], 0, 'bf-secret\n');
      // wait for the agent's background sync to have run (its run count, not a time)
      let st = await agent();
      // no deadline of its own (a slow machine only takes longer; the test's timeout bounds it)
      while (!(st.syncRuns > runs && !st.syncPending && st.lastSyncError)) {
        await new Promise((ok) => setTimeout(ok, 50));
        st = await agent();
      }
      proxy.rewrite = undefined;
      const status = await kpm('d', ['status']);
      expect(status.stdout).toMatch(/last background sync failed at 20\d\d-.*: /);
      expect(st.lastSyncError?.message).toMatch(/tamper|verif|corrupt/i);
      const next = await kpm('d', ['get', 'bg-fail']);
      expect(next.stdout).toBe('bf-secret\n');
      expect(next.stderr.split('\n').filter((l) => /background sync failed/.test(l))).toHaveLength(1);
      expect((await kpm('d', ['get', 'bg-fail'])).stderr).not.toMatch(/background sync failed/); // once
      expect((await kpm('d', ['status'])).stdout).toMatch(/last background sync failed/); // still, until a sync succeeds
      await kpm('d', ['sync']);
      expect((await kpm('d', ['status'])).stdout).not.toMatch(/background sync failed/);
      expect((await kpm('d', ['get', 'from-e'])).stdout).toBe('fe-secret\n');
    } finally {
      proxy.rewrite = undefined;
      stopAgent(homes.d);
    }
  });

  it('R17: no request of the whole run (register → login → sync → passwd) carries the master password in any encoding', async () => {
    const all = Buffer.concat(proxy.requests).toString('latin1');
    expect(proxy.requests.length).toBeGreaterThan(20);
    for (const pw of [MASTER, 'an entirely new master password']) {
      const b = Buffer.from(pw, 'utf8');
      for (const form of [pw, b.toString('hex'), b.toString('base64'), encodeURIComponent(pw), b.toString('base64url')]) expect(all.includes(form), form).toBe(false);
    }
  });

  it('R16: the server database, its WAL and its log hold no entry name, username, URL or password', async () => {
    const files = fs.readdirSync(srv.dataDir).filter((f) => /\.(db|sqlite|db-wal|sqlite-wal)$|-wal$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const dump = Buffer.concat([...files.map((f) => fs.readFileSync(join(srv.dataDir, f))), Buffer.from(srv.stderr() + srv.stdout())]).toString('latin1');
    for (const plain of ['github', 'gitlab', 'lost-answer', 'gh-secret-1', 'gl-secret', 'from-a', 'from-c-later', 'la-secret', 'tamper-target', 'tt-secret', 'trap-secret', '/login', 'ann-user', 'bob-user', 'held-1', 'offline-value', 'bg-fail', 'bf-secret', MASTER]) {
      expect(dump.includes(plain), plain).toBe(false);
    }
  });
});
