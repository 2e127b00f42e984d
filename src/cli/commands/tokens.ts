// kpm token create | list | revoke: read-only service tokens for one vault (README "Service tokens"),
// and the rule that with KPM_TOKEN set only reading commands run (exit 9 for anything else).
import type { Command } from 'commander';
import { toBase64 } from '../../crypto/bytes.js';
import { KpmError, EXIT, notFound, usageError } from '../../core/errors.js';
import type { TokenViewT } from '../../protocol/schemas.js';
import type { KpmPaths } from '../../core/paths.js';
import type { VaultApi } from '../../agent/api.js';
import { ctx } from '../context.js';
import { info, isInteractive, json, out } from '../io.js';
import { askConfirm, askSecret } from '../prompt.js';
import { openApi } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { tokenForbidden, tokenMode } from '../tokenapi.js';
import { requireSettingsPassword } from '../guard.js';

/** Commands that only read entries: the ones a service token may run. */
const TOKEN_COMMANDS = new Set(['read', 'get', 'list', 'ls', 'show', 'totp', 'run', 'inject', 'generate', 'gen', 'completion', 'help', '__complete', 'git-credential', 'docker-credential', 'doc', 'attachments']); // the credential helpers: reads only (src/cli/commands/credentials.ts)
/** of these commands, only the subcommands that read (files: src/cli/tokenfiles.ts) */
const TOKEN_SUBCOMMANDS: Record<string, Set<string>> = { doc: new Set(['get', 'list']) };

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const MAX_EXPIRY_MS = 365 * UNITS.d;

/** `30d`, `12h`, `90m`, `45s` → milliseconds; at most 365 days. */
export function parseExpiry(text: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (!m) throw usageError(`--expires expects a duration such as 30d, 12h, 90m or 45s, got "${text}"`, 'a service token always expires: at most 365d');
  const ms = Number(m[1]) * UNITS[m[2]];
  if (ms < 1000) throw usageError('--expires must be at least 1s');
  if (ms > MAX_EXPIRY_MS) throw usageError('--expires must be at most 365d', 'create a new token before the old one expires');
  return ms;
}

async function signedIn() {
  const h = await import('../../sync/http.js');
  const { paths } = ctx();
  const session = h.loadSession(paths);
  if (!session) throw h.notSignedIn();
  const api = new h.ApiClient(session.server, session.insecure === true);
  const call = <T>(name: Parameters<typeof h.authedCall>[3], o: { body?: unknown; params?: Record<string, string> } = {}) => h.authedCall<T>(paths, api, session, name, o);
  return { api, call };
}

/**
 * After a revocation: the token's holder keeps the vault's read keys, so offer a new key. `rotate`:
 * true (--rotate-key) rotates, false (--no-rotate-key) only says so, undefined asks on a terminal.
 */
async function offerRotation(t: TokenViewT, rotate: boolean | undefined): Promise<void> {
  if (rotate === false || (rotate === undefined && !isInteractive())) {
    return info(`Note: the token's holder still has the read keys of its vault (${t.vaultId.slice(0, 8)}): \`kpm vault rotate-key\` gives the vault a new key, so what is added from now on is out of its reach (for a shared vault: its owner's \`kpm share rotate\`).`);
  }
  const { paths } = ctx();
  const vaults = await openApi(paths, {}, async () => (await loadSettings(paths)).autolock);
  try {
    const v = (await vaults.listVaults()).find((x) => x.id === t.vaultId);
    const hint = `the token's holder still has the read keys of vault "${v?.name ?? t.vaultId.slice(0, 8)}": \`kpm vault rotate-key\` gives it a new key, so what is added from now on is out of its reach`;
    if (!v) return await offerSharedRotation(paths, vaults, t, rotate);
    if (rotate === undefined && isInteractive()) rotate = await askConfirm(`Also give vault "${v.name}" a new key (recommended)?`, true);
    if (!rotate) return info(`Note: ${hint}.`);
    let pw: string | undefined;
    if (v.ownPassword) {
      if (!isInteractive()) throw usageError(`vault "${v.name}" has its own password; run \`kpm vault rotate-key "${v.name}" --vault-password-stdin\``);
      pw = await askSecret(`Password of vault "${v.name}"`);
    }
    const r = await vaults.rotateVaultKey(v.id, pw);
    info(`Vault "${r.vault.name}" has a new key (${r.entries} record${r.entries === 1 ? '' : 's'} re-encrypted); the vault with the old key is removed (the next sync removes it everywhere).`);
  } finally {
    await vaults.close();
  }
}

