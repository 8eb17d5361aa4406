import type { SqlDb } from '../adapters/sql/sql-db.js';
import { BankDocStorage } from '../adapters/sqlite/bank-doc-storage.js';
import { AuditLog } from '../shared/ledger/audit-log.js';
import { BankConfigAuthor } from '../shared/ledger/bank-config.js';
import { BankState } from '../shared/ledger/bank-state.js';
import { DocSet } from '../shared/ledger/doc-set.js';
import type { ParcelDoc } from '../shared/ledger/parcel-doc.js';
import { PARCEL_PREFIX, ParcelLedger } from '../shared/ledger/parcel-ledger.js';
import { randomId, type Clock, type Random } from '../shared/ports.js';
import { ObservedDocStorage } from '../shared/sync/change-feed.js';
import { SyncOutbox } from '../shared/sync/sync-outbox.js';
import type { SyncStateStore } from '../shared/sync/sync-state-store.js';

/** The cloud's replica of one bank's documents. */
export interface BankReplica {
  bankId: string;
  /** Reports every document written (the sync session of the bank listens). */
  storage: ObservedDocStorage;
  docs: DocSet;
  ledger: ParcelLedger;
  audit: AuditLog;
  config: BankConfigAuthor;
  bankState: BankState;
  /** What the bank's hub lacks, encoded as it changes while the hub is away (with `syncStates`). */
  outbox?: SyncOutbox;
}

/**
 * What a replica's outbox may hold for its hub. The cloud's side of a bank's 72 hours offline
 * with 5,000 events (the sync benchmark: 1,751 documents) is 0.55 MiB; a cloud keeps up to
 * `capacity` idle replicas loaded, so this bounds their outboxes together (64 × 4 MiB).
 * Beyond it the reconnection encodes the rest itself, as without an outbox.
 */
const OUTBOX_BYTES_PER_BANK = 4 * 1024 * 1024;

/** The bank's hub, as a peer in the cloud's sync-state store. */
export const hubPeer = (bankId: string): string => `hub:${bankId}`;

export interface BankReplicasOptions {
  db: SqlDb;
  clock: Clock;
  random: Random;
  /** Banks kept loaded when idle (least recently used are evicted). Default 64. */
  capacity?: number;
  /**
   * Other processes write the same database (several cloud nodes): `current()` reads the
   * documents a request acts on from the database first, since the notification of another
   * node's write may not have arrived yet.
   */
  shared?: boolean;
  /**
   * The cloud's sync states (`CloudStore.syncStates`): each replica then keeps an outbox for its
   * hub (`SyncOutbox`), so a hub coming back after an outage gets its first frames at once.
   */
  syncStates?: SyncStateStore;
}

/**
 * One `DocSet` + `ParcelLedger` + `AuditLog` per bank, loaded lazily from the bank's rows of
 * the cloud database and evicted when idle (LRU), so memory follows the banks in use, not
 * the banks that exist. A bank with a connected hub is pinned and never evicted.
 *
 * All replicas of this process write as one Automerge actor, fresh per process: no sequence
 * number of a change lost in a crash can ever be reused.
 */
export class BankReplicas {
  private readonly lru = new Map<string, BankReplica>();
  private readonly pins = new Map<string, number>();
  /** Documents another node wrote, of loaded banks nobody here syncs: merged when next used. */
  private readonly stale = new Map<string, Set<string>>();
  private readonly actor: string;
  private readonly capacity: number;

  constructor(private readonly opts: BankReplicasOptions) {
    this.actor = randomId(opts.random, 16);
    this.capacity = opts.capacity ?? 64;
  }

  /** The replica of `bankId`, loaded if needed, with every write another node announced merged. */
  get(bankId: string): BankReplica {
    const r = this.touch(bankId);
    const stale = this.stale.get(bankId);
    if (stale) {
      this.stale.delete(bankId);
      for (const docId of stale) this.merge(r, docId);
    }
    return r;
  }

