// Interactive use on a terminal, through test/helpers/pty.py: master password prompts, hidden
// entry passwords, "keep kpm unlocked?", delete confirmation; and stdout staying data-only.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addEntry, initHome, agentPid, describeRun, describeTty, makeHome, MASTER, run, runOk, runTty, stopAgent, waitUntil, withMaster,
} from '../helpers/kpm.js';

describe('kpm init on a terminal', () => {
  it('asks for the master password twice, asks again after a mismatch, and warns it cannot be recovered', async () => {
    const home = makeHome();
    const args = ['init'];
    const r = await runTty(args, [
      { expect: 'Choose a master password', send: 'first-try-password\r' },
      { expect: 'Repeat the master password', send: 'something-else-entirely\r' },
      { expect: 'do not match' },
      { expect: 'Choose a master password', send: MASTER + '\r' },
      { expect: 'Repeat the master password', send: MASTER + '\r' },
      { expect: 'Created a vault' },
    ], { home });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.transcript).toMatch(/cannot be recovered/);
    // the typed passwords are masked, never echoed
    for (const pw of [MASTER, 'first-try-password', 'something-else-entirely']) expect(r.transcript).not.toContain(pw);
    // the vault opens with the password typed the second time
    expect(existsSync(join(home, 'data', 'keyring.kpm'))).toBe(true);
    const s = await runOk(['list', '--json'], { home, env: withMaster() });
    expect(JSON.parse(s.stdout)).toEqual([]);
    const wrong = await run(['list'], { home, env: withMaster('first-try-password') });
    expect(wrong.code, describeRun(['list'], wrong)).toBe(5);
  });

  it('refuses a master password shorter than 8 characters (exit 2) and creates nothing', async () => {
    const home = makeHome();
    const args = ['init'];
    // checked before the confirmation is asked; asked again up to 3 times
    const r = await runTty(args, [
      { expect: 'Choose a master password', send: 'short\r' },
      { expect: 'at least 8' },
      { expect: 'Choose a master password', send: 'short\r' },
      { expect: 'Choose a master password', send: 'short\r' },
    ], { home });
    expect(r.transcript).not.toMatch(/Repeat the master password/);
    expect(r.code, describeTty(args, r)).toBe(2);
    expect(r.transcript).toMatch(/at least 8/);
    expect(existsSync(join(home, 'data', 'keyring.kpm'))).toBe(false);
  });
});

