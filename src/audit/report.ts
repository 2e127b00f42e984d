// The audit report: weak, reused, old and breached passwords among a list of entries. Pure: the
// strength estimator and the breach counts are handed in, nothing is read or written here.
//
// Reused passwords are grouped in memory by the password itself (a number per distinct password):
// nothing about them, not even a hash, is kept or written.
import type { EntryView } from '../vault/session.js';
import { weaknessHint, type StrengthEstimate } from './strength.js';

export const CHECKS = ['weak', 'reused', 'old', 'breached'] as const;
export type Check = (typeof CHECKS)[number];

export interface EntryRef {
  id: string;
  vault: string;
  name: string;
}
export interface WeakFinding extends EntryRef {
  score: number;
  guessesLog10: number;
  hint: string;
}
export interface ReusedGroup {
  entries: EntryRef[];
}
export interface OldFinding extends EntryRef {
  passwordChanged: string;
  ageDays: number;
}
export interface BreachedFinding extends EntryRef {
  count: number;
}
export interface AuditError {
  check: Check;
  message: string;
}

/** The `--json` shape (docs/AUDIT.md). */
export interface AuditReport {
  summary: { checked: number; weak: number; reused: number; old: number; breached: number };
  weak: WeakFinding[];
  reused: ReusedGroup[];
  old: OldFinding[];
  breached: BreachedFinding[];
  /** checks that were not made, with why (e.g. breached with --offline and no --hibp-file) */
  skipped: { check: Check; reason: string }[];
  /** vaults whose entries were not audited: locked with their own password (not unlocked in the agent) */
  vaultsNotChecked: { vault: string; reason: string }[];
  errors: AuditError[];
  /** the shared vaults whose entries were checked too (their entries' vault is "NAME (shared)"); absent without any */
  sharedVaults?: string[];
}

export interface ReportOptions {
  checks: ReadonlySet<Check>;
  now: Date;
  /** below this zxcvbn score a password is weak */
  minScore: number;
  /** a password not changed for more than this many days is old */
  maxAgeDays: number;
  /** strengths of `strengthJobs(entries).jobs`, in that order; required for `weak` */
  strengths?: readonly StrengthEstimate[];
  /** `strengthJobs(entries)` as the caller made it for `strengths` (made here when not given) */
  jobs?: StrengthJobs;
  /** breach count by password (undefined: not found); required for `breached` */
  breachCount?: (password: string) => number | undefined;
  skipped?: AuditReport['skipped'];
  vaultsNotChecked?: AuditReport['vaultsNotChecked'];
  errors?: AuditError[];
}

const DAY_MS = 86_400_000;

/** The password an entry is audited for: its `password` field, when there is a non-empty one. */
export function passwordOf(e: EntryView): string | undefined {
  const p = e.payload.fields.password;
  return typeof p === 'string' && p !== '' ? p : undefined;
}

export const refOf = (e: EntryView): EntryRef => ({ id: e.id, vault: e.vault, name: e.payload.name });

/** What zxcvbn should know about an entry so that its own name, user name or site count as guessable. */
export function userInputsOf(e: EntryView): string[] {
  const f = e.payload.fields;
  const inputs = [e.payload.name, f.username ?? '', f.email ?? ''];
  if (f.url) {
    try {
      inputs.push(new URL(f.url.includes('://') ? f.url : `https://${f.url}`).hostname);
    } catch {
      inputs.push(f.url);
    }
  }
  return inputs.filter((s) => s !== '');
}

/**
 * The checked entries and the distinct (password, user inputs) pairs to estimate, in a stable order.
 * `slot[i]` tells which pair entry `checked[i]` uses.
 */
export interface StrengthJobs {
  checked: EntryView[];
  jobs: { password: string; inputs: string[] }[];
  slot: number[];
  /** the reuse check's tag of `checked[i]`'s password: the same number for the same password (first seen: 0, 1, …) */
  passwordTag: number[];
}

