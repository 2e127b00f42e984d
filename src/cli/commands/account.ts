// register, activate, login, logout, whoami, devices, 2fa, account reset-password: the account on a
// kpm server (docs/PROTOCOL.md). The account password is not the master password: it signs in to the
// server and can be reset by email; the master password never leaves this device and cannot be
// recovered by anyone. Network code lives in src/sync/http.ts and loads only when a command runs.
import { Option, type Command } from 'commander';
import { KpmError, EXIT, usageError } from '../../core/errors.js';
import type { KpmPaths } from '../../core/paths.js';
import type { ChallengeSolutionT, ChallengeT, LoginResultT, AccountT, DeviceT, TwoFactorStatusT, TotpSetupT, TokensT } from '../../protocol/schemas.js';
import { info, isInteractive, json, out, readStdinText, warn } from '../io.js';
import { requireSettingsPassword } from '../guard.js';
import { ctx } from '../context.js';
import { withRetries } from '../prompt.js';
import { registerSso } from './sso.js';
import type { MergePasswords } from './loginmerge.js';

type Http = typeof import('../../sync/http.js');
const http = (): Promise<Http> => import('../../sync/http.js');

interface ServerFlags {
  server?: string;
  insecure?: boolean;
}

const MASTER_NOTE = 'Your master password is not involved: nobody can reset or recover it, and your vault stays as it is.';

export function serverOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'kpm server URL (default: $KPM_SERVER, the signed-in server, or the `server` setting)')
    .option('--insecure', 'allow plain http to a non-loopback host and untrusted TLS certificates (testing only)');
}

async function settingsServer(paths: KpmPaths): Promise<string | undefined> {
  try {
    const { loadSettings } = await import('../settings.js');
    const s = (await loadSettings(paths)) as unknown as Record<string, unknown>;
    return typeof s.server === 'string' && s.server !== '' ? s.server : undefined;
  } catch {
    return undefined;
  }
}

