// Benchmark helper (not a test): a minimal stand-in for hyperfine -N when it is not installed.
// Runs each command (split on spaces, no shell) WARMUP + RUNS times and writes hyperfine-shaped JSON
// (results[].command/median/mean/stddev/min/max/user/system, seconds) so common.sh can print it.
//   node bench/lib/timecmd.mjs OUT.json RUNS WARMUP -n NAME "CMD ARGS" [-n NAME "CMD ARGS"]...
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const [out, runsArg, warmArg, ...rest] = process.argv.slice(2);
const runs = Number(runsArg);
const warm = Number(warmArg);
const results = [];
for (let i = 0; i < rest.length; i += 3) {
  if (rest[i] !== '-n') throw new Error('expected -n NAME CMD');
  const name = rest[i + 1];
  const [cmd, ...args] = rest[i + 2].split(' ').filter(Boolean);
  const times = [];
  for (let r = 0; r < warm + runs; r++) {
    const t = process.hrtime.bigint();
    const p = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    if (p.status !== 0) throw new Error(`${name}: exit ${p.status}: ${p.stderr}`);
    if (r >= warm) times.push(s);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const sd = Math.sqrt(times.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, times.length - 1));
  results.push({ command: name, median: sorted[Math.floor(sorted.length / 2)], mean, stddev: sd, min: sorted[0], max: sorted.at(-1), user: 0, system: 0 });
}
writeFileSync(out, JSON.stringify({ results }));
