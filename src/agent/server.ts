// The unlock agent: a per-user daemon that holds the account key in memory and answers vault
// requests over a Unix socket, until `kpm lock`, a signal, or the idle timeout wipes it.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { randomBytes } from '../crypto/random.js';
import { toHex, wipe } from '../crypto/bytes.js';
import { Session } from '../vault/session.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIR_MODE, ensureDir, ownFileProblem, pidAlive, privateDirProblem, readFileOrNull, tryHoldLock, writeFileAtomic } from '../core/fsutil.js';
import { KpmError, EXIT } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';
import { isWrite, parseRequest, type AgentControl, type MethodFns, type MethodName, type ParamsOf, type ResultOf } from './api.js';
import { fieldOf } from './fields.js';
import { addFromFlags, editFromFlags, type EntryWriter } from './entrywrite.js';
import { sessionApi } from './local.js';
import { AGENT_PROTOCOL, agentPathsIn, MAX_SOCKET_PATH, socketFitsInRun, tokenFileText, type AgentPaths, type AgentRequest, type AgentResponse } from './socket.js';
import { SyncScheduler } from './syncsched.js';
import { SharedHold } from './sharedhold.js';
import { findShared, isSharedVault, localLookup, pickOne, sharedSummaries, sharedView } from '../share/view.js';
import type { ListFilter } from '../vault/session.js';
import type { EntrySummary } from '../vault/entry.js';
import type { OpenedVault } from '../share/client.js';
import { collator, renderList } from '../vault/listing.js';
import { encodeResponse } from './encode.js';
import { decodeHandover } from './handover.js';
import { dropSshKeys, pruneSshKeys, sshIdentities, sshSign } from '../ssh/agentmethods.js';
import { DirectSsh } from '../ssh/direct.js';
import { existingSshDir } from '../ssh/server.js';

const MAX_REQUEST_BYTES = 64 << 20;

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Tells the starting CLI why the agent does not run, with the exit code it should use. */
function refuse(code: number, message: string): never {
  process.stdout.write(`error ${code} ${message}\n`);
  process.exit(EXIT.error);
}

/**
 * The agent's socket folder: the run folder itself, or (socket path too long there) a new folder
 * with a random name in the temp folder, created by mkdtemp (exclusive, 0700). Either way checked
 * with lstat before anything secret goes in (S2).
 */
function makeSocketDir(paths: KpmPaths): AgentPaths {
  if (socketFitsInRun(paths)) return agentPathsIn(paths, paths.run);
  const dir = fs.mkdtempSync(join(tmpdir(), 'kpm-agent-'));
  fs.chmodSync(dir, DIR_MODE);
  const ap = agentPathsIn(paths, dir);
  if (ap.socket.length > MAX_SOCKET_PATH) {
    fs.rmSync(dir, { recursive: true, force: true });
    refuse(EXIT.error, `the agent socket path ${ap.socket} is too long for a Unix socket; set a shorter TMPDIR or KPM_HOME`);
  }
  return ap;
}

/**
 * Whether `pid` is a running kpm agent (not a zombie, not another program that got a dead agent's
 * pid). Where /proc cannot tell, any live process counts.
 */
export function isAgentProcess(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    if (/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('__agent');
  } catch {
    return true;
  }
}

/** How long after a change the automatic sync starts (KPM_AGENT_SYNC_DELAY_MS, default 200 ms; README). */
function syncDelayMs(): number {
  const n = Number(process.env.KPM_AGENT_SYNC_DELAY_MS);
  return Number.isSafeInteger(n) && n >= 0 && n <= 86_400_000 ? n : 200;
}

// ---- the parts of the agent, one job each --------------------------------------------------

interface Unlocked {
  session: Session;
  idleSeconds: number;
  releaseLock: () => void;
}

/**
 * Start-up: one agent per profile (S9): the pid file is its lock, taken before anything else (a
 * second agent says `busy` and exits at once, without reading the keys); then the keys from the
 * handover pipe, and the vaults opened and verified before anything is served.
 */
