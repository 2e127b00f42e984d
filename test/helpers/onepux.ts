// Builds a .1pux (a zip archive) from the fixture folder test/fixtures/import/1password/.
import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import { zipSync } from 'fflate';

export const ONEPUX_DIR = join(__dirname, '..', 'fixtures', 'import', '1password');

export function buildOnePux(dir = ONEPUX_DIR, replace: Record<string, string> = {}): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files[relative(dir, p).split('\\').join('/')] = fs.readFileSync(p);
    }
  };
  walk(dir);
  for (const [k, v] of Object.entries(replace)) files[k] = Buffer.from(v);
  return zipSync(files);
}
