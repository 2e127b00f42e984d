// kpm-server: the account server. `kpm-server` (or `kpm-server serve`) runs it; `kpm-server admin …`
// works on its database. Exit codes: 0 ok, 1 error, 2 usage, 3 not found.
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import envPaths from 'env-paths';
import { openDatabase, isPostgresUrl, type OpenDb } from './db/connect.js';
import { buildApp, loggerOptions } from './app.js';
import { DEFAULT_SETTINGS, type SecurityCheckSettings, type ServerSettings } from './context.js';
import { createMailer } from './mail.js';
import { smsFromEnv } from './sms.js';
import { loadServerKey, serverKeys } from './secrets.js';
import { prune } from './throttle.js';
import { createRegistry, OidcConfigError, parseProviderSpec } from './oidc.js';
import { AdminError, listAccounts, setDisabled, setRegion, throttleStatus } from './admin.js';
import { parseTrustProxy, TrustProxyError } from './proxy.js';
import { describeSystemError } from '../core/text.js';

export const SERVER_VERSION = '0.1.0';
const env = process.env;

class UsageError extends Error {}

function int(flag: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${flag} expects a whole number from ${min} to ${max}, got "${v}"`);
    return Number(v);
  };
}

interface StoreOpts {
  dataDir?: string;
  database?: string;
  databaseFile?: string;
}

const dataDirOf = (o: StoreOpts): string => o.dataDir ?? env.KPM_SERVER_DATA ?? envPaths('kpm-server', { suffix: '' }).data;

/** True when a URL carries a password (in its user part, or as a password/pass query parameter). */
function urlHasPassword(value: string): boolean {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return false; // a file path
  }
  return u.password !== '' || u.searchParams.has('password') || u.searchParams.has('pass');
}

/**
 * S11: a secret given as an argument is readable by every user of the machine (`ps`, /proc). A URL
 * with a password comes from the environment or a file; on the command line it is refused.
 */
function secretUrl(flag: string, argv: string | undefined, envName: string, fileFlag: string, file: string | undefined): string | undefined {
  if (argv !== undefined && urlHasPassword(argv)) {
    throw new UsageError(`${flag}: a password on the command line can be read by other users of this computer (ps); put the URL in ${envName} or in a file named by ${fileFlag}`);
  }
  if (argv !== undefined && file !== undefined) throw new UsageError(`use either ${flag} or ${fileFlag}, not both`);
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`cannot read ${fileFlag} ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (!text) throw new UsageError(`${fileFlag} ${file} is empty`);
    return text;
  }
  return argv ?? (env[envName] || undefined);
}

const databaseOf = (o: StoreOpts): string =>
  secretUrl('--database', o.database, 'KPM_SERVER_DATABASE', '--database-file', o.databaseFile) ?? join(dataDirOf(o), 'kpm-server.sqlite');

function storeOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data folder: SQLite file, server key, mail outbox (env KPM_SERVER_DATA; default ~/.local/share/kpm-server)')
    .option('--database <url>', 'a SQLite file path, or postgres://user@host/db for PostgreSQL; a URL with a password only from env KPM_SERVER_DATABASE or --database-file (never on the command line)')
    .option('--database-file <file>', 'read the database URL from this file (e.g. postgres://kpm:PASSWORD@db/kpm; keep it 0600)');
}

function checkOptions(cmd: Command): Command {
  const d = DEFAULT_SETTINGS.check;
  return cmd
    .option('--check-after <n>', 'failed sign-ins per account or address before the security check', int('--check-after', 1, 1000), d.after)
    .option('--check-window <min>', 'minutes the security check looks back', int('--check-window', 1, 1440), d.windowMs / 60_000)
    .option('--register-check-after <n>', 'registration / reset requests per address before the security check', int('--register-check-after', 1, 100000), d.registerAfter)
    .option('--hourly-cap <n>', 'failed verifications per account and hour before attempts are refused (≤ 100)', int('--hourly-cap', 1, 100), d.hourlyCap)
    .option('--pow-bits <n>', 'proof-of-work difficulty offered with the captcha (0: captcha only)', int('--pow-bits', 0, 28), d.powBits);
}

function checkSettings(o: { checkAfter: number; checkWindow: number; registerCheckAfter: number; hourlyCap: number; powBits: number }): SecurityCheckSettings {
  return { after: o.checkAfter, windowMs: o.checkWindow * 60_000, registerAfter: o.registerCheckAfter, hourlyCap: o.hourlyCap, powBits: o.powBits };
}

