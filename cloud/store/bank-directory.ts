import { addColumnIfMissing, dialectOf, type SqlDb } from '../../adapters/sql/sql-db.js';

/** A bank the cloud knows. */
export interface BankRecord {
  bankId: string;
  /** Number of compartments, as provisioned. */
  compartments: number;
  createdAt: number;
  /** When a sync session with its hub last ended with both sides in sync. */
  lastSyncAt: number | null;
  /** When its hub was last heard from. */
  lastContactAt: number | null;
  /** The cloud node its hub has a sync session with (several nodes), or null. */
  onlineNode: string | null;
}

/** The banks the cloud serves, with their last sync and contact times (survive a restart). */
export class BankDirectory {
  private readonly stmts;

  constructor(readonly db: SqlDb) {
    this.stmts = {
      get: db.prepare('SELECT bank_id, compartments, created_at, last_sync_at, last_contact_at, online_node FROM banks WHERE bank_id = ?'),
      online: db.prepare('UPDATE banks SET online_node = ? WHERE bank_id = ?'),
      offline: db.prepare('UPDATE banks SET online_node = NULL WHERE bank_id = ? AND online_node = ?'),
      list: db.prepare('SELECT bank_id FROM banks ORDER BY bank_id'),
      add: db.prepare('INSERT INTO banks (bank_id, compartments, created_at) VALUES (?, ?, ?) ON CONFLICT (bank_id) DO UPDATE SET compartments = excluded.compartments'),
      sync: db.prepare(`UPDATE banks SET last_sync_at = ?, last_contact_at = ${dialectOf(db) === 'postgres' ? 'GREATEST' : 'MAX'}(COALESCE(last_contact_at, 0), ?) WHERE bank_id = ?`),
      contact: db.prepare('UPDATE banks SET last_contact_at = ? WHERE bank_id = ?'),
    };
  }

  static migrate(db: SqlDb): void {
    db.exec(`CREATE TABLE IF NOT EXISTS banks (
      bank_id TEXT PRIMARY KEY,
      compartments INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      last_sync_at INTEGER,
      last_contact_at INTEGER,
      online_node TEXT
    );
    ${addColumnIfMissing(db, 'banks', 'online_node', 'TEXT')}`);
  }

  add(bankId: string, compartments: number, at: number): void {
    this.stmts.add.run(bankId, compartments, at);
  }

  get(bankId: string): BankRecord | undefined {
    const r = this.stmts.get.get(bankId) as
      | { bank_id: string; compartments: number; created_at: number; last_sync_at: number | null; last_contact_at: number | null; online_node: string | null }
      | undefined;
    return r && { bankId: r.bank_id, compartments: r.compartments, createdAt: r.created_at, lastSyncAt: r.last_sync_at, lastContactAt: r.last_contact_at, onlineNode: r.online_node };
  }

  ids(): string[] {
    return (this.stmts.list.all() as { bank_id: string }[]).map((r) => r.bank_id);
  }

  recordSync(bankId: string, at: number): void {
    this.stmts.sync.run(at, at, bankId);
  }

  recordContact(bankId: string, at: number): void {
    this.stmts.contact.run(at, bankId);
  }

  /** The hub of `bankId` has a session with cloud node `node` (several nodes). */
  recordOnline(bankId: string, node: string): void {
    this.stmts.online.run(node, bankId);
  }

  /** …and no longer (unless it moved to another node meanwhile). */
  recordOffline(bankId: string, node: string): void {
    this.stmts.offline.run(bankId, node);
  }
}
