// Benchmark helper (not a test): a Pwned Passwords SHA-1 file ordered by hash ("HASH:COUNT",
// CRLF line ends like the real download) of N random lines plus the SHA-1s of some of the bench
// entries' passwords, so that the audit has breached entries to find. bench/audit.sh bundles it.
//
//   node bench/.work/hibp-file.mjs FILE --lines 1000000 --entries 10000 --every 100
//   node bench/.work/hibp-file.mjs password I       entry I's password (to check the formula)
//
// Entry i's password is bench/lib/populate.ts's entryPassword(i); every EVERY-th entry is listed.
import { writeHashFile, sha1 } from '../../test/helpers/hibp.js';

function intArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a whole number`);
  return v;
}

/** The same formula as bench/lib/populate.ts (checked by bench/audit.sh against `populate.mjs password`). */
export const entryPassword = (i: number): string => `pw-${i}-${((i * 2654435761) >>> 0).toString(36)}`;

if (process.argv[2] === 'password') {
  process.stdout.write(entryPassword(Number(process.argv[3])) + '\n');
  process.exit(0);
}
const file = process.argv[2];
if (!file || file.startsWith('--')) throw new Error('usage: hibp-file.mjs FILE --lines N --entries N --every K');
const lines = intArg('lines', 1_000_000);
const entries = intArg('entries', 10_000);
const every = intArg('every', 100);
const extra: Record<string, number> = {};
for (let i = 0; every > 0 && i < entries; i += every) extra[sha1(entryPassword(i))] = 1000 + i;
const t = performance.now();
const info = writeHashFile(file, lines, extra, { crlf: true });
process.stdout.write(JSON.stringify({ lines: info.lines, breachedEntries: Object.keys(extra).length, bytes: info.bytes, ms: Math.round(performance.now() - t) }) + '\n');