  /** Keep `bankId` loaded until `release()` (a sync session does, while connected). */
  pin(bankId: string): { replica: BankReplica; release(): void } {
    // Pinned BEFORE it is loaded: with every cached bank pinned, loading it would otherwise
    // evict it at once, and the session would hold a replica the API no longer uses (its
    // changes — a revocation — would never be pushed to the hub).
    this.pins.set(bankId, (this.pins.get(bankId) ?? 0) + 1);
    const replica = this.get(bankId);
    let released = false;
    return {
      replica,
      release: () => {
        if (released) return;
        released = true;
        const n = (this.pins.get(bankId) ?? 1) - 1;
        if (n <= 0) this.pins.delete(bankId);
        else this.pins.set(bankId, n);
        this.evict();
      },
    };
  }

  /**
   * For a request about documents `docIds` only (a parcel): the replica of `bankId` with those
   * as the database holds them now — a write another node committed a moment ago is in, its
   * notification may still be on the way. The bank's other documents may lag behind what other
   * nodes wrote (they are merged by the next `get`); reading and changing these ones is safe,
   * and a change to a lagging document merges with the other nodes' (CRDT, chunks kept).
   * One node alone: `get`.
   */
  current(bankId: string, docIds: readonly string[]): BankReplica {
    if (!this.opts.shared) return this.get(bankId);
    const r = this.touch(bankId);
    const stale = this.stale.get(bankId);
    for (const docId of docIds) {
      stale?.delete(docId);
      this.merge(r, docId);
    }
    return r;
  }

  /** The replica of `bankId`, loaded if needed, as most recently used. */
  private touch(bankId: string): BankReplica {
    let r = this.lru.get(bankId);
    if (r) {
      this.lru.delete(bankId);
      this.lru.set(bankId, r);
      return r;
    }
    r = this.load(bankId);
    this.lru.set(bankId, r);
    this.evict();
    return r;
  }

  /**
   * Another cloud node wrote document `docId` of `bankId` (PostgreSQL NOTIFY). A bank pinned
   * here (its hub syncs with this node) merges the stored version at once and announces it, so
   * the hub gets it; a bank only loaded (for the API) merges it when next used, so a node does
   * not read every document the others write; a bank not loaded is read fresh when next needed.
   * Returns whether the replica changed now.
   */
  refresh(bankId: string, docId: string): boolean {
    const r = this.lru.get(bankId);
    if (!r) return false;
    if (!this.pins.has(bankId)) {
      let s = this.stale.get(bankId);
      if (!s) this.stale.set(bankId, (s = new Set()));
      s.add(docId);
      return false;
    }
    return this.merge(r, docId);
  }

  /** Ids of the banks in memory, least recently used first. */
  loaded(): string[] {
    return [...this.lru.keys()];
  }

  /** Merge the stored version of `docId` into `r`; announce it when it changed. */
  private merge(r: BankReplica, docId: string): boolean {
    const doc = r.docs.refresh<ParcelDoc>(docId);
    if (!doc) return false;
    if (docId.startsWith(PARCEL_PREFIX)) r.ledger.receive(docId, doc);
    r.storage.announce(docId);
    return true;
  }

  private load(bankId: string): BankReplica {
    const { clock, random, db } = this.opts;
    const storage = new ObservedDocStorage(new BankDocStorage(db, bankId));
    const docs = new DocSet(storage, this.actor);
    return {
      bankId,
      storage,
      docs,
      ledger: new ParcelLedger({ bankId, docs, clock, random }),
      audit: new AuditLog(bankId, docs, clock, random),
      config: new BankConfigAuthor(docs),
      bankState: new BankState(bankId, docs, clock, random),
      ...(this.opts.syncStates ? { outbox: new SyncOutbox({ docs, feed: storage, store: this.opts.syncStates, peer: hubPeer(bankId), maxBytes: OUTBOX_BYTES_PER_BANK }) } : {}),
    };
  }

  /** Keep at most `capacity` idle replicas, besides the pinned ones. */
  private evict(): void {
    let idle = 0;
    for (const id of this.lru.keys()) if (!this.pins.has(id)) idle++;
    for (const id of this.lru.keys()) {
      if (idle <= this.capacity) return;
      if (!this.pins.has(id)) {
        this.lru.delete(id);
        this.stale.delete(id);
        idle--;
      }
    }
  }
}
