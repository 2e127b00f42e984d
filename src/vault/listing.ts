// The text of `kpm list`, rendered where the entries are (in the agent, or in-process), so the
// client only copies bytes to stdout.
import type { EntrySummary } from './entry.js';

let made: Intl.Collator | undefined;
/**
 * The order of names in lists (case-insensitive, numbers by value). Made on first use: creating an
 * Intl.Collator loads the collation data (about 10 ms), which a command that never sorts (a token's
 * `kpm read`) should not pay at start.
 */
export const collator = {
  compare: (a: string, b: string): number => (made ??= new Intl.Collator(undefined, { sensitivity: 'base', numeric: true })).compare(a, b),
};

export function renderList(items: EntrySummary[], json: boolean): string {
  if (json) return JSON.stringify(items, null, 2) + '\n';
  let w = 4;
  for (const i of items) if (i.name.length > w) w = i.name.length;
  w = Math.min(40, w);
  const lines: string[] = [];
  for (const i of items) {
    const line = `${i.name.padEnd(w)}  ${(i.username ?? i.hint ?? '').padEnd(20)}  ${i.url ?? ''}`.trimEnd();
    lines.push(i.vault !== 'Personal' ? `${line}  [${i.vault}]` : line);
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}
