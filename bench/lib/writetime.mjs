// Benchmark helper (not a test) for bench/write.sh: times `kpm add`, `kpm edit`, `kpm rm` through
// the unlocked agent and `kpm run` with one reference, interleaved with their baselines (`node -e 0`,
// the child alone, `kpm read` of the same reference) in the same loop, so load drifts hit all of them alike. Prints medians and ratios.
//   node bench/lib/writetime.mjs KPM RUNS WARMUP
import { spawnSync } from 'node:child_process';
import { interleave, summary } from './interleave.mjs';

const [kpm, runsArg, warmArg] = process.argv.slice(2);
const runs = Number(runsArg);
const warm = Number(warmArg);
const node = process.execPath;

function time(label, cmd, args, input, env) {
  const t = process.hrtime.bigint();
  const p = spawnSync(cmd, args, { input: input ?? '', stdio: ['pipe', 'ignore', 'pipe'], env: env ?? process.env });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (p.status !== 0) throw new Error(`${label}: exit ${p.status}: ${p.stderr}`);
  return ms;
}

const cases = {
  'node -e 0': (i) => time('node', node, ['-e', '0']),
  'kpm add (agent)': (i) => time('add', node, [kpm, 'add', `bench-w${i}`, '--username', `user${i}`, '--password-stdin'], `a-typed-password-${i}-Xq7!\n`),
  'kpm edit (agent)': (i) => time('edit', node, [kpm, 'edit', `bench-w${i}`, '--url', `https://w${i}.example.com`]),
  'kpm rm (agent)': (i) => time('rm', node, [kpm, 'rm', `bench-w${i}`, '--yes']),
  'child alone (node -e 0)': (i) => time('child', node, ['-e', '0']),
  'kpm read (agent)': (i) => time('read', node, [kpm, 'read', 'kpm://site1/password']),
  'kpm run -- node -e 0 (1 ref)': (i) => time('run', node, [kpm, 'run', '--', node, '-e', '0'], '', { ...process.env, BENCH_SECRET: 'kpm://site1/password' }),
};
const m = interleave(cases, warm, runs, 34);
const ratio = (label, a, b, target) => {
  const r = m[a] / (Array.isArray(b) ? b.reduce((n, k) => n + m[k], 0) : m[b]);
  const verdict = r <= Number(target.replace(/[^0-9.]/g, '')) ? 'meets target' : 'MISSES target';
  console.log(`  ${label.padEnd(46)} ${r.toFixed(2).padStart(6)}×   target ${target} — ${verdict}`);
  summary(label, `${r.toFixed(2)}×`, target, verdict);
};
console.log('ratios (same run)');
ratio('kpm add (agent) / node -e 0', 'kpm add (agent)', 'node -e 0', '≤ 2');
ratio('kpm edit (agent) / node -e 0', 'kpm edit (agent)', 'node -e 0', '≤ 2');
ratio('kpm rm (agent) / node -e 0', 'kpm rm (agent)', 'node -e 0', '≤ 2');
ratio('kpm run -- node -e 0 / child alone', 'kpm run -- node -e 0 (1 ref)', 'child alone (node -e 0)', '≤ 2.5');
ratio('kpm run / (child alone + kpm read)', 'kpm run -- node -e 0 (1 ref)', ['child alone (node -e 0)', 'kpm read (agent)'], '≤ 1.5');
