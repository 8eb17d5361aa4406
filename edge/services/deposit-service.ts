import type Database from 'better-sqlite3';
import type { LockerBank } from '../../devices/locker-bank.js';
import { generateCode } from '../../shared/codes/format.js';
import type { CodeHasher } from '../../shared/codes/hasher.js';
import { seal } from '../../shared/crypto/sealed-box.js';
import { Conflict, NotFound, Throttled, Unauthorized } from '../../shared/errors.js';
import { str } from '../../shared/ledger/str.js';
import { randomId, type Random } from '../../shared/ports.js';
import type { HubStore } from '../store/hub-store.js';
import type { HubEvents } from '../hub-events.js';
import type { CompartmentAllocator } from './compartment-allocator.js';
import type { CredentialVerifier } from './credentials.js';
import type { Throttle } from './throttle.js';

export const COURIER_SCOPE = 'courier';

export interface DepositRequest {
  courierId: string;
  secret: string;
  parcelId: string;
  size: 'S' | 'M' | 'L';
}

interface PendingRow {
  deposit_id: string;
  parcel_id: string;
  compartment: number;
  courier_id: string;
  size: 'S' | 'M' | 'L';
  opened_at: number;
}

/**
 * Courier deposit: authenticate (offline, argon2) -> pick a compartment -> open it -> the
 * courier closes the door -> confirm: the sensors must say closed and occupied, then the
 * deposit and the code are ONE ledger change (a crash leaves both or neither). The
 * plaintext code leaves the hub only sealed to the cloud's public key.
 */
export class DepositService {
  private readonly stmts;
  private readonly confirming = new Set<string>();
  /** Pending deposits already reported with their door left open (see `sweepAbandoned`). */
  private readonly leftOpen = new Set<string>();
  /** Opens in flight, by parcel id. */
  private readonly opening = new Map<string, { courierId: string; result: Promise<{ compartment: number; depositId: string }> }>();

  constructor(
    private readonly deps: {
      bankId: string;
      store: HubStore;
      bank: LockerBank;
      hasher: CodeHasher;
      credentials: CredentialVerifier;
      throttle: Throttle;
      allocator: CompartmentAllocator;
      random: Random;
      events: HubEvents;
      /** The cloud's sealed-box public key; without it (standalone) codes are issued but cannot be delivered. */
      cloudSealKey?: string;
    },
  ) {
    const db: Database.Database = deps.store.db;
    db.exec(`CREATE TABLE IF NOT EXISTS pending_deposits (
      deposit_id TEXT PRIMARY KEY,
      parcel_id TEXT NOT NULL UNIQUE,
      compartment INTEGER NOT NULL UNIQUE,
      courier_id TEXT NOT NULL,
      size TEXT NOT NULL,
      opened_at INTEGER NOT NULL
    )`);
    this.stmts = {
      byId: db.prepare('SELECT * FROM pending_deposits WHERE deposit_id = ?'),
      byParcel: db.prepare('SELECT * FROM pending_deposits WHERE parcel_id = ?'),
      all: db.prepare('SELECT * FROM pending_deposits'),
      insert: db.prepare('INSERT INTO pending_deposits VALUES (@deposit_id, @parcel_id, @compartment, @courier_id, @size, @opened_at)'),
      del: db.prepare('DELETE FROM pending_deposits WHERE deposit_id = ?'),
    };
  }

  /** Compartments held by deposits that are opened but not yet confirmed. */
  pendingCompartments(): Set<number> {
    return new Set((this.stmts.all.all() as PendingRow[]).map((r) => r.compartment));
  }

