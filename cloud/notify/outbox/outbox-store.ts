import { addColumnIfMissing, dialectOf, inTransaction, migrate, type SqlDb, type SqlStatement } from '../../../adapters/sql/sql-db.js';
import type { ChannelName } from '../channels/channel.js';

/**
 * Life of an outbox row:
 * `pending` -> `sending` (claimed by the worker) -> `accepted` (provider took it, a receipt may
 * follow) / `delivered` | `failed` (non-retryable, or retries exhausted) | `undelivered` (the
 * provider's receipt said so); `superseded` (its code was used, revoked or expired before it
 * went out) and `cancelled` (a contact change) are never sent.
 */
export type OutboxStatus = 'pending' | 'sending' | 'accepted' | 'delivered' | 'failed' | 'undelivered' | 'superseded' | 'cancelled';

/** `code`: a pickup code for the recipient; `alert`: a security notice with no code (contact change). */
export type OutboxKind = 'code' | 'alert';

/** One message on one channel. Its `id` is also the idempotency key sent to the provider. */
export interface OutboxRow {
  id: string;
  kind: OutboxKind;
  parcelId: string;
  bankId: string;
  /** The code this row delivers (`kind: 'code'`). */
  codeId: string | null;
  channel: ChannelName;
  /** Normalised destination (E.164, e-mail, push account). Never logged, never shown. */
  destination: string;
  /** What support may see of the destination. */
  destinationMasked: string;
  /** The code sealed to the cloud's X25519 key; cleared once nothing can need it any more. */
  sealed: string | null;
  status: OutboxStatus;
  /** Sends tried so far (a crash-retried send counts again). */
  attempts: number;
  maxAttempts: number;
  nextAttemptAt: number;
  /** Not sent before this time (the hold after a contact change). */
  notBefore: number;
  /** `prefs`: fails over along the recipient's preferences; `only`: this channel only. */
  chain: 'prefs' | 'only';
  providerId: string | null;
  /** The provider's last answer, never a body. */
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  claimedAt: number | null;
  /** When the provider took it (accepted or delivered). */
  sentAt: number | null;
  deliveredAt: number | null;
  /** When the next channel was started from this row. */
  failoverAt: number | null;
  /** Facts rendered into the message, fixed at enqueue so a retried send has the same body. */
  compartment: number | null;
  expiresAt: number | null;
}

/** One line of a row's history (what support's timeline shows). Never a code or a full contact. */
export interface OutboxEvent {
  rowId: string;
  at: number;
  event: string;
  detail: string | null;
}

const COLUMNS = `id, kind, parcel_id, bank_id, code_id, channel, destination, destination_masked, sealed, status, attempts,
  max_attempts, next_attempt_at, not_before, chain, provider_id, last_error, created_at, updated_at, claimed_at, sent_at,
  delivered_at, failover_at, compartment, expires_at`;

type Raw = Record<string, unknown>;

function fromRaw(r: Raw): OutboxRow {
  return {
    id: r.id as string,
    kind: r.kind as OutboxKind,
    parcelId: r.parcel_id as string,
    bankId: r.bank_id as string,
    codeId: r.code_id as string | null,
    channel: r.channel as ChannelName,
    destination: r.destination as string,
    destinationMasked: r.destination_masked as string,
    sealed: r.sealed as string | null,
    status: r.status as OutboxStatus,
    attempts: r.attempts as number,
    maxAttempts: r.max_attempts as number,
    nextAttemptAt: r.next_attempt_at as number,
    notBefore: r.not_before as number,
    chain: r.chain as 'prefs' | 'only',
    providerId: r.provider_id as string | null,
    lastError: r.last_error as string | null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    claimedAt: r.claimed_at as number | null,
    sentAt: r.sent_at as number | null,
    deliveredAt: r.delivered_at as number | null,
    failoverAt: r.failover_at as number | null,
    compartment: r.compartment as number | null,
    expiresAt: r.expires_at as number | null,
  };
}