function trustProxyArg(v: string): string[] {
  try {
    return parseTrustProxy(v);
  } catch (e) {
    if (e instanceof TrustProxyError) throw new UsageError(e.message);
    throw e;
  }
}

async function open(o: StoreOpts): Promise<OpenDb> {
  const target = databaseOf(o);
  if (!isPostgresUrl(target)) mkdirSync(dataDirOf(o), { recursive: true, mode: 0o700 });
  return openDatabase(target);
}

/** --oidc (repeatable) and KPM_OIDC (specs separated by spaces or semicolons); secrets from the environment. */
function oidcRegistry(o: Record<string, any>) {
  const specs = [...((o.oidc as string[] | undefined) ?? []), ...(env.KPM_OIDC ?? '').split(/[;\s]+/).filter(Boolean)];
  if (specs.length === 0) return undefined;
  try {
    const providers = specs.map((spec) => parseProviderSpec(spec, env, Boolean(o.oidcAllowHttp)));
    const dup = providers.find((p, i) => providers.findIndex((q) => q.name === p.name) !== i);
    if (dup) throw new OidcConfigError(`provider "${dup.name}" is configured twice`);
    return createRegistry(providers);
  } catch (e) {
    if (e instanceof OidcConfigError) throw new UsageError(e.message);
    throw e;
  }
}

