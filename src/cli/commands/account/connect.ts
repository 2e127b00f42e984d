// The account commands' connection to the kpm server: which server (--server, KPM_SERVER, the
// stored session, the `server` setting), a client for it, and the signed-in session. Network code
// (src/sync/http.ts) loads only when a command runs.
import type { Command } from 'commander';
import { usageError } from '../../../core/errors.js';
import type { KpmPaths } from '../../../core/paths.js';
import { ctx } from '../../context.js';

export type Http = typeof import('../../../sync/http.js');
export const http = (): Promise<Http> => import('../../../sync/http.js');
export type Api = InstanceType<Http['ApiClient']>;

export interface ServerFlags {
  server?: string;
  insecure?: boolean;
}

export function serverOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'kpm server URL (default: $KPM_SERVER, the signed-in server, or the `server` setting)')
    .option('--insecure', 'allow plain http to a non-loopback host and untrusted TLS certificates (testing only)');
}

async function settingsServer(paths: KpmPaths): Promise<string | undefined> {
  try {
    const { loadSettings } = await import('../../../settings/load.js');
    const s = (await loadSettings(paths)) as unknown as Record<string, unknown>;
    return typeof s.server === 'string' && s.server !== '' ? s.server : undefined;
  } catch {
    return undefined;
  }
}

/** --server, then KPM_SERVER, then the server of the stored session, then the `server` setting. */
export async function serverUrl(o: ServerFlags, sessionServer?: string): Promise<string> {
  const url = o.server ?? (process.env.KPM_SERVER || undefined) ?? sessionServer ?? (await settingsServer(ctx().paths));
  if (!url) throw usageError('no kpm server given', 'pass --server URL, set KPM_SERVER, or `kpm login --server URL` once');
  return url;
}

export async function client(o: ServerFlags, sessionServer?: string) {
  const h = await http();
  return { h, api: new h.ApiClient(await serverUrl(o, sessionServer), o.insecure) };
}

/** The stored session and a client for its server, or exit 4 when not signed in. */
export async function signedIn(o: ServerFlags) {
  const h = await http();
  const { paths } = ctx();
  const session = h.loadSession(paths);
  if (!session) throw h.notSignedIn();
  const api = new h.ApiClient(await serverUrl(o, session.server), o.insecure);
  const call = <T>(name: Parameters<typeof h.authedCall>[3], opts: { body?: unknown; params?: Record<string, string> } = {}) => h.authedCall<T>(paths, api, session, name, opts);
  return { h, api, session, call, paths };
}

/** The server of the stored session, if any (login and reset default to it). */
export async function sessionServer(): Promise<string | undefined> {
  return (await http()).loadSession(ctx().paths)?.server;
}