async function unlockFromHandover(paths: KpmPaths): Promise<Unlocked> {
  ensureDir(paths.run);
  const runBad = privateDirProblem(paths.run);
  if (runBad) refuse(EXIT.forbidden, `refusing to start the agent: ${runBad}`);
  const pidFile = agentPathsIn(paths, paths.run).pid;
  if (!tryHoldLock(pidFile, isAgentProcess)) {
    process.stdout.write('busy\n');
    process.exit(EXIT.ok);
  }
  const releaseLock = () => {
    if (readFileOrNull(pidFile)?.toString() === String(process.pid)) fs.rmSync(pidFile, { force: true });
  };
  const input = await readAll(process.stdin);
  const { profile, vaultKeys, idleSeconds } = decodeHandover(input);
  input.fill(0);
  let session: Session;
  try {
    session = await Session.open(paths, profile, vaultKeys);
    session.listVaults(); // every vault's header and metadata must verify before we serve anything
  } catch (e) {
    releaseLock();
    refuse(e instanceof KpmError ? e.exitCode : EXIT.error, (e as Error).message);
  }
  for (const k of Object.values(vaultKeys)) wipe(k);
  return { session, idleSeconds, releaseLock };
}

interface AgentFiles {
  ap: AgentPaths;
  /** the token file's text, which every request must carry */
  token: Buffer;
  remove(): void;
}

