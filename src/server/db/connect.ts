// Opens the database: SQLite (better-sqlite3) by default, PostgreSQL (pg) for postgres:// URLs.
// Both drivers load only when used, so the other one never needs to be installed correctly.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type { Database } from './schema.js';
import { migrate } from './migrations.js';
import { withLockAsync } from '../../core/fsutil.js';

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

// SQLite has no migration lock across processes: an instance that loses the race sees the database
// locked, or (having read the migration table before the winner committed) the winner's tables.
// Either way the winner's migration is, or is about to be, committed as a whole: try again.
const isLocked = (e: unknown): boolean => /SQLITE_BUSY|database is locked|already exists/i.test(`${(e as { code?: string }).code} ${(e as Error).message}`);

/** Runs `fn`, again and again for up to 10 s while another SQLite connection is in the way. */
async function whileLocked<T>(fn: () => T | Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isLocked(e) || attempt >= 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function openDatabase(target: string, opts: { poolSize?: number } = {}): Promise<OpenDb> {
  let open: OpenDb;
  if (isPostgresUrl(target)) {
    const pg = (await import('pg')).default;
    // bigint (int8, 20) and count() results as numbers: every value kpm stores fits in 2^53.
    const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) };
    const pool = new pg.Pool({ connectionString: target, max: opts.poolSize ?? 10, types: types as never });
    // An idle connection that the database drops (restart, admin command) must not crash the server;
    // the pool replaces it on next use.
    pool.on('error', () => undefined);
    // Named statements: PostgreSQL parses and plans each distinct query once per connection instead
    // of on every call. Raw statements (begin, commit, …) take no parameters and stay unnamed.
    const named = new Map<string, string>();
    const nameOf = (text: string) => {
      let n = named.get(text);
      if (!n) named.set(text, (n = `k${createHash('sha256').update(text).digest('hex').slice(0, 20)}`));
      return n;
    };
    const wrapped = {
      async connect() {
        const client = await pool.connect();
        return {
          query: (text: string, values: unknown[]) => (values.length > 0 ? client.query({ name: nameOf(text), text, values }) : client.query(text)),
          release: (destroy?: boolean) => client.release(destroy),
        };
      },
      end: () => pool.end(),
    };
    open = { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool: wrapped as never }) }), engine: 'postgres', where: redactUrl(target) };
  } else {
    const { default: SQLite } = await import('better-sqlite3');
    if (target !== ':memory:') {
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      closeSync(openSync(target, 'a', 0o600)); // created private; SQLite gives -wal and -shm the same mode
    }
    const database = new SQLite(target, { timeout: 5000 }); // busy_timeout, set before anything else
    await whileLocked(() => database.pragma('journal_mode = WAL'));
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    // deleted rows are overwritten with zeros (sync compaction: a purged record leaves no ciphertext behind)
    database.pragma('secure_delete = ON');
    // Statements are prepared once per SQL text (kysely would prepare on every query).
    const statements = new Map<string, ReturnType<typeof database.prepare>>();
    const cached = {
      prepare(sqlText: string) {
        let st = statements.get(sqlText);
        if (!st) {
          if (statements.size > 1000) statements.clear();
          statements.set(sqlText, (st = database.prepare(sqlText)));
        }
        return st;
      },
      close: () => database.close(),
    };
    open = { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: cached }) }), engine: 'sqlite', where: target };
  }
  // Instances starting at once on one SQLite file: kysely takes no lock across processes there and
  // runs the migrations one by one, so one instance could apply a migration another has applied but
  // not yet recorded ("duplicate column name"). A lock file beside the database serializes them; the
  // one that waited finds everything migrated. PostgreSQL takes kysely's migration lock instead.
  if (open.engine === 'sqlite' && target !== ':memory:') {
    const lockDir = join(dirname(target), `.${basename(target)}.migrate`); // not a name starting with the database's (its -wal and -shm do)
    mkdirSync(lockDir, { recursive: true, mode: 0o700 });
    await withLockAsync(lockDir, () => whileLocked(() => migrate(open.db as Kysely<unknown>)), 60_000);
  } else await migrate(open.db as Kysely<unknown>); // PostgreSQL, or a private in-memory database
  return open;
}
