import { dialectOf, inTransaction, type SqlDb } from '../sql/sql-db.js';
import type { DocStorage } from '../../shared/storage/doc-storage.js';

/**
 * The cloud's document storage, one bank at a time: every bank's Automerge chunks live in
 * ONE table `bank_doc_chunks (bank_id, doc_id, seq, bytes)` of the cloud database (a SQLite
 * file or PostgreSQL, through `SqlDb`), and this adapter is the DocStorage port over the rows
 * of one bank. A replica of one bank loads only its own rows, so the cloud can load and evict
 * banks independently (a 1,000-bank cloud does not hold every bank in memory), and the parcel
 * registry and contacts commit in the same transaction as a document.
 *
 * Several cloud nodes on one PostgreSQL may write chunks of the same document (the bank's
 * owner syncing its hub, another node answering support). Nothing a node wrote may be lost to
 * another's write, so on PostgreSQL:
 * - `seq` comes from a sequence (two nodes never pick the same number);
 * - `replace` (compaction) deletes only the chunks this adapter has seen, by their `seq` —
 *   the snapshot covers them — and keeps any another node appended meanwhile (even one with a
 *   lower `seq` that committed later); Automerge loads the concatenation
 *   in any order, so the extra chunk merges in on the next load;
 * - a trigger announces every chunk on the `cubby_docs` channel with the writer's
 *   `application_name`, so the other nodes refresh the document if they have the bank loaded.
 */
export class BankDocStorage implements DocStorage {
  private readonly stmts;
  private readonly pgStmts;
  private readonly sqliteAppend;
  private readonly pg: boolean;
  /** PostgreSQL: the `seq` of every chunk of each document this adapter loaded or wrote. */
  private readonly seen = new Map<string, Set<number>>();

  constructor(
    readonly db: SqlDb,
    readonly bankId: string,
  ) {
    this.pg = dialectOf(db) === 'postgres';
    this.stmts = {
      all: db.prepare('SELECT doc_id, seq, bytes FROM bank_doc_chunks WHERE bank_id = ? ORDER BY doc_id, seq'),
      one: db.prepare('SELECT seq, bytes FROM bank_doc_chunks WHERE bank_id = ? AND doc_id = ? ORDER BY seq'),
      insert: db.prepare('INSERT INTO bank_doc_chunks (bank_id, doc_id, seq, bytes) VALUES (?, ?, ?, ?)'),
      del: db.prepare('DELETE FROM bank_doc_chunks WHERE bank_id = ? AND doc_id = ?'),
      size: db.prepare('SELECT COALESCE(SUM(LENGTH(bytes)), 0) AS n FROM bank_doc_chunks WHERE bank_id = ?'),
    };
    this.sqliteAppend = this.pg
      ? undefined
      : db.prepare('INSERT INTO bank_doc_chunks (bank_id, doc_id, seq, bytes) SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ? FROM bank_doc_chunks WHERE bank_id = ? AND doc_id = ?');
    this.pgStmts = this.pg
      ? {
          insert: db.prepare("INSERT INTO bank_doc_chunks (bank_id, doc_id, seq, bytes) VALUES (?, ?, nextval('bank_doc_chunks_seq'), ?) RETURNING seq"),
          delSeen: db.prepare('DELETE FROM bank_doc_chunks WHERE bank_id = ? AND doc_id = ? AND seq = ANY(?)'),
          unseen: db.prepare('SELECT seq, bytes FROM bank_doc_chunks WHERE bank_id = ? AND doc_id = ? AND seq <> ALL(?) ORDER BY seq'),
        }
      : undefined;
  }

