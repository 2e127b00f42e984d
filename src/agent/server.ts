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
import { checkRequest, WRITE_METHODS } from './api.js';
import { sessionApi } from './local.js';
import { agentPathsIn, MAX_SOCKET_PATH, socketFitsInRun, type AgentPaths, type AgentRequest, type AgentResponse } from './socket.js';
import { SyncScheduler } from './syncsched.js';
import { decodeHandover } from './handover.js';
import { SSH_AGENT_METHODS, sshAgentMethod } from '../ssh/agentmethods.js';

const MAX_REQUEST_BYTES = 64 << 20;

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Tells the starting CLI why the agent does not run, with the exit code it should use. */
function refuse(code: number, message: string): never {
  process.stdout.write(`error ${code} ${message}\n`);
  process.exit(1);
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

export async function runAgent(paths: KpmPaths): Promise<void> {
  // One agent per profile (S9): the pid file is its lock, taken before anything else; a second
  // agent exits at once, without reading the keys.
  ensureDir(paths.run);
  const runBad = privateDirProblem(paths.run);
  if (runBad) refuse(EXIT.forbidden, `refusing to start the agent: ${runBad}`);
  const pidFile = agentPathsIn(paths, paths.run).pid;
  if (!tryHoldLock(pidFile, isAgentProcess)) {
    process.stdout.write('busy\n');
    process.exit(0);
  }
  const releaseLock = () => {
    if (readFileOrNull(pidFile)?.toString() === String(process.pid)) fs.rmSync(pidFile, { force: true });
  };
  const input = await readAll(process.stdin);
  const handover = decodeHandover(input);
  const { profile, vaultKeys } = handover;
  let idleSeconds = handover.idleSeconds; // `kpm unlock --timeout N` while unlocked changes it (setIdleTimeout)
  input.fill(0);
  let session: Session;
  try {
    session = await Session.open(paths, profile, vaultKeys);
    session.listVaults(); // every vault's header and metadata must verify before we serve anything
  } catch (e) {
    releaseLock();
    const code = e instanceof KpmError ? e.exitCode : 1;
    refuse(code, (e as Error).message);
  }
  for (const k of Object.values(vaultKeys)) wipe(k);
  const ap = makeSocketDir(paths);
  const dirBad = privateDirProblem(ap.dir);
  if (dirBad) {
    session.close();
    releaseLock();
    refuse(EXIT.forbidden, `refusing to start the agent: ${dirBad}`);
  }
  const tokenBytes = randomBytes(32);
  const token = Buffer.from(toHex(tokenBytes));
  fs.rmSync(ap.socket, { force: true });
  fs.rmSync(ap.token, { force: true });
  writeFileAtomic(ap.token, token);

  let idleTimer: NodeJS.Timeout | undefined;
  const server = net.createServer();
  let stopped = false;
  const stop = (code = 0) => {
    if (stopped) return;
    stopped = true;
    session.close();
    wipe(tokenBytes);
    token.fill(0);
    for (const f of [ap.socket, ap.token]) fs.rmSync(f, { force: true });
    if (ap.dir !== paths.run) {
      if (readFileOrNull(ap.pointer)?.toString() === ap.dir) fs.rmSync(ap.pointer, { force: true });
      fs.rmSync(ap.dir, { recursive: true, force: true });
    }
    server.close();
    releaseLock();
    process.exit(code);
  };
  // Data vaults with their own password lock after the same idle time, on their own clock.
  // Their changes are sent first: only their key can seal them for the server (src/sync/lockflush.ts).
  let idleLocking = false;
  const lockIdle = async () => {
    if (idleLocking || session.idleDataVaults(idleSeconds * 1000).length === 0) return;
    idleLocking = true;
    try {
      await syncs.idle();
      // an offline hold means the agent sends nothing on its own: the changes wait for the next unlock
      if (!syncs.isHeld) await (await import('../sync/lockflush.js')).syncBeforeLock(session);
      session.lockIdleDataVaults(idleSeconds * 1000);
    } finally {
      idleLocking = false;
    }
  };
  let dataVaultTimer: NodeJS.Timeout | undefined;
  const armDataVaults = () => {
    if (dataVaultTimer) clearInterval(dataVaultTimer);
    dataVaultTimer = idleSeconds > 0 ? setInterval(() => void lockIdle().catch(() => undefined), Math.min(30_000, idleSeconds * 250)).unref() : undefined;
  };
  armDataVaults();
  const touch = () => {
    if (idleTimer) clearTimeout(idleTimer);
    if (idleSeconds > 0) idleTimer = setTimeout(() => stop(0), idleSeconds * 1000);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => stop(0));

  // Automatic sync shortly after changes, never of a change made offline (src/agent/syncsched.ts).
  // The sync on unlock is asked for by `kpm unlock` itself, which waits for it.
  const syncs = new SyncScheduler(async () => {
    const { autoSyncOutcome, autoSyncWanted } = await import('../sync/auto.js');
    if (!(await autoSyncWanted(paths))) return undefined;
    return autoSyncOutcome(session);
  }, undefined, syncDelayMs());

  const handle = async (req: AgentRequest): Promise<AgentResponse> => {
    const given = Buffer.from(String(req?.token ?? ''));
    if (given.length !== token.length || !timingSafeEqual(given, token)) return { error: { message: 'agent refused the request (bad token)', exitCode: 4 } };
    const problem = checkRequest(req.method, req.params);
    if (problem) return { error: { message: `agent refused the request: ${problem}`, exitCode: EXIT.usage } };
    const offline = req.offline === true;
    if (req.method === 'status') {
      const err = syncs.error;
      return { ok: { pid: process.pid, idleSeconds, entries: session.entryCount(), syncHeld: syncs.isHeld, syncPending: syncs.isPending, syncRuns: syncs.runs, lastSyncError: err ?? null } };
    }
    if (req.method === 'setIdleTimeout') {
      idleSeconds = (req.params as number[])[0]; // whole seconds, checked against the method table
      armDataVaults();
      touch();
      return { ok: { idleSeconds } };
    }
    if (req.method === 'lock') {
      // data vaults' changes go out first (only their key can seal them); a failure does not keep the agent up
      await syncs.idle().catch(() => undefined);
      if (!syncs.isHeld && !offline) await (await import('../sync/lockflush.js')).syncBeforeLock(session).catch(() => undefined);
      setImmediate(() => stop(0));
      return { ok: true };
    }
    // --- SSH keys for `kpm ssh-agent` (src/ssh/agentmethods.ts); signing counts as use ---
    if (SSH_AGENT_METHODS.includes(req.method)) {
      if (req.method === 'sshSign') touch();
      try {
        session.refresh();
        return { ok: sshAgentMethod(session, req.method, (req.params ?? []) as unknown[]) };
      } catch (e) {
        if (e instanceof KpmError) return { error: { message: e.message, exitCode: e.exitCode, hint: e.hint, kind: e.kind } };
        return { error: { message: `agent error: ${(e as Error).message}`, exitCode: 1 } };
      }
    }
    // --- end SSH keys ---
    touch();
    const notice = syncs.takeNotice();
    const withNotice = (r: AgentResponse): AgentResponse => (notice ? { ...r, notice } : r);
    try {
      session.refresh();
      const api = sessionApi(session, true, offline);
      const fn = (api as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[req.method];
      const params = (req.params ?? []).map((p) => (p === null ? undefined : p));
      const write = WRITE_METHODS.has(req.method);
      if (write) await syncs.beforeWrite(offline);
      const result = req.method === 'sync' ? await syncs.explicitSync(() => fn()) : ((await fn(...params)) ?? null);
      if (write) syncs.afterWrite(offline);
      return withNotice({ ok: result ?? null });
    } catch (e) {
      if (e instanceof KpmError) return withNotice({ error: { message: e.message, exitCode: e.exitCode, hint: e.hint, kind: e.kind } });
      return withNotice({ error: { message: `agent error: ${(e as Error).message}`, exitCode: 1 } });
    }
  };

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
        sock.end(JSON.stringify({ error: { message: 'malformed agent request', exitCode: 2 } }) + '\n');
        return;
      }
      void handle(req).then((res) => sock.end(JSON.stringify(res) + '\n'));
    });
  });

  const oldUmask = process.umask(0o177);
  server.listen(ap.socket, () => {
    process.umask(oldUmask);
    fs.chmodSync(ap.socket, 0o600);
    const sockBad = ownFileProblem(ap.socket, 'socket');
    if (sockBad) {
      process.stdout.write(`error ${EXIT.forbidden} refusing to start the agent: ${sockBad}\n`);
      return stop(1);
    }
    if (ap.dir !== paths.run) writeFileAtomic(ap.pointer, Buffer.from(ap.dir));
    touch();
    process.stdout.write('ready\n');
    // Decrypt the entry summaries in small slices between requests, so the first `list` is fast.
    const warm = () => {
      if (!stopped && !session.warmUp(20)) setTimeout(warm, 1);
    };
    setTimeout(warm, 1);
  });
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  server.on('error', (e) => {
    process.stderr.write(`kpm agent: ${e.message}\n`);
    stop(1);
  });
}
