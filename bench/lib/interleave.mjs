// The interleaved timing loop of bench/lib/listtime.mjs and bench/lib/writetime.mjs: every case once
// per round (so a change of load hits all of them alike), `warm` rounds thrown away, then the median
// of `runs` rounds per case, printed; and the summary line bench/all.sh collects.
import { appendFileSync } from 'node:fs';

/** cases: name → (round) => milliseconds. Returns name → median ms, printed with `width` for the names. */
export function interleave(cases, warm, runs, width) {
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let r = 0; r < warm + runs; r++) {
    for (const [k, f] of Object.entries(cases)) {
      const ms = f(r);
      if (r >= warm) times[k].push(ms);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  for (const [k, v] of Object.entries(m)) console.log(`  ${k.padEnd(width)} ${v.toFixed(1).padStart(8)} ms (median of ${runs})`);
  return m;
}

/** A line of bench/all.sh's summary table (BENCH_SUMMARY, as common.sh's `summary`). */
export function summary(label, result, target = '', verdict = '') {
  if (process.env.BENCH_SUMMARY) appendFileSync(process.env.BENCH_SUMMARY, `${label}\t${result}\t${target}\t${verdict}\n`);
}
