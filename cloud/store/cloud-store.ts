import { BankDocStorage } from '../../adapters/sqlite/bank-doc-storage.js';
import { openDatabase } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { SqliteSyncStateStore } from '../../adapters/sqlite/sync-state-store.js';
import { PgSyncDb } from '../../adapters/postgres/pg-sync-db.js';
import { migrate, type SqlDb } from '../../adapters/sql/sql-db.js';
import { BankDirectory } from './bank-directory.js';
import { CredentialStore, type CredentialStoreOptions } from './credential-store.js';
import { KeyStore } from './key-store.js';
import { ParcelRegistry } from './parcel-registry.js';

/** Everything the cloud keeps, in one database: a SQLite file, or PostgreSQL. */
export interface CloudStore {
  db: SqlDb;
  /** This process's name among the cloud nodes sharing the database ('local' alone). */
  node: string;
  credentials: CredentialStore;
  keys: KeyStore;
  parcels: ParcelRegistry;
  banks: BankDirectory;
  /** Sync states of every hub (peer `hub:<bankId>`). */
  syncStates: SqliteSyncStateStore;
  close(): void;
}

export interface CloudStoreOptions extends CredentialStoreOptions {
  /** Name of this cloud node (several nodes share one PostgreSQL). Default 'local'. */
  node?: string;
}

/** PostgreSQL channel on which every committed document chunk is announced (see BankDocStorage). */
export const DOC_CHANNEL = 'cubby_docs';

/** True when `location` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location);
}

/**
 * Open (or create) the cloud database: `location` is a SQLite file path (the default, one
 * node) or a `postgres://` URL (`CUBBY_DATABASE_URL`, several nodes).
 *
 * Durability. SQLite runs with `synchronous=FULL`: every commit is fsynced before it returns.
 * PostgreSQL is used with its defaults (`fsync=on`, `synchronous_commit=on`), which mean the
 * same. The cloud acknowledges facts others act on — a 201 to a carrier, a revocation to
 * support, and above all the sync state telling a hub "the cloud holds these changes", after
 * which the hub may prune them. Losing the last commits on power loss would lose those facts
 * for good, with every party believing they are safe.
 */
export function openCloudStore(location: string, opts: CloudStoreOptions = {}): CloudStore {
  const node = opts.node ?? 'local';
  const db: SqlDb = isPostgresUrl(location)
    ? new PgSyncDb(withApplicationName(location, node), { listen: [DOC_CHANNEL] })
    : openDatabase(location, { synchronous: 'FULL' });
  try {
    migrate(db, () => {
      BankDocStorage.migrate(db);
      CredentialStore.migrate(db);
      KeyStore.migrate(db);
      ParcelRegistry.migrate(db);
      BankDirectory.migrate(db);
    });
  } catch (err) {
    db.close();
    throw err;
  }
  return {
    db,
    node,
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

/** The node's name as PostgreSQL's `application_name`: the document trigger reports it, so a node skips its own writes. */
function withApplicationName(url: string, node: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', `cubby:${node}`);
  return u.toString();
}
