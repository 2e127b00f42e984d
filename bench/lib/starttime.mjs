// The full program's start (bench/start.sh): commands the fast path hands to the full program,
// timed against `node -e 0` in one interleaved loop (bench/lib/interleave.mjs); with a second
// build (BENCH_KPM_BEFORE), the same commands of that build in the same rounds.
import { execFileSync } from 'node:child_process';
import { interleave, summary } from './interleave.mjs';

const [kpm, runs, warm, before] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), process.argv[5] || ''];
const time = (file, args) => () => {
  const t = process.hrtime.bigint();
  execFileSync(file, args, { stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const COMMANDS = [['config', 'get', 'color'], ['status'], ['generate']];
const cases = { 'node -e 0': time(process.execPath, ['-e', '0']) };
for (const [label, bin] of [['', kpm], ...(before ? [['before: ', before]] : [])]) {
  for (const c of COMMANDS) cases[`${label}kpm ${c.join(' ')}`] = time(process.execPath, [bin, ...c]);
}
const m = interleave(cases, warm, runs, 34);
const node = m['node -e 0'];
for (const c of COMMANDS) {
  const k = `kpm ${c.join(' ')}`;
  const ratio = m[k] / node;
  console.log(`  ${k} / node -e 0: ${ratio.toFixed(2)}×${before ? `; before: ${(m[`before: ${k}`] / node).toFixed(2)}×` : ''}`);
  summary(`${k} (full program) / node -e 0`, `${ratio.toFixed(2)}×${before ? ` (before ${(m[`before: ${k}`] / node).toFixed(2)}×)` : ''}`);
}
