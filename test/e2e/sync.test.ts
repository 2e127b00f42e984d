// Sync end to end: devices (separate KPM_HOMEs) of one account against the real kpm-server,
// through the built binaries. Auto-sync, explicit sync, conflicts, trash, offline changes, network
// faults in the middle of a push and a pull, and a grep of the server database for plaintext (R16).
//
// Every test is independent of the others (they pass in any order, `--sequence.shuffle`): the
// beforeAll brings an account to a known state ONCE (device A: a vault, signed in, one entry
// "github" synced; device C: signed in, synced; the server stopped), and each test runs on its own
// copy of it (`world()`: a copy of the server's data folder, its own server and proxy, copies of A's
// and C's homes, an empty home B). After each test its server database, WAL and log are searched for
// the file's plaintexts (R16) and its proxy's requests for the master passwords (R17).
// A key derivation costs about a second on a busy CI machine: where a device only syncs and reads
// after what a test is about (or the test is not about the path without an agent), it unlocks once
// (`unlockDev`) and the rest goes through its agent. A write through the agent syncs in the
// background, so the test then runs an explicit `kpm sync` where the next step needs it sent.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { copyHome, describeRun, initHome, kpm as runKpm, makeHome, run, stopAgent, waitUntil, MASTER, type RunResult } from '../helpers/kpm.js';
import { outboxMails, startServer, type RunningServer } from '../helpers/server.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';

const ACCOUNT = 'Sync7Password';
const EMAIL = 'devices@example.org';
const NEW_MASTER = 'an entirely new master password';
const master = { KPM_MASTER_PASSWORD: MASTER };
/** Everything the tests put in entries: none may reach the server's database, WAL or log (R16). */
const PLAINTEXTS = [
  'github', 'gitlab', 'lost-answer', 'gh-secret-1', 'gl-secret', 'from-a', 'from-c-later', 'la-secret', 'killed-push', 'kp-secret',
  'tamper-target', 'tt-secret', 'trap-secret', '/login', 'ann-user', 'bob-user', 'manual-1', 'm1-secret', 'manual-2', 'm2-secret',
  'held-1', 'online-value', 'offline-value', 'offline-2', 'after-hold', 'from-e', 'fe-secret', 'bg-fail', 'bf-secret',
  'r16-entry-name', 'r16-username-x', 'r16-secret-q7', 'r16.example.net', 'r17-entry', 'r17-secret-z', MASTER, NEW_MASTER,
];

/** One test's copy of the known state: its own server (and proxy in front of it) and device homes. */
interface World {
  srv: RunningServer;
  proxy: Proxy;
  homes: Record<string, string>;
  /** `kpm(dev, ARGS, code, input, env)`: the shared runner (test/helpers/kpm.ts) in device `dev`'s home (made empty on first use), through the proxy. */
  kpm(dev: string, args: string[], code?: number, input?: string, env?: Record<string, string>): Promise<RunResult>;
}

