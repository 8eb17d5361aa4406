import type Database from 'better-sqlite3';
import { BankDocStorage } from '../../adapters/sqlite/bank-doc-storage.js';
import { openDatabase } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { SqliteSyncStateStore } from '../../adapters/sqlite/sync-state-store.js';
import { BankDirectory } from './bank-directory.js';
import { CredentialStore, type CredentialStoreOptions } from './credential-store.js';
import { KeyStore } from './key-store.js';
import { ParcelRegistry } from './parcel-registry.js';

/** Everything the cloud keeps, in one SQLite database. */
export interface CloudStore {
  db: Database.Database;
  credentials: CredentialStore;
  keys: KeyStore;
  parcels: ParcelRegistry;
  banks: BankDirectory;
  /** Sync states of every hub (peer `hub:<bankId>`). */
  syncStates: SqliteSyncStateStore;
  close(): void;
}

/**
 * Open (or create) the cloud database.
 *
 * `synchronous=FULL`: every commit is fsynced before it returns. The cloud acknowledges
 * facts others act on — a 201 to a carrier, a revocation to support, and above all the
 * sync state telling a hub "the cloud holds these changes", after which the hub may prune
 * them. Losing the last commits on power loss (what `NORMAL` allows in WAL mode) would lose
 * those facts for good, with every party believing they are safe.
 */
export function openCloudStore(file: string, opts: CredentialStoreOptions = {}): CloudStore {
  const db = openDatabase(file, { synchronous: 'FULL' });
  db.transaction(() => {
    BankDocStorage.migrate(db);
    CredentialStore.migrate(db);
    KeyStore.migrate(db);
    ParcelRegistry.migrate(db);
    BankDirectory.migrate(db);
  })();
  return {
    db,
    credentials: new CredentialStore(db, opts),
    keys: new KeyStore(db),
    parcels: new ParcelRegistry(db),
    banks: new BankDirectory(db),
    syncStates: new SqliteSyncStateStore(db),
    close: () => {
      if (db.open) db.close();
    },
  };
}
