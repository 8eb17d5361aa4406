import { inTransaction, migrate, type SqlDb } from '../sql/sql-db.js';
import type { SyncStateStore } from '../../shared/sync/sync-state-store.js';

/**
 * SQL adapter of the SyncStateStore port (better-sqlite3 or PostgreSQL through `SqlDb`): table `sync_states (peer, doc_id, state)`.
 * Give it the database handle of the document storage, so a received change and the sync
 * state that records it commit in one transaction (a crash can leave neither a state that
 * claims changes the store does not have, nor changes the state does not know about).
 */
export class SqliteSyncStateStore implements SyncStateStore {
  private readonly stmts;

  constructor(readonly db: SqlDb) {
    migrate(db, () => SqliteSyncStateStore.migrate(db));
    this.stmts = {
      get: db.prepare('SELECT state FROM sync_states WHERE peer = ? AND doc_id = ?'),
      all: db.prepare('SELECT doc_id, state FROM sync_states WHERE peer = ?'),
      set: db.prepare('INSERT INTO sync_states (peer, doc_id, state) VALUES (?, ?, ?) ON CONFLICT (peer, doc_id) DO UPDATE SET state = excluded.state'),
      clear: db.prepare('DELETE FROM sync_states WHERE peer = ?'),
    };
  }

  /** Create the table (idempotent). */
  static migrate(db: SqlDb): void {
    db.exec(`CREATE TABLE IF NOT EXISTS sync_states (
      peer TEXT NOT NULL,
      doc_id TEXT NOT NULL,
      state BLOB NOT NULL,
      PRIMARY KEY (peer, doc_id)
    ) WITHOUT ROWID`);
  }

  get(peer: string, docId: string): Uint8Array | undefined {
    const row = this.stmts.get.get(peer, docId) as { state: Buffer } | undefined;
    return row ? new Uint8Array(row.state) : undefined;
  }

  set(peer: string, docId: string, state: Uint8Array): void {
    this.stmts.set.run(peer, docId, Buffer.from(state));
  }

  all(peer: string): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const row of this.stmts.all.iterate(peer) as Iterable<{ doc_id: string; state: Buffer }>) out.set(row.doc_id, new Uint8Array(row.state));
    return out;
  }

  clear(peer: string): void {
    this.stmts.clear.run(peer);
  }

  transaction<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }
}
