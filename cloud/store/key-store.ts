import type { SqlDb } from '../../adapters/sql/sql-db.js';
import type { Random } from '../../shared/ports.js';

/**
 * The cloud's key store: named secrets, today each bank's **pepper** (the argon2 `secret`
 * that keys pickup-code hashes, so a leaked ledger or database cannot be brute-forced
 * offline — DESIGN.md "Pickup codes").
 *
 * In production this is a KMS (or an HSM-backed secret manager) and the cloud asks it for a
 * bank's pepper when it issues a code. Here it is a table of the cloud database, kept apart
 * from the ledger tables so its values can be encrypted at rest with a key-encryption key
 * held outside the database; they are stored in clear for now.
 */
export class KeyStore {
  private readonly stmts;

  constructor(readonly db: SqlDb) {
    this.stmts = {
      get: db.prepare('SELECT value FROM key_store WHERE name = ?'),
      put: db.prepare('INSERT INTO key_store (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
    };
  }

  static migrate(db: SqlDb): void {
    db.exec('CREATE TABLE IF NOT EXISTS key_store (name TEXT PRIMARY KEY, value BLOB NOT NULL)');
  }

  get(name: string): Uint8Array | undefined {
    const row = this.stmts.get.get(name) as { value: Buffer } | undefined;
    return row ? new Uint8Array(row.value) : undefined;
  }

  /** Store `value` under `name` unless a value is there already (keys are never overwritten). */
  putOnce(name: string, value: Uint8Array): Uint8Array {
    this.stmts.put.run(name, Buffer.from(value));
    return this.get(name)!;
  }

  /** The bank's 32-byte pepper, created on first use. */
  pepper(bankId: string, random: Random): Uint8Array {
    return this.get(`pepper:${bankId}`) ?? this.putOnce(`pepper:${bankId}`, random.bytes(32));
  }
}
