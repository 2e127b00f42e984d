// kpm audit: weak, reused, old and breached passwords, for people and as a CI gate (docs/AUDIT.md).
// The audit modules (zxcvbn and its dictionaries above all) are loaded only when the command runs.
import type { Command } from 'commander';
import { KpmError, EXIT, usageError } from '../../core/errors.js';
import type { AuditError, AuditReport, Check, EntryRef } from '../../audit/report.js';
import { info, json, out } from '../io.js';
import { openApi } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { ctx } from '../context.js';

/** Exit code when a check named in --fail-on found something (docs/AUDIT.md, README exit codes). */

const ALL_CHECKS: readonly Check[] = ['weak', 'reused', 'old', 'breached'];

interface AuditOptions {
  vault?: string;
  json?: boolean;
  offline?: boolean;
  hibpFile?: string;
  hibpUrl?: string;
  failOn?: string;
  only?: string;
  passwordStdin?: boolean;
  /** false with --no-cache */
  cache?: boolean;
}

export function parseChecks(flag: string, value: string): Set<Check> {
  const set = new Set<Check>();
  for (const raw of value.split(',')) {
    const c = raw.trim().toLowerCase();
    if (!c) continue;
    if (c === 'all') ALL_CHECKS.forEach((x) => set.add(x));
    else if ((ALL_CHECKS as readonly string[]).includes(c)) set.add(c as Check);
    else throw usageError(`${flag}: unknown check "${raw.trim()}"`, `choose from ${ALL_CHECKS.join(', ')} (comma-separated) or all`);
  }
  if (set.size === 0) throw usageError(`${flag} needs at least one of ${ALL_CHECKS.join(', ')}`);
  return set;
}

