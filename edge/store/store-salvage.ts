import * as A from '@automerge/automerge';
import { openForSalvage, readableRows } from '../../adapters/sqlite/sqlite-integrity.js';
import { concat } from '../../shared/ledger/doc-set.js';

/** A pending deposit read back from a damaged store: a door a courier opened and never confirmed. */
export interface SalvagedPendingDeposit {
  depositId: string;
  parcelId: string;
  compartment: number;
  courierId: string;
  openedAt: number;
}

/** What could still be read from a damaged hub store. */
export interface Salvage {
  /** False when the file could not be opened at all (e.g. its header is gone). */
  opened: boolean;
  /** Documents that still load: all their chunks, or the longest prefix of them that loads. */
  docs: Map<string, A.Doc<unknown>>;
  /** Documents read only in part (later chunks damaged or missing): their newest changes are lost here. */
  partial: string[];
  /** Documents whose id was seen but none of whose content loads. */
  unreadable: string[];
  /** Rows of the hub's bookkeeping tables that could be read, by table (throttle, remote-open nonces). */
  rows: Record<string, Record<string, unknown>[]>;
  pendingDeposits: SalvagedPendingDeposit[];
  /** True when every scan ran to its end (the damage was elsewhere, or nowhere). */
  complete: boolean;
}

/** Bookkeeping tables worth carrying into a rebuilt store: brute-force counters and remote-open nonces (replays). */
export const CARRIED_TABLES = ['throttle', 'remote_nonces'] as const;

/**
 * Read what survives in a damaged hub store, best effort and read-only: every document chunk a
 * b-tree scan reaches from either end of the damage, loaded per document (the longest prefix
 * of consecutive chunks that Automerge accepts — its checksums reject garbage), plus the rows
 * of the bookkeeping tables and the pending deposits. Never throws.
 */
export function salvageHubStore(file: string): Salvage {
  const out: Salvage = { opened: false, docs: new Map(), partial: [], unreadable: [], rows: {}, pendingDeposits: [], complete: false };
  const db = openForSalvage(file);
  if (!db) return out;
  out.opened = true;
  try {
    const chunks = readableRows<{ doc_id: string; seq: number; bytes: Buffer }>(
      db,
      'SELECT doc_id, seq, bytes FROM doc_chunks ORDER BY doc_id, seq',
      'SELECT doc_id, seq, bytes FROM doc_chunks ORDER BY doc_id DESC, seq DESC',
    );
    out.complete = chunks.complete;
    const byDoc = new Map<string, Map<number, Uint8Array>>();
    for (const r of chunks.rows) {
      if (typeof r.doc_id !== 'string' || !Buffer.isBuffer(r.bytes)) continue;
      let m = byDoc.get(r.doc_id);
      if (!m) byDoc.set(r.doc_id, (m = new Map()));
      m.set(r.seq, new Uint8Array(r.bytes));
    }
    for (const [docId, seqs] of byDoc) {
      const ordered: Uint8Array[] = [];
      for (let seq = 1; seqs.has(seq); seq++) ordered.push(seqs.get(seq)!);
      const doc = loadPrefix(ordered);
      if (!doc) out.unreadable.push(docId);
      else {
        out.docs.set(docId, doc.doc);
        if (doc.used < seqs.size) out.partial.push(docId);
      }
    }
    const tables = new Set(readableRows<{ name: string }>(db, "SELECT name FROM sqlite_master WHERE type = 'table'").rows.map((r) => r.name));
    for (const table of CARRIED_TABLES) {
      if (!tables.has(table)) continue;
      const r = readableRows<Record<string, unknown>>(db, `SELECT * FROM ${table}`);
      if (r.rows.length) out.rows[table] = r.rows;
    }
    if (tables.has('pending_deposits')) {
      const pending = readableRows<{ deposit_id: string; parcel_id: string; compartment: number; courier_id: string; opened_at: number }>(db, 'SELECT * FROM pending_deposits');
      out.pendingDeposits = pending.rows.map((r) => ({ depositId: r.deposit_id, parcelId: r.parcel_id, compartment: r.compartment, courierId: r.courier_id, openedAt: r.opened_at }));
      if (!pending.complete) out.complete = false;
    }
  } catch {
    out.complete = false;
  } finally {
    db.close();
  }
  return out;
}

/** The longest prefix of `chunks` that loads, and how many chunks it took. */
function loadPrefix(chunks: Uint8Array[]): { doc: A.Doc<unknown>; used: number } | undefined {
  for (let n = chunks.length; n > 0; n--) {
    try {
      return { doc: A.load<unknown>(concat(chunks.slice(0, n))), used: n };
    } catch {
      // a damaged chunk: try without it and what follows
    }
  }
  return undefined;
}
