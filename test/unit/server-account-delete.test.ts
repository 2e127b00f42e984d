// Deleting an account (the account pages' "Delete account", src/server/accounts.ts deleteAccount)
// removes everything the server holds for it, the sharing tables included: its identity, pin state
// and leave statements, its memberships of other accounts' vaults, and the shared vaults it owns
// with every row of them (memberships, key bundles, records, files, other members' tokens). A walk
// over every table and column of the database finds no row naming the account or its vaults, so a
// new table the deletion forgets fails here. What stays: the records it wrote into other accounts'
// vaults (their signed history, sealed under those vaults' keys).
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { sql } from 'kysely';
import { deleteAccount } from '../../src/server/accounts.js';
import { entry, person, run, world } from '../helpers/share.js';
import { ENGINES } from '../helpers/server.js';

/** Every [table, column] of the database whose rows can name an account or a vault. */
async function idColumns(db: any, engine: string): Promise<[string, string][]> {
  const tables: string[] = engine === 'sqlite'
    ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'kysely_%'`.execute(db)).rows.map((r) => r.name)
    : (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_name not like 'kysely_%'`.execute(db)).rows.map((r) => r.name);
  const out: [string, string][] = [];
  for (const t of tables) {
    const cols: string[] = engine === 'sqlite'
      ? (await sql<{ name: string }>`select name from pragma_table_info(${t})`.execute(db)).rows.map((r) => r.name)
      : (await sql<{ name: string }>`select column_name as name from information_schema.columns where table_schema = current_schema() and table_name = ${t}`.execute(db)).rows.map((r) => r.name);
    for (const c of cols) if (/(^|_)(account_id|owner_id|writer_id|vault_id)$/.test(c) || c === 'id') out.push([t, c]);
  }
  return out;
}

describe.each(ENGINES)('deleting an account removes its sharing data too (%s)', (engine) => {
  it('no table holds a row of the deleted account or of a shared vault it owned; the other members\' own vaults and records stay', async () => {
    const { ts, a, b, c, id: team } = await world(engine);
    // a is also a member (writer) of a vault b owns, and writes there; a leaves a pin state behind
    await run(b, (x) => x.share('Bobs', a.email, 'writer', false));
    await run(a, (x) => x.accept('Bobs'));
    await run(a, (x) => x.write('Bobs', entry('from-a', 'pw-from-a-1')));
    await run(a, (x) => x.addContact(c.email));
    const bobs = (await run(b, (x) => x.resolve('Bobs')))!.id;
    const d = await person(ts); // an account with nothing to do with it
    const db = ts.store.db as any;
    const count = async (t: string, col: string, v: string) => Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(t)} where ${sql.ref(col)} = ${v}`.execute(db)).rows[0].n);
    const cols = await idColumns(db, engine);
    expect(cols.length).toBeGreaterThan(20);
    expect((await Promise.all(cols.map(([t, col]) => count(t, col, team)))).some((n) => n > 0)).toBe(true);

    await deleteAccount(ts.ctx, { ip: '127.0.0.1', log: pino({ level: 'silent' }) }, a.accountId);

    const left: string[] = [];
    for (const [t, col] of cols) {
      const byAccount = await count(t, col, a.accountId);
      // the records a wrote into b's vault are that vault's signed history: they stay
      const allowed = t === 'share_records' && col === 'writer_id' ? Number((await sql<{ n: number }>`select count(*) as n from share_records where writer_id = ${a.accountId} and vault_id = ${bobs}`.execute(db)).rows[0].n) : 0;
      if (byAccount > allowed) left.push(`${t}.${col}: ${byAccount - allowed} rows of the account`);
      const byVault = await count(t, col, team);
      if (byVault > 0) left.push(`${t}.${col}: ${byVault} rows of its shared vault`);
    }
    expect(left).toEqual([]);
    // the others keep what is theirs: b's vault (with a's record in it), b's, c's and d's identities
    expect(await count('share_vaults', 'vault_id', bobs)).toBe(1);
    expect(await count('share_records', 'vault_id', bobs)).toBe(1);
    for (const p of [b, c, d]) expect(await count('share_identities', 'account_id', p.accountId)).toBe(1);
  });
});
