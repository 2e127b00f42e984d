// The unlock agent: a per-user daemon that holds the account key in memory and answers vault
// requests over a Unix socket, until `kpm lock`, a signal, or the idle timeout wipes it.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { randomBytes } from '../crypto/random.js';
import { toHex, wipe } from '../crypto/bytes.js';
import { Session } from '../vault/session.js';
import { ensureDir, FILE_MODE } from '../vault/fsutil.js';
import { KpmError } from '../vault/errors.js';
import type { KpmPaths } from '../vault/paths.js';
import { AGENT_METHODS, WRITE_METHODS, type VaultApi } from './api.js';
import { sessionApi } from './local.js';
import { agentPaths, type AgentRequest, type AgentResponse } from './socket.js';
import { decodeHandover } from './handover.js';

const MAX_REQUEST_BYTES = 64 << 20;

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function runAgent(paths: KpmPaths): Promise<void> {
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
    // Tell the starting CLI why, with the exit code it should use.
    const code = e instanceof KpmError ? e.exitCode : 1;
    process.stdout.write(`error ${code} ${(e as Error).message}\n`);
    process.exit(1);
  }
  for (const k of Object.values(vaultKeys)) wipe(k);
  const api: VaultApi = sessionApi(session, true);
  const ap = agentPaths(paths);
  ensureDir(ap.dir);
  const tokenBytes = randomBytes(32);
  const token = Buffer.from(toHex(tokenBytes));
  fs.rmSync(ap.socket, { force: true });
  fs.writeFileSync(ap.token, token, { mode: FILE_MODE });
  fs.writeFileSync(ap.pid, String(process.pid), { mode: FILE_MODE });

  let idleTimer: NodeJS.Timeout | undefined;
  const server = net.createServer();
  let stopped = false;
  const stop = (code = 0) => {
    if (stopped) return;
    stopped = true;
    session.close();
    wipe(tokenBytes);
    token.fill(0);
    for (const f of [ap.socket, ap.token, ap.pid]) fs.rmSync(f, { force: true });
    server.close();
    process.exit(code);
  };
  // Data vaults with their own password lock after the same idle time, on their own clock.
  let dataVaultTimer: NodeJS.Timeout | undefined;
  const armDataVaults = () => {
    if (dataVaultTimer) clearInterval(dataVaultTimer);
    dataVaultTimer = idleSeconds > 0 ? setInterval(() => session.lockIdleDataVaults(idleSeconds * 1000), Math.min(30_000, idleSeconds * 250)).unref() : undefined;
  };
  armDataVaults();
  const touch = () => {
    if (idleTimer) clearTimeout(idleTimer);
    if (idleSeconds > 0) idleTimer = setTimeout(() => stop(0), idleSeconds * 1000);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => stop(0));

  // Automatic sync shortly after changes (several changes in a row go out together). The sync on
  // unlock is asked for by `kpm unlock` itself, which waits for it.
  let syncTimer: NodeJS.Timeout | undefined;
  let syncing: Promise<void> = Promise.resolve();
  const scheduleSync = (delayMs = 200) => {
    if (syncTimer) clearTimeout(syncTimer);
    syncTimer = setTimeout(() => {
      syncing = syncing.then(async () => {
        const { autoSync, autoSyncWanted } = await import('../sync/auto.js');
        if (await autoSyncWanted(paths)) await autoSync(session);
      });
    }, delayMs);
  };

  const handle = async (req: AgentRequest): Promise<AgentResponse> => {
    const given = Buffer.from(String(req.token ?? ''));
    if (given.length !== token.length || !timingSafeEqual(given, token)) return { error: { message: 'agent refused the request (bad token)', exitCode: 4 } };
    if (req.method === 'status') return { ok: { pid: process.pid, idleSeconds, entries: session.entryCount() } };
    if (req.method === 'setIdleTimeout') {
      const n = Array.isArray(req.params) ? req.params[0] : undefined;
      if (!Number.isSafeInteger(n) || (n as number) < 0 || (n as number) > 10080 * 60) return { error: { message: 'setIdleTimeout expects whole seconds', exitCode: 2 } };
      idleSeconds = n as number;
      armDataVaults();
      touch();
      return { ok: { idleSeconds } };
    }
    if (req.method === 'lock') {
      setImmediate(() => stop(0));
      return { ok: true };
    }
    if (!(AGENT_METHODS as readonly string[]).includes(req.method)) return { error: { message: `unknown agent method ${req.method}`, exitCode: 2 } };
    touch();
    try {
      session.refresh();
      const fn = (api as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[req.method];
      const params = (Array.isArray(req.params) ? req.params : []).map((p) => (p === null ? undefined : p));
      const result = (await fn(...params)) ?? null;
      if (WRITE_METHODS.includes(req.method)) scheduleSync();
      return { ok: result };
    } catch (e) {
      if (e instanceof KpmError) return { error: { message: e.message, exitCode: e.exitCode, hint: e.hint } };
      return { error: { message: `agent error: ${(e as Error).message}`, exitCode: 1 } };
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
