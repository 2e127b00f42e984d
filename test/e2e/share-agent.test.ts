// Shared vaults held by the unlocked agent (docs/SHARING.md "The agent", issues #20 and #17): built
// binaries against one real kpm-server. Bob (a writer of alice's vault "Team") talks to the server
// through a proxy that counts his requests. With his agent unlocked, `kpm get`/`list`/`read`/`run`
// and completion of shared entries are answered by the agent's fast path (a launcher that has only
// dist/fast.cjs) with no request to the server; changes of other members arrive with `kpm sync` and
// the agent's background sync; a tampered record in the background sync is exit 8 at the next
// command; the offline hold and sync=manual hold shared vaults back as own ones; lock wipes them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentPid, agentRequest, BIN, describeRun, MASTER, run, stopAgent, waitUntil, type RunResult } from '../helpers/kpm.js';
import { shareTeam } from '../helpers/shareteam.js';
import type { Proxy } from '../helpers/proxy.js';
import { fromBase64, toBase64 } from '../../src/crypto/bytes.js';

const SNAP = dirname(dirname(BIN));
/** A launcher with the agent's fast path only (dist/fast.cjs): anything it declines is exit 99, never the full program. */
const FAST_ONLY = join(mkdtempSync(join(tmpdir(), 'kpm-fastonly-')), 'fast-only.cjs');
writeFileSync(
  FAST_ONLY,
  `require(${JSON.stringify(join(SNAP, 'dist', 'fast.cjs'))}).fastPath(process.argv.slice(2)).then((code) => {
  if (code === undefined) { process.stderr.write('not answered by the fast path\\n'); code = 99; }
  process.exitCode = code;
});
`,
);

