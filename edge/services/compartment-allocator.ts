import type { LockerBank } from '../../devices/locker-bank.js';
import type { HubStore } from '../store/hub-store.js';

const ORDER = { S: 0, M: 1, L: 2 } as const;
type Size = keyof typeof ORDER;

/**
 * Chooses compartments for deposits. A compartment is free when the ledger has no
 * unfinished parcel in it, no deposit is pending on it, it has no open fault, it is in
 * service, and its sensors say closed and empty (the sensors are the truth: a parcel left
 * in a compartment the ledger thinks empty is not overwritten).
 */
export class CompartmentAllocator {
  constructor(
    private readonly bank: LockerBank,
    private readonly store: HubStore,
    private readonly pending: () => Set<number>,
  ) {}

  isFree(no: number, occupied = this.store.ledger.occupancy(), pending = this.pending()): boolean {
    if (occupied.has(no) || pending.has(no)) return false;
    const cond = this.store.bankState.condition(no);
    if (cond.faults.length > 0 || !cond.inService) return false;
    const s = this.bank.status(no);
    return s.door === 'closed' && !s.occupied;
  }

  /** The reserved compartment if free and big enough, else the smallest free one that fits. */
  choose(size: Size, reserved: number | undefined, exclude: Set<number> = new Set()): number | undefined {
    const occupied = this.store.ledger.occupancy();
    const pending = this.pending();
    const fits = (no: number) => ORDER[this.bank.status(no).size] >= ORDER[size];
    if (reserved !== undefined && reserved >= 1 && reserved <= this.bank.compartmentCount && !exclude.has(reserved)) {
      if (fits(reserved) && this.isFree(reserved, occupied, pending)) return reserved;
    }
    const candidates = this.bank
      .statuses()
      .filter((s) => !exclude.has(s.no) && fits(s.no) && this.isFree(s.no, occupied, pending))
      .sort((a, b) => ORDER[a.size] - ORDER[b.size] || a.no - b.no);
    return candidates[0]?.no;
  }

  summary(): { total: number; free: number; faulty: number } {
    const occupied = this.store.ledger.occupancy();
    const pending = this.pending();
    let free = 0;
    for (let no = 1; no <= this.bank.compartmentCount; no++) if (this.isFree(no, occupied, pending)) free++;
    return { total: this.bank.compartmentCount, free, faulty: this.store.bankState.faulty().length };
  }
}