  /** Create the table (idempotent); on PostgreSQL also the sequence and the change trigger. */
  static migrate(db: SqlDb): void {
    db.exec(`CREATE TABLE IF NOT EXISTS bank_doc_chunks (
      bank_id TEXT NOT NULL,
      doc_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      bytes BLOB NOT NULL,
      PRIMARY KEY (bank_id, doc_id, seq)
    ) WITHOUT ROWID`);
    if (dialectOf(db) !== 'postgres') return;
    db.exec(`CREATE SEQUENCE IF NOT EXISTS bank_doc_chunks_seq;
    CREATE OR REPLACE FUNCTION cubby_doc_changed() RETURNS trigger AS $$
    BEGIN
      PERFORM pg_notify('cubby_docs', json_build_object('bank', NEW.bank_id, 'doc', NEW.doc_id, 'by', current_setting('application_name'))::text);
      RETURN NULL;
    END $$ LANGUAGE plpgsql;
    DROP TRIGGER IF EXISTS bank_doc_chunks_changed ON bank_doc_chunks;
    CREATE TRIGGER bank_doc_chunks_changed AFTER INSERT ON bank_doc_chunks FOR EACH ROW EXECUTE FUNCTION cubby_doc_changed();`);
  }

  loadAll(): Map<string, Uint8Array[]> {
    const out = new Map<string, Uint8Array[]>();
    for (const row of this.stmts.all.iterate(this.bankId) as Iterable<{ doc_id: string; seq: number; bytes: Buffer }>) {
      let list = out.get(row.doc_id);
      if (!list) out.set(row.doc_id, (list = []));
      list.push(new Uint8Array(row.bytes));
      this.saw(row.doc_id, row.seq);
    }
    return out;
  }

  load(docId: string): Uint8Array[] | undefined {
    const rows = this.stmts.one.all(this.bankId, docId) as { seq: number; bytes: Buffer }[];
    for (const r of rows) this.saw(docId, r.seq);
    return rows.length ? rows.map((r) => new Uint8Array(r.bytes)) : undefined;
  }

  /**
   * PostgreSQL: the chunks of `docId` other nodes wrote since this adapter loaded or wrote it
   * (by `seq`: any it has not seen, whatever their order of commit). Usually none, so a node
   * checking that its copy is current reads a few bytes instead of the whole document.
   */
  get loadUnseen(): ((docId: string) => Uint8Array[]) | undefined {
    if (!this.pg) return undefined;
    return (docId) => {
      const rows = this.pgStmts!.unseen.all(this.bankId, docId, [...(this.seen.get(docId) ?? [])]) as { seq: number; bytes: Buffer }[];
      for (const r of rows) this.saw(docId, r.seq);
      return rows.map((r) => new Uint8Array(r.bytes));
    };
  }

  append(docId: string, chunk: Uint8Array): void {
    if (this.pg) {
      this.saw(docId, (this.pgStmts!.insert.get(this.bankId, docId, Buffer.from(chunk)) as { seq: number }).seq);
      return;
    }
    // The next seq and the row in one statement, atomic on its own: a resync appends thousands.
    this.sqliteAppend!.run(this.bankId, docId, Buffer.from(chunk), this.bankId, docId);
  }

  replace(docId: string, snapshot: Uint8Array): void {
    this.transaction(() => {
      if (this.pg) {
        // Only what this adapter has seen is covered by the snapshot. Nothing seen (a document
        // created here that another node created too, before its notification came): nothing
        // to delete — deleting the document's rows would drop the other node's chunks.
        const seen = this.seen.get(docId);
        if (seen !== undefined) this.pgStmts!.delSeen.run(this.bankId, docId, [...seen]);
        this.seen.delete(docId);
        this.saw(docId, (this.pgStmts!.insert.get(this.bankId, docId, Buffer.from(snapshot)) as { seq: number }).seq);
        return;
      }
      this.stmts.del.run(this.bankId, docId);
      this.stmts.insert.run(this.bankId, docId, 1, Buffer.from(snapshot));
    });
  }

  remove(docId: string): void {
    this.stmts.del.run(this.bankId, docId);
    this.seen.delete(docId);
  }

  transaction<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  /** Bytes of this bank's chunks (not the file: the file is shared by every bank). */
  sizeBytes(): number {
    return (this.stmts.size.get(this.bankId) as { n: number }).n;
  }

  /** The database belongs to the cloud store, not to one bank. */
  close(): void {}

  private saw(docId: string, seq: number): void {
    if (!this.pg) return;
    let s = this.seen.get(docId);
    if (!s) this.seen.set(docId, (s = new Set()));
    s.add(seq);
  }
}
