import type Database from 'better-sqlite3';
import { quickCheck } from '../../adapters/sqlite/sqlite-integrity.js';
import { openDatabase, SqliteDocStorage } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { AuditLog } from '../../shared/ledger/audit-log.js';
import { BankState } from '../../shared/ledger/bank-state.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { ObservedDocStorage } from '../../shared/sync/change-feed.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { randomId, type Clock, type Random } from '../../shared/ports.js';
import { corruptionOf, StoreCorrupted, StoreHealth } from './store-health.js';

/**
 * Everything a hub keeps on disk, in ONE SQLite file so a ledger fact and the hub's own
 * bookkeeping (pending deposits, throttle, nonces) commit in one transaction.
 *
 * Durability: WAL with `synchronous=FULL` — every commit is fsynced before it returns,
 * because a door opens only after the ledger durably says so.
 *
 * Damage: opening checks the file (`PRAGMA quick_check`) and loads every document; a damaged
 * file throws {@link StoreCorrupted} instead of serving from a store that may be wrong. Damage
 * seen later (a SQLite `CORRUPT` error on a request, a failed periodic check) is recorded in
 * `health`, and the hub answers 503 `store_corrupted` from then on.
 */
export interface HubStore {
  /** The SQLite file. */
  file: string;
  db: Database.Database;
  storage: SqliteDocStorage;
  /** The same storage, reporting every written document (the sync client pushes on it). */
  feed: ObservedDocStorage;
  docs: DocSet;
  ledger: ParcelLedger;
  audit: AuditLog;
  bankState: BankState;
  /** Damage seen since the store was opened. */
  health: StoreHealth;
  close(): void;
}

export interface HubStoreOptions {
  file: string;
  bankId: string;
  clock: Clock;
  random: Random;
  codeTtlMs?: number;
  /** Run `PRAGMA quick_check` before loading. Default true. */
  checkIntegrity?: boolean;
}

/** Open the hub's store; throws {@link StoreCorrupted} when the file or a document in it is damaged. */
export function openHubStore(opts: HubStoreOptions): HubStore {
  let db: Database.Database | undefined;
  try {
    db = openDatabase(opts.file, { synchronous: 'FULL' });
    const damage = opts.checkIntegrity === false ? undefined : quickCheck(db);
    if (damage) throw new StoreCorrupted(`SQLite quick_check: ${damage}`);
    return build(db, opts);
  } catch (err) {
    if (db?.open) db.close();
    const sqlite = corruptionOf(err);
    if (sqlite) throw sqlite;
    // Past the SQLite checks, an error that is not SQLite's is a document that does not load.
    const sqliteCode = String((err as { code?: unknown }).code ?? '').startsWith('SQLITE_');
    if (db && !sqliteCode) throw new StoreCorrupted(`a stored document does not load: ${(err as Error).message}`.slice(0, 300));
    throw err;
  }
}

function build(db: Database.Database, opts: HubStoreOptions): HubStore {
  const storage = new SqliteDocStorage(db);
  const feed = new ObservedDocStorage(storage);
  // A fresh Automerge actor per start: no risk of reusing a sequence number whose change was lost.
  const docs = new DocSet(feed, randomId(opts.random, 16));
  const ledger = new ParcelLedger({ bankId: opts.bankId, docs, clock: opts.clock, random: opts.random, codeTtlMs: opts.codeTtlMs });
  const audit = new AuditLog(opts.bankId, docs, opts.clock, opts.random);
  const bankState = new BankState(opts.bankId, docs, opts.clock, opts.random);
  return {
    file: opts.file,
    db,
    storage,
    feed,
    docs,
    ledger,
    audit,
    bankState,
    health: new StoreHealth(() => opts.clock.now()),
    close: () => {
      if (db.open) db.close();
    },
  };
}