/** The socket folder (checked, S2) and the token file (`<protocol>:<random token>`, 0600). */
function createFiles(paths: KpmPaths, onRefuse: () => void): AgentFiles {
  const ap = makeSocketDir(paths);
  const dirBad = privateDirProblem(ap.dir);
  if (dirBad) {
    onRefuse();
    refuse(EXIT.forbidden, `refusing to start the agent: ${dirBad}`);
  }
  const tokenBytes = randomBytes(32);
  const token = Buffer.from(tokenFileText(AGENT_PROTOCOL, toHex(tokenBytes)));
  wipe(tokenBytes);
  fs.rmSync(ap.socket, { force: true });
  fs.rmSync(ap.token, { force: true });
  writeFileAtomic(ap.token, token);
  return {
    ap,
    token,
    remove() {
      token.fill(0);
      for (const f of [ap.socket, ap.token]) fs.rmSync(f, { force: true });
      if (ap.dir !== paths.run) {
        if (readFileOrNull(ap.pointer)?.toString() === ap.dir) fs.rmSync(ap.pointer, { force: true });
        fs.rmSync(ap.dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * The automatic sync shortly after changes, never of a change made offline (src/agent/syncsched.ts):
 * the own vaults, then the shared vaults the agent holds (src/agent/sharedhold.ts).
 */
function autoSyncScheduler(paths: KpmPaths, session: Session, shared: SharedHold): SyncScheduler {
  return new SyncScheduler(async () => {
    const { autoSyncOutcome, autoSyncWanted } = await import('../sync/auto.js');
    if (!(await autoSyncWanted(paths))) return undefined;
    const own = await autoSyncOutcome(session);
    const theirs = await shared.syncOutcome();
    return own.failed ? own : theirs.failed ? { ...own, failed: theirs.failed } : own;
  }, undefined, syncDelayMs());
}

/**
 * The idle clocks: the whole agent stops after `idleSeconds` without a request; data vaults with
 * their own password lock after the same idle time, on their own clock, their changes sent first
 * (only their key can seal them for the server: src/sync/lockflush.ts).
 */
class IdleTimers {
  private idleTimer: NodeJS.Timeout | undefined;
  private dataVaultTimer: NodeJS.Timeout | undefined;
  private idleLocking = false;

  constructor(
    private seconds: number,
    private readonly session: Session,
    private readonly syncs: SyncScheduler,
    private readonly onIdle: () => void,
  ) {}

  get idleSeconds(): number {
    return this.seconds;
  }

  /** `kpm unlock --timeout N` while unlocked */
  setIdleSeconds(seconds: number): void {
    this.seconds = seconds;
    this.armDataVaults();
    this.touch();
  }

  /** a request counts as use */
  touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.seconds > 0) this.idleTimer = setTimeout(this.onIdle, this.seconds * 1000);
  }

  armDataVaults(): void {
    if (this.dataVaultTimer) clearInterval(this.dataVaultTimer);
    this.dataVaultTimer = this.seconds > 0 ? setInterval(() => void this.lockIdle().catch(() => undefined), Math.min(30_000, this.seconds * 250)).unref() : undefined;
  }

  private async lockIdle(): Promise<void> {
    const ms = this.seconds * 1000;
    if (this.idleLocking || this.session.idleDataVaults(ms).length === 0) return;
    this.idleLocking = true;
    try {
      await this.syncs.idle();
      // an offline hold means the agent sends nothing on its own: the changes wait for the next unlock;
      // a failed send does not keep a data vault open past its idle time (its changes wait the same way)
      if (!this.syncs.isHeld) await (await loadLockFlush()).syncBeforeLock(this.session).catch(() => undefined);
      this.session.lockIdleDataVaults(ms);
      pruneSshKeys(this.session); // the keys of a vault that locked go with it
    } finally {
      this.idleLocking = false;
    }
  }
}

/** SIGTERM, SIGINT and SIGHUP stop the agent as `kpm lock` does, keys wiped. */
function stopOnSignals(stop: (code: number) => void): void {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => stop(EXIT.ok));
}

/**
 * The modules the agent loads on demand for syncing before a lock, loaded when it starts: an upgrade
 * of kpm (npm install -g, a rebuild) replaces dist/ under a running agent, whose later imports of
 * chunks then fail. Loaded once, a module is served from the loader's cache, so a lock still sends a
 * data vault's changes after an upgrade; anything else that is missing stops the agent (outdated()).
 */
let lockFlush: Promise<typeof import('../sync/lockflush.js')> | undefined;
const loadLockFlush = () => (lockFlush ??= import('../sync/lockflush.js'));
const preload = (): Promise<unknown> => Promise.all([loadLockFlush(), import('../sync/auto.js'), import('../sync/run.js'), import('../settings/store.js'), import('../settings/schema.js'), import('../settings/retention.js')]);

/** An import of a file the running agent's build no longer has: kpm was upgraded under it. */
const outdated = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND';
const OUTDATED: AgentResponse = { error: { message: 'kpm was upgraded while this agent was running: the agent stopped and wiped its keys', exitCode: EXIT.locked, hint: 'run `kpm unlock` again' } };

const failure = (e: unknown): AgentResponse =>
  e instanceof KpmError ? { error: { message: e.message, exitCode: e.exitCode, hint: e.hint, kind: e.kind } } : { error: { message: `agent error: ${(e as Error).message}`, exitCode: EXIT.error } };

interface Dispatch {
  session: Session;
  /** the shared vaults, verified (src/agent/sharedhold.ts) */
  shared: SharedHold;
  syncs: SyncScheduler;
  idle: IdleTimers;
  /** the SSH sockets this agent serves itself (src/ssh/direct.ts) */
  direct: DirectSsh;
  /** stops the agent after the answer went out */
  stopSoon: () => void;
}

/** The agent's own methods (AgentControl), and the vault methods that reach the shared vaults it holds; `offline`: the request's command runs offline. */
function controlMethods(d: Dispatch, offline: boolean): AgentControl & Pick<MethodFns, 'sharedHeld' | 'sync'> {
  const { session, syncs, idle } = d;
  return {
    status: async () => ({ pid: process.pid, protocol: AGENT_PROTOCOL, idleSeconds: idle.idleSeconds, entries: session.entryCount(), syncHeld: syncs.isHeld, syncPending: syncs.isPending, syncRuns: syncs.runs, lastSyncError: syncs.error ?? null, sshSockets: d.direct.sockets }),
    setIdleTimeout: async (seconds) => {
      idle.setIdleSeconds(seconds);
      return { idleSeconds: seconds };
    },
    lock: async () => {
      // data vaults' changes go out first (only their key can seal them); a failure does not keep the agent up
      await syncs.idle().catch(() => undefined);
      try {
        if (!syncs.isHeld && !offline) await (await loadLockFlush()).syncBeforeLock(session);
      } catch {
        /* not sent: they wait for the next unlock; the agent stops all the same */
      }
      // a summary index this agent could write but has not yet (a `list` right before the lock: the
      // background write waits for a quiet moment) is written now, so that the next unlock's first
      // list opens it instead of decrypting every record (`kpm unlock; kpm list; kpm lock` in a script)
      await session.saveSummaryIndexes().catch(() => undefined);
      d.stopSoon();
      return true;
    },
    getField: async (query, vault, field) => fieldOf(session.get(query, vault), field),
    // the own vaults and the shared vaults held here, with the full program's rules (src/cli/shared.ts)
    getFieldAll: async (query, vault, field) => {
      const s = await sharedFor(d, vault, offline);
      const own = () => fieldOf(session.get(query, vault), field);
      if (!s) return own();
      const loc = await localLookup(own);
      const p = pickOne(query, { ...loc, label: loc.hit && `${loc.hit.vault}/${loc.hit.name}` }, findShared(s, query, vault));
      return 'local' in p ? p.local : fieldOf(sharedView(p.shared.v, p.shared.id), field);
    },
    listTextAll: async (filter, json) => {
      const s = await sharedFor(d, filter.vault, offline);
      if (!s) return session.listText(filter, json);
      return renderList(listAll(d, s, filter), json);
    },
    listAll: async (filter) => {
      const s = await sharedFor(d, filter.vault, offline);
      return s ? listAll(d, s, filter) : session.list(filter);
    },
    sharedHeld: async () => (await d.shared.current(offline)) !== null,
    sync: async () => {
      const r = await (await import('../sync/run.js')).syncNow(session);
      const s = await d.shared.sync(true);
      return s ? { ...r, shared: s.rows, sharedNotes: s.notes } : r;
    },
    addEntry: async (name, flags) => addFromFlags(entryWriter(d), name, flags),
    editEntry: async (query, flags) => editFromFlags(entryWriter(d), query, flags),
    // SSH keys for `kpm ssh-agent` (src/ssh/agentmethods.ts); signing counts as use
    sshIdentities: async () => sshIdentities(session),
    sshSign: async (blob, data, flags) => {
      idle.touch();
      return sshSign(session, blob, data, flags);
    },
    // a `kpm ssh-agent` that just started: its socket is served from here from now on
    sshAttach: async () => {
      await d.direct.attachAll();
      return { sockets: d.direct.sockets };
    },
  };
}

/** The held shared vaults for a lookup, unless `vault` names a vault of one's own (which wins over a shared one of that name). */
async function sharedFor(d: Dispatch, vault: string | undefined, offline: boolean): Promise<{ vaults: OpenedVault[] } | null> {
  const vaults = await d.shared.current(offline);
  if (!vaults) return null;
  if (vault !== undefined && (await import('../sync/remotevaults.js')).listWithRemote(d.session).some((x) => x.name === vault)) return null;
  return { vaults };
}

/** The own and the shared entries matching a filter, sorted as `kpm list` shows them. */
function listAll(d: Dispatch, s: { vaults: OpenedVault[] }, filter: ListFilter): EntrySummary[] {
  const own = filter.vault !== undefined && isSharedVault(s, filter.vault) ? [] : d.session.list(filter);
  return [...own, ...sharedSummaries(s, filter)].sort((x, y) => collator.compare(x.vault, y.vault) || collator.compare(x.name, y.name));
}

/** The vault and the settings as the hot-path writes need them (the settings are read for each request). */
function entryWriter(d: Dispatch): EntryWriter {
  return {
    settings: async () => (await import('../settings/load.js')).loadSettings(d.session.paths),
    add: (vault, p) => d.session.add(vault, p),
    get: async (query, vault) => d.session.get(query, vault),
    update: (vault, id, base, p) => d.session.update(vault, id, base, p),
  };
}

/** Methods that neither count as use nor show the background sync's notice. */
/** how long the agent waits without requests before its background work (summaries, index) */
const WARM_QUIET_MS = 3000;

const QUIET: ReadonlySet<MethodName> = new Set(['status', 'setIdleTimeout', 'lock', 'sshIdentities', 'sshSign', 'sshAttach']);

/** Calls one checked request (its method's function from the same typed table). */
function invoke<K extends MethodName>(fns: MethodFns, method: K, params: ParamsOf<K>): Promise<ResultOf<K>> {
  const fn: MethodFns[K] = fns[method];
  return fn(...params);
}

/** One request: the token, the protocol version, the method table's check, then the method. */
async function handleRequest(d: Dispatch, token: Buffer, req: AgentRequest): Promise<AgentResponse> {
  const given = Buffer.from(String(req?.token ?? ''));
  if (given.length !== token.length || !timingSafeEqual(given, token)) return { error: { message: 'agent refused the request (bad token)', exitCode: EXIT.locked } };
  // `lock` is the same in every version: a CLI of another version can always stop this agent
  if (req.method !== 'lock' && req.v !== AGENT_PROTOCOL) {
    return { error: { message: `agent refused the request: this agent speaks agent protocol ${AGENT_PROTOCOL}, the command ${req.v ?? 1} (another version of kpm): run \`kpm lock\`, then \`kpm unlock\``, exitCode: EXIT.locked, kind: 'protocol', protocol: AGENT_PROTOCOL } };
  }
  const checked = parseRequest(req.method, req.params);
  if (typeof checked === 'string') return { error: { message: `agent refused the request: ${checked}`, exitCode: EXIT.usage } };
  const offline = req.offline === true;
  const quiet = QUIET.has(checked.method);
  if (!quiet) d.idle.touch();
  const notice = quiet ? undefined : d.syncs.takeNotice();
  const withNotice = (r: AgentResponse): AgentResponse => (notice ? { ...r, notice } : r);
  try {
    if (checked.method !== 'status' && checked.method !== 'lock' && checked.method !== 'setIdleTimeout') d.session.refresh();
    const fns: MethodFns = { ...sessionApi(d.session, true, offline), ...controlMethods(d, offline) };
    const write = isWrite(checked.method);
    if (write) await d.syncs.beforeWrite(offline);
    const result = checked.method === 'sync' ? await d.syncs.explicitSync(() => fns.sync()) : await invoke(fns, checked.method, checked.params);
    if (write) d.syncs.afterWrite(offline);
    if (checked.method === 'lockVault' || checked.method === 'removeVault') pruneSshKeys(d.session);
    return withNotice({ ok: result ?? null });
  } catch (e) {
    if (outdated(e)) {
      d.stopSoon();
      return OUTDATED;
    }
    return withNotice(failure(e));
  }
}

/** Framing: one newline-terminated JSON request per connection, one JSON answer, then close. */
function serveFramed(server: net.Server, handle: (req: AgentRequest) => Promise<AgentResponse>): void {
  server.on('connection', (sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES) return sock.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      let req: AgentRequest;
      try {
        req = JSON.parse(line);
        if (req === null || typeof req !== 'object' || Array.isArray(req)) throw new Error('not an object');
      } catch {
        sock.end(JSON.stringify({ error: { message: 'malformed agent request', exitCode: EXIT.usage } }) + '\n');
        return;
      }
      void handle(req).then((res) => sock.end(encodeResponse(res, req.raw === true)));
    });
  });
}