describe('shared vaults held by the agent (real server, built binaries)', () => {
  const team = shareTeam('agent.example.org');
  const { homes, email, kpm, db } = team;
  let proxy: Proxy;
  const none = {}; // no master password: only the agent can answer
  /** bob's command on the fast path only */
  const fast = async (args: string[], code = 0, env: Record<string, string> = {}): Promise<RunResult> => {
    const r = await run([FAST_ONLY, ...args], { bin: process.execPath, home: homes.b1, env: { KPM_SERVER: team.srv.url, ...env } });
    expect(r.code, `b1 (fast path only): ${describeRun(args, r)}`).toBe(code);
    return r;
  };
  const requests = () => proxy.seen.length;
  const status = async () => (await agentRequest(homes.b1, { method: 'status', params: [] })).ok as { syncRuns: number; syncHeld: boolean; lastSyncError: { message: string } | null };
  const unlockBob = () => kpm('b1', ['unlock', '--password-stdin'], 0, MASTER + '\n', none);
  const newest = () => {
    const d = db();
    try {
      return d.prepare('SELECT vault_id, rev, body FROM share_records ORDER BY rev DESC LIMIT 1').get() as { vault_id: string; rev: number; body: string };
    } finally {
      d.close();
    }
  };
  const setBody = (r: { vault_id: string; rev: number }, body: string) => {
    const d = db();
    try {
      d.prepare('UPDATE share_records SET body = ? WHERE vault_id = ? AND rev = ?').run(body, r.vault_id, r.rev);
    } finally {
      d.close();
    }
  };

  beforeAll(async () => {
    await team.setUp();
    await kpm('b1', ['whoami', '--fingerprint']);
    await kpm('a1', ['share', 'Team', '--with', email('bob')]);
    await kpm('b1', ['share', 'accept', 'Team']);
    await kpm('a1', ['add', 'deploy', '--vault', 'Team', '--username', 'bot', '--url', 'https://ci.example.org', '--password-stdin'], 0, 'Deploy-Secret-1\n');
    await kpm('b1', ['add', 'mine', '--password-stdin'], 0, 'Own-Secret-1\n');
    proxy = await team.viaProxy('b1');
    await unlockBob();
  }, 300_000);
  afterAll(() => stopAgent(homes.b1));

  it('with the agent unlocked, get, list, read, run and completion of shared entries are answered by the fast path with no request to the server', async () => {
    await unlockBob(); // (already unlocked: exit 0 too)
    const before = requests();
    expect((await fast(['get', 'deploy'])).stdout).toBe('Deploy-Secret-1\n');
    expect((await fast(['get', 'deploy', '--field', 'username'])).stdout).toBe('bot\n');
    expect((await fast(['get', 'deploy', '--vault', 'Team', '--field', 'url'])).stdout).toBe('https://ci.example.org\n');
    expect((await fast(['get', 'mine'])).stdout).toBe('Own-Secret-1\n');
    const list = (await fast(['list'])).stdout;
    expect(list).toMatch(/^mine\n/);
    expect(list).toMatch(/\ndeploy +bot +https:\/\/ci\.example\.org {2}\[Team\]\n/);
    expect(JSON.parse((await fast(['list', '--vault', 'Team', '--json'])).stdout).map((e: { vault: string; name: string }) => `${e.vault}/${e.name}`)).toEqual(['Team/deploy']);
    expect((await fast(['read', 'kpm://Team/deploy/password'])).stdout).toBe('Deploy-Secret-1\n');
    const ran = await fast(['run', '--', 'sh', '-c', 'test "$D" = Deploy-Secret-1 && echo "ok $D"'], 0, { D: 'kpm://Team/deploy/password' });
    expect(ran.stdout).toBe('ok <concealed by kpm>\n');
    expect((await fast(['__complete', 'entries', 'de'])).stdout).toBe('deploy\n');
    // the same answers as the full program's (bin/kpm), and a name in no vault is still exit 3
    expect((await kpm('b1', ['get', 'deploy'], 0, undefined, none)).stdout).toBe('Deploy-Secret-1\n');
    expect((await kpm('b1', ['list'], 0, undefined, none)).stdout).toBe(list);
    expect((await fast(['get', 'nowhere'], 3)).stderr).toMatch(/^kpm: no entry named "nowhere"/);
    // the full program's reads through the agent ask the server nothing either
    expect((await kpm('b1', ['show', 'deploy'], 0, undefined, none)).stdout).toMatch(/bot/);
    expect((await kpm('b1', ['inject'], 0, 'pw={{ kpm://Team/deploy/password }}\n', none)).stdout).toBe('pw=Deploy-Secret-1\n');
    expect((await kpm('b1', ['history', 'deploy'], 0, undefined, none)).stdout).toMatch(/alice@agent\.example\.org/);
    expect((await kpm('b1', ['totp', 'deploy'], 3, undefined, none)).stderr).toMatch(/deploy/);
    await kpm('b1', ['trash'], 0, undefined, none);
    expect(requests()).toBe(before);
  }, 180_000);

  /** a shared entry of this test's own, written by alice, and seen by bob's agent after a sync */
  const aliceAdds = async (name: string, value: string) => {
    await kpm('a1', ['add', name, '--vault', 'Team', '--password-stdin'], 0, value + '\n');
    await fast(['sync']);
    expect((await fast(['get', name])).stdout).toBe(value + '\n');
  };
  const aliceEdits = (name: string, value: string) => kpm('a1', ['edit', name, '--password-stdin'], 0, value + '\n');

  it("another member's change arrives with kpm sync (on the fast path) and with the agent's background sync after a write; bob's own shared writes are read back at once", async () => {
    await unlockBob();
    await aliceAdds('arrives', 'Arrives-1');
    await aliceEdits('arrives', 'Arrives-2');
    // like own vaults: the agent serves what it verified until it syncs
    expect((await fast(['get', 'arrives'])).stdout).toBe('Arrives-1\n');
    const synced = await fast(['sync']);
    expect(synced.stderr).toMatch(/shared vault "Team" \(alice@agent\.example\.org, writer\): \d+ entr(y|ies), revision \d+, membership epoch \d+, verified/);
    expect((await fast(['get', 'arrives'])).stdout).toBe('Arrives-2\n');
    // the background sync after one of bob's own writes brings the next change
    await aliceEdits('arrives', 'Arrives-3');
    const runs = (await status()).syncRuns;
    await kpm('b1', ['add', 'bg-trigger', '--password-stdin'], 0, 'Own-Secret-2\n', none);
    await waitUntil('the background sync ran', async () => (await status()).syncRuns > runs);
    await waitUntil('the new value is served', async () => (await fast(['get', 'arrives'])).stdout === 'Arrives-3\n');
    // bob's writes to the shared vault (the full program) are read back at once, through the agent
    await kpm('b1', ['add', 'bob-shared', '--vault', 'Team', '--password-stdin'], 0, 'Bob-Shared-1\n', none);
    expect((await fast(['get', 'bob-shared'])).stdout).toBe('Bob-Shared-1\n');
    await kpm('b1', ['edit', 'bob-shared', '--password-stdin'], 0, 'Bob-Shared-2\n', none);
    expect((await fast(['get', 'bob-shared'])).stdout).toBe('Bob-Shared-2\n');
    await kpm('b1', ['rm', 'bob-shared', '--yes'], 0, undefined, none);
    expect((await fast(['get', 'bob-shared'], 3)).stderr).toMatch(/no entry named "bob-shared"/);
    await kpm('b1', ['rm', 'bg-trigger', '--yes'], 0, undefined, none);
  }, 180_000);

  it("a tampered shared record served to the agent's background sync: the next command is exit 8 with nothing printed, kpm status shows it; --offline reads the last verified state; a good kpm sync clears it", async () => {
    await unlockBob();
    await aliceAdds('tamper-base', 'Tamper-Base-1');
    await kpm('a1', ['add', 'tamper-late', '--vault', 'Team', '--password-stdin'], 0, 'Tamper-Late-1\n');
    const rec = newest();
    const n = fromBase64(rec.body);
    n[n.length - 80] ^= 1; // inside the sealed entry, before the signature
    setBody(rec, toBase64(n));
    try {
      const runs = (await status()).syncRuns;
      await kpm('b1', ['add', 'bg-trigger-2', '--password-stdin'], 0, 'Own-Secret-3\n', none);
      await waitUntil('the background sync ran', async () => (await status()).syncRuns > runs);
      await waitUntil('the background sync failed', async () => (await status()).lastSyncError !== null);
      expect((await status()).lastSyncError?.message).toMatch(/shared vaults: sharing: shared record \d+ of "Team"/);
      const shown: string[] = [];
      for (const args of [['get', 'tamper-base'], ['get', 'mine'], ['list'], ['read', 'kpm://Team/tamper-base/password']]) {
        const r = await fast(args, 8);
        shown.push(r.stderr);
        expect(r.stdout, args.join(' ')).toBe('');
        expect(r.stderr, args.join(' ')).toMatch(/^kpm: (kpm:\/\/Team\/tamper-base\/password: )?sharing: shared record \d+ of "Team"/m);
      }
      expect(shown[0]).toMatch(/^kpm: the background sync failed at .*shared vaults: sharing: shared record/m); // said once
      expect(shown.slice(1).join('')).not.toMatch(/background sync failed/);
      expect((await kpm('b1', ['show', 'tamper-base'], 8, undefined, none)).stdout).toBe('');
      expect((await kpm('b1', ['status'], 0, undefined, none)).stdout).toMatch(/last background sync failed at .*shared record \d+ of "Team"/);
      expect((await fast(['get', 'tamper-base'], 0, { KPM_OFFLINE: '1' })).stdout).toBe('Tamper-Base-1\n');
      expect((await fast(['get', 'tamper-late'], 3, { KPM_OFFLINE: '1' })).stdout).toBe('');
      expect((await fast(['sync'], 8)).stdout).toBe('');
    } finally {
      setBody(rec, rec.body);
    }
    await fast(['sync']);
    expect((await fast(['get', 'tamper-late'])).stdout).toBe('Tamper-Late-1\n');
    expect((await status()).lastSyncError).toBeNull();
    await kpm('b1', ['rm', 'bg-trigger-2', '--yes'], 0, undefined, none);
  }, 180_000);

  it('the offline hold and sync=manual hold the shared vaults back as they do own vaults: no request, until kpm sync', async () => {
    await unlockBob();
    await aliceAdds('held', 'Held-1');
    await kpm('b1', ['add', 'held-own', '--password-stdin'], 0, 'Own-Held-1\n', { KPM_OFFLINE: '1' });
    expect((await status()).syncHeld).toBe(true);
    await aliceEdits('held', 'Held-2');
    const before = requests();
    expect((await fast(['get', 'held'])).stdout).toBe('Held-1\n');
    expect((await fast(['list'])).stdout).toMatch(/held +\[Team\]/);
    expect(requests()).toBe(before);
    expect((await kpm('b1', ['status'], 0, undefined, none)).stdout).toMatch(/sync held/);
    await fast(['sync']); // ends the hold
    expect((await status()).syncHeld).toBe(false);
    expect((await fast(['get', 'held'])).stdout).toBe('Held-2\n');
    // sync=manual: a write's background sync asks the server nothing, for own and shared vaults
    await kpm('b1', ['config', 'set', 'sync', 'manual'], 0, undefined, none);
    try {
      await aliceEdits('held', 'Held-3');
      const runs = (await status()).syncRuns;
      const quiet = requests();
      await kpm('b1', ['add', 'manual-own', '--password-stdin'], 0, 'Own-Manual-1\n', none);
      await waitUntil('the background sync ran', async () => (await status()).syncRuns > runs);
      expect((await fast(['get', 'held'])).stdout).toBe('Held-2\n');
      expect(requests()).toBe(quiet);
    } finally {
      await kpm('b1', ['config', 'set', 'sync', 'auto'], 0, undefined, none);
    }
    await fast(['sync']);
    expect((await fast(['get', 'held'])).stdout).toBe('Held-3\n');
    for (const x of ['held-own', 'manual-own']) await kpm('b1', ['rm', x, '--yes'], 0, undefined, none);
  }, 180_000);

  it('kpm lock and the idle timeout stop the agent: its shared vaults go with it (no agent answers, exit 4)', async () => {
    await unlockBob();
    expect((await fast(['get', 'deploy'])).stdout).toBe('Deploy-Secret-1\n');
    await kpm('b1', ['lock'], 0, undefined, none);
    expect(agentPid(homes.b1)).toBeUndefined();
    expect((await kpm('b1', ['get', 'deploy'], 4, undefined, none)).stdout).toBe('');
    await unlockBob();
    expect((await fast(['get', 'deploy'])).stdout).toBe('Deploy-Secret-1\n');
    await agentRequest(homes.b1, { method: 'setIdleTimeout', params: [1] });
    await waitUntil('the idle timeout stopped the agent', () => agentPid(homes.b1) === undefined);
    expect((await kpm('b1', ['get', 'deploy'], 4, undefined, none)).stdout).toBe('');
  }, 120_000);
});
