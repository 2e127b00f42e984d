// Benchmark helper (not a test): in-process unlock cost at the default KDF (Argon2id, 64 MiB, t=3,
// p=4), kpm's code path against the native `argon2` package called directly with the same
// parameters. Rounds are interleaved (native, kpm argon2id, kpm unlockKeyring, …) so that load on
// the machine hits all of them alike. bench/kdf.sh bundles it into bench/.work/kdf.mjs.
//
//   KPM_HOME=DIR KPM_BENCH_PASSWORD=pw node bench/.work/kdf.mjs [--runs 10] [--warmup 2]
//
// KPM_HOME must hold a profile made with the default KDF (bench/lib/populate.ts kpm). Prints JSON.
import { createRequire } from 'node:module';
import { utf8 } from '../../src/crypto/bytes.js';
import { argon2id, DEFAULT_KDF } from '../../src/crypto/kdf.js';
import { readKeyring, unlockKeyring } from '../../src/vault/keyring.js';
import { resolvePaths } from '../../src/core/paths.js';
import { Session } from '../../src/vault/session.js';

type Argon2 = { hash(pw: Buffer, o: Record<string, unknown>): Promise<Buffer>; argon2id: number };

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const runs = arg('runs', 10);
  const warmup = arg('warmup', 2);
  const password = process.env.KPM_BENCH_PASSWORD;
  if (!process.env.KPM_HOME || !password) throw new Error('set KPM_HOME and KPM_BENCH_PASSWORD');
  const paths = resolvePaths();
  const kdf = readKeyring(paths).kdf;
  const p = kdf.params;
  if (p.m !== DEFAULT_KDF.m || p.t !== DEFAULT_KDF.t || p.p !== DEFAULT_KDF.p) throw new Error(`the profile's KDF is m=${p.m} t=${p.t} p=${p.p}, not the default`);
  const pw = utf8.encode(password);

  const t0 = performance.now();
  const native = createRequire(import.meta.url)('argon2') as Argon2;
  const nativeLoadMs = performance.now() - t0;

  const cases: Record<string, () => Promise<unknown>> = {
    // The native package, called directly: the peer.
    'native argon2.hash (raw)': () =>
      native.hash(Buffer.from(pw), { type: native.argon2id, raw: true, salt: Buffer.from(kdf.salt), memoryCost: p.m, timeCost: p.t, parallelism: p.p, hashLength: 32, version: 0x13 }),
    // kpm's wrapper (src/crypto/kdf.ts): parameter checks, buffer copies, wiping.
    'kpm argon2id()': () => argon2id(pw, kdf.salt, p),
    // kpm's whole unlock (src/vault/keyring.ts): read + parse the keyring, Argon2id, HKDF, unwrap the account key.
    'kpm unlockKeyring()': () => unlockKeyring(paths, pw),
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < warmup + runs; i++) {
    for (const [name, fn] of Object.entries(cases)) {
      const t = performance.now();
      await fn();
      const dt = performance.now() - t;
      if (i >= warmup) times[name].push(dt);
    }
  }

  // For reference: opening every vault once the account key is known (what follows unlock).
  const profile = await unlockKeyring(paths, pw);
  const tOpen = performance.now();
  const session = await Session.open(paths, profile);
  const sessionOpenMs = performance.now() - tOpen;
  const entries = session.entryCount();
  session.close();

  const results = Object.entries(times).map(([name, xs]) => ({ name, medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs), runs: xs.length }));
  process.stdout.write(JSON.stringify({ params: p, nativeLoadMs, sessionOpenMs, entries, results }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`kdf bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