  async open(req: DepositRequest, now: number): Promise<{ compartment: number; depositId: string }> {
    const { throttle, credentials, store } = this.deps;
    const gate = throttle.check(COURIER_SCOPE);
    if (!gate.allowed) throw new Throttled(gate.retryAfterSeconds);
    if (!(await credentials.courier(req.courierId, req.secret))) {
      throttle.fail(COURIER_SCOPE);
      throw new Unauthorized('Unknown courier or wrong secret.', 'invalid_credentials');
    }
    throttle.succeed(COURIER_SCOPE);

    const doc = store.ledger.doc(req.parcelId);
    if (doc?.deposit) throw new Conflict('already_deposited', `Parcel ${req.parcelId} is already in compartment ${doc.deposit.compartment}.`);

    // A repeated tap while this parcel's door is still opening gets the same answer. Without
    // this, the second request found the first one's pending row, hit LockBusy on its door,
    // deleted that row (the first courier's confirm then failed: no code for a parcel in a
    // compartment) and recorded a fault on a healthy door.
    const inFlight = this.opening.get(req.parcelId);
    if (inFlight) {
      if (inFlight.courierId !== req.courierId) throw new Conflict('deposit_in_progress', `Parcel ${req.parcelId} is being deposited by another courier right now.`);
      return inFlight.result;
    }
    const result = this.openCompartment(req, doc?.announcement?.reservedCompartment, now);
    this.opening.set(req.parcelId, { courierId: req.courierId, result });
    try {
      return await result;
    } finally {
      this.opening.delete(req.parcelId);
    }
  }

  private async openCompartment(req: DepositRequest, reserved: number | undefined, now: number): Promise<{ compartment: number; depositId: string }> {
    const { store, bank, allocator, events } = this.deps;
    const existing = this.stmts.byParcel.get(req.parcelId) as PendingRow | undefined;
    const unreachable = () =>
      new Conflict('board_unavailable', 'The locker cannot reach its doors right now. Try again in a minute; if it persists, call support.');
    if (!bank.health().connected) throw unreachable();
    const tried = new Set<number>();
    for (let attempt = 0; attempt < 3; attempt++) {
      const compartment = existing && attempt === 0 ? existing.compartment : allocator.choose(req.size, reserved, tried);
      if (compartment === undefined) break;
      tried.add(compartment);
      const depositId = existing?.deposit_id ?? randomId(this.deps.random, 8);
      if (!existing) {
        this.stmts.insert.run({ deposit_id: depositId, parcel_id: req.parcelId, compartment, courier_id: req.courierId, size: req.size, opened_at: now });
      }
      const res = await bank.openDoor(compartment).catch(() => ({ opened: false as const, reason: 'busy' as const }));
      if (res.opened) {
        events.emit({ type: 'deposit_door_opened', actor: `courier:${req.courierId}`, compartment, parcelId: req.parcelId });
        return { compartment, depositId };
      }
      if (existing && res.reason === 'busy') {
        // This parcel's own door, still pulsing from the answer just given (a repeated tap right
        // after it): keep the pending row, or the first answer's confirm fails and the retry opens
        // a second compartment while the parcel's door stands open. Open: the same answer.
        if (bank.status(compartment).door === 'open') return { compartment, depositId };
        throw new Conflict('door_busy', `Compartment ${compartment} is opening right now. Wait a moment and try again.`, { compartment });
      }
      // Not a door fault: 'busy' (a technician or a remote open is opening this door right
      // now) or 'board_lost' (the board is unreachable: every door would "fail").
      const fault = res.reason !== 'busy' && res.reason !== 'board_lost';
      store.docs.transaction(() => {
        this.stmts.del.run(depositId);
        if (fault) store.bankState.recordFault(compartment, `door did not open for a deposit (${res.reason})`);
      });
      if (fault) events.emit({ type: 'door_fault', actor: 'hub', compartment, parcelId: req.parcelId, detail: res.reason });
      if (res.reason === 'board_lost') throw unreachable();
      if (existing) break;
    }
    throw new Conflict('no_free_compartment', `No working compartment of size ${req.size} or larger is free. Try a larger size or another locker.`);
  }

