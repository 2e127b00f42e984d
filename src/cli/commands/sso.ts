// Sign-in with an identity provider (OpenID Connect, device authorization grant, RFC 8628):
// `kpm login --sso P` (hooked in account/login.ts), `kpm account link|unlink --sso P`, `account identities`,
// `account providers`. The kpm server is the OpenID client; this side shows the provider's URL and
// code, polls the server, and stores the session through finishLogin like a password sign-in. No
// account password is involved, and the master password never leaves this device either way.
import type { Command } from 'commander';
import { KpmError, EXIT, usageError } from '../../core/errors.js';
import type { TokensT } from '../../protocol/schemas.js';
import type { SsoIdentityT, SsoPollResultT, SsoRegisterResultT, SsoStartedT } from '../../protocol/sso.js';
import { info, isInteractive, json, out } from '../io.js';
import { requireSettingsPassword } from '../guard.js';
import { ctx } from '../context.js';
import { PROMPT_IO } from '../prompt.js';
import { client, serverOptions, sessionServer, signedIn } from './account/connect.js';
import { accountPassword, deviceName, mergePasswords, otpOf } from './account/input.js';
import { showQr } from './account/output.js';
import { finishLogin, secondStep } from './account/signin.js';

type Api = Awaited<ReturnType<typeof client>>['api'];

