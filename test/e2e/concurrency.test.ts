// Concurrent writers, end to end: 8 lanes run at once, each adding 50 entries one `kpm add` after
// another (KPM_MASTER_PASSWORD, no agent), all against one vault. Every add must succeed and all 400
// entries must be there afterwards, each with its own password: the vault lock serialises the
// commits and no writer loses another's record.
import { seeded } from '../helpers/seeded.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRun, initHome, mapLimit, MASTER, run, runOk, stopAgent, withMaster, type RunResult } from '../helpers/kpm.js';

// Each `kpm add` pays a whole key derivation (~0.3 CPU-s), so the binary runs 8 lanes × 6 here; the
// 8 × 50 run with real writer processes is test/unit/vault-processes.test.ts. KPM_E2E_PER_LANE overrides.
const LANES = 8;
const PER_LANE = Number(process.env.KPM_E2E_PER_LANE ?? 6);

describe(`${LANES} lanes × ${PER_LANE} sequential kpm add, lanes in parallel, no agent`, () => {
  let home: string;
  const passwords = new Map<string, string>();
  const failures: string[] = [];

  beforeAll(async () => {
    home = initHome();
  });

  it('every add succeeds', async () => {
    const t0 = Date.now();
    const durations: number[] = [];
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        for (let i = 0; i < PER_LANE; i++) {
          const name = `lane${lane}-entry${i}`;
          const pw = `pw-${lane}-${i}-${seeded(`concurrency:${lane}:${i}`, 8).toString('hex')}`;
          passwords.set(name, pw);
          const args = ['add', name, '--password-stdin', '--username', `user${lane}.${i}`];
          const r: RunResult = await run(args, { home, env: withMaster(), input: pw + '\n', timeoutMs: 120_000 });
          durations.push(r.ms);
          if (r.code !== 0) failures.push(describeRun(args, r));
        }
      }),
    );
    const ms = Date.now() - t0;
    durations.sort((a, b) => a - b);
    console.log(
      `concurrency: ${LANES * PER_LANE} adds in ${(ms / 1000).toFixed(1)} s ` +
        `(${((LANES * PER_LANE) / (ms / 1000)).toFixed(1)} adds/s; one add: median ${durations[durations.length >> 1]} ms, max ${durations[durations.length - 1]} ms)`,
    );
    expect(failures).toEqual([]);
  }, 900_000); // ≈ 60 s on an idle 2-core machine; much more when it is shared

  it(`all ${LANES * PER_LANE} entries are there, once each (list --json, status)`, async () => {
    const items: { name: string; username?: string }[] = JSON.parse((await runOk(['list', '--json'], { home, env: withMaster() })).stdout);
    const names = items.map((i) => i.name).sort();
    expect(names).toEqual([...passwords.keys()].sort());
    for (const i of items) {
      const [, lane, n] = /^lane(\d+)-entry(\d+)$/.exec(i.name)!;
      expect(i.username).toBe(`user${lane}.${n}`);
    }
    const s = JSON.parse((await runOk(['status', '--json'], { home })).stdout);
    expect(s.entries).toBe(LANES * PER_LANE);
  });

  it('each entry has its own password (every 5th entry checked through the agent)', async () => {
    await runOk(['unlock', '--password-stdin', '--timeout', '10'], { home, input: MASTER + '\n' });
    try {
      const sample = [...passwords.entries()].filter((_, i) => i % 5 === 0);
      const wrong: string[] = [];
      await mapLimit(sample, 2, async ([name, pw]) => {
        const r = await run(['get', name], { home });
        if (r.code !== 0 || r.stdout !== pw + '\n') wrong.push(describeRun(['get', name], r));
      });
      expect(wrong).toEqual([]);
    } finally {
      await run(['lock'], { home });
      stopAgent(home);
    }
  }, 300_000);
});
