import { inTransaction } from '../../../adapters/sql/sql-db.js';
import { codeState, currentCompartment, liveCode, type ParcelDoc } from '../../../shared/ledger/parcel-doc.js';
import { str } from '../../../shared/ledger/str.js';
import type { Clock } from '../../../shared/ports.js';
import type { BankReplicas } from '../../bank-replicas.js';
import type { CloudNotifier, NotificationAttempt } from '../../ports.js';
import type { CloudStore } from '../../store/cloud-store.js';
import type { NotifyRecords } from './notify-records.js';
import type { Outbox } from './outbox.js';

/** What {@link OutboxNotifier} needs. */
export interface OutboxNotifierDeps {
  store: CloudStore;
  replicas: BankReplicas;
  outbox: Outbox;
  records: NotifyRecords;
  clock: Clock;
  /** The hold after a contact change also delays hub-issued codes, ms. */
  holdMs: number;
  /** Errors of the hooks (never thrown into the sync path). */
  log?: (msg: string) => void;
}

/**
 * The outbox's side of the cloud's `CloudNotifier` hooks.
 *
 * Hub-issued codes are queued by {@link parcelReceived}, which the sync server calls INSIDE
 * the SQLite transaction that commits the hub's document: the outbox row commits (or rolls
 * back) with the code. Queuing is idempotent per (code, channel), and two more paths catch
 * what that cannot — a parcel deposited before it was announced (no contact yet: queued on
 * the announcement) and anything a failed hook left behind (the start-up sweep).
 */
export class OutboxNotifier implements CloudNotifier {
  constructor(private readonly deps: OutboxNotifierDeps) {}

  /** Inside the sync transaction: queue the document's live hub-issued code if it has no row yet. */
  parcelReceived(e: { parcelId: string; bankId: string; doc: ParcelDoc }): void {
    this.guard(() => this.queueHubCode(e.bankId, e.doc));
  }

  parcelAnnounced(e: { parcelId: string; bankId: string }): void {
    this.guard(() => {
      const doc = this.deps.replicas.get(e.bankId).ledger.doc(e.parcelId);
      if (doc) this.transaction(() => this.queueHubCode(e.bankId, doc));
    });
  }

  /** After a commit: rows of codes that died (used, revoked, expired, replaced) are superseded. */
  parcelChanged(e: { parcelId: string; bankId: string; doc: ParcelDoc; source: 'hub' | 'cloud' }): void {
    this.guard(() => {
      const now = this.deps.clock.now();
      for (const code of Object.values(e.doc.codes)) {
        if (codeState(e.doc, code, now) !== 'active') this.deps.outbox.supersedeCode(str(code.codeId), `code ${codeState(e.doc, code, now)}`);
      }
    });
  }

  codeRevoked(e: { codeId: string; reason: string }): void {
    this.guard(() => this.deps.outbox.supersedeCode(e.codeId, `revoked: ${e.reason}`));
  }

  attempts(parcelId: string): NotificationAttempt[] {
    return this.deps.outbox.attempts(parcelId);
  }

  /** Queue the live hub-issued code of `doc`, once. Returns true when a row was queued now. */
  queueHubCode(bankId: string, doc: ParcelDoc): boolean {
    const { outbox, records, clock, holdMs } = this.deps;
    const now = clock.now();
    const live = liveCode(doc, now);
    if (!live || str(live.issuer) !== 'hub' || !live.sealed || outbox.hasRowsForCode(str(live.codeId))) return false;
    const changes = records.contactChanges(doc.parcelId);
    const lastChange = changes[changes.length - 1];
    const hold = lastChange && lastChange.at + holdMs > now ? lastChange.at + holdMs : undefined;
    const row = outbox.enqueueCode({
      parcelId: doc.parcelId,
      bankId,
      codeId: str(live.codeId),
      sealed: str(live.sealed),
      expiresAt: live.expiresAt,
      compartment: currentCompartment(doc),
      notBefore: hold,
    });
    return row !== undefined;
  }

  /**
   * Start-up sweep: queue every live hub-issued code that has no outbox row (a hook that
   * failed, documents that arrived before the outbox existed). Looks at the banks with
   * parcels seen within `windowMs`.
   */
  sweep(windowMs: number): number {
    const { store, replicas, clock } = this.deps;
    const since = clock.now() - windowMs;
    const banks = store.db
      .prepare('SELECT DISTINCT bank_id FROM parcels WHERE first_seen_at >= ? OR announced_at >= ?')
      .all(since, since) as { bank_id: string }[];
    let n = 0;
    for (const { bank_id: bankId } of banks) {
      const replica = replicas.get(bankId);
      for (const doc of [...replica.ledger.all()]) {
        this.guard(() => {
          if (this.transaction(() => this.queueHubCode(bankId, doc))) n++;
        });
      }
    }
    return n;
  }

  private transaction<T>(fn: () => T): T {
    return inTransaction(this.deps.store.db, fn);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.log?.(`outbox: notifier hook failed: ${(err as Error).message}`);
    }
  }
}
