// Credential helpers: `kpm git-credential get|store|erase` (git's credential protocol, launched as
// bin/git-credential-kpm) and `kpm docker-credential get|store|erase|list` (docker's helper protocol,
// bin/docker-credential-kpm). They answer from login entries; with KPM_TOKEN they read through a
// service token (CI). Writing is off for git unless the helper is configured with --store.
import type { Command } from 'commander';
import { EXIT, KpmError, usageError } from '../../core/errors.js';
import type { EntryPayload } from '../../vault/entry.js';
import type { VaultApi } from '../../agent/api.js';
import { readStdinText } from '../io.js';
import { openApi } from '../unlock.js';
import { ctx } from '../context.js';
import { matchLogins, parseLoose } from '../credmatch.js';

const api = (): Promise<VaultApi> => openApi(ctx().paths, {});

/** git's key=value lines (git-credential(1) "INPUT/OUTPUT FORMAT"); a url= line is split up. */
export function parseGitCredential(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') break;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const k = line.slice(0, eq);
    if (k.endsWith('[]')) continue; // multi-valued (capability[], wwwauth[]): not needed here
    out[k] = line.slice(eq + 1).replace(/\r$/, '');
  }
  if (out.url && !out.host) {
    const u = parseLoose(out.url);
    if (u) Object.assign(out, { protocol: u.protocol ?? out.protocol, host: u.host, ...(u.path ? { path: u.path } : {}) });
  }
  return out;
}

function safeValue(v: string): boolean {
  return !/[\n\0]/.test(v);
}

function secretOf(p: EntryPayload): string | undefined {
  const token = p.custom.find((c) => c.name.toLowerCase() === 'token')?.value ?? p.fields.token;
  return token ?? p.fields.password;
}

const now = () => new Date().toISOString();

function loginPayload(name: string, url: string, username: string, secret: string, tag: string): EntryPayload {
  const t = now();
  return { type: 'login', name, fields: { url, username, password: secret }, custom: [], tags: [tag], created: t, updated: t, passwordChanged: t };
}

async function gitCredential(op: string, o: { vault?: string; store?: boolean }): Promise<void> {
  if (!['get', 'store', 'erase'].includes(op)) return; // unknown operations are ignored (git-credential(1))
  const req = parseGitCredential(await readStdinText('git credential request', false));
  if (!req.host) throw usageError('git credential request without host=');
  if (op !== 'get' && !o.store) return; // writing is off unless configured with --store
  if (op !== 'get' && (process.env.KPM_TOKEN ?? '') !== '') return; // a service token only reads
  const a = await api();
  const target = { protocol: req.protocol, host: req.host, path: req.path, username: req.username };
  const hits = matchLogins(await a.list({ type: 'login', vault: o.vault }), target);
  if (op === 'get') {
    for (const s of hits) {
      const v = await a.get(s.id, s.vault);
      const secret = secretOf(v.payload);
      const user = v.payload.fields.username ?? req.username;
      if (secret === undefined || !safeValue(secret) || (user !== undefined && !safeValue(user))) continue;
      process.stdout.write(`${user !== undefined ? `username=${user}\n` : ''}password=${secret}\n`);
      return;
    }
    return; // nothing: git asks the next helper or the user
  }
  if (!req.username || req.password === undefined) return;
  const exact = hits.filter((s) => s.username === req.username);
  if (op === 'store') {
    for (const s of exact) {
      const v = await a.get(s.id, s.vault);
      if (secretOf(v.payload) === req.password) return; // already known
      if (v.payload.custom.some((c) => c.name.toLowerCase() === 'token')) continue;
      const p = v.payload;
      p.fields.password = req.password;
      p.updated = p.passwordChanged = now();
      await a.update(v.vault, v.id, v.version, p);
      return;
    }
    const url = `${req.protocol ?? 'https'}://${req.host}${req.path ? '/' + req.path : ''}`;
    await a.add(o.vault, loginPayload(`${req.host}${req.path ? '/' + req.path : ''} (${req.username})`, url, req.username, req.password, 'git-credential'));
    return;
  }
  // erase: only the entry that holds exactly the refused password (a changed one stays)
  for (const s of exact) {
    const v = await a.get(s.id, s.vault);
    if (secretOf(v.payload) === req.password) {
      await a.remove(v.id, v.vault);
      return;
    }
  }
}

const DOCKER_NOT_FOUND = 'credentials not found in native keychain';
const dockerName = (serverUrl: string) => `docker:${serverUrl}`;