/** Fields a caller may change on a row (the rest is fixed at insert). */
export type RowPatch = Partial<Pick<OutboxRow, 'status' | 'nextAttemptAt' | 'providerId' | 'lastError' | 'sentAt' | 'deliveredAt' | 'failoverAt' | 'sealed'>>;

const PATCH_COLUMNS: Record<keyof RowPatch, string> = {
  status: 'status',
  nextAttemptAt: 'next_attempt_at',
  providerId: 'provider_id',
  lastError: 'last_error',
  sentAt: 'sent_at',
  deliveredAt: 'delivered_at',
  failoverAt: 'failover_at',
  sealed: 'sealed',
};

/**
 * The notification outbox's tables, in the cloud database (the same handle as the cloud
 * store, so a row commits in the transaction of the fact that needs it). Plain data access:
 * the rules live in `Outbox` and `OutboxWorker`.
 */
export class OutboxStore {
  private readonly stmts;
  private readonly updates = new Map<string, SqlStatement>();

  /**
   * @param node this process's name among the cloud nodes sharing the database: rows it claims
   *   carry it, so a restart re-queues only its own interrupted sends (`unclaimAll`) and the
   *   others re-queue a dead node's after a lease (`reclaimExpired`).
   */
  constructor(
    readonly db: SqlDb,
    readonly node = 'local',
  ) {
    migrate(db, () => OutboxStore.migrate(db));
    const pg = dialectOf(db) === 'postgres';
    this.stmts = {
      insert: db.prepare(`INSERT INTO notify_outbox (${COLUMNS}, dedupe_key) VALUES (@id, @kind, @parcelId, @bankId, @codeId,
        @channel, @destination, @destinationMasked, @sealed, @status, @attempts, @maxAttempts, @nextAttemptAt, @notBefore, @chain,
        @providerId, @lastError, @createdAt, @updatedAt, @claimedAt, @sentAt, @deliveredAt, @failoverAt, @compartment, @expiresAt, @dedupeKey)
        ON CONFLICT DO NOTHING`),
      byDedupe: db.prepare(`SELECT ${COLUMNS} FROM notify_outbox WHERE dedupe_key = ?`),
      get: db.prepare(`SELECT ${COLUMNS} FROM notify_outbox WHERE id = ?`),
      byProvider: db.prepare(`SELECT ${COLUMNS} FROM notify_outbox WHERE channel = ? AND (provider_id = ? OR id = ?) LIMIT 1`),
      byParcel: db.prepare(`SELECT ${COLUMNS} FROM notify_outbox WHERE parcel_id = ? ORDER BY created_at, rowid`),
      byCode: db.prepare(`SELECT ${COLUMNS} FROM notify_outbox WHERE code_id = ? ORDER BY created_at, rowid`),
      // Several cloud nodes on one PostgreSQL: each claims rows no other transaction holds, so
      // a message is claimed — and sent — once. (SQLite has one writer: no locking clause.)
      due: db.prepare(`SELECT id FROM notify_outbox WHERE status = 'pending' AND next_attempt_at <= @now AND not_before <= @now
        ORDER BY next_attempt_at, created_at LIMIT @limit${pg ? ' FOR UPDATE SKIP LOCKED' : ''}`),
      claim: db.prepare(`UPDATE notify_outbox SET status = 'sending', attempts = attempts + 1, claimed_at = @now, claimed_by = @node, updated_at = @now
        WHERE id = @id AND status = 'pending'`),
      unclaimAll: db.prepare(`UPDATE notify_outbox SET status = 'pending', next_attempt_at = @now, updated_at = @now
        WHERE status = 'sending' AND (claimed_by = @node OR claimed_by IS NULL)`),
      reclaim: db.prepare(`UPDATE notify_outbox SET status = 'pending', next_attempt_at = @now, updated_at = @now
        WHERE status = 'sending' AND claimed_by <> @node AND claimed_at <= @before RETURNING id, claimed_by`),
      stuck: db.prepare(`SELECT ${COLUMNS} FROM notify_outbox WHERE status = 'sending' AND claimed_at <= ?`),
      awaitingReceipt: db.prepare(`SELECT ${COLUMNS} FROM notify_outbox WHERE status = 'accepted' AND failover_at IS NULL AND sent_at <= ?`),
      counts: db.prepare(`SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM notify_outbox GROUP BY status`),
      nextDue: db.prepare(`SELECT MIN(${pg ? 'GREATEST' : 'MAX'}(next_attempt_at, not_before)) AS t FROM notify_outbox WHERE status = 'pending'`),
      event: db.prepare('INSERT INTO notify_outbox_events (row_id, at, event, detail) VALUES (?, ?, ?, ?)'),
      events: db.prepare(`SELECT e.row_id, e.at, e.event, e.detail FROM notify_outbox_events e JOIN notify_outbox o ON o.id = e.row_id
        WHERE o.parcel_id = ? ORDER BY e.at, e.seq`),
    };
  }