export async function runAgent(paths: KpmPaths): Promise<void> {
  const { session, idleSeconds, releaseLock } = await unlockFromHandover(paths);
  const files = createFiles(paths, () => {
    session.close();
    releaseLock();
  });
  const server = net.createServer();
  let stopped = false;
  // keys wiped first; then each SSH socket goes back to its `kpm ssh-agent` (which answers
  // "locked" from then on) before the process ends, so `kpm lock` returns with the socket served
  const stop = (code: number = EXIT.ok) => {
    if (stopped) return;
    stopped = true;
    dropSshKeys(session);
    shared.close(); // the shared vaults' keys and entries go with the rest
    session.close();
    files.remove();
    server.close();
    void direct.releaseAll().finally(() => {
      releaseLock();
      process.exit(code);
    });
  };
  const shared = new SharedHold(session);
  const syncs = autoSyncScheduler(paths, session, shared);
  const idle = new IdleTimers(idleSeconds, session, syncs, () => stop(EXIT.ok));
  idle.armDataVaults();
  stopOnSignals(stop);
  const stopSoon = () => setImmediate(() => stop(EXIT.ok));
  const direct = new DirectSsh(() => existingSshDir(paths), { session, live: () => !stopped, touch: () => idle.touch(), lock: stopSoon });
  const d: Dispatch = { session, shared, syncs, idle, direct, stopSoon };
  setTimeout(() => void preload().catch(() => undefined), 100).unref(); // after the first request, which is often right away
  // Background work (src/vault/summaryindex.ts): read the summary index, load the log, decrypt the
  // summaries the index did not have, in small slices, then write the index of the current commit,
  // so that the next agent's first `list` is one AEAD open. Loading a large log is one long step:
  // it waits until no request came for WARM_QUIET_MS (a `list` right after unlocking is served from
  // the index meanwhile). With the log loaded the rest is cheap and runs at once, except that after
  // a write the index is rewritten only once writes paused for WARM_QUIET_MS (a burst of `kpm add`
  // re-seals it once). It runs again after every request. The first time, then, the strength
  // estimator for `kpm add` / `kpm edit` (zxcvbn's dictionaries, loaded once).
  let lastRequest = Date.now();
  let lastWrite = 0;
  let warming = false;
  let estimatorLoaded = false;
  let warmFailed = false;
  const warm = () => {
    if (stopped) return;
    const since = session.logsLoaded() ? lastWrite : lastRequest;
    const quietFor = Date.now() - since;
    if (quietFor < WARM_QUIET_MS) return void setTimeout(warm, WARM_QUIET_MS - quietFor);
    let done: boolean;
    try {
      done = session.warmUp(20);
    } catch {
      // a log that does not load (exit 8): no more background work; each command that reads it says so
      warmFailed = true;
      return;
    }
    if (!done) return void setTimeout(warm, 1);
    void session
      .saveSummaryIndexes()
      .catch(() => undefined)
      .then(() => {
        warming = false;
        if (estimatorLoaded || stopped) return;
        estimatorLoaded = true;
        setTimeout(() => void import('../audit/strength.js').then((m) => m.loadEstimator()).catch(() => undefined), 50);
      });
  };
  const startWarm = () => {
    if (warming || stopped || warmFailed) return;
    warming = true;
    setTimeout(warm, 1);
  };
  const writes = (method: unknown): boolean => {
    try {
      return isWrite(method as MethodName) === true;
    } catch {
      return false; // not a method (refused by handleRequest)
    }
  };
  serveFramed(server, (req) => {
    lastRequest = Date.now();
    return handleRequest(d, files.token, req).finally(() => {
      lastRequest = Date.now();
      if (writes(req.method) || req.method === 'sync') lastWrite = lastRequest;
      startWarm();
    });
  });
  listen(paths, server, files.ap, {
    // the sockets of running `kpm ssh-agent`s are served from here before `kpm unlock` returns
    prepare: () => direct.attachAll(),
    ready: () => {
      idle.touch();
      lastRequest = Date.now();
      // the summary index and the list text from it, while the first command is still starting up
      setImmediate(() => {
        try {
          session.prefetchList();
        } catch {
          /* the command that lists reports it */
        }
        // the shared vaults' verified copy (share.kpms), loaded once; a failure is the next command's to report
        void shared.current(true).catch(() => undefined);
        startWarm();
      });
    },
    fail: (code) => stop(code),
  });
}

/** Listens on the socket (0600, checked), then tells the starting CLI `ready`. */
function listen(paths: KpmPaths, server: net.Server, ap: AgentPaths, on: { prepare: () => Promise<void>; ready: () => void; fail: (code: number) => void }): void {
  const oldUmask = process.umask(0o177);
  server.listen(ap.socket, () => {
    process.umask(oldUmask);
    fs.chmodSync(ap.socket, 0o600);
    const sockBad = ownFileProblem(ap.socket, 'socket');
    if (sockBad) {
      process.stdout.write(`error ${EXIT.forbidden} refusing to start the agent: ${sockBad}\n`);
      return on.fail(EXIT.error);
    }
    if (ap.dir !== paths.run) writeFileAtomic(ap.pointer, Buffer.from(ap.dir));
    void on.prepare().catch(() => undefined).then(() => {
      process.stdout.write('ready\n');
      on.ready();
    });
  });
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  server.on('error', (e) => {
    process.stderr.write(`kpm agent: ${e.message}\n`);
    on.fail(EXIT.error);
  });
}
