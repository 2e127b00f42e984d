// Hot-path queries compiled once per database and run with new parameters: the query builder's work
// (and, on SQLite, statement preparation, see connect.ts) is then done once instead of per request.
import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * `build` makes the query with placeholder values; the returned function runs it with `params` in
 * the order the values appear in the SQL.
 */
export function prepared<R>(build: (db: Kysely<Database>) => Compilable<R>): (db: Kysely<Database>, ...params: unknown[]) => Promise<R[]> {
  const cache = new WeakMap<Kysely<Database>, CompiledQuery<R>>();
  return async (db, ...params) => {
    let q = cache.get(db);
    if (!q) cache.set(db, (q = build(db).compile()));
    if (q.parameters.length !== params.length) throw new Error('prepared query: wrong number of parameters');
    return (await db.executeQuery<R>({ ...q, parameters: params })).rows;
  };
}
