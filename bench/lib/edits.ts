// Benchmark helper (not a test): edits one entry of an existing kpm profile N times through kpm's
// own Session.update, one commit per edit as `kpm edit` makes it (the password changes every time),
// without a process per edit. bench/growth.sh bundles it into bench/.work/edits.mjs.
//   KPM_HOME=DIR KPM_BENCH_PASSWORD=pw node bench/.work/edits.mjs NAME --count N
// Prints one JSON line: {"edits":N,"version":V,"ms":T}.
import { utf8 } from '../../src/crypto/bytes.js';
import { unlockKeyring } from '../../src/vault/keyring.js';
import { resolvePaths } from '../../src/core/paths.js';
import { Session } from '../../src/vault/session.js';

async function main(): Promise<void> {
  const [name, flag, n] = process.argv.slice(2);
  const count = Number(n);
  if (!name || flag !== '--count' || !Number.isInteger(count) || count < 1) throw new Error('usage: edits.mjs NAME --count N');
  const password = process.env.KPM_BENCH_PASSWORD;
  if (!process.env.KPM_HOME || !password) throw new Error('set KPM_HOME and KPM_BENCH_PASSWORD');
  const paths = resolvePaths();
  const s = await Session.open(paths, await unlockKeyring(paths, utf8.encode(password)));
  const t0 = performance.now();
  let e = s.get(name);
  for (let i = 0; i < count; i++) {
    const now = new Date().toISOString();
    const payload = { ...e.payload, fields: { ...e.payload.fields, password: `edit-${i}-${e.payload.fields.password ?? ''}`.slice(0, 64) }, updated: now, passwordChanged: now };
    e = await s.update(e.vault, e.id, e.version, payload);
  }
  s.close();
  process.stdout.write(JSON.stringify({ edits: count, version: e.version, ms: Math.round(performance.now() - t0) }) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`edits: ${(e as Error).message}\n`);
  process.exit(1);
});
