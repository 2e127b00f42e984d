// The hot path of a CI job: `kpm read REF [-n]` and `kpm get NAME [--field F] [--vault V]` with
// KPM_TOKEN and KPM_SERVER set. bin/kpm loads this small bundle (dist/tokenfast.cjs) instead of the
// full program: no command-line framework, no HTTP library (node:http/https, the same URL rule, the
// same response schemas), and the token cache (src/sync/tokencache.ts), so a warm read is one
// request and one decryption. The verification is TokenVault.load's, exactly as in the full program.
// Anything else, and any error (a revoked token, tampering, the network), goes to the full program,
// which does it again and reports it in its usual words.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { ROUTES, type RouteName } from '../protocol/routes.js';
import { validate } from '../protocol/validate.js';
import { PULL_NEXT_HEADER, type PullResultT, type TokenVaultT } from '../protocol/schemas.js';
import { checkServerUrl } from '../sync/serverurl.js';
import { parseServiceToken, tokenAuthHeader, tokenKeys, TokenVault } from '../sync/tokenvault.js';
import { TokenCache, tokenCacheRoot } from '../sync/tokencache.js';
import { ShareTokenVault } from '../share/tokenvault.js';
import type { SharePullT, TokenShareT } from '../protocol/share.js';
import { fieldValue, primaryField } from '../vault/entry.js';
import { parseRef } from './refs.js';

/** as src/sync/http.ts MAX_SYNC_RESPONSE_BYTES: a pull page, or one large entry */
const MAX_RESPONSE_BYTES = 40 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

class Declined extends Error {}

/** `onNext`: called with the PULL_NEXT_HEADER of the answer, when it has one, before the body is read */
function call<T>(base: URL, name: RouteName, authorization: string, body?: unknown, onNext?: (next: number) => void): Promise<T> {
  const spec = ROUTES[name];
  const prefix = base.pathname === '/' ? '' : base.pathname;
  const url = new URL(prefix + spec.path, base);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'kpm', authorization };
  if (data) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(data.length) });
  // node:https (and TLS with it) loaded only for an https server
  const send: typeof httpRequest = url.protocol === 'https:' ? (require('node:https') as typeof import('node:https')).request : httpRequest;
  return new Promise<T>((resolve, reject) => {
    const req = send(url, { method: spec.method, headers, timeout: TIMEOUT_MS }, (res: IncomingMessage) => {
      const next = res.headers[PULL_NEXT_HEADER];
      if (onNext && res.statusCode === spec.status && typeof next === 'string' && /^[0-9]{1,15}$/.test(next)) onNext(Number(next));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new Declined('answer too large'));
        else chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== spec.status) return reject(new Declined(`HTTP ${res.statusCode}`));
        let json: unknown;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reject(new Declined('not JSON'));
        }
        if (validate(spec.response, json, { allowExtra: false }) !== null) return reject(new Declined('off the schema'));
        resolve(json as T);
      });
    });
    req.on('timeout', () => req.destroy(new Declined('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

/** What to look up and print, or undefined for anything this path does not do. */
function parseArgs(argv: string[]): { query: string; vault?: string; field?: string; bare: boolean } | undefined {
  const [cmd, ...rest] = argv;
  if (cmd === 'read') {
    const args = rest.filter((a) => !['-n', '--no-newline', '--raw'].includes(a));
    if (args.length !== 1 || args[0].startsWith('-')) return undefined;
    let ref;
    try {
      ref = parseRef(args[0]);
    } catch {
      return undefined;
    }
    return { query: ref.item, vault: ref.vault, field: ref.field, bare: args.length !== rest.length };
  }
  if (cmd === 'get') {
    const args: string[] = [];
    const flags: Record<string, string> = {};
    for (let i = 0; i < rest.length; i++) {
      if ((rest[i] === '--field' || rest[i] === '--vault') && i + 1 < rest.length) flags[rest[i]] = rest[++i];
      else if (rest[i].startsWith('-')) return undefined;
      else args.push(rest[i]);
    }
    if (args.length !== 1) return undefined;
    return { query: args[0], vault: flags['--vault'], field: flags['--field'], bare: false };
  }
  return undefined;
}

export async function tokenFastPath(argv: string[]): Promise<number | undefined> {
  const server = process.env.KPM_SERVER;
  const a = parseArgs(argv);
  if (!server || !a || a.field?.toLowerCase() === 'totp') return undefined;
  let cache: TokenCache | undefined;
  let v: TokenVault | ShareTokenVault | undefined;
  try {
    const token = parseServiceToken(process.env.KPM_TOKEN ?? '');
    const base = checkServerUrl(server);
    const { authKey } = tokenKeys(token);
    const authorization = tokenAuthHeader(token.id, authKey);
    authKey.fill(0);
    const root = tokenCacheRoot();
    cache = root === null ? undefined : new TokenCache(root, token);
    if (token.shared) {
      // a shared vault (docs/SHARING.md "Service tokens on shared vaults"): ShareTokenVault.load's checks, with the token cache
      const { wrapKey } = tokenKeys(token);
      try {
        v = await ShareTokenVault.load({ vault: () => call<TokenShareT>(base, 'tokenShare', authorization), pull: (after) => call<SharePullT>(base, 'tokenSharePull', authorization, { after }) }, token.id, wrapKey, cache);
      } finally {
        wrapKey.fill(0);
      }
    } else v = await TokenVault.load({ vault: () => call<TokenVaultT>(base, 'tokenVault', authorization), pull: (after, onNext) => call<PullResultT>(base, 'tokenPull', authorization, { after }, onNext) }, token, cache);
    const e = v.get(a.query, a.vault);
    const value = fieldValue(e.payload, a.field ?? primaryField(e.payload.type));
    if (value === undefined) return undefined;
    for (const w of v.warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(a.bare || value.endsWith('\n') ? value : value + '\n');
    return 0;
  } catch {
    return undefined; // the full program does it again and reports what went wrong
  } finally {
    v?.close();
    cache?.close();
  }
}
