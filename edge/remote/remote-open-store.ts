import type Database from 'better-sqlite3';

/**
 * The hub's durable memory of remote opens, in its own SQLite file (the hub store's handle):
 *
 * - `remote_nonces`: every nonce of a correctly signed command for this bank, written and
 *   committed (synchronous=FULL) before the door can move. A nonce is never accepted twice.
 * - `remote_open_attempts`: every open the hub let through to the door, for the sliding
 *   window rate limits; written before the door moves too, so a crash still counts.
 *
 * Tables are created if missing; both are pruned of rows older than the configured
 * retention, so they stay small.
 */
export class RemoteOpenStore {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS remote_nonces (
        nonce TEXT PRIMARY KEY,
        compartment INTEGER NOT NULL,
        requested_by TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        outcome TEXT
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS remote_open_attempts (
        id INTEGER PRIMARY KEY,
        nonce TEXT NOT NULL,
        compartment INTEGER NOT NULL,
        at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS remote_open_attempts_at ON remote_open_attempts (at);
    `);
    this.s = {
      insertNonce: db.prepare(
        `INSERT INTO remote_nonces (nonce, compartment, requested_by, received_at, expires_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (nonce) DO NOTHING`,
      ),
      setOutcome: db.prepare('UPDATE remote_nonces SET outcome = ? WHERE nonce = ?'),
      countBank: db.prepare('SELECT COUNT(*) AS n FROM remote_open_attempts WHERE at > ?'),
      countCompartment: db.prepare('SELECT COUNT(*) AS n FROM remote_open_attempts WHERE compartment = ? AND at > ?'),
      oldestN: db.prepare('SELECT at FROM remote_open_attempts WHERE at > ? ORDER BY at LIMIT 1 OFFSET ?'),
      oldestNCompartment: db.prepare(
        'SELECT at FROM remote_open_attempts WHERE compartment = ? AND at > ? ORDER BY at LIMIT 1 OFFSET ?',
      ),
      insertAttempt: db.prepare('INSERT INTO remote_open_attempts (nonce, compartment, at) VALUES (?, ?, ?)'),
      pruneNonces: db.prepare('DELETE FROM remote_nonces WHERE expires_at < ?'),
      pruneAttempts: db.prepare('DELETE FROM remote_open_attempts WHERE at < ?'),
    };
  }

  /**
   * Record `nonce` as used, in its own transaction committed with synchronous=FULL (raised
   * for this commit if the connection runs lower). False if it was already there: a replay.
   * Must not be called inside another transaction, whose rollback would forget the nonce.
   */
  claimNonce(n: { nonce: string; compartment: number; requestedBy: string; now: number; expiresAt: number }): boolean {
    if (this.db.inTransaction) throw new Error('claimNonce must commit on its own, not inside a transaction');
    return this.withFullSync(() => {
      const r = this.s.insertNonce.run(n.nonce, n.compartment, n.requestedBy, n.now, n.expiresAt);
      return r.changes === 1;
    });
  }

  /** Note what became of a claimed nonce (`opened`, `rate_limited`, `door_failed`…), for support. */
  setOutcome(nonce: string, outcome: string): void {
    this.s.setOutcome.run(outcome, nonce);
  }

  /**
   * Check both sliding windows and, if there is room, record the attempt (durably) in the
   * same immediate transaction. Returns when the next slot frees up otherwise.
   */
  tryTakeSlot(a: {
    nonce: string;
    compartment: number;
    now: number;
    perBank: { max: number; windowMs: number };
    perCompartment: { max: number; windowMs: number };
  }): { ok: true } | { ok: false; scope: 'bank' | 'compartment'; retryAt: number } {
    return this.withFullSync(() =>
      this.db
        .transaction(() => {
          const bank = this.s.countBank.get(a.now - a.perBank.windowMs) as { n: number };
          if (bank.n >= a.perBank.max) {
            return { ok: false as const, scope: 'bank' as const, retryAt: this.retryAt(a.now, a.perBank, bank.n) };
          }
          const since = a.now - a.perCompartment.windowMs;
          const comp = this.s.countCompartment.get(a.compartment, since) as { n: number };
          if (comp.n >= a.perCompartment.max) {
            const row = this.s.oldestNCompartment.get(a.compartment, since, comp.n - a.perCompartment.max) as
              | { at: number }
              | undefined;
            return {
              ok: false as const,
              scope: 'compartment' as const,
              retryAt: (row?.at ?? a.now) + a.perCompartment.windowMs,
            };
          }
          this.s.insertAttempt.run(a.nonce, a.compartment, a.now);
          return { ok: true as const };
        })
        .immediate(),
    );
  }

  /** Drop nonces expired before `nonceCutoff` and attempts older than `attemptCutoff`. */
  prune(nonceCutoff: number, attemptCutoff: number): void {
    this.s.pruneNonces.run(nonceCutoff);
    this.s.pruneAttempts.run(attemptCutoff);
  }

  /** The window frees a slot when enough of the oldest attempts in it have aged out. */
  private retryAt(now: number, w: { max: number; windowMs: number }, count: number): number {
    const row = this.s.oldestN.get(now - w.windowMs, count - w.max) as { at: number } | undefined;
    return (row?.at ?? now) + w.windowMs;
  }

  private withFullSync<T>(fn: () => T): T {
    const level = this.db.pragma('synchronous', { simple: true }) as number;
    if (level >= 2) return fn(); // FULL (2) or EXTRA (3)
    this.db.pragma('synchronous = FULL');
    try {
      return fn();
    } finally {
      this.db.pragma(`synchronous = ${level}`);
    }
  }
}
