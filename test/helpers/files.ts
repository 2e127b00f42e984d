// Files under a folder, for tests that check what was (or was not) written.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

/** Every file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** Content hash of every file under a folder: "nothing written" means equal before and after. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of filesUnder(dir)) out[f] = createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  return out;
}