/** The same for a token of a shared vault: its owner gives it a new key (`kpm share rotate`); a member is told to ask the owner. */
async function offerSharedRotation(paths: KpmPaths, vaults: VaultApi, t: TokenViewT, rotate: boolean | undefined): Promise<void> {
  const { sharedFor } = await import('../shared.js');
  const s = await sharedFor(paths, vaults, true);
  try {
    const v = await s?.client.resolve(t.vaultId, { mustExist: false });
    if (!s || !v) return info(`Note: the token's holder still has the read keys of vault ${t.vaultId.slice(0, 8)}, which is not on this device: if it is a shared vault, its owner's \`kpm share rotate\` puts what is written from then on out of its reach.`);
    const hint = `the token's holder still has the read keys of shared vault "${v.name}": \`kpm share rotate "${v.name}"\` gives it a new key (same members), so what is written from now on is out of its reach`;
    if (v.owner !== s.client.me.email) return info(`Note: ${hint}; only its owner (${v.owner}) can run it.`);
    if (rotate === undefined && isInteractive()) rotate = await askConfirm(`Also give shared vault "${v.name}" a new key (recommended)?`, true);
    if (!rotate) return info(`Note: ${hint}.`);
    const next = await s.client.rotate(v); // as resolved above: not opened and verified a second time
    await s.client.finish();
    info(`Shared vault "${next.name}" has a new key (epoch ${next.latest.epoch}, the same members); its other service tokens cannot read what is written from now on either: create new ones.`);
  } finally {
    await s?.done();
  }
}

/**
 * A token for a shared vault this account is a member of (docs/SHARING.md "Service tokens on shared
 * vaults"): the vault as this device just verified it (owner pinned, membership chain, key bundle,
 * every record) is sealed for the token: the owner's keys, the epoch and log it verified, the record
 * keys of epochs 1…E. Refused (exit 9, nothing created) for an invitation not accepted.
 */
async function sharedToken(s: import('../shared.js').Shared, v: import('../../share/client.js').OpenedVault, o: { name: string; lifetime: number }, call: Awaited<ReturnType<typeof signedIn>>['call']): Promise<{ text: string; view: TokenViewT }> {
  const me = s.client.me;
  if (!v.role) throw new KpmError(`you are no longer a member of shared vault "${v.name}"`, EXIT.forbidden);
  if (!v.accepted && v.owner !== me.email) throw new KpmError(`shared vault "${v.name}" is an invitation`, EXIT.forbidden, `run \`kpm share accept "${v.name}"\` first`);
  const { newServiceToken, formatServiceToken, tokenKeys, tokenAuthHash } = await import('../../sync/tokenvault.js');
  const { grantOf, sealShareForToken } = await import('../../share/tokenvault.js');
  const { ownerOf } = await import('../../share/format.js');
  const t = newServiceToken(true);
  const { authKey, wrapKey } = tokenKeys(t);
  const owner = ownerOf(v.latest);
  const grant = grantOf({ id: v.id, name: v.name, owner, creator: { email: me.email, signPublic: me.signPublic }, epoch: v.latest.epoch, epochBody: v.bodies[v.latest.epoch - 1], head: v.head, chainHash: v.chainHash, keys: v.keys });
  const wrappedKey = toBase64(sealShareForToken(wrapKey, t.id, grant));
  for (const k of grant.recordKeys) k.fill(0);
  wrapKey.fill(0);
  const expiresAt = new Date(Date.now() + o.lifetime).toISOString();
  const view = await call<TokenViewT>('tokenCreate', { body: { id: t.id, vaultId: v.id, name: o.name, expiresAt, authHash: tokenAuthHash(authKey), wrappedKey } });
  authKey.fill(0);
  const text = formatServiceToken(t);
  t.secret.fill(0);
  return { text, view };
}

function status(t: TokenViewT): string {
  if (t.revoked) return 'revoked';
  return Date.parse(t.expiresAt) <= Date.now() ? 'expired' : 'active';
}

