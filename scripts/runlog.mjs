#!/usr/bin/env node
// Sums up a KPM_TEST_RUNLOG file (test/helpers/kpm.ts writes one line per kpm run of the e2e tests):
// the time of kpm runs per test file, per command, and how much of it ran with the master password
// in the environment or on stdin (a key derivation each) rather than through the agent.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/runlog.mjs RUNLOG');
  process.exit(2);
}
const runs = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const sum = (rs) => rs.reduce((t, r) => t + r.ms, 0);
const table = (title, key, top = 15) => {
  const groups = new Map();
  for (const r of runs) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  console.log(`\n${title}`);
  for (const [k, rs] of [...groups].sort((a, b) => sum(b[1]) - sum(a[1])).slice(0, top)) {
    const withPw = rs.filter((r) => r.master);
    console.log(`${(sum(rs) / 1000).toFixed(1).padStart(8)} s ${String(rs.length).padStart(5)} runs  ${(sum(withPw) / 1000).toFixed(1).padStart(7)} s in ${String(withPw.length).padStart(4)} with the password  ${k}`);
  }
};
console.log(`${runs.length} kpm runs, ${(sum(runs) / 1000).toFixed(1)} s in all; with the master password given: ${runs.filter((r) => r.master).length} runs, ${(sum(runs.filter((r) => r.master)) / 1000).toFixed(1)} s; with an agent running for the home: ${runs.filter((r) => r.agent).length} runs`);
console.log('(a --password-stdin counts as "the password" although for add, edit and login it is the entry\'s or the account\'s;');
console.log(' the times are wall times: on a busy machine a key derivation\'s four lanes wait for the cores, so they weigh more than their CPU)');
table('per test file', (r) => r.file);
table('per command', (r) => `${r.cmd}${r.master ? ` (password ${r.master})` : ''}`, 25);
