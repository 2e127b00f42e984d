// Benchmark helper (not a test) for bench/read.sh: the first `kpm read` of a CI job with a service
// token (KPM_TOKEN, no local vault, the token cache removed before each run) and the tenth (cache
// warm), against `kpm read` through the unlocked agent, in one interleaved loop (bench/lib/interleave.mjs):
// a change of load hits every case alike. The load average is printed with every round.
//   node bench/lib/tokentime.mjs KPM AGENT_HOME SERVER_URL TOKEN_FILE REF WANT WORK_DIR RUNS WARMUP
// BENCH_KPM_BEFORE=path/to/other/bin/kpm with BENCH_SERVER_BEFORE=its server's URL: that build's first
// read too (its client against its server, the same data), in the same loop.
import { readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { interleave, summary } from './interleave.mjs';

const [kpm, agentHome, server, tokenFile, ref, want, work, runsArg, warmArg] = process.argv.slice(2);
const runs = Number(runsArg);
const warm = Number(warmArg);
const node = process.execPath;
const token = readFileSync(tokenFile, 'utf8').trim();
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// every case runs in this environment (as hyperfine's, inherited), without the variables of kpm
const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^KPM_/.test(k)));
function exec(label, args, env) {
  const t = process.hrtime.bigint();
  const p = spawnSync(node, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (p.status !== 0 || p.stdout.toString().trim() !== want) throw new Error(`${label}: exit ${p.status}, stdout ${JSON.stringify(p.stdout.toString().slice(0, 40))}: ${p.stderr}`);
  if (p.stderr.length) throw new Error(`${label}: stderr: ${p.stderr}`);
  return ms;
}
const tokenEnv = (url, cache) => ({ KPM_HOME: join(work, 'token-machine'), KPM_SERVER: url, KPM_TOKEN: token, KPM_CACHE_DIR: cache });
const first = (label, bin, url) => {
  const cache = join(work, `cache-${label}`);
  return () => {
    rmSync(cache, { recursive: true, force: true });
    return exec(label, [bin, 'read', ref], tokenEnv(url, cache));
  };
};
const warmCache = join(work, 'cache-warm');
const cases = {
  'node -e 0': () => {
    const t = process.hrtime.bigint();
    spawnSync(node, ['-e', '0'], { env: base });
    return Number(process.hrtime.bigint() - t) / 1e6;
  },
  'kpm read (agent)': () => exec('agent', [kpm, 'read', ref], { KPM_HOME: agentHome }),
  'kpm read (KPM_TOKEN, first)': first('first', kpm, server),
  'kpm read (KPM_TOKEN, tenth)': () => exec('tenth', [kpm, 'read', ref], tokenEnv(server, warmCache)),
};
const before = process.env.BENCH_KPM_BEFORE;
const beforeServer = process.env.BENCH_SERVER_BEFORE;
const warmBefore = join(work, 'cache-warm-before');
if (before && beforeServer) {
  cases['kpm read (KPM_TOKEN, first, BENCH_KPM_BEFORE)'] = first('before', before, beforeServer);
  cases['kpm read (KPM_TOKEN, tenth, BENCH_KPM_BEFORE)'] = () => exec('tenth (before)', [before, 'read', ref], tokenEnv(beforeServer, warmBefore));
}
for (const c of [warmCache, warmBefore]) rmSync(c, { recursive: true, force: true });
for (let i = 0; i < 9; i++) {
  exec('warm-up of the tenth', [kpm, 'read', ref], tokenEnv(server, warmCache));
  if (before && beforeServer) exec('warm-up of the tenth (before)', [before, 'read', ref], tokenEnv(beforeServer, warmBefore));
}

// every round starts with node -e 0: the load average is printed there
const firstCase = cases['node -e 0'];
cases['node -e 0'] = (r) => {
  console.log(`  round ${r + 1}${r < warm ? ' (warm-up)' : ''}: load average ${load()}`);
  return firstCase(r);
};
console.log(`  load average at the start ${load()}${process.env.NODE_EXTRA_CA_CERTS ? ' (NODE_EXTRA_CA_CERTS is set: every node process loads those certificates at start)' : ''}`);
const m = interleave(cases, warm, runs, 50);
console.log(`  load average at the end ${load()}`);
const ratio = (label, a, b, target) => {
  if (m[a] === undefined || m[b] === undefined) return;
  const r = m[a] / m[b];
  const max = Number(String(target ?? '').replace(/[^0-9.]/g, ''));
  const verdict = target ? (r <= max ? 'meets target' : 'MISSES target') : '';
  console.log(`  ${label.padEnd(56)} ${r.toFixed(2).padStart(6)}×   (${m[a].toFixed(1)} / ${m[b].toFixed(1)} ms)${target ? `   target ${target} — ${verdict}` : ''}`);
  summary(label, `${r.toFixed(2)}×`, target, verdict);
};
console.log('ratios (same loop)');
ratio('kpm read (KPM_TOKEN) first / kpm read (agent)', 'kpm read (KPM_TOKEN, first)', 'kpm read (agent)', '≤ 3');
ratio('kpm read (KPM_TOKEN) tenth / kpm read (agent)', 'kpm read (KPM_TOKEN, tenth)', 'kpm read (agent)', '≤ 1.5');
ratio('BENCH_KPM_BEFORE first / kpm read (agent)', 'kpm read (KPM_TOKEN, first, BENCH_KPM_BEFORE)', 'kpm read (agent)');
ratio('BENCH_KPM_BEFORE tenth / kpm read (agent)', 'kpm read (KPM_TOKEN, tenth, BENCH_KPM_BEFORE)', 'kpm read (agent)');
ratio('first read: this build / BENCH_KPM_BEFORE', 'kpm read (KPM_TOKEN, first)', 'kpm read (KPM_TOKEN, first, BENCH_KPM_BEFORE)');
ratio('tenth read: this build / BENCH_KPM_BEFORE', 'kpm read (KPM_TOKEN, tenth)', 'kpm read (KPM_TOKEN, tenth, BENCH_KPM_BEFORE)');
summary('load average after the token loop', load());