/** Docker server URLs as a target: "https://index.docker.io/v1/", "ghcr.io", "registry:5000". */
function dockerTarget(serverUrl: string) {
  const u = parseLoose(serverUrl);
  if (!u) throw usageError(`not a registry address: ${JSON.stringify(serverUrl)}`);
  return { host: u.host, path: u.path || undefined, protocol: u.protocol };
}

async function dockerCredential(op: string): Promise<void> {
  const vault = process.env.KPM_DOCKER_VAULT || undefined;
  if (op === 'version') return void process.stdout.write('docker-credential-kpm (kpm)\n');
  if (!['get', 'store', 'erase', 'list'].includes(op)) throw usageError(`unknown docker credential operation "${op}"`, 'use get, store, erase, list or version');
  const input = op === 'list' ? '' : (await readStdinText('docker credential request', false)).trim();
  const a = await api();
  const logins = await a.list({ type: 'login', vault });
  if (op === 'list') {
    const out: Record<string, string> = {};
    for (const s of logins) if (s.name.startsWith('docker:') && s.url) out[s.url] = s.username ?? '';
    return void process.stdout.write(JSON.stringify(out) + '\n');
  }
  if (op === 'store') {
    let body: { ServerURL?: unknown; Username?: unknown; Secret?: unknown };
    try {
      body = JSON.parse(input);
    } catch {
      throw usageError('docker credential store: the input is not JSON');
    }
    if (typeof body.ServerURL !== 'string' || typeof body.Username !== 'string' || typeof body.Secret !== 'string' || !body.ServerURL) {
      throw usageError('docker credential store expects {"ServerURL", "Username", "Secret"}');
    }
    const existing = logins.find((s) => s.name === dockerName(body.ServerURL as string));
    if (existing) {
      const v = await a.get(existing.id, existing.vault);
      v.payload.fields.username = body.Username;
      v.payload.fields.password = body.Secret;
      v.payload.updated = v.payload.passwordChanged = now();
      await a.update(v.vault, v.id, v.version, v.payload);
    } else await a.add(vault, loginPayload(dockerName(body.ServerURL), body.ServerURL, body.Username, body.Secret, 'docker-credential'));
    return;
  }
  if (!input) throw usageError('docker credential request without a server URL on stdin');
  const own = logins.find((s) => s.name === dockerName(input));
  if (op === 'erase') {
    if (!own) throw notFoundForDocker();
    await a.remove(own.id, own.vault);
    return;
  }
  const hit = own ?? matchLogins(logins, dockerTarget(input))[0];
  if (!hit) throw notFoundForDocker();
  const v = await a.get(hit.id, hit.vault);
  const secret = secretOf(v.payload);
  if (secret === undefined) throw notFoundForDocker();
  process.stdout.write(JSON.stringify({ ServerURL: input, Username: v.payload.fields.username ?? '', Secret: secret }) + '\n');
}

/** docker reads this exact message on stdout to mean "not found" */
function notFoundForDocker(): KpmError {
  process.stdout.write(DOCKER_NOT_FOUND + '\n');
  return new KpmError(DOCKER_NOT_FOUND, EXIT.notFound);
}

export function register(program: Command): void {
  program
    .command('git-credential <operation>')
    .description("git's credential helper (get, store, erase); configure with `git config --global credential.helper kpm`")
    .option('--vault <name>', 'look only in (and store into) this vault')
    .option('--store', 'let git store new credentials and erase refused ones (off by default)')
    .addHelpText('after', `
Examples:
  kpm git-credential get < request.txt                           # what git runs (as git-credential-kpm get)
  git config --global credential.helper kpm                      # read-only: answers from login entries
  git config --global credential.helper 'kpm --vault Git --store' # also keeps what git learns
  printf 'protocol=https\\nhost=github.com\\n\\n' | kpm git-credential get`)
    .action(async (op: string, o) => gitCredential(op, o));

  program
    .command('docker-credential <operation>')
    .description("docker's credential helper (get, store, erase, list); `\"credsStore\": \"kpm\"` in ~/.docker/config.json")
    .addHelpText('after', `
Examples:
  kpm docker-credential list
  echo https://index.docker.io/v1/ | kpm docker-credential get
  echo '{"ServerURL":"ghcr.io","Username":"me","Secret":"…"}' | kpm docker-credential store
Environment: KPM_DOCKER_VAULT (the vault for docker's credentials; default Personal), KPM_TOKEN (read-only).`)
    .action(async (op: string) => dockerCredential(op));
}
