import type { SqlDb } from '../../adapters/sql/sql-db.js';
import type { ParcelBankLookup } from '../sync/hub-authorizer.js';

/** Parcels per query of `banksOf`. */
const BANKS_OF_CHUNK = 200;

/** The cloud's index of every parcel: which bank, which carrier. */
export interface ParcelRecord {
  parcelId: string;
  bankId: string;
  /** The announcing carrier; null for a parcel a hub deposited before any announcement. */
  carrier: string | null;
  announcedAt: number | null;
  firstSeenAt: number;
}

/** How to reach the recipient. Cloud-only: never in a CRDT document, never sent to a hub. */
export interface Contact {
  name: string;
  phone?: string;
  email?: string;
  preferences: ('sms' | 'email' | 'push')[];
}

/**
 * The parcel registry (parcelId -> bank, carrier) and the recipients' contacts, both in the
 * cloud database only. The registry lets `GET /v1/parcels/:id` find any parcel without
 * loading every bank, and keeps a hub from claiming another bank's parcel.
 */
export class ParcelRegistry implements ParcelBankLookup {
  private readonly stmts;

  constructor(readonly db: SqlDb) {
    this.stmts = {
      get: db.prepare('SELECT parcel_id, bank_id, carrier, announced_at, first_seen_at FROM parcels WHERE parcel_id = ?'),
      banksOf: db.prepare(`SELECT parcel_id, bank_id FROM parcels WHERE parcel_id IN (${Array(BANKS_OF_CHUNK).fill('?').join(', ')})`),
      insert: db.prepare('INSERT INTO parcels (parcel_id, bank_id, carrier, announced_at, first_seen_at) VALUES (?, ?, ?, ?, ?)'),
      claim: db.prepare('UPDATE parcels SET carrier = ?, announced_at = ? WHERE parcel_id = ? AND carrier IS NULL'),
      contact: db.prepare('SELECT name, phone, email, preferences FROM contacts WHERE parcel_id = ?'),
      setContact: db.prepare(
        `INSERT INTO contacts (parcel_id, name, phone, email, preferences, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (parcel_id) DO UPDATE SET name = excluded.name, phone = excluded.phone, email = excluded.email,
           preferences = excluded.preferences, updated_at = excluded.updated_at`,
      ),
    };
  }

  static migrate(db: SqlDb): void {
    db.exec(`CREATE TABLE IF NOT EXISTS parcels (
      parcel_id TEXT PRIMARY KEY,
      bank_id TEXT NOT NULL,
      carrier TEXT,
      announced_at INTEGER,
      first_seen_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS parcels_by_bank ON parcels (bank_id);
    CREATE TABLE IF NOT EXISTS contacts (
      parcel_id TEXT PRIMARY KEY REFERENCES parcels (parcel_id),
      name TEXT NOT NULL,
      phone TEXT,
      email TEXT,
      preferences TEXT NOT NULL,
      updated_at INTEGER NOT NULL
    );`);
  }

  get(parcelId: string): ParcelRecord | undefined {
    const r = this.stmts.get.get(parcelId) as
      | { parcel_id: string; bank_id: string; carrier: string | null; announced_at: number | null; first_seen_at: number }
      | undefined;
    return r && { parcelId: r.parcel_id, bankId: r.bank_id, carrier: r.carrier, announcedAt: r.announced_at, firstSeenAt: r.first_seen_at };
  }

  bankOf(parcelId: string): string | undefined {
    return this.get(parcelId)?.bankId;
  }

  /**
   * The bank of each registered parcel among `parcelIds`, in a few queries instead of one per
   * parcel (a hub's resync brings thousands). Unregistered parcels are absent from the map.
   */
  banksOf(parcelIds: readonly string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (let i = 0; i < parcelIds.length; i += BANKS_OF_CHUNK) {
      const chunk = parcelIds.slice(i, i + BANKS_OF_CHUNK);
      // Always BANKS_OF_CHUNK parameters (one prepared statement); NULL matches nothing.
      const params = [...chunk, ...Array<null>(BANKS_OF_CHUNK - chunk.length).fill(null)];
      for (const r of this.stmts.banksOf.all(...params) as { parcel_id: string; bank_id: string }[]) out.set(r.parcel_id, r.bank_id);
    }
    return out;
  }

  /** A carrier announced the parcel. */
  announce(parcelId: string, bankId: string, carrier: string, at: number): void {
    this.stmts.insert.run(parcelId, bankId, carrier, at, at);
  }

  /** A carrier announces a parcel a hub deposited first (registered with no carrier). */
  claim(parcelId: string, carrier: string, at: number): boolean {
    return this.stmts.claim.run(carrier, at, parcelId).changes === 1;
  }

  /** A hub synced a parcel the cloud did not know: it is that bank's from now on. */
  noteSeen(parcelId: string, bankId: string, at: number): void {
    if (!this.get(parcelId)) this.stmts.insert.run(parcelId, bankId, null, null, at);
  }

  setContact(parcelId: string, c: Contact, at: number): void {
    this.stmts.setContact.run(parcelId, c.name, c.phone ?? null, c.email ?? null, JSON.stringify(c.preferences), at);
  }

  contact(parcelId: string): Contact | undefined {
    const r = this.stmts.contact.get(parcelId) as { name: string; phone: string | null; email: string | null; preferences: string } | undefined;
    if (!r) return undefined;
    return { name: r.name, phone: r.phone ?? undefined, email: r.email ?? undefined, preferences: JSON.parse(r.preferences) as Contact['preferences'] };
  }
}
