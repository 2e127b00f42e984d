// The audit report on a fixture list of entries: weak, reused (groups), old (fixed "now"),
// breached; which entries are checked at all; nothing secret in the report.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildReport, CHECKS, failedChecks, passwordOf, strengthJobs, userInputsOf, type Check } from '../../src/audit/report.js';
import { estimateAll, type StrengthEstimate } from '../../src/audit/strength.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import type { EntryView } from '../../src/vault/session.js';

const NOW = new Date('2026-11-24T12:00:00Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();

let n = 0;
function entry(name: string, fields: Record<string, string>, o: { vault?: string; type?: EntryPayload['type']; changed?: string; created?: string } = {}): EntryView {
  n++;
  const created = o.created ?? daysAgo(10);
  return {
    id: n.toString(16).padStart(32, '0'),
    vault: o.vault ?? 'Personal',
    version: 1,
    payload: { type: o.type ?? 'login', name, fields, custom: [], tags: [], created, updated: created, ...(o.changed ? { passwordChanged: o.changed } : {}) },
  };
}

const SHARED = 'Correct-Horse-Battery-9';
const SHARED2 = 'vault door 1234 mango';
const STRONG = 'Xk3!vQ9#mZ2@pL7$wR4^';
const ENTRIES: EntryView[] = [
  entry('github', { username: 'octocat', password: 'password1', url: 'https://github.com' }, { changed: daysAgo(3) }),
  entry('gitlab', { username: 'octocat', password: SHARED }, { changed: daysAgo(400) }),
  entry('bitbucket', { username: 'oc', password: SHARED }, { vault: 'Work', changed: daysAgo(365) }),
  entry('jira', { password: SHARED }, { vault: 'Work', changed: daysAgo(366) }),
  entry('bank', { username: 'me', password: STRONG }, { changed: daysAgo(20) }),
  entry('mail', { username: 'octocat', password: 'octocat2020' }, { created: daysAgo(1000) }), // no passwordChanged: falls back to created
  entry('shop', { password: SHARED2 }),
  entry('shop-old', { password: SHARED2 }, { vault: 'Archive', changed: 'not a date', created: daysAgo(5000) }),
  entry('no-password', { username: 'someone' }),
  entry('empty-password', { password: '' }),
  entry('visa', { number: '4242424242424242', code: '123', pin: '1234' }, { type: 'card' }),
  entry('note', { notes: 'password1' }, { type: 'note' }),
];
const ALL = new Set<Check>(CHECKS);

async function strengths(entries: EntryView[]): Promise<StrengthEstimate[]> {
  return estimateAll(strengthJobs(entries).jobs);
}

describe('which entries are audited', () => {
  it('only entries with a non-empty password field', () => {
    const { checked, jobs, slot } = strengthJobs(ENTRIES);
    expect(checked.map((e) => e.payload.name)).toEqual(['github', 'gitlab', 'bitbucket', 'jira', 'bank', 'mail', 'shop', 'shop-old']);
    expect(passwordOf(ENTRIES[10])).toBeUndefined();
    // one estimate per distinct (password, user inputs): the name is an input, so here 8
    expect(jobs.length).toBe(8);
    expect(slot).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const twins = [entry('site', { username: 'u', password: 'pw1' }), entry('site', { username: 'u', password: 'pw1' }, { vault: 'Work' }), entry('other', { password: 'pw1' })];
    const t = strengthJobs(twins);
    expect(t.jobs.length).toBe(2);
    expect(t.slot).toEqual([0, 0, 1]);
    expect(userInputsOf(ENTRIES[0])).toEqual(['github', 'octocat', 'github.com']);
  });
});

describe('buildReport', () => {
  it('finds weak passwords with score, guesses and a hint', async () => {
    const r = buildReport(ENTRIES, { checks: ALL, now: NOW, minScore: 3, maxAgeDays: 365, strengths: await strengths(ENTRIES) });
    const weak = Object.fromEntries(r.weak.map((w) => [w.name, w]));
    expect(Object.keys(weak).sort()).toEqual(['github', 'mail']);
    expect(weak.github).toMatchObject({ vault: 'Personal', score: 0, id: ENTRIES[0].id });
    expect(weak.github.guessesLog10).toBeLessThan(3);
    expect(weak.github.hint).toMatch(/common/i);
    expect(weak.mail.hint.length).toBeGreaterThan(0);
    expect(r.weak[0].score).toBeLessThanOrEqual(r.weak[1].score); // weakest first
    expect(r.summary.weak).toBe(2);
  });

  it('#17: the jobs the caller made for the estimates (kpm audit hands them in) give the same report as jobs made again', async () => {
    const jobs = strengthJobs(ENTRIES);
    const s = await estimateAll(jobs.jobs);
    const o = { checks: ALL, now: NOW, minScore: 3, maxAgeDays: 365, strengths: s, breachCount: (pw: string) => (pw === SHARED ? 7 : undefined) };
    const given = buildReport(ENTRIES, { ...o, jobs });
    expect(given).toEqual(buildReport(ENTRIES, o));
    expect(given.summary).toMatchObject({ weak: 2, breached: 3, reused: 5 });
  });

  it('respects the min_score threshold', async () => {
    const s = await strengths(ENTRIES);
    expect(buildReport(ENTRIES, { checks: ALL, now: NOW, minScore: 0, maxAgeDays: 365, strengths: s }).weak).toEqual([]);
    const all = buildReport(ENTRIES, { checks: ALL, now: NOW, minScore: 4, maxAgeDays: 365, strengths: s }).weak.map((w) => w.name);
    expect(all.length).toBe(s.filter((x) => x.score < 4).length);
    expect(all).toEqual(expect.arrayContaining(['github', 'mail']));
    expect(all).not.toContain('bank');
  });

  it('groups reused passwords across vaults', () => {
    const r = buildReport(ENTRIES, { checks: new Set(['reused']), now: NOW, minScore: 3, maxAgeDays: 365 });
    expect(r.reused.map((g) => g.entries.map((e) => `${e.vault}/${e.name}`))).toEqual([
      ['Personal/gitlab', 'Work/bitbucket', 'Work/jira'],
      ['Archive/shop-old', 'Personal/shop'],
    ]);
    expect(r.summary.reused).toBe(5);
    expect(r.reused[0].entries[0]).toEqual({ id: ENTRIES[1].id, vault: 'Personal', name: 'gitlab' });
  });

  it('finds old passwords against a fixed now, falling back to the creation time', () => {
    const r = buildReport(ENTRIES, { checks: new Set(['old']), now: NOW, minScore: 3, maxAgeDays: 365 });
    expect(r.old.map((o) => [o.name, o.ageDays])).toEqual([
      ['shop-old', 5000], // passwordChanged unreadable: created
      ['mail', 1000], // no passwordChanged: created
      ['gitlab', 400],
      ['jira', 366],
    ]); // bitbucket at exactly 365 days is not old
    expect(r.old.find((o) => o.name === 'gitlab')!.passwordChanged).toBe(daysAgo(400));
    expect(buildReport(ENTRIES, { checks: new Set(['old']), now: NOW, minScore: 3, maxAgeDays: 2000 }).old.map((o) => o.name)).toEqual(['shop-old']);
  });

  it('reports breached entries with their counts', () => {
    const counts: Record<string, number> = { password1: 2_401_761, [SHARED2]: 3 };
    const r = buildReport(ENTRIES, { checks: new Set(['breached']), now: NOW, minScore: 3, maxAgeDays: 365, breachCount: (pw) => counts[pw] });
    expect(r.breached.map((b) => [b.name, b.count])).toEqual([
      ['github', 2_401_761],
      ['shop-old', 3],
      ['shop', 3],
    ]);
    expect(r.summary.breached).toBe(3);
  });

  it('runs only the asked checks and says which fail', async () => {
    const r = buildReport(ENTRIES, { checks: new Set(['reused']), now: NOW, minScore: 3, maxAgeDays: 365, strengths: await strengths(ENTRIES), breachCount: () => 5 });
    expect(r.weak).toEqual([]);
    expect(r.old).toEqual([]);
    expect(r.breached).toEqual([]);
    expect(r.summary).toEqual({ checked: 8, weak: 0, reused: 5, old: 0, breached: 0 });
    expect(failedChecks(r, new Set(['weak', 'old']))).toEqual([]);
    expect(failedChecks(r, new Set(['reused', 'old']))).toEqual(['reused']);
  });

  it('has the documented JSON shape and no secret in it', async () => {
    const r = buildReport(ENTRIES, {
      checks: ALL, now: NOW, minScore: 3, maxAgeDays: 365, strengths: await strengths(ENTRIES), breachCount: (pw) => (pw === 'password1' ? 9 : undefined),
      skipped: [], errors: [{ check: 'breached', message: 'x' }],
    });
    expect(Object.keys(r)).toEqual(['summary', 'weak', 'reused', 'old', 'breached', 'skipped', 'vaultsNotChecked', 'errors']);
    expect(Object.keys(r.summary)).toEqual(['checked', 'weak', 'reused', 'old', 'breached']);
    expect(Object.keys(r.weak[0]).sort()).toEqual(['guessesLog10', 'hint', 'id', 'name', 'score', 'vault']);
    expect(Object.keys(r.old[0]).sort()).toEqual(['ageDays', 'id', 'name', 'passwordChanged', 'vault']);
    expect(Object.keys(r.breached[0]).sort()).toEqual(['count', 'id', 'name', 'vault']);
    expect(Object.keys(r.reused[0])).toEqual(['entries']);
    const text = JSON.stringify(r);
    for (const e of ENTRIES) {
      const pw = passwordOf(e);
      if (!pw) continue;
      expect(text).not.toContain(pw);
      for (const alg of ['sha1', 'sha256']) {
        const h = createHash(alg).update(pw).digest();
        expect(text.toLowerCase()).not.toContain(h.toString('hex'));
        expect(text).not.toContain(h.toString('base64'));
      }
    }
  });

  it('handles an empty vault', () => {
    const r = buildReport([], { checks: ALL, now: NOW, minScore: 3, maxAgeDays: 365, strengths: [] });
    expect(r.summary).toEqual({ checked: 0, weak: 0, reused: 0, old: 0, breached: 0 });
  });
});
