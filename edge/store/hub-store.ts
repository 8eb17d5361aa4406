import type Database from 'better-sqlite3';
import { openDatabase, SqliteDocStorage } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { AuditLog } from '../../shared/ledger/audit-log.js';
import { BankState } from '../../shared/ledger/bank-state.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { ObservedDocStorage } from '../../shared/sync/change-feed.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { randomId, type Clock, type Random } from '../../shared/ports.js';

/**
 * Everything a hub keeps on disk, in ONE SQLite file so a ledger fact and the hub's own
 * bookkeeping (pending deposits, throttle, nonces) commit in one transaction.
 *
 * Durability: WAL with `synchronous=FULL` — every commit is fsynced before it returns,
 * because a door opens only after the ledger durably says so.
 */
export interface HubStore {
  db: Database.Database;
  storage: SqliteDocStorage;
  /** The same storage, reporting every written document (the sync client pushes on it). */
  feed: ObservedDocStorage;
  docs: DocSet;
  ledger: ParcelLedger;
  audit: AuditLog;
  bankState: BankState;
  close(): void;
}

export interface HubStoreOptions {
  file: string;
  bankId: string;
  clock: Clock;
  random: Random;
  codeTtlMs?: number;
}

export function openHubStore(opts: HubStoreOptions): HubStore {
  const db = openDatabase(opts.file, { synchronous: 'FULL' });
  const storage = new SqliteDocStorage(db);
  const feed = new ObservedDocStorage(storage);
  // A fresh Automerge actor per start: no risk of reusing a sequence number whose change was lost.
  const docs = new DocSet(feed, randomId(opts.random, 16));
  const ledger = new ParcelLedger({ bankId: opts.bankId, docs, clock: opts.clock, random: opts.random, codeTtlMs: opts.codeTtlMs });
  const audit = new AuditLog(opts.bankId, docs, opts.clock, opts.random);
  const bankState = new BankState(opts.bankId, docs, opts.clock, opts.random);
  return {
    db,
    storage,
    feed,
    docs,
    ledger,
    audit,
    bankState,
    close: () => {
      if (db.open) db.close();
    },
  };
}