describe('sync across devices (real server, SQLite)', () => {
  /** the known state the beforeAll made: the stopped server's data folder, the homes of A and C */
  const base = { dataDir: '', a: '', c: '' };

  function worldOn(srv: RunningServer, proxy: Proxy, homes: Record<string, string>): World {
    return {
      srv,
      proxy,
      homes,
      kpm: (dev, args, code = 0, input, env = {}) => runKpm((homes[dev] ??= makeHome()), args, code, { input, env: { KPM_SERVER: proxy.url, ...env } }),
    };
  }

  beforeAll(async () => {
    const srv = await startServer();
    const proxy = await startProxy(srv.url);
    const w = worldOn(srv, proxy, { a: initHome(), c: makeHome() }); // A: a vault as `kpm init` leaves it (the fixture copy)
    await w.kpm('a', ['register', '--email', EMAIL, '--password-stdin', '--region', 'DE'], 0, ACCOUNT + '\n');
    const code = /activation code: ([A-Z2-7-]+)/.exec(outboxMails(srv.dataDir).find((m) => m.to.includes(EMAIL))!.text)![1];
    await w.kpm('a', ['activate', '--code-stdin'], 0, code + '\n');
    await w.kpm('a', ['login', EMAIL, '--password-stdin'], 0, ACCOUNT + '\n');
    const add = await w.kpm('a', ['add', 'github', '--username', 'ann-user', '--password-stdin'], 0, 'gh-secret-1\n', master);
    expect(add.stderr).toMatch(/synced: 1 sent/); // automatic sync after a change
    await w.kpm('c', ['login', EMAIL, '--password-stdin'], 0, ACCOUNT + '\n');
    expect((await w.kpm('c', ['sync'], 0, undefined, master)).stderr).toMatch(/1 received/);
    await srv.stop();
    await proxy.close();
    Object.assign(base, { dataDir: srv.dataDir, a: w.homes.a, c: w.homes.c });
  });

  /**
   * This test's copy of the known state (see the top of the file); stopped and removed when the test
   * ends, after the R16 and R17 checks of everything it did.
   */
  async function world(): Promise<World> {
    const dataDir = fs.mkdtempSync(join(os.tmpdir(), 'kpm-srv-'));
    fs.cpSync(base.dataDir, dataDir, { recursive: true });
    const srv = await startServer({ dataDir });
    const w = worldOn(srv, await startProxy(srv.url), { a: copyHome(base.a), c: copyHome(base.c) });
    // the copies are signed in to the beforeAll's proxy (gone): the same session, this test's proxy
    for (const dev of ['a', 'c']) {
      const file = join(w.homes[dev], 'data', 'session.json');
      fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), server: w.proxy.url }, null, 2) + '\n');
    }
    onTestFinished(async () => {
      try {
        for (const h of Object.values(w.homes)) stopAgent(h);
        // R17: no request of this test carries a master password in any encoding
        const all = Buffer.concat(w.proxy.requests).toString('latin1');
        for (const pw of [MASTER, NEW_MASTER]) {
          const b = Buffer.from(pw, 'utf8');
          for (const form of [pw, b.toString('hex'), b.toString('base64'), encodeURIComponent(pw), b.toString('base64url')]) expect(all.includes(form), `R17: ${form}`).toBe(false);
        }
        // R16: the server database, its WAL and its log hold no plaintext
        expect(r16Leaks(w.srv)).toEqual([]);
      } finally {
        await w.srv.stop();
        await w.proxy.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
    return w;
  }

  /** Which of PLAINTEXTS the server's database files (SQLite, WAL) and its log hold. */
  function r16Leaks(srv: RunningServer): string[] {
    const files = fs.readdirSync(srv.dataDir).filter((f) => /\.(db|sqlite|db-wal|sqlite-wal)$|-wal$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const dump = Buffer.concat([...files.map((f) => fs.readFileSync(join(srv.dataDir, f))), Buffer.from(srv.stderr() + srv.stdout())]).toString('latin1');
    return PLAINTEXTS.filter((p) => dump.includes(p));
  }

  /** Device `dev` signs in to the account and unlocks: its agent runs (stopped when the test ends). */
  async function loginAndUnlock(w: World, dev: string, env: Record<string, string> = {}): Promise<void> {
    await w.kpm(dev, ['login', EMAIL, '--password-stdin'], 0, ACCOUNT + '\n');
    await w.kpm(dev, ['unlock', '--password-stdin'], 0, MASTER + '\n', env);
  }

  /** Device `dev` (signed in) unlocks: its agent runs the commands after it (stopped when the test ends). */
  const unlockDev = (w: World, dev: string) => w.kpm(dev, ['unlock', '--password-stdin'], 0, MASTER + '\n');

  /** `kpm agent status --json` of device `dev` ({failed} when it fails). */
  async function agentStatus(w: World, dev: string): Promise<any> {
    const r = await run(['agent', 'status', '--json'], { home: w.homes[dev] });
    return r.code === 0 ? JSON.parse(r.stdout) : { failed: describeRun(['agent', 'status'], r) };
  }

  /** Rewrites the first record of every pull answer (a flipped byte): a server that alters what it sends. */
  const flipFirstPulledRecord = (path: string, body: Buffer): Buffer => {
    if (!path.endsWith('/pull')) return body;
    const j = JSON.parse(body.toString());
    if (j.records.length >= 1) {
      const raw = Buffer.from(j.records[0], 'base64');
      raw[raw.length - 5] ^= 1;
      j.records[0] = raw.toString('base64');
    }
    return Buffer.from(JSON.stringify(j));
  };

  const vaultDirOf = (home: string) => join(home, 'data', 'vaults', fs.readdirSync(join(home, 'data', 'vaults'))[0]);

  it('A creates a vault and signs in; a new device B logs in, unlocks with the master password, and has it', async () => {
    // A's vault, sign-in and first entry (its automatic sync checked) are the known state of the beforeAll
    const { kpm } = await world();
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
    const w = await world();
    const { kpm } = w;
    await loginAndUnlock(w, 'b');
    await kpm('b', ['add', 'gitlab', '--username', 'bob-user', '--password-stdin'], 0, 'gl-secret\n');
    // the agent syncs shortly after the change, in the background: A syncs until it gets it (the
    // bound only ends a sync that never comes; a slow machine only takes longer)
    await waitUntil('A to receive the entry B\'s agent sends', async () => /1 received/.test((await kpm('a', ['sync'], 0, undefined, master)).stderr), 110_000);
    expect((await kpm('a', ['get', 'gitlab'], 0, undefined, master)).stdout).toBe('gl-secret\n');
    // a third device, new: it downloads the account's vault with both entries
    await kpm('x', ['login', EMAIL, '--password-stdin'], 0, ACCOUNT + '\n');
    const s = await kpm('x', ['sync', '--json'], 0, undefined, master);
    expect(JSON.parse(s.stdout).vaults[0]).toMatchObject({ created: true, pulled: 2 });
    expect((await kpm('x', ['list', '--json'], 0, undefined, master)).stdout).toMatch(/gitlab/);
  });

  it('offline changes queue and go out at the next sync; concurrent edits keep both versions', async () => {
    const w = await world();
    const { kpm } = w;
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
    // the offline changes are out; the rest through A's agent (its restore sent by an explicit sync)
    await unlockDev(w, 'a');
    await kpm('a', ['sync']);
    expect((await kpm('a', ['get', 'github'])).stdout).toBe('from-c-later\n');
    const hist = await kpm('a', ['history', 'github', '--json']);
    expect(JSON.parse(hist.stdout).map((v: any) => v.payload.fields.password)).toEqual(expect.arrayContaining(['gh-secret-1', 'from-a', 'from-c-later']));
    // bring the losing edit back
    const v = JSON.parse(hist.stdout).find((x: any) => x.payload.fields.password === 'from-a').version;
    const rs = await kpm('a', ['restore', 'github', '--rev', String(v)]);
    await kpm('a', ['sync']);
    const cs = await kpm('c', ['sync'], 0, undefined, master);
    expect(rs.stderr).toMatch(/Restored/);
    expect(cs.stderr).toMatch(/1 received/);
    expect((await kpm('c', ['get', 'github'], 0, undefined, master)).stdout).toBe('from-a\n');
  });

  it('a deleted entry goes to the trash on every device', async () => {
    const w = await world();
    const { kpm } = w;
    await kpm('c', ['rm', 'github', '--yes'], 0, undefined, master);
    await unlockDev(w, 'a');
    await kpm('a', ['sync']);
    await kpm('a', ['get', 'github'], 3);
    expect((await kpm('a', ['trash'])).stdout).toMatch(/github/);
  });

  it('server answer lost after a push: nothing lost, nothing doubled; pull cut off: nothing written, next sync completes', async () => {
    const w = await world();
    const { kpm, proxy, homes } = w;
    proxy.fail(/\/push$/, 'after'); // the server stores the records, the client never hears of it
    const r = await kpm('a', ['add', 'lost-answer', '--password-stdin'], 0, 'la-secret\n', master);
    expect(r.stderr).toMatch(/not synced/);
    const again = await kpm('a', ['sync', '--json'], 0, undefined, master);
    expect(JSON.parse(again.stdout).vaults[0]).toMatchObject({ pushed: 0, pulled: 0 });
    proxy.fail(/\/pull$/, 'before');
    const before = fs.readFileSync(join(vaultDirOf(homes.c), 'vault.kpm'));
    await kpm('c', ['sync'], 6, undefined, master);
    const after = fs.readFileSync(join(vaultDirOf(homes.c), 'vault.kpm'));
    expect(after.equals(before)).toBe(true);
    await unlockDev(w, 'c');
    await kpm('c', ['sync']);
    expect((await kpm('c', ['get', 'lost-answer'])).stdout).toBe('la-secret\n');
    expect((await kpm('c', ['list', '--json'])).stdout.match(/lost-answer/g)).toHaveLength(1);
  });

  it('the server killed in the middle of a push: nothing lost; after a restart the next sync completes', async () => {
    const w = await world();
    const { kpm, proxy } = w;
    const killed = w.srv;
    proxy.onRequest = (path) => {
      if (path.endsWith('/push')) {
        proxy.onRequest = undefined;
        killed.proc.kill('SIGKILL');
      }
    };
    const r = await kpm('a', ['add', 'killed-push', '--password-stdin'], 0, 'kp-secret\n', master);
    expect(r.stderr).toMatch(/not synced/);
    if (killed.proc.exitCode === null && killed.proc.signalCode === null) await once(killed.proc, 'exit');
    expect(killed.proc.signalCode).toBe('SIGKILL');
    w.srv = await startServer({ dataDir: killed.dataDir });
    proxy.retarget(w.srv.url);
    expect((await kpm('a', ['sync', '--json'], 0, undefined, master)).stdout).toMatch(/"pushed": 1/);
    await kpm('c', ['sync'], 0, undefined, master);
    expect((await kpm('c', ['get', 'killed-push'], 0, undefined, master)).stdout).toBe('kp-secret\n');
  });

  it('a server that alters what it sends is caught by the binary: exit 8, nothing written', async () => {
    const { kpm, proxy, homes } = await world();
    await kpm('a', ['add', 'tamper-target', '--password-stdin'], 0, 'tt-secret\n', master);
    const vaultDir = vaultDirOf(homes.c);
    const before = fs.readdirSync(vaultDir).map((f) => fs.readFileSync(join(vaultDir, f)).toString('hex')).join();
    proxy.rewrite = flipFirstPulledRecord;
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
    const { kpm } = await world();
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
    const w = await world();
    const { kpm, homes } = w;
    await loginAndUnlock(w, 'b');
    await kpm('a', ['passwd', '--password-stdin'], 0, `${MASTER}\n${NEW_MASTER}\n`);
    await kpm('a', ['sync'], 0, undefined, { KPM_MASTER_PASSWORD: NEW_MASTER });
    await kpm('b', ['sync'], 0); // B's agent is unlocked: it takes the new keyring
    stopAgent(homes.b);
    await kpm('b', ['unlock', '--password-stdin'], 5, MASTER + '\n');
    await kpm('b', ['unlock', '--password-stdin'], 0, NEW_MASTER + '\n');
  });

  it('`kpm init` after `kpm login` uploads the new vault; sync=manual and --offline keep changes local until `kpm sync`', async () => {
    const w = await world();
    const { kpm, srv } = w;
    const email = 'second@example.org';
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
    await unlockDev(w, 'e'); // E reads through its agent
    await kpm('e', ['sync']);
    await kpm('e', ['get', 'manual-1'], 3);
    expect((await kpm('d', ['sync', '--json'], 0, undefined, master)).stdout).toMatch(/"pushed": 2/);
    await kpm('e', ['sync']);
    expect((await kpm('e', ['get', 'manual-2'])).stdout).toBe('m2-secret\n');
  });

  it('offline with the agent: a change made with --offline / KPM_OFFLINE=1 while a sync is already scheduled is not sent by the agent on its own, only by a later online change or `kpm sync`', async () => {
    const w = await world();
    const { kpm } = w;
    // A's agent waits an hour after a change before its automatic sync, so one is surely scheduled
    await kpm('a', ['unlock', '--password-stdin'], 0, MASTER + '\n', { KPM_AGENT_SYNC_DELAY_MS: '3600000' });
    const agent = () => agentStatus(w, 'a');
    await kpm('a', ['add', 'held-1', '--password-stdin'], 0, 'online-value\n');
    const scheduled = await agent(); // a sync is scheduled now (checked below)
    await kpm('a', ['--offline', 'edit', 'held-1', '--password-stdin'], 0, 'offline-value\n');
    const afterOffline = await agent();
    await kpm('a', ['add', 'held-2', '--password-stdin'], 0, 'offline-2\n', { KPM_OFFLINE: '1' });
    await kpm('a', ['get', 'held-1']); // reading, online, does not end the hold
    // nothing went out: not the offline changes, nor the online one before them (C reads through its agent)
    await unlockDev(w, 'c');
    await kpm('c', ['sync']);
    await kpm('c', ['get', 'held-2'], 3);
    const c1 = await kpm('c', ['get', 'held-1'], 3);
    expect(c1.stdout).not.toContain('offline-value');
    expect(scheduled).toMatchObject({ syncPending: true, syncHeld: false });
    expect(afterOffline).toMatchObject({ syncPending: false, syncHeld: true }); // the scheduled sync is off
    expect(await agent()).toMatchObject({ syncPending: false, syncHeld: true, syncRuns: 0 });
    expect((await kpm('a', ['status'])).stdout).toMatch(/sync held/);
    // an explicit sync sends it all
    await kpm('a', ['sync']);
    expect(await agent()).toMatchObject({ syncHeld: false });
    await kpm('c', ['sync']);
    expect((await kpm('c', ['get', 'held-1'])).stdout).toBe('offline-value\n');
    expect((await kpm('c', ['get', 'held-2'])).stdout).toBe('offline-2\n');
    // and the hold ends with the next online change, whose sync is scheduled again
    await kpm('a', ['--offline', 'add', 'held-3', '--password-stdin'], 0, 'offline-3\n');
    expect(await agent()).toMatchObject({ syncPending: false, syncHeld: true });
    await kpm('a', ['add', 'after-hold', '--password-stdin'], 0, 'online-2\n');
    expect(await agent()).toMatchObject({ syncPending: true, syncHeld: false });
  });

  it('a background sync failure of the agent (a tampering server) is shown once on the next command and by `kpm status` until a sync succeeds', async () => {
    const w = await world();
    const { kpm, proxy } = w;
    await kpm('a', ['unlock', '--password-stdin'], 0, MASTER + '\n');
    const agent = async () => {
      const st = await agentStatus(w, 'a');
      return st.failed ? {} : st;
    };
    try {
      await kpm('c', ['add', 'from-e', '--password-stdin'], 0, 'fe-secret\n', master); // something for A to pull
      proxy.rewrite = flipFirstPulledRecord;
      const runs = (await agent()).syncRuns;
      await kpm('a', ['add', 'bg-fail', '--password-stdin'], 0, 'bf-secret\n');
      // wait for the agent's background sync to have run (its run count, not a time; the bound only
      // ends a sync that never comes)
      let st: any;
      await waitUntil('the agent\'s background sync to fail', async () => {
        st = await agent();
        return st.syncRuns > runs && !st.syncPending && !!st.lastSyncError;
      }, 110_000);
      proxy.rewrite = undefined;
      const status = await kpm('a', ['status']);
      expect(status.stdout).toMatch(/last background sync failed at 20\d\d-.*: /);
      expect(st.lastSyncError?.message).toMatch(/tamper|verif|corrupt/i);
      const next = await kpm('a', ['get', 'bg-fail']);
      expect(next.stdout).toBe('bf-secret\n');
      expect(next.stderr.split('\n').filter((l) => /background sync failed/.test(l))).toHaveLength(1);
      expect((await kpm('a', ['get', 'bg-fail'])).stderr).not.toMatch(/background sync failed/); // once
      expect((await kpm('a', ['status'])).stdout).toMatch(/last background sync failed/); // still, until a sync succeeds
      await kpm('a', ['sync']);
      expect((await kpm('a', ['status'])).stdout).not.toMatch(/background sync failed/);
      expect((await kpm('a', ['get', 'from-e'])).stdout).toBe('fe-secret\n');
    } finally {
      proxy.rewrite = undefined;
    }
  });

  it('R17: no request of a whole run (register → login → sync → passwd) carries the master password in any encoding', async () => {
    // every test's requests are checked too, when it ends (world()); this one goes through it all
    const { kpm, proxy, srv } = await world();
    const email = 'r17@example.org';
    await kpm('r', ['register', '--email', email, '--password-stdin', '--region', 'DE'], 0, ACCOUNT + '\n');
    const code = /activation code: ([A-Z2-7-]+)/.exec(outboxMails(srv.dataDir).filter((m) => m.to.includes(email)).at(-1)!.text)![1];
    await kpm('r', ['activate', '--code-stdin'], 0, code + '\n');
    await kpm('r', ['login', email, '--password-stdin'], 0, ACCOUNT + '\n');
    await kpm('r', ['init', '--password-stdin'], 0, MASTER + '\n');
    await kpm('r', ['add', 'r17-entry', '--password-stdin'], 0, 'r17-secret-z\n', master);
    await kpm('s', ['login', email, '--password-stdin'], 0, ACCOUNT + '\n');
    await kpm('s', ['unlock', '--password-stdin'], 0, MASTER + '\n');
    await kpm('r', ['passwd', '--password-stdin'], 0, `${MASTER}\n${NEW_MASTER}\n`);
    await kpm('r', ['sync'], 0, undefined, { KPM_MASTER_PASSWORD: NEW_MASTER });
    await kpm('s', ['sync'], 0);
    expect((await kpm('s', ['get', 'r17-entry'])).stdout).toBe('r17-secret-z\n');
    const all = Buffer.concat(proxy.requests).toString('latin1');
    // the run went through the proxy: registering, activating, signing in, the keyring and vault uploads, pushes, pulls
    for (const route of ['POST /v1/accounts', 'POST /v1/accounts/activate', 'POST /v1/sessions', 'POST /v1/sync/keyring', 'GET /v1/sync']) expect(proxy.seen, route).toContain(route);
    for (const route of [/^POST \/v1\/sync\/vaults\/[^/]+$/, /\/push$/, /\/pull$/]) expect(proxy.seen.some((x) => route.test(x)), String(route)).toBe(true);
    expect(proxy.requests.length).toBeGreaterThan(15);
    for (const pw of [MASTER, NEW_MASTER]) {
      const b = Buffer.from(pw, 'utf8');
      for (const form of [pw, b.toString('hex'), b.toString('base64'), encodeURIComponent(pw), b.toString('base64url')]) expect(all.includes(form), form).toBe(false);
    }
  });

  it('R16: the server database, its WAL and its log hold no entry name, username, URL or password', async () => {
    // every test's server is checked too, when it ends (world()); this one writes every field kind
    const { kpm, srv } = await world();
    await kpm('a', ['add', 'r16-entry-name', '--username', 'r16-username-x', '--url', 'https://r16.example.net/login', '--password-stdin'], 0, 'r16-secret-q7\n', master);
    await kpm('c', ['sync'], 0, undefined, master);
    await kpm('c', ['edit', 'github', '--password-stdin'], 0, 'from-c-later\n', master);
    await kpm('a', ['sync'], 0, undefined, master);
    await kpm('a', ['rm', 'r16-entry-name', '--yes'], 0, undefined, master);
    expect((await kpm('c', ['sync'], 0, undefined, master)).stderr).toMatch(/received/);
    expect(r16Leaks(srv)).toEqual([]);
  });
});
