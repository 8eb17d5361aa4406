import Database from 'better-sqlite3';

/**
 * Damage to a SQLite file, as SQLite reports it, and best-effort reading of what survived.
 * The hub's store (edge/store/) decides what a damaged store means; this file only knows SQLite.
 */

/** SQLite's result codes for a damaged file: `SQLITE_CORRUPT*` (malformed pages) and `SQLITE_NOTADB` (no SQLite header). */
export function isSqliteCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

/**
 * `PRAGMA quick_check` on `db` (the b-trees, free list and page map; not index contents).
 * Returns undefined when the file is sound, else SQLite's first findings, shortened.
 * Cost: one pass over the file (milliseconds for a hub's store of live parcels).
 */
export function quickCheck(db: Database.Database): string | undefined {
  try {
    const rows = db.pragma('quick_check(5)') as { quick_check: string }[];
    const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
    return problems.length ? problems.join('; ').replace(/\s+/g, ' ').slice(0, 300) : undefined;
  } catch (err) {
    if (isSqliteCorruption(err)) return `${(err as Error).message}`;
    throw err;
  }
}

/**
 * {@link quickCheck} of what is on disk, through a fresh read-only connection: a connection
 * that has been running for hours may answer from its page cache and never see damage done to
 * the file underneath it.
 */
export function quickCheckOnDisk(file: string): string | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    return quickCheck(db);
  } catch (err) {
    if (isSqliteCorruption(err)) return (err as Error).message;
    throw err;
  } finally {
    db?.close();
  }
}

/**
 * Open a damaged file to read what survived, never writing to it (read-only: SQLite does not
 * checkpoint the WAL into the damaged file on close). Undefined when it cannot be opened at all.
 */
export function openForSalvage(file: string): Database.Database | undefined {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      db.pragma('cell_size_check = ON');
      // Opening is lazy: the header is read by the first statement ("file is not a database").
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch {
      db.close();
      return undefined;
    }
    return db;
  } catch {
    return undefined;
  }
}

/**
 * Every row `sql` yields until the first damaged page, then (with `reverseSql`, the same query
 * in the opposite order) every row from the other end until the damage: what a b-tree scan can
 * still reach on both sides of a bad page. Never throws; `complete` says whether a scan ran to
 * its end without hitting damage.
 */
export function readableRows<T>(db: Database.Database, sql: string, reverseSql?: string, params: unknown[] = []): { rows: T[]; complete: boolean } {
  const scan = (q: string): { rows: T[]; complete: boolean } => {
    const rows: T[] = [];
    try {
      for (const row of db.prepare(q).iterate(...params) as Iterable<T>) rows.push(row);
      return { rows, complete: true };
    } catch {
      return { rows, complete: false };
    }
  };
  const forward = scan(sql);
  if (forward.complete || !reverseSql) return forward;
  const backward = scan(reverseSql);
  return { rows: [...forward.rows, ...backward.rows.reverse()], complete: backward.complete };
}
