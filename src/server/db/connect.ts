// Opens the database: SQLite (better-sqlite3) by default, PostgreSQL (pg) for postgres:// URLs.
// Both drivers load only when used, so the other one never needs to be installed correctly.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type { Database } from './schema.js';
import { migrate } from './migrations.js';

export type Engine = 'sqlite' | 'postgres';

export interface OpenDb {
  db: Kysely<Database>;
  engine: Engine;
  /** where it lives, without credentials */
  where: string;
}

export const isPostgresUrl = (s: string): boolean => /^postgres(ql)?:\/\//i.test(s);

/** A URL with its password replaced, fit for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

export async function openDatabase(target: string, opts: { poolSize?: number } = {}): Promise<OpenDb> {
  let open: OpenDb;
  if (isPostgresUrl(target)) {
    const pg = (await import('pg')).default;
    // bigint (int8, 20) and count() results as numbers: every value kpm stores fits in 2^53.
    const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) };
    const pool = new pg.Pool({ connectionString: target, max: opts.poolSize ?? 10, types: types as never });
    open = { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), engine: 'postgres', where: redactUrl(target) };
  } else {
    const { default: SQLite } = await import('better-sqlite3');
    if (target !== ':memory:') mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    const database = new SQLite(target);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    open = { db: new Kysely<Database>({ dialect: new SqliteDialect({ database }) }), engine: 'sqlite', where: target };
  }
  // Two instances starting at once on one SQLite file: the loser of the write lock retries (by then
  // the winner has migrated). PostgreSQL takes kysely's migration lock instead.
  for (let attempt = 0; ; attempt++) {
    try {
      await migrate(open.db as Kysely<unknown>);
      return open;
    } catch (e) {
      if (open.engine !== 'sqlite' || !/SQLITE_BUSY|database is locked/i.test(`${(e as { code?: string }).code} ${(e as Error).message}`) || attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