/** A one-line progress indicator on stderr, only on a terminal and only for large vaults. */
class Progress {
  private last = 0;
  private shown = false;
  constructor(private readonly enabled: boolean) {}
  update(label: string, done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (done < total && now - this.last < 80) return;
    this.last = now;
    const width = 24;
    const filled = total > 0 ? Math.round((done / total) * width) : width;
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}\x1b[K`);
    this.shown = true;
  }
  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

export function register(program: Command): void {
  program
    .command('audit')
    .description('check passwords: weak (strength estimate), reused, old (not changed for long), breached (Pwned Passwords)')
    .option('--vault <name>', 'audit only this vault (default: every unlocked vault)')
    .option('--json', 'print the report as JSON (shape in docs/AUDIT.md)')
    .option('--offline', 'never use the network: breached passwords are checked only against --hibp-file')
    .option('--hibp-file <file>', 'a downloaded Pwned Passwords SHA-1 file ordered by hash ("HASH:COUNT" lines); implies --offline')
    .option('--hibp-url <url>', 'Pwned Passwords range API base URL (default: the hibp_url setting)')
    .option('--only <checks>', 'run only these checks: weak,reused,old,breached (comma-separated)')
    .option('--fail-on <checks>', `exit ${EXIT.auditFindings} when any of these checks finds something: weak,reused,old,breached or all`)
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .option('--no-cache', 'estimate every password again: neither read nor update the encrypted strength cache')
    .addHelpText(
      'after',
      `
Only the first 5 hex characters of each password's SHA-1 are sent to the range API (k-anonymity,
with response padding); nothing is sent with --offline or --hibp-file.

Exit codes: 0 nothing that --fail-on names was found (always 0 without --fail-on, unless a check
failed); ${EXIT.auditFindings} a check named in --fail-on found something; 6 the breach service could not be
reached (the rest of the report is still printed); 2 usage; 4 locked.

Examples:
  kpm audit
  kpm audit --vault Work --only weak,reused
  kpm audit --offline --hibp-file pwned-passwords-sha1-ordered-by-hash-v8.txt
  kpm audit --json --fail-on breached,weak        # CI gate: exit ${EXIT.auditFindings} on findings
  printf '%s\\n' "$MASTER" | kpm audit --password-stdin --fail-on all`,
    )
    .action(async (o: AuditOptions) => runAudit(o));
}

async function runAudit(o: AuditOptions): Promise<void> {
  const checks = o.only !== undefined ? parseChecks('--only', o.only) : new Set(ALL_CHECKS);
  const failOn = o.failOn !== undefined ? parseChecks('--fail-on', o.failOn) : new Set<Check>();
  for (const c of failOn) if (!checks.has(c)) throw usageError(`--fail-on ${c}, but --only leaves the ${c} check out`);
  const { paths } = ctx();
  const settings = await loadSettings(paths);
  const [{ buildReport, strengthJobs, failedChecks, passwordOf }, hibp, { HashFile }] = await Promise.all([
    import('../../audit/report.js'),
    import('../../audit/hibp.js'),
    import('../../audit/hashfile.js'),
  ]);

  // Problems with the flags are reported before the vault is unlocked.
  let source: import('../../audit/hibp.js').BreachSource | undefined;
  const skipped: AuditReport['skipped'] = [];
  // `--offline` is also the program's own option (no automatic sync): either way, no network here.
  if (process.env.KPM_OFFLINE === '1') o.offline = true;
  if (checks.has('breached')) {
    if (o.hibpFile !== undefined) source = new HashFile(o.hibpFile);
    else if (o.offline) skipped.push({ check: 'breached', reason: '--offline without --hibp-file' });
    else source = new hibp.RangeClient(o.hibpUrl ?? settings.hibp_url, { userAgent: 'kpm-audit' });
  }
  if (o.hibpUrl !== undefined) hibp.checkRangeUrl(o.hibpUrl);

  try {
    const api = await openApi(paths, { passwordStdin: o.passwordStdin });
    let entries;
    let vaultsNotChecked: AuditReport['vaultsNotChecked'] = [];
    let cacheKey: string | undefined;
    let sharedVaults: string[] = [];
    try {
      // the shared vaults this account can read are checked with the own ones (weak, reused across both, old, breached)
      const sh = await import('../shared.js');
      ({ entries, sharedVaults } = await sh.entriesWithShared(paths, api, o.vault));
      // an agent from before the cache answers "unknown method": audit without it
      if (checks.has('weak') && o.cache !== false) cacheKey = await api.auditCacheKey().catch(() => undefined);
      // A data vault locked with its own password cannot be read: the report names it instead of
      // leaving it out silently.
      vaultsNotChecked = (await api.listVaults())
        .filter((v) => v.locked && (o.vault === undefined || v.name.toLowerCase() === o.vault.toLowerCase()))
        .map((v) => ({ vault: v.name, reason: `locked (own password): \`kpm vault unlock "${v.name}"\` first` }));
    } finally {
      await api.close();
    }
    const made = checks.has('weak') ? strengthJobs(entries) : undefined;
    const { checked, jobs } = made ?? { checked: entries.filter((e) => passwordOf(e) !== undefined), jobs: [] };
    const progress = new Progress(Boolean(process.stderr.isTTY) && checked.length > 200);
    const errors: AuditError[] = [];

    // The strength estimates and the breach check go on at once: a worker thread (src/audit/pool.ts)
    // loads zxcvbn-ts for what the prefilter leaves while this one searches the breaches and runs
    // the prefilter (the worker's start, its busiest part, overlaps the breach search).
    let estimating: Promise<import('../../audit/strength.js').StrengthEstimate[]> | undefined;
    if (checks.has('weak') && jobs.length) {
      const [{ estimateWithCache }] = await Promise.all([import('../../audit/cache.js'), import('../../audit/pool.js')]);
      estimating = estimateWithCache(jobs, cacheKey === undefined ? undefined : { dataDir: paths.data, key: cacheKey }, (d, t) => progress.update('Estimating strength', d, t));
      estimating.catch(() => undefined); // (awaited below)
      // its worker is started before the breach search keeps this thread busy (pool.js is loaded
      // above, so that estimateWithCache reaches it within this one turn of the event loop)
      await new Promise((r) => setImmediate(r));
    }

    let breachCount: ((pw: string) => number | undefined) | undefined;
    let breachError: KpmError | undefined;
    if (source && checked.length) {
      const hashOf = new Map<string, string>();
      for (const e of checked) {
        const pw = passwordOf(e)!;
        if (!hashOf.has(pw)) hashOf.set(pw, hibp.sha1Hex(pw));
      }
      try {
        const counts = await source.lookup([...new Set(hashOf.values())], (d, t) => progress.update('Checking breaches', d, t));
        breachCount = (pw) => counts.get(hashOf.get(pw) ?? hibp.sha1Hex(pw));
      } catch (e) {
        if (!(e instanceof hibp.BreachCheckError)) throw e;
        breachError = e;
        errors.push({ check: 'breached', message: e.message });
      }
    }
    const strengths = estimating && (await estimating);
    progress.clear();
    if (breachError) {
      info(`kpm: breached passwords not checked: ${breachError.message}`);
      if (breachError.hint) info(`hint: ${breachError.hint}`);
    }

    const report = buildReport(entries, { checks, now: new Date(), minScore: settings.audit_min_score, maxAgeDays: settings.audit_max_age_days, strengths, jobs: made, breachCount, skipped, vaultsNotChecked, errors });
    if (sharedVaults.length) report.sharedVaults = sharedVaults;
    if (o.json) json(report);
    else printReport(report, checks, settings.audit_min_score, settings.audit_max_age_days);

    const failed = failedChecks(report, failOn);
    if (failed.length) {
      throw new KpmError(`audit found problems: ${failed.map((c) => `${report.summary[c]} ${c}`).join(', ')}`, EXIT.auditFindings);
    }
    if (breachError) throw new KpmError('audit incomplete: breached passwords could not be checked', breachError.exitCode);
  } finally {
    source?.close();
  }
}