  /**
   * Deposits a courier opened and never confirmed (walked away without pressing Done), once
   * `afterMs` passed since the door opened — so a parcel is never left in a locker without a
   * code, and a compartment is never held by a deposit nobody will finish:
   * - door closed and the parcel detected: confirmed as the courier would have (the code is
   *   issued and sent), with a `deposit_auto_confirmed` event;
   * - door closed and empty: the deposit is dropped and the compartment is free again
   *   (`deposit_abandoned`);
   * - door still open: left pending, and `deposit_door_left_open` is recorded once, so a
   *   technician is sent (the sweep looks again next time);
   * - board unreachable: nothing is decided.
   * Returns what it did, by deposit id.
   */
  async sweepAbandoned(now: number, afterMs: number): Promise<Map<string, 'confirmed' | 'abandoned' | 'door_open'>> {
    const { bank, events } = this.deps;
    const done = new Map<string, 'confirmed' | 'abandoned' | 'door_open'>();
    if (!bank.health().connected) return done;
    for (const row of this.stmts.all.all() as PendingRow[]) {
      if (now - row.opened_at < afterMs || this.confirming.has(row.deposit_id) || this.opening.has(row.parcel_id)) continue;
      const status = bank.status(row.compartment);
      const base = { compartment: row.compartment, parcelId: row.parcel_id };
      if (status.door === 'closed' && status.occupied) {
        await this.confirm(row.deposit_id, { auto: true });
        done.set(row.deposit_id, 'confirmed');
      } else if (status.door === 'closed') {
        this.stmts.del.run(row.deposit_id);
        events.emit({ type: 'deposit_abandoned', actor: 'hub', ...base, detail: `courier ${row.courier_id} opened the door and left it empty` });
        done.set(row.deposit_id, 'abandoned');
      } else {
        if (!this.leftOpen.has(row.deposit_id)) {
          this.leftOpen.add(row.deposit_id);
          events.emit({ type: 'deposit_door_left_open', actor: 'hub', ...base, detail: `courier ${row.courier_id} did not finish the deposit` });
        }
        done.set(row.deposit_id, 'door_open');
      }
    }
    return done;
  }

  async confirm(depositId: string, opts: { auto?: boolean } = {}): Promise<{ parcelId: string; compartment: number; codeIssued: true }> {
    const { store, bank, hasher, random, events } = this.deps;
    const row = this.stmts.byId.get(depositId) as PendingRow | undefined;
    if (!row) {
      // Idempotent: a confirm repeated after success answers the same.
      for (const d of store.ledger.all()) {
        if (d.deposit && str(d.deposit.depositId) === depositId) return { parcelId: d.parcelId, compartment: d.deposit.compartment, codeIssued: true };
      }
      throw new NotFound('No open deposit with this id.', 'deposit_not_found');
    }
    if (this.confirming.has(depositId)) throw new Conflict('confirm_in_progress', 'This deposit is being confirmed already.');
    const status = bank.status(row.compartment);
    if (status.door !== 'closed') {
      throw new Conflict('door_not_closed', `Close the door of compartment ${row.compartment}, then press Done.`, { compartment: row.compartment });
    }
    if (!status.occupied) {
      throw new Conflict('parcel_not_detected', `Compartment ${row.compartment} looks empty. Put the parcel inside, close the door, then press Done.`, {
        compartment: row.compartment,
      });
    }
    this.confirming.add(depositId);
    try {
      for (;;) {
        const code = generateCode(random, (s) => store.ledger.selectorTaken(s));
        const hash = await hasher.hash(code);
        const sealed = this.deps.cloudSealKey ? seal(code.display, this.deps.cloudSealKey) : undefined;
        const committed = store.docs.transaction(() => {
          // The hash took ~100 ms; another issuance may have taken the selector meanwhile.
          if (store.ledger.selectorTaken(code.selector)) return false;
          store.ledger.depositAndIssue(
            row.parcel_id,
            { depositId, compartment: row.compartment, courierId: row.courier_id, size: row.size },
            { selector: code.selector, hash, issuer: 'hub', sealed },
          );
          this.stmts.del.run(depositId);
          return true;
        });
        if (committed) break;
      }
    } finally {
      this.confirming.delete(depositId);
    }
    this.leftOpen.delete(depositId);
    events.emit({ type: 'deposit', actor: `courier:${row.courier_id}`, compartment: row.compartment, parcelId: row.parcel_id });
    if (opts.auto) {
      events.emit({ type: 'deposit_auto_confirmed', actor: 'hub', compartment: row.compartment, parcelId: row.parcel_id, detail: `courier ${row.courier_id} closed the door without pressing Done` });
    }
    return { parcelId: row.parcel_id, compartment: row.compartment, codeIssued: true };
  }
}
