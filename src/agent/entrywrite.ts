// The last steps of `kpm add` and `kpm edit` once the payload is built and the password chosen: the
// weak-password warning, the dates, the save. One copy for the full program (commands/entries.ts)
// and for the agent, which runs the hot-path writes (`addEntry`/`editEntry`, src/agent/server.ts)
// with the strength estimator and the settings already loaded.
import type { EntryPayload } from '../vault/entry.js';
import type { EntryView } from '../vault/session.js';
import type { CoreSettings } from '../settings/schema.js';
import { KpmError } from '../core/errors.js';
import { applyFieldFlags, completeEntry, generatedSecret, type EntryFlags } from '../vault/entryinput.js';

export interface NewSecret {
  value?: string;
  generated: boolean;
}

/** Warns (never refuses) when a password the user typed is weak; generated ones are not checked. */
export async function weakWarning(p: EntryPayload, secret: NewSecret, check: boolean, minScore: () => Promise<number>): Promise<string | undefined> {
  if (!check || secret.generated || !secret.value) return undefined;
  const [{ weakPasswordWarning }, min] = await Promise.all([import('../audit/strength.js'), minScore()]);
  return weakPasswordWarning(secret.value, min, [p.name, p.fields.username ?? '', p.fields.url ?? '']);
}

/** `kpm add`: the password set, the warning shown, then saved in `vault` (else the default_vault setting). */
export async function saveNewEntry(
  p: EntryPayload,
  secret: NewSecret,
  o: { check: boolean; vault?: string },
  settings: () => Promise<Pick<CoreSettings, 'audit_min_score' | 'default_vault'>>,
  add: (vault: string, p: EntryPayload) => Promise<EntryView>,
  warn: (line: string) => void,
): Promise<EntryView> {
  if (secret.value !== undefined) p.fields.password = secret.value;
  const warning = await weakWarning(p, secret, o.check, async () => (await settings()).audit_min_score);
  if (warning) warn(warning);
  if (p.fields.password !== undefined) p.passwordChanged = p.created;
  return add(o.vault ?? (await settings()).default_vault, p);
}

/** `kpm edit`: a new password (if it differs) with its date and warning, then the entry's update time. */
export async function finishEdit(p: EntryPayload, secret: NewSecret, check: boolean, minScore: () => Promise<number>, warn: (line: string) => void): Promise<void> {
  const now = new Date().toISOString();
  if (secret.value !== undefined && secret.value !== p.fields.password) {
    p.fields.password = secret.value;
    p.passwordChanged = now;
    const warning = await weakWarning(p, secret, check, minScore);
    if (warning) warn(warning);
  }
  p.updated = now;
}

/** What the hot path (src/cli/fastpath.ts) sends for `kpm add` / `kpm edit`: plain flags, the password from stdin. */
export interface WriteFlags extends Pick<EntryFlags, 'username' | 'url' | 'notes' | 'field' | 'generate' | 'length' | 'symbols' | 'digits' | 'separator'> {
  vault?: string;
  /** --no-check */
  check?: boolean;
  /** edit --name NEW */
  name?: string;
  /** the password read from stdin (--password-stdin) */
  password?: string;
}

/** What the agent answers: the lines to print. */
export interface WriteOutcome {
  vault: string;
  name: string;
  generated: boolean;
  warnings: string[];
  /** the color setting, for the warning lines */
  color: CoreSettings['color'];
  /** the save failed after the warnings (the full program prints them first, then the error) */
  error?: { message: string; exitCode: number; hint?: string };
}

/** The save, its failure kept with the warnings printed before it. */
async function saving(vault: () => Promise<EntryView>): Promise<EntryView | { error: NonNullable<WriteOutcome['error']> }> {
  try {
    return await vault();
  } catch (e) {
    if (!(e instanceof KpmError)) throw e;
    return { error: { message: e.message, exitCode: e.exitCode, ...(e.hint ? { hint: e.hint } : {}) } };
  }
}

export interface EntryWriter {
  settings(): Promise<CoreSettings>;
  add(vault: string, p: EntryPayload): Promise<EntryView>;
  get(query: string, vault?: string): Promise<EntryView>;
  update(vault: string, id: string, baseVersion: number, p: EntryPayload): Promise<EntryView>;
}

const chosenSecret = (f: WriteFlags, settings: CoreSettings): NewSecret =>
  f.password !== undefined ? { value: f.password, generated: false } : f.generate || f.length !== undefined ? { value: generatedSecret(f, settings.generator), generated: true } : { generated: false };

/** The agent's `addEntry`: a login from the hot path's flags, as `kpm add` builds it. */
export async function addFromFlags(w: EntryWriter, name: string, f: WriteFlags): Promise<WriteOutcome> {
  const settings = await w.settings();
  const now = new Date().toISOString();
  const p: EntryPayload = { type: 'login', name, fields: {}, custom: [], tags: [], created: now, updated: now };
  applyFieldFlags(p, f);
  const warnings: string[] = [];
  const secret = chosenSecret(f, settings);
  const v = await saving(() => saveNewEntry(p, secret, { check: f.check !== false, vault: f.vault }, async () => settings, (vault, q) => w.add(vault, q), (l) => warnings.push(l)));
  if ('error' in v) return { vault: '', name, generated: secret.generated, warnings, color: settings.color, error: v.error };
  return { vault: v.vault, name: v.payload.name, generated: secret.generated, warnings, color: settings.color };
}

/** The agent's `editEntry`: the hot path's flags applied to an entry, as `kpm edit` does. */
export async function editFromFlags(w: EntryWriter, query: string, f: WriteFlags): Promise<WriteOutcome> {
  const settings = await w.settings();
  const cur = await w.get(query, f.vault);
  const p = cur.payload;
  applyFieldFlags(p, f);
  if (f.name !== undefined) p.name = f.name;
  const warnings: string[] = [];
  const cardWarning = completeEntry(p);
  if (cardWarning) warnings.push(cardWarning);
  const secret = chosenSecret(f, settings);
  await finishEdit(p, secret, f.check !== false, async () => settings.audit_min_score, (l) => warnings.push(l));
  const v = await saving(() => w.update(cur.vault, cur.id, cur.version, p));
  if ('error' in v) return { vault: cur.vault, name: p.name, generated: secret.generated, warnings, color: settings.color, error: v.error };
  return { vault: v.vault, name: v.payload.name, generated: secret.generated, warnings, color: settings.color };
}
