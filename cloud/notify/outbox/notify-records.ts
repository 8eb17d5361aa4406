import { addColumnIfMissing, migrate, type SqlDb } from '../../../adapters/sql/sql-db.js';

/** A contact change as support and the diagnosis see it: masked values only. */
export interface ContactChangeRecord {
  parcelId: string;
  at: number;
  actor: string;
  /** Which fields changed: `phone`, `email`, `preferences`. */
  fields: string[];
  /** Masked old and new values of the changed fields. */
  before: Record<string, string>;
  after: Record<string, string>;
}

/** A code the cloud owes a recipient once `dueAt` has passed (the hold after a contact change). */
export interface DeferredIssuance {
  parcelId: string;
  bankId: string;
  dueAt: number;
  reason: string;
  actor: string;
  createdAt: number;
  doneAt: number | null;
  codeId: string | null;
}

/**
 * The cloud-side records of the notification flows, next to the outbox in the cloud
 * database: contact changes (for the takeover check of the diagnosis), deferred issuances
 * (so a restart during the hold loses nothing) and resends (the per-parcel rate limit).
 */
export class NotifyRecords {
  private readonly stmts;

  /** @param node this cloud node's name (several nodes claim deferred issuances, see `claimDeferred`). */
  constructor(
    readonly db: SqlDb,
    readonly node = 'local',
  ) {
    migrate(db, () => NotifyRecords.migrate(db));
    this.stmts = {
      change: db.prepare('INSERT INTO notify_contact_changes (parcel_id, at, actor, fields, before, after) VALUES (?, ?, ?, ?, ?, ?)'),
      changes: db.prepare('SELECT parcel_id, at, actor, fields, before, after FROM notify_contact_changes WHERE parcel_id = ? ORDER BY at, seq'),
      defer: db.prepare(`INSERT INTO notify_deferred_issuance (parcel_id, bank_id, due_at, reason, actor, created_at, done_at, code_id)
        VALUES (@parcelId, @bankId, @dueAt, @reason, @actor, @createdAt, NULL, NULL)
        ON CONFLICT (parcel_id) DO UPDATE SET bank_id = excluded.bank_id, due_at = excluded.due_at, reason = excluded.reason,
          actor = excluded.actor, created_at = excluded.created_at, done_at = NULL, code_id = NULL, claimed_by = NULL, claimed_at = NULL`),
      claimDeferred: db.prepare(`UPDATE notify_deferred_issuance SET claimed_by = @node, claimed_at = @now
        WHERE parcel_id = @parcelId AND done_at IS NULL AND (claimed_at IS NULL OR claimed_by = @node OR claimed_at <= @before)`),
      deferred: db.prepare('SELECT * FROM notify_deferred_issuance WHERE parcel_id = ?'),
      dueDeferred: db.prepare('SELECT * FROM notify_deferred_issuance WHERE done_at IS NULL AND due_at <= ? ORDER BY due_at LIMIT ?'),
      doneDeferred: db.prepare('UPDATE notify_deferred_issuance SET done_at = ?, code_id = ? WHERE parcel_id = ? AND done_at IS NULL'),
      resend: db.prepare('INSERT INTO notify_resends (parcel_id, at, actor, channel, code_id) VALUES (?, ?, ?, ?, ?)'),
      resendsSince: db.prepare('SELECT at FROM notify_resends WHERE parcel_id = ? AND at > ? ORDER BY at'),
    };
  }

  static migrate(db: SqlDb): void {
    db.exec(`CREATE TABLE IF NOT EXISTS notify_contact_changes (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      parcel_id TEXT NOT NULL,
      at INTEGER NOT NULL,
      actor TEXT NOT NULL,
      fields TEXT NOT NULL,
      before TEXT NOT NULL,
      after TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS notify_contact_changes_parcel ON notify_contact_changes (parcel_id);
    CREATE TABLE IF NOT EXISTS notify_deferred_issuance (
      parcel_id TEXT PRIMARY KEY,
      bank_id TEXT NOT NULL,
      due_at INTEGER NOT NULL,
      reason TEXT NOT NULL,
      actor TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      done_at INTEGER,
      code_id TEXT,
      claimed_by TEXT,
      claimed_at INTEGER
    );
    ${addColumnIfMissing(db, 'notify_deferred_issuance', 'claimed_by', 'TEXT')}
    ${addColumnIfMissing(db, 'notify_deferred_issuance', 'claimed_at', 'INTEGER')}
    CREATE TABLE IF NOT EXISTS notify_resends (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      parcel_id TEXT NOT NULL,
      at INTEGER NOT NULL,
      actor TEXT NOT NULL,
      channel TEXT,
      code_id TEXT
    );
    CREATE INDEX IF NOT EXISTS notify_resends_parcel ON notify_resends (parcel_id, at);`);
  }

  recordContactChange(c: ContactChangeRecord): void {
    this.stmts.change.run(c.parcelId, c.at, c.actor, JSON.stringify(c.fields), JSON.stringify(c.before), JSON.stringify(c.after));
  }

  contactChanges(parcelId: string): ContactChangeRecord[] {
    return (this.stmts.changes.all(parcelId) as Record<string, string | number>[]).map((r) => ({
      parcelId: r.parcel_id as string,
      at: r.at as number,
      actor: r.actor as string,
      fields: JSON.parse(r.fields as string) as string[],
      before: JSON.parse(r.before as string) as Record<string, string>,
      after: JSON.parse(r.after as string) as Record<string, string>,
    }));
  }

  /** Owe the parcel a fresh code at `dueAt` (replaces an earlier pending one). */
  defer(d: Omit<DeferredIssuance, 'doneAt' | 'codeId'>): void {
    this.stmts.defer.run(d);
  }

  deferred(parcelId: string): DeferredIssuance | undefined {
    const r = this.stmts.deferred.get(parcelId) as Record<string, unknown> | undefined;
    return r && toDeferred(r);
  }

  dueDeferred(now: number, limit = 50): DeferredIssuance[] {
    return (this.stmts.dueDeferred.all(now, limit) as Record<string, unknown>[]).map(toDeferred);
  }

  /**
   * Take the parcel's due issuance for this node: false when another node holds it (claimed less
   * than `leaseMs` ago) or it is done. Several cloud nodes run the same chore; without this
   * claim two of them could issue two codes — and send two messages — for one contact change.
   */
  claimDeferred(parcelId: string, now: number, leaseMs = 60_000): boolean {
    return this.stmts.claimDeferred.run({ parcelId, node: this.node, now, before: now - leaseMs }).changes === 1;
  }

  /** Mark the parcel's pending deferred issuance done (with the code it produced, if any). */
  completeDeferred(parcelId: string, at: number, codeId: string | null): void {
    this.stmts.doneDeferred.run(at, codeId, parcelId);
  }

  recordResend(parcelId: string, at: number, actor: string, channel: string | null, codeId: string): void {
    this.stmts.resend.run(parcelId, at, actor, channel, codeId);
  }

  /** Times of the parcel's resends after `since`, oldest first. */
  resendsSince(parcelId: string, since: number): number[] {
    return (this.stmts.resendsSince.all(parcelId, since) as { at: number }[]).map((r) => r.at);
  }
}

function toDeferred(r: Record<string, unknown>): DeferredIssuance {
  return {
    parcelId: r.parcel_id as string,
    bankId: r.bank_id as string,
    dueAt: r.due_at as number,
    reason: r.reason as string,
    actor: r.actor as string,
    createdAt: r.created_at as number,
    doneAt: r.done_at as number | null,
    codeId: r.code_id as string | null,
  };
}