describe('prompts on a terminal', () => {
  let home: string;

  beforeAll(async () => {
    home = initHome();
    await addEntry(home, 'existing', 'existing-secret', ['--username', 'someone']);
  });

  it('kpm add NAME prompts for the entry password and does not echo it', async () => {
    const args = ['add', 'typed'];
    const r = await runTty(args, [
      { expect: 'Password for typed', send: 'typed-secret-123\r' },
      { expect: 'Repeat the password for typed', send: 'typed-secret-123\r' },
      { expect: 'Added Personal/typed' },
    ], { home, env: withMaster() });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.transcript).not.toContain('typed-secret-123');
    expect(r.transcript).toMatch(/\*{16}/); // masked
    const g = await runOk(['get', 'typed'], { home, env: withMaster() });
    expect(g.stdout).toBe('typed-secret-123\n');
  });

  it('kpm add NAME with an empty answer generates a password', async () => {
    const args = ['add', 'typed-empty'];
    const r = await runTty(args, [{ expect: 'Password for typed-empty', send: '\r' }, { expect: 'generated' }], { home, env: withMaster() });
    expect(r.code, describeTty(args, r)).toBe(0);
    const g = await runOk(['get', 'typed-empty'], { home, env: withMaster() });
    expect(g.stdout).toMatch(/^[^\n]{20}\n$/);
  });

  it('when locked, kpm get asks for the master password; answering n to "keep unlocked" starts no agent', async () => {
    const args = ['get', 'existing'];
    const r = await runTty(args, [
      { expect: 'Master password', send: MASTER + '\r' },
      { expect: 'Keep kpm unlocked', send: 'n\r' },
      { expect: 'existing-secret' },
    ], { home });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.transcript).not.toContain(MASTER);
    expect(agentPid(home)).toBeUndefined();
    const s = JSON.parse((await runOk(['status', '--json'], { home })).stdout);
    expect(s.locked).toBe(true);
    const again = await run(['get', 'existing'], { home });
    expect(again.code, describeRun(args, again)).toBe(4);
  });

  it('a wrong master password typed at the prompt is asked again, 3 tries in all (as sudo), then exits 5', async () => {
    const args = ['get', 'existing'];
    const r = await runTty(args, [
      { expect: 'Master password', send: 'not the password\r' },
      { expect: 'wrong master password; try again \\(2 tries left\\)' },
      { expect: 'Master password', send: 'not the password\r' },
      { expect: '1 try left' },
      { expect: 'Master password', send: 'not the password\r' },
      { expect: 'wrong' },
    ], { home });
    expect(r.code, describeTty(args, r)).toBe(5);
    expect(r.transcript).not.toContain('existing-secret');
    expect(r.transcript).not.toContain('not the password');
  });

  it('answering y keeps kpm unlocked: the agent runs afterwards, serves get without a password, and kpm lock stops it', async () => {
    const args = ['get', 'existing'];
    try {
      const r = await runTty(args, [
        { expect: 'Master password', send: MASTER + '\r' },
        { expect: 'Keep kpm unlocked', send: 'y\r' },
        { expect: 'existing-secret' },
      ], { home });
      expect(r.code, describeTty(args, r)).toBe(0);
      expect(agentPid(home)).toBeGreaterThan(0);
      const s = JSON.parse((await runOk(['status', '--json'], { home })).stdout);
      expect(s.locked).toBe(false);
      const g = await runOk(['get', 'existing', '--field', 'username'], { home });
      expect(g.stdout).toBe('someone\n');
      await runOk(['lock'], { home });
      await waitUntil('the agent to exit after kpm lock', () => agentPid(home) === undefined);
      expect(agentPid(home)).toBeUndefined();
      expect(JSON.parse((await runOk(['status', '--json'], { home })).stdout).locked).toBe(true);
    } finally {
      stopAgent(home);
    }
  });

  it('kpm rm NAME asks for confirmation: n keeps the entry, y deletes it', async () => {
    await addEntry(home, 'doomed', 'doomed-secret');
    const args = ['rm', 'doomed'];
    const no = await runTty(args, [{ expect: 'Delete Personal/doomed\\?', send: 'n\r' }, { expect: 'Nothing deleted' }], { home, env: withMaster() });
    expect(no.code, describeTty(args, no)).toBe(0);
    expect((await runOk(['get', 'doomed'], { home, env: withMaster() })).stdout).toBe('doomed-secret\n');
    const yes = await runTty(args, [{ expect: 'Delete Personal/doomed\\?', send: 'y\r' }, { expect: 'Deleted Personal/doomed' }], { home, env: withMaster() });
    expect(yes.code, describeTty(args, yes)).toBe(0);
    const gone = await run(['get', 'doomed'], { home, env: withMaster() });
    expect(gone.code, describeRun(['get', 'doomed'], gone)).toBe(3);
  });

  it('$(kpm get NAME) at a terminal: prompts go to the terminal, stdout carries only the password', async () => {
    const args = ['get', 'existing'];
    const r = await runTty(args, [
      { expect: 'Master password', send: MASTER + '\r' },
      { expect: 'Keep kpm unlocked', send: 'n\r' },
    ], { home, stdoutToFile: true });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.stdout).toBe('existing-secret\n');
    expect(r.transcript).not.toContain('existing-secret');
    expect(agentPid(home)).toBeUndefined();
  });

  it('kpm add NAME > file at a terminal: the prompt and the confirmation stay off stdout', async () => {
    const args = ['add', 'redirected'];
    const r = await runTty(args, [
      { expect: 'Password for redirected', send: 'redirected-secret\r' },
      { expect: 'Repeat the password', send: 'redirected-secret\r' },
      { expect: 'Added' },
    ], { home, env: withMaster(), stdoutToFile: true });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('without a terminal, prompts never appear and never reach stdout', () => {
  let home: string;

  beforeAll(async () => {
    home = initHome();
    await addEntry(home, 'site', 'site-secret');
  });

  const PROMPTS = /Master password|Password for|Keep kpm unlocked|Delete .*\?|Choose a master password|Repeat/;

  it.each([
    { cmd: 'init (fresh home)', args: ['init'], code: 2, fresh: true },
    { cmd: 'get site (locked)', args: ['get', 'site'], code: 4 },
    { cmd: 'list (locked)', args: ['list'], code: 4 },
    { cmd: 'unlock', args: ['unlock'], code: 4 },
    { cmd: 'rm site (no --yes)', args: ['rm', 'site'], code: 2, master: true },
    { cmd: 'edit site --name x (nothing to prompt)', args: ['edit', 'site', '--name', 'site2'], code: 0, master: true },
  ])('kpm $cmd → exit $code, no prompt on stdout or stderr, stdout empty', async ({ args, code, fresh, master }) => {
    const h = fresh ? makeHome() : home;
    const r = await run(args, { home: h, env: master ? withMaster() : {} });
    expect(r.code, describeRun(args, r)).toBe(code);
    expect(r.stdout).not.toMatch(PROMPTS);
    expect(r.stderr).not.toMatch(PROMPTS);
    expect(r.stdout).toBe('');
  });

  it('kpm add LOGIN without a terminal and without --password-stdin/--generate fails (exit 2) naming what is missing, instead of saving a login with no password', async () => {
    // DESIGN.md: "no prompt is ever shown without a TTY — the command fails with an exit code that
    // says what was missing". On a terminal the same command asks for the password.
    const args = ['add', 'other'];
    const r = await run(args, { home, env: withMaster() });
    expect(r.code, describeRun(args, r)).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--password-stdin|--generate/);
    const g = await run(['get', 'other'], { home, env: withMaster() });
    expect(g.code, describeRun(['get', 'other'], g)).toBe(3);
  });
});