export function register(program: Command): void {
  program.hook('preAction', (_cmd, action) => {
    if (!tokenMode()) return;
    let top: Command = action;
    while (top.parent && top.parent !== program) top = top.parent;
    if (!TOKEN_COMMANDS.has(top.name())) throw tokenForbidden(`\`kpm ${top.name()}\``);
    const only = TOKEN_SUBCOMMANDS[top.name()];
    if (only && !only.has(action.name())) throw tokenForbidden(`\`kpm ${top.name()} ${action.name()}\``);
  });

  const token = program
    .command('token')
    .description('read-only service tokens: a machine (CI) reads one vault without the master password')
    .addHelpText('after', '\nExamples:\n  kpm token create --vault CI --read-only --expires 30d --name github-actions > token.txt\n  kpm token list\n  kpm token revoke 3f2a9c1b\n\nOn the machine: KPM_TOKEN=… KPM_SERVER=https://… kpm read kpm://CI/deploy/password');

  token
    .command('create')
    .description('create a read-only token for one vault; prints it once, on stdout')
    .requiredOption('--vault <name>', 'the vault the token reads (it must be synced; it is, first)')
    .option('--read-only', 'the only kind of token there is (accepted for clarity)')
    .requiredOption('--expires <duration>', 'lifetime: e.g. 30d, 12h, 90m, 45s; at most 365d')
    .option('--name <name>', 'a label for `kpm token list`, kept in plain text on the server (default "<vault> token"; for a shared vault "shared vault token")')
    .option('--json', 'print JSON ({ token, id, name, vault, vaultId, expiresAt })')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', `
Tokens are always read-only: they read the entries of one vault and nothing else (no other vault, no
changes, no account). The token carries a key that opens only that vault's key; the server keeps it
sealed and never sees the token's secret. Revoke with \`kpm token revoke ID\`; it stops at once.

A shared vault you can read works too (docs/SHARING.md "Service tokens on shared vaults"): the token
(kpms_…) verifies the vault as a member does, reads only while you are a member, and cannot read
what is written after the owner removes someone (a new key): then create a new one.

Examples:
  kpm token create --vault CI --read-only --expires 30d --name github-actions > token.txt
  kpm token create --vault CI --expires 12h --json`)
    .action(async (o: { vault: string; expires: string; name?: string; json?: boolean; passwordStdin?: boolean }) => {
      const lifetime = parseExpiry(o.expires);
      const name = (o.name ?? `${o.vault} token`).trim();
      if (!name || name.length > 64 || /\p{Cc}/u.test(name)) throw usageError('--name must be 1 to 64 characters without control characters');
      const { api, call } = await signedIn();
      const { paths } = ctx();
      const vaults = await openApi(paths, { passwordStdin: o.passwordStdin }, async () => (await loadSettings(paths)).autolock);
      const { newServiceToken, formatServiceToken, tokenKeys, tokenAuthHash } = await import('../../sync/tokenvault.js');
      try {
        const sh = await import('../shared.js');
        if (!(await vaults.listVaults()).some((x) => x.name === o.vault)) {
          // a shared vault (an own vault of the same name wins, as for --vault everywhere); a device
          // that never ran a share command asks the server once, as the entry commands do
          const shared = await sh.openShared(paths, vaults, { refresh: true, discover: true });
          try {
            const v = sh.sharedTarget(shared, o.vault);
            if (v) {
              // the label is kept in plain text on the server, which must not learn a shared vault's name: no default with it
              const made = await sharedToken(shared!, v, { name: o.name === undefined ? 'shared vault token' : name, lifetime }, call);
              if (o.json) json({ token: made.text, id: made.view.id, name: made.view.name, vault: v.name, vaultId: made.view.vaultId, expiresAt: made.view.expiresAt });
              else out(made.text);
              info(`Created read-only service token ${made.view.id.slice(0, 8)} ("${made.view.name}") for shared vault "${v.name}" (owner ${v.owner}), valid until ${made.view.expiresAt}.`);
              info(`It is shown only this once: store it as a secret (KPM_TOKEN) where it is used; \`kpm token revoke\` ends it. It reads what is written under membership epoch ${v.latest.epoch} and before: after a member is removed (a new key), a member must create a new one.`);
              return;
            }
          } finally {
            await shared?.done();
          }
        }
        await vaults.sync(); // the vault must be on the server, as it is now
        const t = newServiceToken();
        const { authKey, wrapKey } = tokenKeys(t);
        const sealed = await vaults.tokenKey(o.vault, t.id, toBase64(wrapKey));
        wrapKey.fill(0);
        const expiresAt = new Date(Date.now() + lifetime).toISOString();
        const view = await call<TokenViewT>('tokenCreate', { body: { id: t.id, vaultId: sealed.vaultId, name, expiresAt, authHash: tokenAuthHash(authKey), wrappedKey: sealed.wrappedKey } });
        authKey.fill(0);
        const text = formatServiceToken(t);
        t.secret.fill(0);
        if (o.json) json({ token: text, id: view.id, name: view.name, vault: sealed.vaultName, vaultId: view.vaultId, expiresAt: view.expiresAt });
        else out(text);
        info(`Created read-only service token ${view.id.slice(0, 8)} ("${view.name}") for vault "${sealed.vaultName}", valid until ${view.expiresAt}.`);
        info('It is shown only this once: store it as a secret (KPM_TOKEN) where it is used; `kpm token revoke` ends it.');
      } finally {
        await vaults.close();
        await api.close();
      }
    });

  token
    .command('list', { isDefault: true })
    .description('the service tokens of your account (never their secrets)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  kpm token list\n  kpm token list --json')
    .action(async (o: { json?: boolean }) => {
      const { api, call } = await signedIn();
      const { tokens } = await call<{ tokens: TokenViewT[] }>('tokenList');
      await api.close();
      if (o.json) return json(tokens.map((t) => ({ ...t, status: status(t) })));
      if (tokens.length === 0) return info('No service tokens.');
      const w = Math.max(4, ...tokens.map((t) => t.name.length));
      out(`${'ID'.padEnd(8)}  ${'NAME'.padEnd(w)}  ${'VAULT'.padEnd(8)}  ${'STATUS'.padEnd(7)}  ${'EXPIRES'.padEnd(20)}  LAST USED`);
      for (const t of tokens) out(`${t.id.slice(0, 8)}  ${t.name.padEnd(w)}  ${t.vaultId.slice(0, 8)}  ${status(t).padEnd(7)}  ${t.expiresAt.slice(0, 19).padEnd(20)}  ${t.lastUsedAt?.slice(0, 19) ?? 'never'}`);
    });

  token
    .command('revoke <id>')
    .description('revoke a service token at once (its id, or the first 8+ characters of it)')
    .option('--rotate-key', "also give the token's vault a new key (`kpm vault rotate-key`), without asking")
    .option('--no-rotate-key', 'do not offer the key rotation')
    .option('--settings-password-stdin', 'read the settings password from stdin (when the settings are protected)')
    .addHelpText('after', `
Revocation stops the server from answering the token. It cannot take back what the token's holder
already read, nor the vault's read keys it carries: with a server's help (or a copy of the server's
data) the holder can still read what is written to the vault later, until the vault gets a new key.
So revoke offers \`kpm vault rotate-key\` for the token's vault (asked on a terminal; --rotate-key
does it without asking). The holder can never write: every write is signed with the account's key.

Examples:
  kpm token revoke 3f2a9c1b
  kpm token revoke 3f2a9c1b --rotate-key`)
    .action(async (id: string, o: { settingsPasswordStdin?: boolean; rotateKey?: boolean }) => {
      const prefix = id.toLowerCase();
      if (!/^[0-9a-f]{8,32}$/.test(prefix)) throw usageError(`"${id}" is not a token id`, 'see `kpm token list`');
      await requireSettingsPassword('token revoke', { settingsPasswordStdin: o.settingsPasswordStdin });
      const { api, call } = await signedIn();
      let revoked: TokenViewT;
      try {
        const { tokens } = await call<{ tokens: TokenViewT[] }>('tokenList');
        const hits = tokens.filter((t) => t.id.startsWith(prefix));
        if (hits.length === 0) throw notFound(`no service token ${id}`, 'see `kpm token list`');
        if (hits.length > 1) throw new KpmError(`"${id}" matches ${hits.length} tokens; give more of the id`, EXIT.usage);
        await call('tokenRevoke', { params: { id: hits[0].id } });
        info(`Service token ${hits[0].id.slice(0, 8)} ("${hits[0].name}") is revoked.`);
        revoked = hits[0];
      } finally {
        await api.close();
      }
      await offerRotation(revoked, o.rotateKey);
    });
}