// ------------------------------------------------------------------ human output

const label = (r: EntryRef) => (r.vault === 'Personal' ? r.name : `${r.name} [${r.vault}]`);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function printReport(r: AuditReport, checks: ReadonlySet<Check>, minScore: number, maxAgeDays: number): void {
  const s = r.summary;
  const found = [s.weak && `${s.weak} weak`, s.reused && `${s.reused} reused`, s.old && `${s.old} old`, s.breached && `${s.breached} breached`].filter(Boolean);
  out(`Checked ${plural(s.checked, 'password')}: ${found.length ? found.join(', ') : 'no problems found'}.`);
  const w = Math.min(32, Math.max(8, ...[...r.weak, ...r.old, ...r.breached].map((x) => label(x).length)));

  if (checks.has('weak') && r.weak.length) {
    out('');
    out(`Weak (${r.weak.length}): strength below ${minScore}/4`);
    for (const x of r.weak) out(`  ${label(x).padEnd(w)}  ${x.score}/4  ~10^${x.guessesLog10.toFixed(1)} guesses  ${x.hint}`.trimEnd());
  }
  if (checks.has('reused') && r.reused.length) {
    out('');
    out(`Reused (${plural(r.reused.length, 'group')}, ${plural(s.reused, 'entry', 'entries')}): each line shares one password`);
    for (const g of r.reused) out(`  ${g.entries.map(label).join(', ')}`);
  }
  if (checks.has('old') && r.old.length) {
    out('');
    out(`Old (${r.old.length}): not changed for more than ${plural(maxAgeDays, 'day')}`);
    for (const x of r.old) out(`  ${label(x).padEnd(w)}  last changed ${x.passwordChanged.slice(0, 10)} (${plural(x.ageDays, 'day')} ago)`);
  }
  if (checks.has('breached') && r.breached.length) {
    out('');
    out(`Breached (${r.breached.length}): found in Pwned Passwords; change these first`);
    for (const x of r.breached) out(`  ${label(x).padEnd(w)}  seen ${x.count.toLocaleString('en-US')} ${x.count === 1 ? 'time' : 'times'}`);
  }
  const notes = [...(r.sharedVaults?.length ? [`shared vaults checked too: ${r.sharedVaults.map((n) => `"${n}"`).join(', ')} (their entries are marked "(shared)")`] : []), ...r.vaultsNotChecked.map((v) => `vault "${v.vault}": not checked, ${v.reason}`), ...r.skipped.map((k) => `${k.check}: not checked (${k.reason})`), ...r.errors.map((e) => `${e.check}: not checked (${e.message})`)];
  if (notes.length) {
    out('');
    for (const n of notes) out(`Note: ${n}`);
  }
}

