// The shared vaults the agent holds (src/agent/sharedhold.ts, docs/SHARING.md "The agent"), against
// the in-process server with a tampering transport (test/helpers/share.ts): loaded from the verified
// copy, synced with every member check, a misbehaving server kept as exit 8, the file reloaded when it
// changes, the keys wiped. The e2e side (fast path, no request, hold, lock): test/e2e/share-agent.test.ts.
import { describe, expect, it } from 'vitest';
import { SharedHold } from '../../src/agent/sharedhold.js';
import { fromBase64, toBase64 } from '../../src/crypto/bytes.js';
import { EXIT, KpmError } from '../../src/core/errors.js';
import { entry, run, stateBytes, world, type Person } from '../helpers/share.js';
import type { OpenedVault } from '../../src/share/client.js';

const holdOf = (p: Person) =>
  new SharedHold({ paths: p.paths, profile: { accountKey: p.accountKey, profileId: p.profileId } } as never, async () => {
    const client = p.c();
    return { client, close: async () => client.close() };
  });
const names = (vs: OpenedVault[] | null) => (vs ?? []).flatMap((v) => [...v.entries.values()].filter((e) => !e.deleted).map((e) => e.entry.name)).sort();
const failure = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as KpmError);

describe('the shared vaults the agent holds', () => {
  it("loads the verified copy, syncs another member's write, and keeps a tampering server as exit 8 (offline reads the last verified state) until a sync verifies; the keys are wiped", async () => {
    const { b, c } = await world();
    await run(c, (x) => x.usable({ online: true })); // carol's device verified everything up to here
    const hold = holdOf(c);
    expect(names(await hold.current(false))).toEqual(['db', 'deploy']);
    await run(b, (x) => x.write('Team', entry('late', 'pw-late-1')));
    expect(names(await hold.current(false))).toEqual(['db', 'deploy']); // what it verified, until it syncs
    c.writes.length = 0;
    const r = await hold.sync(false);
    expect(r?.rows).toMatchObject([{ name: 'Team', role: 'reader', entries: 3 }]);
    expect(names(await hold.current(false))).toEqual(['db', 'deploy', 'late']);
    expect(c.writes.filter((w) => w !== 'sharePinsPut')).toEqual([]); // a reader's sync writes nothing

    await run(b, (x) => x.write('Team', entry('later', 'pw-later-1')));
    c.tamper.sharePull = (body) => {
      const rec = fromBase64(body.records[body.records.length - 1]);
      rec[rec.length - 80] ^= 1;
      body.records[body.records.length - 1] = toBase64(rec);
      return body;
    };
    const before = stateBytes(c);
    expect((await hold.syncOutcome()).failed).toMatch(/^shared vaults: sharing: shared record \d+ of "Team"/);
    expect(stateBytes(c)).toBe(before); // nothing written
    const e = await failure(hold.current(false));
    expect(e?.exitCode).toBe(EXIT.corrupt);
    expect(e?.message).toMatch(/shared record \d+ of "Team"/);
    expect(names(await hold.current(true))).toEqual(['db', 'deploy', 'late']); // --offline: the last verified state
    c.tamper = {};
    await hold.sync(false);
    const held = await hold.current(false);
    expect(names(held)).toEqual(['db', 'deploy', 'late', 'later']);
    for (const v of held!) for (const k of v.keys) expect(k.every((x) => x === 0)).toBe(true);
    hold.close();
    expect((await failure(hold.current(true)))?.exitCode).toBe(EXIT.locked);
  });

  it("reloads share.kpms when another process changed it (a write of the full program is read back at once); a device without it holds nothing", async () => {
    const { b } = await world();
    const hold = holdOf(b);
    expect(names(await hold.current(false))).toEqual(['db', 'deploy']);
    await run(b, (x) => x.write('Team', entry('mine', 'pw-mine-1'))); // the full program's write saves share.kpms
    expect(names(await hold.current(false))).toEqual(['db', 'deploy', 'mine']);
    const { person } = await import('../helpers/share.js');
    const { testServer } = await import('../helpers/server.js');
    const loner = holdOf(await person(await testServer()));
    expect(await loner.current(false)).toBeNull();
    expect(await loner.sync(false)).toBeNull();
  });
});
