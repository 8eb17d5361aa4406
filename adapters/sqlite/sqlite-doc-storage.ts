import Database from 'better-sqlite3';
import type { DocStorage } from '../../shared/storage/doc-storage.js';
import { inTransaction } from '../sql/sql-db.js';

/** How hard SQLite works to make a commit survive power loss. */
export type Durability = 'FULL' | 'NORMAL';

export interface SqliteOptions {
  /**
   * `FULL` (default): every commit is fsynced before it returns — required where a door
   * depends on the write (the hub). `NORMAL` in WAL mode may lose the last commits on power
   * loss, never corrupt the file.
   */
  synchronous?: Durability;
}

/**
 * Open a SQLite file the way Cubby's stores want it: WAL journal (readers never block the
 * writer), the requested `synchronous` level, foreign keys on, incremental auto-vacuum so
 * dropping finished parcels gives space back.
 */
export function openDatabase(file: string, opts: SqliteOptions = {}): Database.Database {
  const db = new Database(file);
  // auto_vacuum must be chosen before the first table exists; harmless afterwards.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * better-sqlite3 adapter of the DocStorage port: one row per chunk in `doc_chunks`.
 * It shares the caller's database handle, so a hub can commit a ledger change and its own
 * bookkeeping (throttle, nonces) in one SQLite transaction.
 */
export class SqliteDocStorage implements DocStorage {
  private readonly stmts;

  constructor(
    readonly db: Database.Database,
    private readonly ownsDb = false,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS doc_chunks (
      doc_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      bytes BLOB NOT NULL,
      PRIMARY KEY (doc_id, seq)
    ) WITHOUT ROWID`);
    this.stmts = {
      all: db.prepare('SELECT doc_id, bytes FROM doc_chunks ORDER BY doc_id, seq'),
      one: db.prepare('SELECT bytes FROM doc_chunks WHERE doc_id = ? ORDER BY seq'),
      // The next seq and the row in one statement, atomic on its own (as BankDocStorage does).
      append: db.prepare('INSERT INTO doc_chunks (doc_id, seq, bytes) SELECT ?, COALESCE(MAX(seq), 0) + 1, ? FROM doc_chunks WHERE doc_id = ?'),
      insert: db.prepare('INSERT INTO doc_chunks (doc_id, seq, bytes) VALUES (?, ?, ?)'),
      del: db.prepare('DELETE FROM doc_chunks WHERE doc_id = ?'),
    };
  }

  /** Open (or create) a store in its own file. */
  static open(file: string, opts: SqliteOptions = {}): SqliteDocStorage {
    return new SqliteDocStorage(openDatabase(file, opts), true);
  }

  loadAll(): Map<string, Uint8Array[]> {
    const out = new Map<string, Uint8Array[]>();
    for (const row of this.stmts.all.iterate() as Iterable<{ doc_id: string; bytes: Buffer }>) {
      let list = out.get(row.doc_id);
      if (!list) out.set(row.doc_id, (list = []));
      list.push(new Uint8Array(row.bytes));
    }
    return out;
  }

  load(docId: string): Uint8Array[] | undefined {
    const rows = this.stmts.one.all(docId) as { bytes: Buffer }[];
    return rows.length ? rows.map((r) => new Uint8Array(r.bytes)) : undefined;
  }

  append(docId: string, chunk: Uint8Array): void {
    this.stmts.append.run(docId, Buffer.from(chunk), docId);
  }

  replace(docId: string, snapshot: Uint8Array): void {
    this.transaction(() => {
      this.stmts.del.run(docId);
      this.stmts.insert.run(docId, 1, Buffer.from(snapshot));
    });
  }

  remove(docId: string): void {
    this.stmts.del.run(docId);
  }

  transaction<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  sizeBytes(): number {
    const { page_count } = this.db.prepare('PRAGMA page_count').get() as { page_count: number };
    const { page_size } = this.db.prepare('PRAGMA page_size').get() as { page_size: number };
    return page_count * page_size;
  }

  /** Give the pages of dropped documents back to the file system. */
  vacuum(): void {
    this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  close(): void {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}
