// kpm register, kpm activate: a new account on a kpm server.
import type { Command } from 'commander';
import { usageError } from '../../../core/errors.js';
import { info, isInteractive, json, out } from '../../io.js';
import { ctx } from '../../context.js';
import { askConfirm, askSearch, withRetries } from '../../prompt.js';
import { client, serverOptions } from './connect.js';
import { codeInArgv, codeOf, emailOf, newAccountPassword } from './input.js';
import { checkOptions, withSecurityCheck } from './securitycheck.js';

export function registerRegister(program: Command): void {
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
      const { REGIONS, isRegion, regionOfLocale } = await import('../../../protocol/regions.js');
      const names = new Intl.DisplayNames(['en'], { type: 'region' });
      if (o.listRegions) {
        for (const r of REGIONS) out(`${r}  ${names.of(r)}`);
        return;
      }
      const { api } = await client(o);
      const { paths } = ctx();
      const { isValidEmail, normalizeEmail } = await import('../../../protocol/email.js');
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
        const choices = REGIONS.map((r) => ({ value: r as string, name: `${names.of(r)} (${r})` }));
        choices.sort((a, b) => (a.value === guess ? -1 : b.value === guess ? 1 : a.name.localeCompare(b.name)));
        region = await askSearch('Region (type to filter)', choices);
        if (!o.marketing) marketing = await askConfirm('I agree to provide my email address to receive personalized marketing offers', false);
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
}