  /** Create the tables (idempotent). */
  static migrate(db: SqlDb): void {
    db.exec(`CREATE TABLE IF NOT EXISTS notify_outbox (
      id TEXT PRIMARY KEY,
      dedupe_key TEXT NOT NULL UNIQUE,
      kind TEXT NOT NULL CHECK (kind IN ('code', 'alert')),
      parcel_id TEXT NOT NULL,
      bank_id TEXT NOT NULL,
      code_id TEXT,
      channel TEXT NOT NULL,
      destination TEXT NOT NULL,
      destination_masked TEXT NOT NULL,
      sealed TEXT,
      status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      max_attempts INTEGER NOT NULL,
      next_attempt_at INTEGER NOT NULL,
      not_before INTEGER NOT NULL DEFAULT 0,
      chain TEXT NOT NULL DEFAULT 'prefs',
      provider_id TEXT,
      last_error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      claimed_at INTEGER,
      sent_at INTEGER,
      delivered_at INTEGER,
      failover_at INTEGER,
      compartment INTEGER,
      expires_at INTEGER,
      claimed_by TEXT${dialectOf(db) === 'postgres' ? ',\n      rowid BIGSERIAL -- insertion order, like the rowid of SQLite' : ''}
    );
    CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (status, next_attempt_at);
    ${addColumnIfMissing(db, 'notify_outbox', 'claimed_by', 'TEXT')}
    CREATE INDEX IF NOT EXISTS notify_outbox_parcel ON notify_outbox (parcel_id);
    CREATE INDEX IF NOT EXISTS notify_outbox_code ON notify_outbox (code_id);
    CREATE INDEX IF NOT EXISTS notify_outbox_provider ON notify_outbox (channel, provider_id);
    CREATE TABLE IF NOT EXISTS notify_outbox_events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      row_id TEXT NOT NULL,
      at INTEGER NOT NULL,
      event TEXT NOT NULL,
      detail TEXT
    );
    CREATE INDEX IF NOT EXISTS notify_outbox_events_row ON notify_outbox_events (row_id);`);
  }

  /** Run `fn` in a transaction (joins the caller's, e.g. the sync commit of a document). */
  transaction<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  /** Insert unless a row with the same `dedupeKey` exists; returns the row that is there. */
  insert(row: OutboxRow, dedupeKey: string): { row: OutboxRow; created: boolean } {
    const created = this.stmts.insert.run({ ...row, dedupeKey }).changes === 1;
    if (created) this.event(row.id, row.createdAt, 'queued', `${row.channel} to ${row.destinationMasked}`);
    return { row: created ? row : fromRaw(this.stmts.byDedupe.get(dedupeKey) as Raw), created };
  }

  get(id: string): OutboxRow | undefined {
    const r = this.stmts.get.get(id) as Raw | undefined;
    return r && fromRaw(r);
  }

