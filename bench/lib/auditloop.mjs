// Benchmark helper (not a test) for bench/audit.sh: runs shell commands in interleaved rounds
// (every command once per round, so a change of load hits all alike), prints each run with the
// load average, and writes hyperfine-shaped JSON (medians etc., seconds) for common.sh's tables.
//   node bench/lib/auditloop.mjs OUT.json ROUNDS -n NAME "SHELL CMD" [-n NAME "SHELL CMD"]...
// A command whose name ends in "*" runs only in the first ROUNDS_SLOW rounds (env, default all).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const [out, roundsArg, ...rest] = process.argv.slice(2);
const rounds = Number(roundsArg);
const slowRounds = Number(process.env.ROUNDS_SLOW ?? rounds);
const cases = [];
for (let i = 0; i < rest.length; i += 3) {
  if (rest[i] !== '-n') throw new Error('expected -n NAME CMD');
  cases.push({ name: rest[i + 1].replace(/\*$/, ''), slow: rest[i + 1].endsWith('*'), cmd: rest[i + 2], times: [], cpu: [] });
}
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    if (c.slow && r >= slowRounds) continue;
    const t = process.hrtime.bigint();
    const p = spawnSync('sh', ['-c', `${c.cmd} >/dev/null; echo "cpu $(cat /proc/$$/stat 2>/dev/null | cut -d' ' -f16-17)" >&2`], { stdio: ['ignore', 'ignore', 'pipe'] });
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    const m = /cpu (\d+) (\d+)/.exec(String(p.stderr));
    const cpu = m ? (Number(m[1]) + Number(m[2])) / 100 : 0; // children's user+sys, clock ticks
    if (p.status !== 0) throw new Error(`${c.name}: exit ${p.status}: ${p.stderr}`);
    c.times.push(s);
    c.cpu.push(cpu);
    console.log(`  round ${r + 1}  ${c.name.padEnd(44)} ${(s * 1000).toFixed(0).padStart(7)} ms  cpu ${(cpu * 1000).toFixed(0).padStart(7)} ms  load ${load()}`);
  }
}
const results = cases.map((c) => {
  const sorted = [...c.times].sort((a, b) => a - b);
  const mean = c.times.reduce((a, b) => a + b, 0) / c.times.length;
  const sd = Math.sqrt(c.times.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, c.times.length - 1));
  const cpu = c.cpu.reduce((a, b) => a + b, 0) / c.cpu.length;
  return { command: c.name, median: sorted[Math.floor(sorted.length / 2)], mean, stddev: sd, min: sorted[0], max: sorted.at(-1), user: cpu, system: 0, times: c.times };
});
writeFileSync(out, JSON.stringify({ results }));