/** --server, then KPM_SERVER, then the server of the stored session, then the `server` setting. */
async function serverUrl(o: ServerFlags, sessionServer?: string): Promise<string> {
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

// ------------------------------------------------------------------ input

let stdinLines: Promise<string[]> | undefined;
/** stdin split in lines, read once: the password first (--password-stdin), then a code (--otp-stdin). */
function stdinLine(what: string): Promise<string> {
  stdinLines ??= readStdinText(what, false).then((t) => t.split(/\r?\n/));
  return stdinLines.then((lines) => {
    const l = lines.shift();
    if (l === undefined || l === '') throw usageError(`${what}: expected a line on stdin`);
    return l;
  });
}

/** Where prompts read and write: stdout stays for data. */
export const PROMPT_IO = { input: process.stdin, output: process.stderr, clearPromptOnDone: false };

export async function prompt(kind: 'input' | 'password', message: string, def?: string): Promise<string> {
  const p = await import('@inquirer/prompts');
  return kind === 'password' ? p.password({ message, mask: '*' }, PROMPT_IO) : p.input({ message, default: def }, PROMPT_IO);
}

export function needTty(what: string, hint: string): void {
  if (!isInteractive()) throw new KpmError(`${what} is needed, but there is no terminal to ask on`, EXIT.locked, hint);
}

async function emailOf(o: { email?: string }, arg?: string): Promise<string> {
  const e = arg ?? o.email;
  if (e) return e;
  needTty('the email address', 'pass it as an argument or with --email');
  return prompt('input', 'Email address');
}

export async function accountPassword(o: { passwordStdin?: boolean }, message = 'Account password'): Promise<string> {
  if (o.passwordStdin) return stdinLine('account password');
  needTty('the account password', 'pass it on stdin with --password-stdin');
  return prompt('password', message);
}

/**
 * S7: one-time codes never come from argv, where other users of the machine can read them (`ps`)
 * and redeem them first. The old argv forms stay as options only to say so and name the safe form.
 */
export function codeInArgv(form: string, hint: string): KpmError {
  return usageError(`${form} is refused: a code on the command line can be read by other users of this computer (ps) and used before you`, hint);
}

/** A code from stdin (the line after any password) or, on a terminal, from a prompt. */
async function codeOf(o: { stdin?: boolean }, what: string, message: string, hint: string): Promise<string> {
  if (o.stdin) return (await stdinLine(what)).trim();
  needTty(what, hint);
  return (await prompt('input', message)).trim();
}

export async function otpOf(o: { otp?: string; otpStdin?: boolean }): Promise<string | undefined> {
  if (o.otp !== undefined) throw codeInArgv('--otp CODE', 'type the code when asked, or pipe it with --otp-stdin (after the password with --password-stdin)');
  if (o.otpStdin) return stdinLine('verification code');
  return undefined;
}

function otpOptions(cmd: Command): Command {
  return cmd.addOption(new Option('--otp <code>', 'refused: use --otp-stdin').hideHelp()).option('--otp-stdin', 'read the verification code from stdin (after the password, with --password-stdin)');
}

/** The seed's rule and the common list, checked here before the server does (R26). */
async function checkNewPassword(pw: string): Promise<void> {
  const { passwordProblems, describeProblems } = await import('../../protocol/password-policy.js');
  const problems = await passwordProblems(pw);
  if (problems.length > 0) throw usageError(describeProblems(problems));
}

/** R21: the account password must not be the master password (the server sees it at every sign-in). */
async function refuseMasterPassword(paths: KpmPaths, pw: string): Promise<void> {
  const { existsSync } = await import('node:fs');
  if (!existsSync(paths.keyring)) return;
  const { unlockProfile } = await import('../unlock.js');
  try {
    await unlockProfile(paths, pw);
  } catch (e) {
    if (e instanceof KpmError && e.exitCode === EXIT.wrongPassword) return;
    throw e;
  }
  throw usageError('the account password must not be your master password', 'the server sees the account password at every sign-in; the master password must never leave this device');
}

/** A new account password: from stdin, or asked twice on a terminal until it follows the rule. */
async function newAccountPassword(paths: KpmPaths, o: { passwordStdin?: boolean }): Promise<string> {
  if (o.passwordStdin) {
    const pw = await stdinLine('account password');
    await checkNewPassword(pw);
    await refuseMasterPassword(paths, pw);
    return pw;
  }
  needTty('the new account password', 'pass it on stdin with --password-stdin');
  info('The account password signs in to the server. It must differ from your master password:\nat least 8 characters with a digit, a lowercase and an uppercase letter, no spaces.');
  for (;;) {
    const pw = await prompt('password', 'Account password');
    try {
      await checkNewPassword(pw);
      await refuseMasterPassword(paths, pw);
    } catch (e) {
      if (!(e instanceof KpmError) || e.exitCode !== EXIT.usage) throw e;
      info(e.message);
      continue;
    }
    if ((await prompt('password', 'Confirm the account password')) === pw) return pw;
    info('The two entries do not match. Try again.');
  }
}

// ------------------------------------------------------------------ the security check

interface CheckFlags {
  pow?: boolean;
  captchaFile?: string;
}

function checkOptions(cmd: Command): Command {
  return cmd
    .option('--no-pow', 'do not solve proof-of-work challenges automatically (ask for the captcha instead)')
    .option('--captcha-file <file>', 'also write the captcha as an image (.svg or .png) when the security check asks for one');
}

const MAX_POW_BITS = 24;

async function solveChallenge(api: InstanceType<Http['ApiClient']>, c: ChallengeT, o: CheckFlags): Promise<ChallengeSolutionT> {
  if (c.pow && o.pow !== false && c.pow.bits <= MAX_POW_BITS) {
    info('Security check: solving a proof-of-work puzzle…');
    const { solvePow } = await import('../../protocol/pow.js');
    const nonce = solvePow(c.pow.salt, c.pow.bits);
    if (nonce !== null) return { id: c.id, nonce };
  }
  needTty('a security check (captcha)', 'run the command on a terminal, or let kpm solve the proof of work (without --no-pow)');
  if (o.captchaFile) {
    const format = o.captchaFile.toLowerCase().endsWith('.png') ? 'png' : 'svg';
    const image = await api.download(`/v1/challenges/${c.id}/captcha.${format}`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(o.captchaFile, image, { mode: 0o600 });
    info(`The captcha is also in ${o.captchaFile}.`);
  }
  info(`Security check: type the ${c.captcha.length} characters below.\n\n${c.captcha.lines.join('\n')}\n`);
  return { id: c.id, answer: await prompt('input', 'Characters') };
}

/** Runs `attempt`, solving the server's security check when it asks for one. */
async function withSecurityCheck<T>(api: InstanceType<Http['ApiClient']>, o: CheckFlags, attempt: (s?: ChallengeSolutionT) => Promise<T>): Promise<T> {
  const { ServerError } = await http();
  let solution: ChallengeSolutionT | undefined;
  for (let round = 0; ; round++) {
    try {
      return await attempt(solution);
    } catch (e) {
      if (!(e instanceof ServerError) || !e.body.challenge || round >= 4) throw e;
      if (e.code !== 'challenge_required' && e.code !== 'challenge_failed') throw e;
      if (e.code === 'challenge_failed') info('That was not right; here is a new one.');
      solution = await solveChallenge(api, e.body.challenge, o);
    }
  }
}

// ------------------------------------------------------------------ output

export function deviceName(name?: string): string {
  const n = (name ?? process.env.HOSTNAME ?? '').replace(/\p{Cc}/gu, '').trim();
  if (n) return [...n].slice(0, 64).join('');
  return 'kpm device';
}

const since = (iso: string) => iso.replace('T', ' ').slice(0, 16);

function twoFactorText(t: TwoFactorStatusT): string {
  const on = [...(t.totp ? ['authenticator app'] : []), ...(t.sms ? [`SMS to ${t.sms}`] : [])];
  return on.length ? `${on.join(' and ')}; ${t.recoveryCodesLeft} recovery codes left` : 'off';
}

export async function showQr(uri: string): Promise<void> {
  const { default: qrcode } = await import('qrcode-terminal');
  await new Promise<void>((resolve) =>
    qrcode.generate(uri, { small: true }, (qr: string) => {
      process.stderr.write(qr + '\n');
      resolve();
    }),
  );
}

function printRecoveryCodes(codes: string[], asJson: boolean): void {
  if (asJson) return json({ recoveryCodes: codes });
  if (codes.length === 0) return info('Your existing recovery codes stay valid.');
  info('Recovery codes: each works once, in place of a code, if you lose your phone. They are shown only now:');
  for (const c of codes) out(c);
}

// ------------------------------------------------------------------ sign-in

export async function finishLogin(h: Http, paths: KpmPaths, api: InstanceType<Http['ApiClient']>, t: TokensT, asJson: boolean, merge?: MergePasswords): Promise<void> {
  const previous = h.loadSession(paths);
  // a device with its own vault, or one that syncs with another account: never mixed (src/cli/commands/loginmerge.ts)
  const lm = await import('./loginmerge.js');
  const check = await lm.checkDeviceVault(paths, api, t);
  let merged: import('./loginmerge.js').MergeResult | undefined;
  if (check.kind !== 'ok') {
    const body = check.keyringBody;
    if (!merge && body && isInteractive() && !asJson) {
      // on a terminal the merge is offered; off one, the refusal below explains `--merge`
      const e = lm.refusal(check, t.account.email, previous?.account.email);
      info(`${e.message.replace(/; you are not signed in.*$/, '')}.`);
      const { confirm } = await import('@inquirer/prompts');
      if (await confirm({ message: "Bring this device's entries into the account's vaults now (kpm login --merge)?", default: false }, PROMPT_IO)) merge = mergePasswords(false);
    }
    if (!merge || !body) {
      await api.call('logout', { body: {}, token: t.accessToken }).catch(() => undefined); // this sign-in is undone
      throw lm.refusal(check, t.account.email, previous?.account.email);
    }
    try {
      merged = await lm.mergeAtLogin(h, paths, api, t, body, merge);
    } catch (e) {
      await api.call('logout', { body: {}, token: t.accessToken }).catch(() => undefined); // nothing merged: this sign-in is undone
      throw e;
    }
  } else {
    h.saveSession(paths, { server: api.base.toString().replace(/\/$/, ''), ...t, ...(api.insecure ? { insecure: true } : {}) });
  }
  if (previous && previous.device.id !== t.device.id) {
    // The old device session of this profile is replaced; tell its server, if it still listens.
    await api.call('logout', { body: {}, token: previous.accessToken }).catch(() => undefined);
  }
  const downloaded = await downloadKeyring(h, paths, api);
  if (asJson) return json({ account: t.account, device: t.device, server: api.base.origin, vaultDownloaded: downloaded, ...(merged ? { merged } : {}) });
  if (merged) for (const l of lm.describeMerge(merged)) info(l);
  else if (merge) info('--merge: nothing to merge (this device has no vault of its own, or it is the account\'s).');
  info(`Signed in to ${api.base.host} as ${t.account.email} (device "${t.device.name}", id ${t.device.id}).`);
  if (downloaded) info('This account already has a vault: run `kpm unlock` and enter your master password to open it here.');
}

/** A device without a vault takes the account's keyring envelope; the first unlock checks and installs it. */
async function downloadKeyring(h: Http, paths: KpmPaths, api: InstanceType<Http['ApiClient']>): Promise<boolean> {
  const { existsSync } = await import('node:fs');
  if (existsSync(paths.keyring)) return false;
  const session = h.loadSession(paths)!;
  const st = await h.authedCall<import('../../protocol/schemas.js').SyncStateT>(paths, api, session, 'syncState');
  if (!st.keyring) return false;
  const { saveKeyringEnvelope } = await import('../../sync/state.js');
  const { parseKeyringEnvelope } = await import('../../sync/envelope.js');
  const { fromBase64 } = await import('../../crypto/bytes.js');
  const bytes = fromBase64(st.keyring.body);
  parseKeyringEnvelope(bytes); // well-formed, or exit 8; its MAC is checked at unlock
  saveKeyringEnvelope(paths, bytes);
  return true;
}

/** The two master passwords of `kpm login --merge`: the next stdin lines, or asked on a terminal. */
export function mergePasswords(fromStdin: boolean): MergePasswords {
  const ask = async (what: string, message: string) => {
    if (fromStdin) return stdinLine(what);
    needTty(what, 'pass it on stdin with --password-stdin (after the account password and any code)');
    return prompt('password', message);
  };
  return {
    local: () => ask("this device's master password", "Master password of this device's vault"),
    account: () => ask("the account's master password", "Master password of the account's vault (set on your other device)"),
  };
}

export async function secondStep(api: InstanceType<Http['ApiClient']>, r: Extract<LoginResultT, { status: 'otp_required' }>): Promise<TokensT> {
  const { ServerError } = await http();
  const where = r.smsSentTo ? `the code sent by SMS to ${r.smsSentTo}` : r.methods.includes('totp') ? 'the code from your authenticator app' : 'a verification code';
  needTty('a verification code', `${r.smsSentTo ? `an SMS was sent to ${r.smsSentTo}; ` : ''}pipe the code with --otp-stdin (a recovery code works too)`);
  info(`Two-step verification: enter ${where} (or a recovery code).`);
  for (let i = 0; ; i++) {
    const code = await prompt('input', 'Code');
    try {
      return await api.call<TokensT>('loginOtp', { body: { ticket: r.ticket, code: code.trim() } });
    } catch (e) {
      if (!(e instanceof ServerError) || e.code !== 'invalid_otp' || i >= 2 || e.body.signInAgain) throw e;
      info(`${e.message}. Try again.`);
    }
  }
}

export function register(program: Command): void {
  serverOptions(
    checkOptions(
      program
        .command('register')
        .description('create an account on a kpm server (asks on a terminal; flags and stdin for scripts)')
        .option('--email <email>', 'email address')
        .option('--password-stdin', 'read the new account password from the first line of stdin')
        .option('--region <code>', 'region: an ISO 3166 country code (default: from LANG / the system locale)')
        .option('--marketing', 'I agree to provide my email address to receive personalized marketing offers (default: no)')
        .option('--list-regions', 'print the region codes and names, and exit')
        .option('--json', 'print the result as JSON'),
    ),
  )
    .addHelpText('after', `
The account password signs in to the server and can be reset by email; it must differ from your
master password, which never leaves this device and can never be recovered.

Examples:
  kpm register --server https://kpm.example.org
  printf %s "$ACCOUNT_PW" | kpm register --email ann@example.org --password-stdin --region DE`)
    .action(async (o) => {
      const { REGIONS, isRegion, regionOfLocale } = await import('../../protocol/regions.js');
      const names = new Intl.DisplayNames(['en'], { type: 'region' });
      if (o.listRegions) {
        for (const r of REGIONS) out(`${r}  ${names.of(r)}`);
        return;
      }
      const { api } = await client(o);
      const { paths } = ctx();
      const { isValidEmail, normalizeEmail } = await import('../../protocol/email.js');
      const validEmail = async () => {
        const e = await emailOf(o);
        if (!isValidEmail(normalizeEmail(e))) throw usageError(`"${e}" is not a valid email address`);
        return e;
      };
      const email = o.email === undefined ? await withRetries(validEmail) : await validEmail(); // a typed address is asked again (3 tries)
      const password = await newAccountPassword(paths, o);
      const guess =
        regionOfLocale(process.env.LC_ALL) ?? regionOfLocale(process.env.LANG) ?? regionOfLocale(Intl.DateTimeFormat().resolvedOptions().locale) ?? 'US';
      let region = (o.region as string | undefined)?.toUpperCase();
      let marketing = Boolean(o.marketing);
      if (region === undefined && isInteractive()) {
        const { search } = await import('@inquirer/prompts');
        const choices = REGIONS.map((r) => ({ value: r, name: `${names.of(r)} (${r})` }));
        choices.sort((a, b) => (a.value === guess ? -1 : b.value === guess ? 1 : a.name.localeCompare(b.name)));
        region = await search(
          { message: 'Region (type to filter)', source: (term) => choices.filter((c) => !term || c.name.toLowerCase().includes(term.toLowerCase())) },
          PROMPT_IO,
        );
        if (!o.marketing) {
          const { confirm } = await import('@inquirer/prompts');
          marketing = await confirm({ message: 'I agree to provide my email address to receive personalized marketing offers', default: false }, PROMPT_IO);
        }
      }
      region ??= guess;
      if (!isRegion(region)) throw usageError(`unknown region "${region}"`, 'see `kpm register --list-regions`');
      const r = await withSecurityCheck(api, o, (challenge) => api.call<{ message: string }>('register', { body: { email, password, region, marketing, ...(challenge ? { challenge } : {}) } }));
      await api.close();
      if (o.json) return json({ status: 'pending', email: normalizeEmail(email), region, marketing });
      info(`${r.message[0].toUpperCase()}${r.message.slice(1)} (${normalizeEmail(email)}, region ${region}).\nThen run \`kpm activate\` and enter the code from the mail, or open its link.`);
    });

  serverOptions(
    program
      .command('activate')
      .argument('[code]', 'refused: the code is asked for, or read with --code-stdin')
      .description('activate a new account with the code from the activation mail (asked for on a terminal)')
      .option('--code-stdin', 'read the activation code from the first line of stdin')
      .option('--json', 'print the result as JSON'),
  )
    .addHelpText('after', '\nExamples:\n  kpm activate --server https://kpm.example.org\n  printf \'%s\\n\' "$CODE" | kpm activate --code-stdin')
    .action(async (codeArg: string | undefined, o) => {
      if (codeArg !== undefined) throw codeInArgv('kpm activate CODE', 'run `kpm activate` and type the code when asked, or pipe it: printf \'%s\\n\' "$CODE" | kpm activate --code-stdin');
      const { api } = await client(o);
      const code = await codeOf({ stdin: o.codeStdin }, 'the activation code', 'Activation code from the mail', 'pipe it with --code-stdin');
      const r = await api.call<{ status: string; email: string }>('activate', { body: { code } });
      await api.close();
      if (o.json) return json(r);
      info(`Account ${r.email} is activated. Sign in with \`kpm login ${r.email}\`.`);
    });

  serverOptions(
    checkOptions(
      otpOptions(
        program
          .command('login [email]')
          .description('sign in to your account on a kpm server; this device gets its own session')
          .option('--email <email>', 'email address (or give it as the argument)')
          .option('--password-stdin', 'read the account password from the first line of stdin')
          .option('--device <name>', 'name of this device in `kpm devices` (default: the host name)')
          .option('--json', 'print the result as JSON')
          .option('--sso <provider>', 'sign in with an identity provider configured on the server (open a URL, enter a code); offers to create an account for a new identity')
          .option('--region <code>', 'with --sso, if a new account is created: its region (ISO 3166 country code)')
          .option('--marketing', 'with --sso, if a new account is created: agree to marketing offers by email')
          .option('--no-marketing', 'with --sso, if a new account is created: do not agree to marketing offers')
          .option('--no-qr', 'with --sso: do not draw the QR code of the sign-in URL')
          .option('--merge', "on a device with its own vault, when the account already has one: bring this device's entries into the account's vaults (asks this device's master password, then the account's; with --password-stdin: the next two lines)"),
      ),
    ),
  )
    .addHelpText('after', `
Examples:
  kpm login --sso google
  kpm login --sso google --region DE --no-marketing      # off a terminal: creates the account if needed
  kpm login ann@example.org --server https://kpm.example.org
  printf '%s\\n' "$ACCOUNT_PW" | kpm login ann@example.org --password-stdin
  printf '%s\\n%s\\n' "$ACCOUNT_PW" "$CODE" | kpm login ann@example.org --password-stdin --otp-stdin
  kpm login ann@example.org --merge      # this device has its own vault: bring its entries into the account's`)
    .action(async (emailArg: string | undefined, o) => {
      const current = (await http()).loadSession(ctx().paths);
      if (current) info(`Already signed in as ${current.account.email} on ${current.server} (device "${current.device.name}", ${current.device.id}); signing in again replaces that session.`);
      if (o.sso !== undefined) {
        if (emailArg !== undefined || o.email !== undefined || o.passwordStdin) throw usageError('--sso signs in without an email address or account password');
        return (await import('./sso.js')).ssoLogin(o);
      }
      if (o.region !== undefined || o.marketing !== undefined) throw usageError('--region and --marketing go with --sso (a new account); `kpm register` takes them too');
      const { h, api } = await client(o, await sessionServer());
      const { paths } = ctx();
      const email = await emailOf(o, emailArg);
      const password = await accountPassword(o);
      const otp = await otpOf(o);
      const { hostname } = await import('node:os');
      const body = { email, password, deviceName: deviceName(o.device ?? hostname()), ...(otp ? { otp: otp.trim() } : {}) };
      const r = await withSecurityCheck(api, o, (challenge) => api.call<LoginResultT>('login', { body: challenge ? { ...body, challenge } : body }));
      const tokens = r.status === 'ok' ? r : await secondStep(api, r);
      await finishLogin(h, paths, api, tokens, Boolean(o.json), o.merge ? mergePasswords(Boolean(o.passwordStdin)) : undefined);
      await api.close();
    });

  serverOptions(program.command('logout').description('sign this device out (its tokens are deleted here and revoked on the server)'))
    .option('--settings-password-stdin', 'read the settings password from stdin (when the settings are protected; after any other stdin lines)')
    .addHelpText('after', '\nExample:\n  kpm logout')
    .action(async (o) => {
      await requireSettingsPassword('logout', { settingsPasswordStdin: o.settingsPasswordStdin });
      const h = await http();
      const { paths } = ctx();
      const session = h.loadSession(paths);
      if (!session) return info('Not signed in.');
      try {
        const api = new h.ApiClient(await serverUrl(o, session.server), o.insecure);
        await h.authedCall(paths, api, session, 'logout', { body: {} });
        await api.close();
      } catch (e) {
        if (!(e instanceof KpmError) || e.exitCode === EXIT.usage) throw e;
        warn(`the server could not be told (${e.message}); revoke this device later with \`kpm devices revoke ${session.device.id}\``);
      }
      h.clearSession(paths);
      info('Signed out.');
    });

  serverOptions(program.command('whoami').description('the signed-in account and device').option('--json', 'print JSON'))
    .addHelpText('after', '\nExamples:\n  kpm whoami\n  kpm whoami --json | jq -r .email')
    .action(async (o) => {
      const { call, api, session } = await signedIn(o);
      const a = await call<AccountT>('account');
      await api.close();
      if (o.json) return json({ ...a, server: session.server });
      out(a.email);
      info(`server ${session.server}, region ${a.region}, device "${a.device.name}" (${a.device.id})\ntwo-step verification: ${twoFactorText(a.twoFactor)}`);
    });

  const devices = program.command('devices').description('devices signed in to your account').addHelpText('after', '\nExamples:\n  kpm devices\n  kpm devices revoke 3f2a9c1b0d4e5f60');
  serverOptions(devices.command('list', { isDefault: true }).description('list the signed-in devices (the default)').option('--json', 'print JSON'))
    .addHelpText('after', '\nExamples:\n  kpm devices\n  kpm devices --json')
    .action(async (o) => {
      const { call, api } = await signedIn(o);
      const { devices: list } = await call<{ devices: DeviceT[] }>('devices');
      await api.close();
      if (o.json) return json(list);
      const w = Math.max(4, ...list.map((d) => d.name.length));
      out(`${'ID'.padEnd(16)}  ${'NAME'.padEnd(w)}  ${'SIGNED IN'.padEnd(16)}  LAST SEEN`);
      for (const d of list) out(`${d.id.padEnd(16)}  ${d.name.padEnd(w)}  ${since(d.createdAt).padEnd(16)}  ${since(d.lastSeenAt)}${d.current ? '  (this device)' : ''}`);
    });
  serverOptions(devices.command('revoke <id>').description('sign a device out (its id, or the first 4+ characters of it)'))
    .option('--settings-password-stdin', 'read the settings password from stdin (when the settings are protected; after any other stdin lines)')
    .addHelpText('after', '\nExamples:\n  kpm devices revoke 3f2a9c1b0d4e5f60\n  kpm devices revoke 3f2a')
    .action(async (given: string, o) => {
      const prefix = given.toLowerCase();
      if (!/^[0-9a-f]{4,32}$/.test(prefix)) throw usageError(`"${given}" is not a device id`, 'see `kpm devices`');
      await requireSettingsPassword('devices revoke', { settingsPasswordStdin: o.settingsPasswordStdin });
      const { call, api, session, h, paths } = await signedIn(o);
      const { devices: list } = await call<{ devices: DeviceT[] }>('devices');
      const hits = list.filter((d) => d.id.startsWith(prefix));
      if (hits.length !== 1) await api.close();
      if (hits.length === 0) throw new KpmError(`no device ${given}`, EXIT.notFound, 'see `kpm devices`');
      if (hits.length > 1) throw new KpmError(`"${given}" matches ${hits.length} devices; give more of the id`, EXIT.usage);
      const id = hits[0].id;
      await call('revokeDevice', { params: { id } });
      await api.close();
      if (id === session.device.id) {
        h.clearSession(paths);
        return info('This device is signed out.');
      }
      info(`Device ${id} is signed out.`);
    });
  serverOptions(devices.command('rename <id> <name>').description('rename a device'))
    .addHelpText('after', '\nExample:\n  kpm devices rename 3f2a9c1b0d4e5f60 "work laptop"')
    .action(async (id: string, name: string, o) => {
      const { call, api, session, h, paths } = await signedIn(o);
      const d = await call<DeviceT>('renameDevice', { params: { id }, body: { name: deviceName(name) } });
      await api.close();
      if (d.current) h.saveSession(paths, { ...session, device: { id: d.id, name: d.name } });
      info(`Device ${d.id} is now "${d.name}".`);
    });

  registerTwoFactor(program);
  registerAccount(program);
}

/** The server of the stored session, if any (login and reset default to it). */
export async function sessionServer(): Promise<string | undefined> {
  return (await http()).loadSession(ctx().paths)?.server;
}

function registerTwoFactor(program: Command): void {
  const tf = program.command('2fa').description('two-step verification: an authenticator app (recommended) or SMS, plus recovery codes').addHelpText('after', '\nExamples:\n  kpm 2fa status\n  kpm 2fa enable --totp');

  serverOptions(tf.command('status').description('what protects the sign-in').option('--json', 'print JSON'))
    .addHelpText('after', '\nExample:\n  kpm 2fa status')
    .action(async (o) => {
      const { call, api } = await signedIn(o);
      const s = await call<TwoFactorStatusT>('twoFactor');
      await api.close();
      if (o.json) return json(s);
      out(`two-step verification: ${twoFactorText(s)}`);
    });

  serverOptions(
    otpOptions(
      tf
        .command('enable')
        .description('turn on two-step verification: --totp (an authenticator app; recommended) or --sms PHONE')
        .option('--totp', 'use an authenticator app (shows a QR code and the secret)')
        .option('--sms <phone>', 'send codes by SMS to this number (international format, e.g. +4915112345678)')
        .option('--password-stdin', 'read the account password from the first line of stdin (it is asked for again: a session alone cannot turn 2-step verification on)')
        .option('--json', 'print the secret (and then the recovery codes) as JSON'),
    ),
  )
    .addHelpText('after', `
The account password is asked for first: a signed-in session alone cannot change how the account
is protected. On a terminal kpm then shows the QR code and asks for the first code. In scripts, get
the secret with --json, compute a code, and confirm it with \`kpm 2fa confirm --otp-stdin\` (for SMS,
--otp-stdin right away reads the code after the password).

Examples:
  kpm 2fa enable --totp
  kpm 2fa enable --sms +4915112345678
  printf '%s\\n' "$ACCOUNT_PW" | kpm 2fa enable --totp --json --password-stdin | jq -r .secret`)
    .action(async (o) => {
      let method: 'totp' | 'sms' | undefined = o.totp ? 'totp' : o.sms ? 'sms' : undefined;
      if (o.totp && o.sms) throw usageError('choose one of --totp and --sms');
      if (!method) {
        if (!isInteractive()) throw usageError('choose --totp (an authenticator app; recommended) or --sms PHONE');
        const { select } = await import('@inquirer/prompts');
        method = await select(
          {
            message: 'Second step',
            choices: [
              { value: 'totp' as const, name: 'Authenticator app (recommended)' },
              { value: 'sms' as const, name: 'SMS (less safe: codes can be intercepted)' },
            ],
          },
          PROMPT_IO,
        );
      }
      const { call, api } = await signedIn(o);
      const password = await accountPassword(o, 'Account password (to confirm it is you)');
      if (method === 'totp') {
        const s = await call<TotpSetupT>('totpSetup', { body: { password } });
        const given = await otpOf(o);
        if (o.json && given === undefined) {
          json({ secret: s.secret, uri: s.uri, algorithm: s.algorithm, digits: s.digits, period: s.period });
          info('Confirm with `kpm 2fa confirm` and a code the app computes from this secret (--otp-stdin in scripts).');
          return api.close();
        }
        await showQr(s.uri);
        info(`Scan the QR code with your authenticator app, or enter this secret: ${s.secret}\n(${s.uri})`);
        if (given === undefined && !isInteractive()) return void (info('Then confirm with `kpm 2fa confirm` (--otp-stdin in scripts).'), await api.close());
        // a wrong code typed at the terminal is asked again (3 tries)
        const confirmTotp = async () => call<{ recoveryCodes: string[] }>('totpConfirm', { body: { code: (given ?? (await prompt('input', 'The code the app shows now'))).trim() } });
        const { recoveryCodes } = given === undefined ? await withRetries(confirmTotp, [EXIT.wrongPassword]) : await confirmTotp();
        await api.close();
        info('Two-step verification with the authenticator app is on.');
        return printRecoveryCodes(recoveryCodes, Boolean(o.json));
      }
      let phone = o.sms as string | undefined;
      if (phone === undefined) phone = await prompt('input', 'Phone number (international format, e.g. +4915112345678)');
      const sent = await call<{ sentTo: string }>('smsSetup', { body: { phone, password } });
      info(`A code was sent by SMS to ${sent.sentTo}.`);
      const givenSms = await otpOf(o);
      if (givenSms === undefined && !isInteractive()) {
        await api.close();
        if (o.json) json({ status: 'sent', sentTo: sent.sentTo });
        return info('Then confirm with `kpm 2fa confirm --sms` (--otp-stdin in scripts).');
      }
      const confirmSms = async () => call<{ recoveryCodes: string[] }>('smsConfirm', { body: { code: (givenSms ?? (await prompt('input', 'The code from the SMS'))).trim() } });
      const { recoveryCodes } = givenSms === undefined ? await withRetries(confirmSms, [EXIT.wrongPassword]) : await confirmSms();
      await api.close();
      info('Two-step verification by SMS is on.');
      printRecoveryCodes(recoveryCodes, Boolean(o.json));
    });

  serverOptions(
    tf
      .command('confirm')
      .argument('[code]', 'refused: the code is asked for, or read with --otp-stdin')
      .description('confirm a pending `2fa enable` with its first code (asked for on a terminal)')
      .option('--sms', 'confirm the SMS set-up (default: the authenticator app)')
      .option('--otp-stdin', 'read the code from stdin')
      .option('--json', 'print the recovery codes as JSON'),
  )
    .addHelpText('after', "\nExamples:\n  kpm 2fa confirm\n  printf '%s\\n' \"$CODE\" | kpm 2fa confirm --sms --otp-stdin")
    .action(async (codeArg: string | undefined, o) => {
      if (codeArg !== undefined) throw codeInArgv('kpm 2fa confirm CODE', 'run `kpm 2fa confirm` and type the code when asked, or pipe it with --otp-stdin');
      const code = (await otpOf(o)) ?? (isInteractive() ? await prompt('input', 'The first code') : undefined);
      if (!code) throw usageError('the code is missing', 'type it on a terminal, or pipe it with --otp-stdin');
      const { call, api } = await signedIn(o);
      const { recoveryCodes } = await call<{ recoveryCodes: string[] }>(o.sms ? 'smsConfirm' : 'totpConfirm', { body: { code: code.trim() } });
      await api.close();
      info(`Two-step verification ${o.sms ? 'by SMS' : 'with the authenticator app'} is on.`);
      printRecoveryCodes(recoveryCodes, Boolean(o.json));
    });

  serverOptions(otpOptions(tf.command('disable').description('turn two-step verification off (needs the account password and a current code)').option('--password-stdin', 'read the account password from the first line of stdin')))
    .option('--settings-password-stdin', 'read the settings password from stdin (when the settings are protected; after any other stdin lines)')
    .addHelpText('after', "\nExamples:\n  kpm 2fa disable\n  printf '%s\\n%s\\n' \"$ACCOUNT_PW\" \"$CODE\" | kpm 2fa disable --password-stdin --otp-stdin")
    .action(async (o) => {
      await requireSettingsPassword('2fa disable', { settingsPasswordStdin: o.settingsPasswordStdin, stdinLine: (o.passwordStdin ? 1 : 0) + (o.otpStdin ? 1 : 0) });
      const password = await accountPassword(o);
      let code = await otpOf(o);
      if (code === undefined) {
        needTty('a verification code', 'pipe it with --otp-stdin (after the password with --password-stdin)');
        code = await prompt('input', 'A current code (or a recovery code)');
      }
      const { call, api } = await signedIn(o);
      await call('twoFactorDisable', { body: { password, code: code.trim() } });
      await api.close();
      info('Two-step verification is off; the recovery codes are void.');
    });
}

function registerAccount(program: Command): void {
  const account = program.command('account').description('your account on the kpm server').addHelpText('after', '\nExamples:\n  kpm account reset-password');
  serverOptions(
    checkOptions(
      account
        .command('reset-password')
        .description('reset a forgotten ACCOUNT password by email (the master password can never be recovered)')
        .option('--email <email>', 'the account email address (step 1: mails a code)')
        .addOption(new Option('--code <code>', 'refused: use --code-stdin').hideHelp())
        .option('--code-stdin', 'step 2: read the code from the mail from stdin (the line after the password with --password-stdin)')
        .option('--password-stdin', 'read the new account password from the first line of stdin'),
    ),
  )
    .addHelpText('after', `
This resets the password you sign in to the server with. Your master password cannot be reset or
recovered by anyone (it never leaves this device), and your vault is not touched.

Examples:
  kpm account reset-password --email ann@example.org      # mails a code, then asks for it on a terminal
  printf '%s\\n%s\\n' "$NEW_PW" "$CODE" | kpm account reset-password --password-stdin --code-stdin`)
    .action(async (o) => {
      if (o.code !== undefined) throw codeInArgv('--code CODE', 'type the code when asked, or pipe it with --code-stdin (after the new password with --password-stdin)');
      const { h, api } = await client(o, await sessionServer());
      const { paths } = ctx();
      let code: string | undefined;
      let password: string | undefined;
      if (o.codeStdin) {
        password = await newAccountPassword(paths, o);
        code = (await stdinLine('the reset code')).trim();
      } else {
        const email = o.email ?? h.loadSession(paths)?.account.email ?? (await emailOf(o));
        const r = await withSecurityCheck(api, o, (challenge) => api.call<{ message: string }>('resetRequest', { body: { email, ...(challenge ? { challenge } : {}) } }));
        info(`${r.message[0].toUpperCase()}${r.message.slice(1)}.\n${MASTER_NOTE}`);
        if (!isInteractive()) {
          await api.close();
          return info('Then run `kpm account reset-password --code-stdin --password-stdin` with the new password and the code from the mail on stdin, or `kpm account reset-password` on a terminal.');
        }
        code = await prompt('input', 'Code from the mail');
      }
      password ??= await newAccountPassword(paths, o);
      await api.call('resetConfirm', { body: { code: code.trim(), password } });
      await api.close();
      if (h.loadSession(paths)) h.clearSession(paths);
      info(`The account password is changed and every device is signed out; sign in again with \`kpm login\`.\n${MASTER_NOTE}`);
    });
  registerSso(account);
}