  /** The row a provider id belongs to (e-mail uses the row id itself as provider id). */
  byProvider(channel: ChannelName, providerId: string): OutboxRow | undefined {
    const r = this.stmts.byProvider.get(channel, providerId, providerId) as Raw | undefined;
    return r && fromRaw(r);
  }

  forParcel(parcelId: string): OutboxRow[] {
    return (this.stmts.byParcel.all(parcelId) as Raw[]).map(fromRaw);
  }

  forCode(codeId: string): OutboxRow[] {
    return (this.stmts.byCode.all(codeId) as Raw[]).map(fromRaw);
  }

  /** Atomically move up to `limit` due rows from `pending` to `sending`; returns them. */
  claimDue(now: number, limit: number): OutboxRow[] {
    return this.transaction(() => {
      const ids = (this.stmts.due.all({ now, limit }) as { id: string }[]).map((r) => r.id);
      const out: OutboxRow[] = [];
      for (const id of ids) if (this.stmts.claim.run({ id, now, node: this.node }).changes === 1) out.push(this.get(id)!);
      return out;
    });
  }

  /** After a crash: every `sending` row goes back to `pending`, due now, with the SAME id. */
  unclaimAll(now: number): number {
    return this.stmts.unclaimAll.run({ now, node: this.node }).changes;
  }

  /**
   * Rows another node claimed at or before `before` and never finished (that node died
   * mid-send) go back to `pending`, due now, with the same id — the provider's idempotency key.
   */
  reclaimExpired(now: number, before: number): { id: string; claimedBy: string }[] {
    return (this.stmts.reclaim.all({ now, before, node: this.node }) as { id: string; claimed_by: string }[]).map((r) => ({ id: r.id, claimedBy: r.claimed_by }));
  }

  /** Rows claimed at or before `before` and still `sending`. */
  stuck(before: number): OutboxRow[] {
    return (this.stmts.stuck.all(before) as Raw[]).map(fromRaw);
  }

  /** Accepted rows with no receipt since `sentBefore` and no failover yet. */
  awaitingReceipt(sentBefore: number): OutboxRow[] {
    return (this.stmts.awaitingReceipt.all(sentBefore) as Raw[]).map(fromRaw);
  }

  update(id: string, patch: RowPatch, now: number): void {
    const keys = (Object.keys(patch) as (keyof RowPatch)[]).filter((k) => patch[k] !== undefined).sort();
    if (keys.length === 0) return;
    const sig = keys.join(',');
    let stmt = this.updates.get(sig);
    if (!stmt) {
      const sets = keys.map((k) => `${PATCH_COLUMNS[k]} = @${k}`).join(', ');
      stmt = this.db.prepare(`UPDATE notify_outbox SET ${sets}, updated_at = @now WHERE id = @id`);
      this.updates.set(sig, stmt);
    }
    stmt.run({ ...Object.fromEntries(keys.map((k) => [k, patch[k]])), id, now });
  }

  event(rowId: string, at: number, event: string, detail?: string): void {
    this.stmts.event.run(rowId, at, event, detail ?? null);
  }

  eventsForParcel(parcelId: string): OutboxEvent[] {
    return (this.stmts.events.all(parcelId) as Raw[]).map((r) => ({ rowId: r.row_id as string, at: r.at as number, event: r.event as string, detail: r.detail as string | null }));
  }

  /** Rows per status, and the oldest of each. */
  counts(): Record<string, { n: number; oldest: number }> {
    const out: Record<string, { n: number; oldest: number }> = {};
    for (const r of this.stmts.counts.all() as { status: string; n: number; oldest: number }[]) out[r.status] = { n: r.n, oldest: r.oldest };
    return out;
  }

  /** The earliest time a pending row becomes due, if any. */
  nextDueAt(): number | null {
    return (this.stmts.nextDue.get() as { t: number | null }).t;
  }
}
