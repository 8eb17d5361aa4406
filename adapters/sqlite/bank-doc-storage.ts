import type Database from 'better-sqlite3';
import type { DocStorage } from '../../shared/storage/doc-storage.js';

/**
 * The cloud's document storage, one bank at a time: every bank's Automerge chunks live in
 * ONE table `bank_doc_chunks (bank_id, doc_id, seq, bytes)` of the cloud database, and this
 * adapter is the DocStorage port over the rows of one bank. A replica of one bank loads only
 * its own rows, so the cloud can load and evict banks independently (a 1,000-bank cloud
 * does not hold every bank in memory), and the parcel registry and contacts commit in the
 * same transaction as a document.
 */
export class BankDocStorage implements DocStorage {
  private readonly stmts;

  constructor(
    readonly db: Database.Database,
    readonly bankId: string,
  ) {
    this.stmts = {
      all: db.prepare('SELECT doc_id, bytes FROM bank_doc_chunks WHERE bank_id = ? ORDER BY doc_id, seq'),
      one: db.prepare('SELECT bytes FROM bank_doc_chunks WHERE bank_id = ? AND doc_id = ? ORDER BY seq'),
      next: db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM bank_doc_chunks WHERE bank_id = ? AND doc_id = ?'),
      insert: db.prepare('INSERT INTO bank_doc_chunks (bank_id, doc_id, seq, bytes) VALUES (?, ?, ?, ?)'),
      del: db.prepare('DELETE FROM bank_doc_chunks WHERE bank_id = ? AND doc_id = ?'),
      size: db.prepare('SELECT COALESCE(SUM(LENGTH(bytes)), 0) AS n FROM bank_doc_chunks WHERE bank_id = ?'),
    };
  }

  /** Create the table (idempotent). */
  static migrate(db: Database.Database): void {
    db.exec(`CREATE TABLE IF NOT EXISTS bank_doc_chunks (
      bank_id TEXT NOT NULL,
      doc_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      bytes BLOB NOT NULL,
      PRIMARY KEY (bank_id, doc_id, seq)
    ) WITHOUT ROWID`);
  }

  loadAll(): Map<string, Uint8Array[]> {
    const out = new Map<string, Uint8Array[]>();
    for (const row of this.stmts.all.iterate(this.bankId) as Iterable<{ doc_id: string; bytes: Buffer }>) {
      let list = out.get(row.doc_id);
      if (!list) out.set(row.doc_id, (list = []));
      list.push(new Uint8Array(row.bytes));
    }
    return out;
  }

  load(docId: string): Uint8Array[] | undefined {
    const rows = this.stmts.one.all(this.bankId, docId) as { bytes: Buffer }[];
    return rows.length ? rows.map((r) => new Uint8Array(r.bytes)) : undefined;
  }

  append(docId: string, chunk: Uint8Array): void {
    this.transaction(() => {
      const { n } = this.stmts.next.get(this.bankId, docId) as { n: number };
      this.stmts.insert.run(this.bankId, docId, n, Buffer.from(chunk));
    });
  }

  replace(docId: string, snapshot: Uint8Array): void {
    this.transaction(() => {
      this.stmts.del.run(this.bankId, docId);
      this.stmts.insert.run(this.bankId, docId, 1, Buffer.from(snapshot));
    });
  }

  remove(docId: string): void {
    this.stmts.del.run(this.bankId, docId);
  }

  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn).immediate();
  }

  /** Bytes of this bank's chunks (not the file: the file is shared by every bank). */
  sizeBytes(): number {
    return (this.stmts.size.get(this.bankId) as { n: number }).n;
  }

  /** The database belongs to the cloud store, not to one bank. */
  close(): void {}
}