interface FlowFlags {
  qr?: boolean;
  json?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Shows where to approve, then polls the server until the provider has answered. */
async function runDeviceFlow(api: Api, s: SsoStartedT, o: FlowFlags): Promise<Exclude<SsoPollResultT, { status: 'pending' }>> {
  info(`To continue with ${s.provider}, open ${s.verificationUri} and enter the code ${s.userCode}`);
  if (s.verificationUriComplete) info(`(or open ${s.verificationUriComplete} directly)`);
  if (o.qr !== false && process.stderr.isTTY) await showQr(s.verificationUriComplete ?? s.verificationUri);
  info('Waiting for the approval… (Ctrl-C cancels)');
  const deadline = Date.parse(s.expiresAt) + 5000;
  let interval = s.interval;
  for (;;) {
    await sleep(interval * 1000);
    const r = await api.call<SsoPollResultT>('ssoPoll', { body: { flow: s.flow } });
    if (r.status !== 'pending') return r;
    interval = r.interval;
    if (Date.now() > deadline) throw new KpmError(`the code expired before it was approved at ${s.provider}`, EXIT.locked, 'run the command again');
  }
}

interface LoginFlags extends FlowFlags {
  sso: string;
  device?: string;
  region?: string;
  merge?: boolean;
  marketing?: boolean;
  otp?: string;
  otpStdin?: boolean;
  server?: string;
  insecure?: boolean;
}

/** Region and consent for a new account: asked on a terminal, from flags otherwise (never guessed off one). */
async function newAccountAnswers(o: LoginFlags, email: string): Promise<{ region: string; marketing: boolean }> {
  const { REGIONS, isRegion, regionOfLocale } = await import('../../protocol/regions.js');
  const check = (r: string) => {
    if (!isRegion(r)) throw usageError(`unknown region "${r}"`, 'see `kpm register --list-regions`');
    return r;
  };
  if (!isInteractive()) {
    if (o.region === undefined || o.marketing === undefined) {
      throw usageError(`no kpm account is linked to this ${o.sso} identity (${email}); to create one, pass --region XX and --marketing or --no-marketing`, `or sign in with your password and run \`kpm account link --sso ${o.sso}\``);
    }
    return { region: check(o.region.toUpperCase()), marketing: o.marketing };
  }
  const p = await import('@inquirer/prompts');
  info(`No kpm account is linked to this ${o.sso} identity (${email}).`);
  if (!(await p.confirm({ message: `Create a kpm account for ${email}?`, default: true }, PROMPT_IO))) {
    throw new KpmError('no account was created', EXIT.error, `to use an existing account, sign in with its password and run \`kpm account link --sso ${o.sso}\``);
  }
  let region = o.region?.toUpperCase();
  if (region === undefined) {
    const guess = regionOfLocale(process.env.LC_ALL) ?? regionOfLocale(process.env.LANG) ?? regionOfLocale(Intl.DateTimeFormat().resolvedOptions().locale) ?? 'US';
    const names = new Intl.DisplayNames(['en'], { type: 'region' });
    const choices = REGIONS.map((r) => ({ value: r, name: `${names.of(r)} (${r})` }));
    choices.sort((a, b) => (a.value === guess ? -1 : b.value === guess ? 1 : a.name.localeCompare(b.name)));
    region = await p.search({ message: 'Region (type to filter)', source: (term) => choices.filter((c) => !term || c.name.toLowerCase().includes(term.toLowerCase())) }, PROMPT_IO);
  }
  const marketing = o.marketing ?? (await p.confirm({ message: 'I agree to provide my email address to receive personalized marketing offers', default: false }, PROMPT_IO));
  return { region: check(region), marketing };
}

/** `kpm login --sso PROVIDER`. */
export async function ssoLogin(o: LoginFlags): Promise<void> {
  const { h, api } = await client(o, await sessionServer());
  const { paths } = ctx();
  const { hostname } = await import('node:os');
  const started = await api.call<SsoStartedT>('ssoStart', { body: { provider: o.sso, deviceName: deviceName(o.device ?? hostname()) } });
  const r = await runDeviceFlow(api, started, o);
  let tokens: TokensT;
  if (r.status === 'register') {
    const answers = await newAccountAnswers(o, r.email);
    const reg = await api.call<SsoRegisterResultT>('ssoRegister', { body: { flow: started.flow, ...answers } });
    // Servers before S1 answered `pending` (an unactivated account linked to an unverified address).
    if (reg.status !== 'ok') throw new KpmError('the server sent an unexpected answer to a registration', EXIT.network);
    info(`Created the kpm account ${r.email} (region ${answers.region}), linked to ${o.sso}.`);
    tokens = reg;
  } else if (r.status === 'otp_required') {
    const code = await otpOf(o);
    tokens = code ? await api.call<TokensT>('loginOtp', { body: { ticket: r.ticket, code: code.trim() } }) : await secondStep(api, r);
  } else if (r.status === 'ok') {
    tokens = r;
  } else {
    throw new KpmError('the server sent an unexpected answer to a sign-in', EXIT.network);
  }
  await finishLogin(h, paths, api, tokens, Boolean(o.json), o.merge ? mergePasswords(!isInteractive()) : undefined);
  await api.close();
}

const identityText = (i: SsoIdentityT) => `${i.provider.padEnd(12)}  ${(i.email ?? '-').padEnd(28)}  ${i.linkedAt.replace('T', ' ').slice(0, 16)}  ${i.issuer} ${i.subject}`;

/** `kpm account link|unlink|identities|providers`, under the `account` command. */
export function registerSso(account: Command): void {
  serverOptions(
    account
      .command('link')
      .description('link an identity provider to the signed-in account, so `kpm login --sso PROVIDER` signs in to it')
      .requiredOption('--sso <provider>', 'the provider, as configured on the server (see `kpm account providers`)')
      .option('--password-stdin', 'read the account password from the first line of stdin (it is asked for again: a session alone cannot link an identity)')
      .option('--no-qr', 'do not draw the QR code of the sign-in URL')
      .option('--json', 'print the linked identity as JSON'),
  )
    .addHelpText('after', '\nThe account password is asked for first: a signed-in session alone cannot link an identity.\n\nExamples:\n  kpm account link --sso google\n  printf \'%s\\n\' "$ACCOUNT_PW" | kpm account link --sso google --password-stdin')
    .action(async (o) => {
      const { call, api, session } = await signedIn(o);
      const password = await accountPassword(o, 'Account password (to confirm it is you)');
      const started = await call<SsoStartedT>('ssoLinkStart', { body: { provider: o.sso, password } });
      const r = await runDeviceFlow(api, started, o);
      await api.close();
      if (r.status !== 'linked') throw new KpmError('the server sent an unexpected answer to a link request', EXIT.network);
      if (o.json) return json(r.identity);
      info(`Linked: the ${o.sso} identity ${r.identity.email ?? r.identity.subject} now signs in to ${session.account.email} with \`kpm login --sso ${o.sso}\`.`);
    });

  serverOptions(
    account
      .command('unlink')
      .description('remove an identity provider from the signed-in account')
      .requiredOption('--sso <provider>', 'the provider to unlink')
      .option('--settings-password-stdin', 'read the settings password from stdin (when the settings are protected)'),
  )
    .addHelpText('after', '\nExample:\n  kpm account unlink --sso google')
    .action(async (o) => {
      await requireSettingsPassword('account unlink', { settingsPasswordStdin: o.settingsPasswordStdin });
      const { call, api } = await signedIn(o);
      await call('ssoUnlink', { body: { provider: o.sso } });
      await api.close();
      info(`Unlinked ${o.sso}: it no longer signs in to this account.`);
    });

  serverOptions(account.command('identities').description('identity providers linked to the signed-in account').option('--json', 'print JSON'))
    .addHelpText('after', '\nExample:\n  kpm account identities --json')
    .action(async (o) => {
      const { call, api } = await signedIn(o);
      const { identities } = await call<{ identities: SsoIdentityT[] }>('ssoIdentities');
      await api.close();
      if (o.json) return json(identities);
      if (identities.length === 0) return info('No identity provider is linked. Link one with `kpm account link --sso PROVIDER`.');
      for (const i of identities) out(identityText(i));
    });

  serverOptions(account.command('providers').description('identity providers the server offers for `kpm login --sso`').option('--json', 'print JSON'))
    .addHelpText('after', '\nExample:\n  kpm account providers --server https://kpm.example.org')
    .action(async (o) => {
      const { api } = await client(o, await sessionServer());
      const { providers } = await api.call<{ providers: { name: string; issuer: string }[] }>('ssoProviders');
      await api.close();
      if (o.json) return json(providers);
      if (providers.length === 0) return info('This server offers no identity providers.');
      for (const p of providers) out(`${p.name.padEnd(12)}  ${p.issuer}`);
    });
}
