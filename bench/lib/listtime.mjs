// Benchmark helper (not a test) for bench/lists.sh: one loop, every command in turn (so a change of
// load hits all of them alike; no hyperfine or jq needed), medians and ratios. Cases:
//   node -e 0; `kpm list` of 10k entries with the agent; the first `kpm list` of 100k entries right
//   after an unlock (each run: lock, unlock — not timed — then the list) and a later one; `kpm get
//   --password-stdin` (no agent: Argon2id each call) against `keepassxc-cli show` (its KDF each call).
//   node bench/lib/listtime.mjs KPM HOME10K HOME100K MASTER_FILE RUNS WARMUP [KDBX [KDBX_ARGON2ID]]
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { interleave, summary } from './interleave.mjs';

const [kpm, h10, h100, masterFile, runsArg, warmArg, kdbx, kdbxArgon2] = process.argv.slice(2);
const runs = Number(runsArg);
const warm = Number(warmArg);
const node = process.execPath;
const master = readFileSync(masterFile);

function exec(label, cmd, args, home, input) {
  const env = { ...process.env, KPM_HOME: home ?? process.env.KPM_HOME ?? '', KPM_OFFLINE: '1' };
  delete env.KPM_MASTER_PASSWORD;
  const t = process.hrtime.bigint();
  const p = spawnSync(cmd, args, { input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'], env, maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (p.status !== 0) throw new Error(`${label}: exit ${p.status}: ${p.stderr}`);
  return { ms, out: p.stdout };
}
const lines = (b) => b.toString().split('\n').filter(Boolean).length;
const unlock = (home) => exec('unlock', node, [kpm, 'unlock', '--password-stdin', '--timeout', '60'], home, master);
const lock = (home) => exec('lock', node, [kpm, 'lock'], home);

const cases = {
  'node -e 0': () => exec('node', node, ['-e', '0']).ms,
  'kpm list (10k, agent)': () => exec('list10k', node, [kpm, 'list'], h10).ms,
  'kpm list (100k, agent, first after unlock)': () => {
    lock(h100);
    unlock(h100);
    const r = exec('first list', node, [kpm, 'list'], h100);
    if (lines(r.out) !== 100000) throw new Error(`first list printed ${lines(r.out)} lines`);
    return r.ms;
  },
  'kpm list (100k, agent, later)': () => exec('later list', node, [kpm, 'list'], h100).ms,
  'kpm get --password-stdin (10k, no agent)': () => exec('get', node, [kpm, 'get', 'site5000', '--password-stdin'], h10, master).ms,
};
// BENCH_KPM_BEFORE=path/to/other/bin/kpm: also the first list after unlock by another build (same vault, in the same loop)
const before = process.env.BENCH_KPM_BEFORE;
if (before) {
  cases['kpm list (100k, first after unlock, BENCH_KPM_BEFORE)'] = () => {
    exec('lock', node, [before, 'lock'], h100);
    exec('unlock', node, [before, 'unlock', '--password-stdin', '--timeout', '60'], h100, master);
    const ms = exec('first list (before)', node, [before, 'list'], h100).ms;
    exec('lock', node, [before, 'lock'], h100);
    return ms;
  };
}
if (kdbx) cases['keepassxc-cli show -a Password (10k)'] = () => exec('keepassxc', 'keepassxc-cli', ['show', '-q', '-a', 'Password', kdbx, 'site5000'], undefined, master).ms;
// the same entries in a KDBX with Argon2id 64 MiB, 3 passes: keepassxc-cli at (about) kpm's KDF work
if (kdbxArgon2) cases['keepassxc-cli show, Argon2id KDBX (10k)'] = () => exec('keepassxc', 'keepassxc-cli', ['show', '-q', '-a', 'Password', kdbxArgon2, 'site5000'], undefined, master).ms;

const m = interleave(cases, warm, runs, 44);
const ratio = (label, a, b, target) => {
  if (m[a] === undefined || m[b] === undefined) {
    console.log(`  ${label.padEnd(52)}    n/a`);
    return summary(label, 'n/a', target);
  }
  const r = m[a] / m[b];
  const max = Number(String(target ?? '').replace(/[^0-9.]/g, ''));
  const verdict = target ? (r <= max ? 'meets target' : 'MISSES target') : '';
  console.log(`  ${label.padEnd(52)} ${r.toFixed(2).padStart(6)}×${target ? `   target ${target} — ${verdict}` : ''}`);
  summary(label, `${r.toFixed(2)}×`, target, verdict);
};
console.log('ratios and values (same run)');
ratio('kpm list 10k (agent) / node -e 0', 'kpm list (10k, agent)', 'node -e 0', '≤ 1.25');
const first = m['kpm list (100k, agent, first after unlock)'];
const firstVerdict = first < 1000 ? 'meets target' : 'MISSES target';
console.log(`  ${'kpm list 100k, first after unlock'.padEnd(52)} ${(first / 1000).toFixed(2).padStart(6)} s   target < 1 s — ${firstVerdict}`);
summary('kpm list 100k (agent, first after unlock)', `${first.toFixed(0)} ms`, '< 1000', firstVerdict);
summary('load average after lists.sh', readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '));
ratio('kpm first list 100k after unlock / later list', 'kpm list (100k, agent, first after unlock)', 'kpm list (100k, agent, later)');
if (before) ratio('first list 100k after unlock: this build / BENCH_KPM_BEFORE', 'kpm list (100k, agent, first after unlock)', 'kpm list (100k, first after unlock, BENCH_KPM_BEFORE)');
ratio('kpm get (no agent) / keepassxc-cli show', 'kpm get --password-stdin (10k, no agent)', 'keepassxc-cli show -a Password (10k)', '≤ 0.5');
if (kdbxArgon2) ratio('kpm get (no agent) / keepassxc-cli show, equal KDF (Argon2id)', 'kpm get --password-stdin (10k, no agent)', 'keepassxc-cli show, Argon2id KDBX (10k)', '≤ 0.5');