export function strengthJobs(entries: readonly EntryView[]): StrengthJobs {
  const checked: EntryView[] = [];
  const jobs: { password: string; inputs: string[] }[] = [];
  const slot: number[] = [];
  const passwordTag: number[] = [];
  const tags = new Map<string, number>();
  const seen = new Map<string, number>();
  for (const e of entries) {
    const pw = passwordOf(e);
    if (pw === undefined) continue;
    const inputs = userInputsOf(e);
    // one tag of the password serves the reuse check and, with the inputs, finds equal jobs
    let pwTag = tags.get(pw);
    if (pwTag === undefined) tags.set(pw, (pwTag = tags.size));
    passwordTag.push(pwTag);
    const tag = pwTag + '\u0000' + inputs.join('\u0000');
    let k = seen.get(tag);
    if (k === undefined) {
      seen.set(tag, (k = jobs.length));
      jobs.push({ password: pw, inputs });
    }
    checked.push(e);
    slot.push(k);
  }
  return { checked, jobs, slot, passwordTag };
}

/** When the password was last changed: passwordChanged, else created; undefined when unreadable. */
function changedAt(e: EntryView): { iso: string; ms: number } | undefined {
  for (const iso of [e.payload.passwordChanged, e.payload.created]) {
    if (!iso) continue;
    const ms = Date.parse(iso);
    if (Number.isFinite(ms)) return { iso, ms };
  }
  return undefined;
}

const byPlace = (a: EntryRef, b: EntryRef) => a.vault.localeCompare(b.vault) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id);

export function buildReport(entries: readonly EntryView[], o: ReportOptions): AuditReport {
  const weakCheck = o.checks.has('weak') && o.strengths !== undefined;
  const made = weakCheck ? (o.jobs ?? strengthJobs(entries)) : undefined;
  const { checked, slot } = made ?? { checked: entries.filter((e) => passwordOf(e) !== undefined), slot: [] };
  const report: AuditReport = {
    summary: { checked: checked.length, weak: 0, reused: 0, old: 0, breached: 0 },
    weak: [],
    reused: [],
    old: [],
    breached: [],
    skipped: [...(o.skipped ?? [])],
    vaultsNotChecked: [...(o.vaultsNotChecked ?? [])],
    errors: [...(o.errors ?? [])],
  };

  if (weakCheck) {
    checked.forEach((e, i) => {
      const s = o.strengths![slot[i]];
      if (s.score < o.minScore) report.weak.push({ ...refOf(e), score: s.score, guessesLog10: s.guessesLog10, hint: weaknessHint(s) });
    });
    report.weak.sort((a, b) => a.score - b.score || a.guessesLog10 - b.guessesLog10 || byPlace(a, b));
  }

  if (o.checks.has('reused')) {
    // by the tags strengthJobs made, else by the passwords
    const groups = new Map<string | number, EntryRef[]>();
    for (let i = 0; i < checked.length; i++) {
      const e = checked[i];
      const tag = made ? made.passwordTag[i] : passwordOf(e)!;
      const g = groups.get(tag);
      if (g) g.push(refOf(e));
      else groups.set(tag, [refOf(e)]);
    }
    for (const g of groups.values()) if (g.length > 1) report.reused.push({ entries: g.sort(byPlace) });
    report.reused.sort((a, b) => b.entries.length - a.entries.length || byPlace(a.entries[0], b.entries[0]));
  }

  if (o.checks.has('old')) {
    const now = o.now.getTime();
    for (const e of checked) {
      const t = changedAt(e);
      if (!t) continue;
      const ageDays = Math.floor((now - t.ms) / DAY_MS);
      if (ageDays > o.maxAgeDays) report.old.push({ ...refOf(e), passwordChanged: t.iso, ageDays });
    }
    report.old.sort((a, b) => b.ageDays - a.ageDays || byPlace(a, b));
  }

  if (o.checks.has('breached') && o.breachCount) {
    for (const e of checked) {
      const count = o.breachCount(passwordOf(e)!);
      if (count !== undefined && count > 0) report.breached.push({ ...refOf(e), count });
    }
    report.breached.sort((a, b) => b.count - a.count || byPlace(a, b));
  }

  report.summary.weak = report.weak.length;
  report.summary.reused = report.reused.reduce((n, g) => n + g.entries.length, 0);
  report.summary.old = report.old.length;
  report.summary.breached = report.breached.length;
  return report;
}

/** Which of the `failOn` checks found something. */
export function failedChecks(r: AuditReport, failOn: ReadonlySet<Check>): Check[] {
  return CHECKS.filter((c) => failOn.has(c) && r.summary[c] > 0);
}