async function serve(o: Record<string, any>): Promise<void> {
  const oidc = oidcRegistry(o);
  const smtpUrl = secretUrl('--smtp', o.smtp, 'KPM_SMTP_URL', '--smtp-file', o.smtpFile);
  databaseOf(o); // refuses a password on the command line before anything is created
  const dataDir = dataDirOf(o);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together');
  const https = o.tlsCert ? { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } : undefined;
  const store = await open(o);
  const scheme = https ? 'https' : 'http';
  const settings: ServerSettings = {
    ...DEFAULT_SETTINGS,
    version: SERVER_VERSION,
    publicUrl: '',
    accessTtlMs: o.accessTtl * 1000,
    check: checkSettings(o as never),
  };
  const ctx = {
    db: store.db,
    engine: store.engine,
    settings,
    now: () => Date.now(),
    mailer: createMailer({ from: o.mailFrom, smtpUrl: smtpUrl, outboxDir: o.outbox ?? join(dataDir, 'outbox') }),
    sms: smsFromEnv(env, o.smsOutbox ?? join(dataDir, 'outbox', 'sms.jsonl'), o.smsProvider),
    keys: serverKeys(loadServerKey({ key: env.KPM_SERVER_KEY, keyFile: o.serverKeyFile ?? join(dataDir, 'server.key') })),
    ...(oidc ? { oidc } : {}),
  };
  const app = buildApp(ctx, { logger: o.logLevel === 'silent' ? false : loggerOptions(o.logLevel), https, metrics: Boolean(o.metrics), ...(o.trustProxy ? { trustProxy: o.trustProxy } : {}) });
  await prune(ctx);
  const pruner = setInterval(() => prune(ctx).catch((e) => app.log.error({ err: { message: (e as Error).message } }, 'prune failed')), 10 * 60_000);
  pruner.unref();
  // Fastify's own "Server listening at" records are left out: the start-up is told once, below.
  const level = app.log.level;
  if (o.logLevel !== 'silent') app.log.level = 'warn';
  const address = await app.listen({ host: o.host, port: o.port });
  if (o.logLevel !== 'silent') app.log.level = level;
  const port = Number(new URL(address).port);
  const listening = `${scheme}://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  settings.publicUrl = (o.publicUrl ?? listening).replace(/\/+$/, '');
  startupOutput({ listening, store, mailer: ctx.mailer, sms: ctx.sms.kind, oidc: oidc?.list().map((p) => p.name), log: app.log });
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    clearInterval(pruner);
    await app.close();
    ctx.mailer.close();
    await store.db.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * The start-up output: the human line on stderr (with where the development outbox is); the JSON
 * log (stdout) gets one structured start-up record, but only when stdout is not a terminal: on a
 * terminal the JSON record would repeat the human line in the middle of it.
 */
function startupOutput(s: { listening: string; store: OpenDb; mailer: { kind: string; outboxDir?: string }; sms: string; oidc?: string[]; log: { info(o: object, msg: string): void } }): void {
  const mail = s.mailer.kind === 'outbox' ? `mail: development outbox ${s.mailer.outboxDir} (not sent: each mail is an .eml file there)` : `mail: ${s.mailer.kind}`;
  process.stderr.write(`kpm-server ${SERVER_VERSION}: listening on ${s.listening} (${s.store.engine}: ${s.store.where}; ${mail}; sms: ${s.sms}${s.oidc ? `; identity providers: ${s.oidc.join(', ')}` : ''})\n`);
  if (!process.stdout.isTTY) {
    s.log.info({ url: s.listening, version: SERVER_VERSION, database: s.store.engine, mail: s.mailer.kind, ...(s.mailer.outboxDir ? { outbox: s.mailer.outboxDir } : {}), sms: s.sms, oidc: s.oidc ?? [] }, 'kpm-server listening');
  }
}

function printTable(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) return;
  const keys = Object.keys(rows[0]);
  const cell = (v: unknown) => (Array.isArray(v) ? v.join(',') || '-' : String(v));
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => cell(r[k]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write(line(keys) + '\n' + rows.map((r) => line(keys.map((k) => cell(r[k])))).join('\n') + '\n');
}

async function withDb<T>(o: StoreOpts, fn: (s: OpenDb) => Promise<T>): Promise<T> {
  const s = await open(o);
  try {
    return await fn(s);
  } finally {
    await s.db.destroy();
  }
}

const SERVE_EXAMPLES = `
Examples:
  kpm-server                                   # SQLite in ~/.local/share/kpm-server, http://127.0.0.1:8787
  kpm-server --data-dir /srv/kpm --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem
  KPM_SERVER_DATABASE=postgres://kpm:…@db/kpm KPM_SMTP_URL=smtps://kpm:…@mail.example.org kpm-server
  kpm-server --database-file /run/secrets/kpm-db --smtp-file /run/secrets/kpm-smtp   # files holding the URLs
  KPM_OIDC_GOOGLE_SECRET=… kpm-server --oidc google=https://accounts.google.com,1234.apps.googleusercontent.com`;

/** A command's options as its own help lists them (commander's layout and wrapping), without the help option. */
function optionList(cmd: Command): string {
  const help = cmd.createHelp();
  const opts = help.visibleOptions(cmd).filter((o) => o.long !== '--help');
  const width = Math.max(...opts.map((o) => help.displayWidth(help.styleOptionTerm(help.optionTerm(o)))));
  return opts.map((o) => help.formatItem(help.styleOptionTerm(help.optionTerm(o)), width, help.styleOptionDescription(help.optionDescription(o)), help)).join('\n');
}

function buildProgram(): Command {
  const program = new Command('kpm-server')
    .description('kpm-server: the self-hostable account server of kpm (accounts, sign-in, security check, two-step verification, devices)')
    .version(SERVER_VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .usage('[serve] [options]  |  kpm-server admin <command>')
    .configureOutput({ outputError: (s, write) => write(s.replace(/^error: /, 'kpm-server: ')) });
  program.exitOverride();

  const serveCmd = program.command('serve', { isDefault: true }).description('run the server (the default command)');
  // serve is the default: its options are listed in the top-level help too
  program.addHelpText('after', () => `\nServer options (kpm-server [serve] …):\n${optionList(serveCmd)}${SERVE_EXAMPLES}\n\nExit codes: 0 ok, 1 error, 2 usage, 3 not found.`);
  storeOptions(serveCmd)
    .addOption(new Option('--host <addr>', 'address to listen on').env('KPM_SERVER_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <n>', 'port (0: any free one)').env('KPM_SERVER_PORT').default(8787).argParser(int('--port', 0, 65535)))
    .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)').env('KPM_SERVER_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'private key of --tls-cert (PEM)').env('KPM_SERVER_TLS_KEY'))
    .addOption(new Option('--public-url <url>', 'base URL in mailed links (default: the listening address)').env('KPM_SERVER_PUBLIC_URL'))
    .option('--smtp <url>', 'send mail over SMTP, e.g. smtp://mail.example.org:587 (default: .eml files in the outbox); a URL with a password only from env KPM_SMTP_URL or --smtp-file (never on the command line)')
    .option('--smtp-file <file>', 'read the SMTP URL from this file (e.g. smtps://user:PASSWORD@mail.example.org; keep it 0600)')
    .addOption(new Option('--mail-from <addr>', 'sender of the mails').env('KPM_MAIL_FROM').default('kpm <no-reply@localhost>'))
    .option('--outbox <dir>', 'folder of the development mail transport (default <data-dir>/outbox)')
    .addOption(new Option('--sms-provider <kind>', 'outbox (default) or http (see docs/PROTOCOL.md)').choices(['outbox', 'http']).env('KPM_SMS_PROVIDER'))
    .option('--sms-outbox <file>', 'file of the SMS outbox provider (default <data-dir>/outbox/sms.jsonl)')
    .option('--server-key-file <file>', 'the 32-byte server key (default <data-dir>/server.key, made on first start; env KPM_SERVER_KEY holds the key itself)')
    .option('--access-ttl <s>', 'lifetime of access tokens in seconds', int('--access-ttl', 1, 86400), DEFAULT_SETTINGS.accessTtlMs / 1000)
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).env('KPM_SERVER_LOG_LEVEL').default('info'))
    .addOption(
      new Option('--trust-proxy <proxies>', 'behind reverse proxies: their addresses or CIDRs, comma-separated (e.g. 127.0.0.1,10.0.0.0/8); the client address is the one a trusted proxy added to X-Forwarded-For, anything a client wrote is ignored')
        .env('KPM_SERVER_TRUST_PROXY')
        .argParser(trustProxyArg),
    )
    .option('--oidc <spec>', 'an OpenID Connect identity provider for `kpm login --sso NAME`: NAME=ISSUER,CLIENT_ID[,SCOPE] (repeatable; env KPM_OIDC, several separated by ";"); its client secret comes from env KPM_OIDC_<NAME>_SECRET or the file named by KPM_OIDC_<NAME>_SECRET_FILE, never from the command line', (v: string, prev: string[] = []) => [...prev, v])
    .option('--oidc-allow-http', 'allow plain-http issuers that are not on loopback (testing only)')
    .addOption(new Option('--metrics', 'serve Prometheus metrics at /metrics (no personal data; keep it behind the proxy or a firewall)').env('KPM_SERVER_METRICS'));
  checkOptions(serveCmd)
    .addHelpText('after', SERVE_EXAMPLES)
    .action(serve);

  const admin = program.command('admin').description('manage accounts in the database');
  storeOptions(admin.command('list').description('list accounts').option('--json', 'print JSON'))
    .addHelpText('after', '\nExample:\n  kpm-server admin list --data-dir /srv/kpm --json')
    .action(async (o) =>
      withDb(o, async (s) => {
        const rows = await listAccounts(s.db, Date.now());
        if (o.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        else if (rows.length === 0) process.stderr.write('No accounts.\n');
        else printTable(rows.map((r) => ({ email: r.email, region: r.region, activated: r.activated, disabled: r.disabled, '2fa': r.twoFactor, devices: r.devices, created: r.createdAt })));
      }),
    );
  storeOptions(admin.command('set-region <email> <region>').description("change an account's region (the only way it changes)"))
    .addHelpText('after', '\nExample:\n  kpm-server admin set-region ann@example.org FR')
    .action(async (email: string, region: string, o) => withDb(o, (s) => setRegion(s.db, email, region)));
  storeOptions(admin.command('disable <email>').description('disable an account: sign-in refused, every device signed out').option('--enable', 'enable it again'))
    .addHelpText('after', '\nExamples:\n  kpm-server admin disable mallory@example.org\n  kpm-server admin disable ann@example.org --enable')
    .action(async (email: string, o) => withDb(o, (s) => setDisabled(s.db, email, !o.enable, Date.now())));
  checkOptions(storeOptions(admin.command('throttle-status [email]').description('failure counters of the security check, busiest first').option('--ip <addr>', 'only this address').option('--json', 'print JSON')))
    .addHelpText('after', '\nExamples:\n  kpm-server admin throttle-status\n  kpm-server admin throttle-status ann@example.org --json')
    .action(async (email: string | undefined, o) =>
      withDb(o, async (s) => {
        const rows = await throttleStatus(s.db, checkSettings(o), Date.now(), { email, ip: o.ip });
        if (o.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        else if (rows.length === 0) process.stderr.write('No recent failures.\n');
        else printTable(rows.map((r) => ({ scope: r.scope === 'acct' ? 'account' : 'address', key: r.key, window: r.window, hour: r.hour, requests: r.requests, check: r.checkRequired, capped: r.capped })));
      }),
    );
  for (const c of [serveCmd, admin, ...admin.commands]) c.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
    if (e instanceof UsageError) {
      process.stderr.write(`kpm-server: ${e.message}\n`);
      return 2;
    }
    if (e instanceof AdminError) {
      process.stderr.write(`kpm-server: ${e.message}\n`);
      return e.exitCode;
    }
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`kpm-server: ${describeSystemError(err) ?? err?.message ?? String(e)}\n`);
    if (env.KPM_DEBUG) process.stderr.write(String(err?.stack) + '\n');
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  // exit only once stderr is flushed (a pipe would lose the message otherwise)
  if (code !== 0) process.stderr.write('', () => process.exit(code));
});
