/**
 * The SQL surface the cloud's stores are written against: the synchronous subset of
 * better-sqlite3's API they use, so a better-sqlite3 `Database` IS an `SqlDb` as it is, and
 * `PgSyncDb` (adapters/postgres) provides the same calls over PostgreSQL.
 *
 * Synchronous on purpose, like the DocStorage port: a store call returns once the row is
 * durable, and a sync frame, its documents, its outbox rows and its sync state commit in one
 * transaction without an event-loop hop in the middle where another request could interleave.
 *
 * Portable SQL, so one store class serves both engines: `?` or `@name` parameters, standard
 * `INSERT … ON CONFLICT` upserts, no `INSERT OR …`, no SQLite-only functions; DDL may say
 * `INTEGER`, `BLOB`, `INTEGER PRIMARY KEY AUTOINCREMENT` and `WITHOUT ROWID` (the PostgreSQL
 * adapter maps them to `BIGINT`, `BYTEA`, `BIGSERIAL PRIMARY KEY` and nothing). Where the
 * engines really differ (`FOR UPDATE SKIP LOCKED`, `GREATEST`), a store asks `dialectOf(db)`.
 */
export interface SqlStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

export interface SqlDb {
  prepare(sql: string): SqlStatement;
  /** DDL and statements without parameters; several may be separated by `;`. */
  exec(sql: string): unknown;
  /** better-sqlite3's shape: returns a function that runs `fn` in a transaction. */
  transaction<T>(fn: () => T): TransactionFn<T>;
  readonly inTransaction: boolean;
  readonly open: boolean;
  close(): unknown;
}

export interface TransactionFn<T> {
  (): T;
  immediate(): T;
  deferred(): T;
  exclusive(): T;
}

export type SqlDialect = 'sqlite' | 'postgres';

/** Which engine is behind `db` (a better-sqlite3 Database has no `dialect`). */
export function dialectOf(db: SqlDb): SqlDialect {
  return (db as { dialect?: SqlDialect }).dialect ?? 'sqlite';
}

/** Run `fn` in a write transaction, or inside the caller's when one is open. */
export function inTransaction<T>(db: SqlDb, fn: () => T): T {
  if (db.inTransaction) return fn();
  return db.transaction(fn).immediate();
}

/**
 * DDL adding `column` to `table` when an older database lacks it (CREATE TABLE IF NOT EXISTS
 * leaves existing tables as they are). SQLite has no `ADD COLUMN IF NOT EXISTS`, so it is
 * asked first; returns '' when nothing is to be done.
 */
export function addColumnIfMissing(db: SqlDb, table: string, column: string, type: string): string {
  if (dialectOf(db) === 'postgres') return `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${column} ${type};`;
  const tableExists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  if (!tableExists) return '';
  const has = (db.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as { name: string }[]).some((c) => c.name === column);
  return has ? '' : `ALTER TABLE ${table} ADD COLUMN ${column} ${type};`;
}

/**
 * Run schema migrations. On PostgreSQL under a transaction-scoped advisory lock: several cloud
 * nodes starting at once would otherwise race in `CREATE TABLE IF NOT EXISTS` (which is not
 * atomic there) and fail with a unique violation on the catalog.
 */
export function migrate(db: SqlDb, fn: () => void): void {
  inTransaction(db, () => {
    if (dialectOf(db) === 'postgres') db.prepare('SELECT pg_advisory_xact_lock(4242001)').get();
    fn();
  });
}
