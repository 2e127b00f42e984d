// `kpm trash purge --vault V` and `kpm history purge NAME --vault V` act on vault V only. Reported:
// commander handed `--vault` (also an option of `kpm trash` and `kpm history`) to the parent command,
// so `kpm trash purge --vault Work --yes` purged the trash of EVERY vault (Personal's deleted entries
// gone for good too). The parse-level check over every command: test/unit/option-shadow.test.ts.
import { describe, expect, it } from 'vitest';
import { initHome, kpmWith, MASTER } from '../helpers/kpm.js';

const kpm = kpmWith();

describe('purges keep to the vault named after the subcommand', () => {
  it('`kpm trash purge --vault Work --yes` empties Work\'s trash only; `--json` after it prints the result', async () => {
    const home = initHome();
    await kpm(home, ['unlock', '--password-stdin'], 0, { input: MASTER + '\n' });
    await kpm(home, ['vault', 'create', 'Work'], 0);
    await kpm(home, ['add', 'mail', '--no-password'], 0);
    await kpm(home, ['add', 'ci', '--vault', 'Work', '--no-password'], 0);
    await kpm(home, ['rm', 'mail', '--yes'], 0);
    await kpm(home, ['rm', 'ci', '--vault', 'Work', '--yes'], 0);
    const r = await kpm(home, ['trash', 'purge', '--vault', 'Work', '--yes', '--json'], 0);
    expect((JSON.parse(r.stdout) as { purged: { name: string }[] }).purged.map((p) => p.name)).toEqual(['ci']);
    const left = JSON.parse((await kpm(home, ['trash', '--json'], 0)).stdout) as { name: string; vault: string }[];
    expect(left.map((t) => `${t.vault}/${t.name}`)).toEqual(['Personal/mail']);
  });

  it('`kpm history purge NAME --vault Work --yes --json` cuts the history of Work\'s entry, not of the same name in Personal', async () => {
    const home = initHome();
    await kpm(home, ['unlock', '--password-stdin'], 0, { input: MASTER + '\n' });
    await kpm(home, ['vault', 'create', 'Work'], 0);
    for (const v of ['Personal', 'Work']) {
      await kpm(home, ['add', 'db', '--vault', v, '--username', 'a', '--no-password'], 0);
      await kpm(home, ['edit', 'db', '--vault', v, '--username', 'b'], 0);
    }
    const r = await kpm(home, ['history', 'purge', 'db', '--vault', 'Work', '--yes', '--json'], 0);
    const out = JSON.parse(r.stdout) as { vault: string; dropped: number };
    expect(out.vault).toBe('Work');
    expect(out.dropped).toBeGreaterThan(0);
    const versions = async (v: string) => (JSON.parse((await kpm(home, ['history', 'db', '--vault', v, '--json'], 0)).stdout) as unknown[]).length;
    expect(await versions('Work')).toBe(1);
    expect(await versions('Personal')).toBe(2);
  });
});
