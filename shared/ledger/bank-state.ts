import type { Clock, Random } from '../ports.js';
import { randomId } from '../ports.js';
import type { DocSet } from './doc-set.js';
import { istr, str, type Str } from './str.js';

export const bankStateDocId = (bankId: string): string => `bankstate:${bankId}`;

/**
 * The physical state of a bank that is not about one parcel: door faults and service
 * status. **Written by the hub only** (DESIGN.md rule 3: physical truth is the hub's);
 * the cloud reads it for diagnosis and bank status. Facts are set-once records keyed by
 * random ids; the current state is derived.
 */
export interface BankStateDoc {
  schema: 1;
  /** Written by the genesis as text and left so (see `ParcelDoc.parcelId`). Other strings are `Str` (DESIGN.md rule 7). */
  bankId: string;
  faults: Record<string, { compartment: number; at: number; reason: Str }>;
  /** Fault id -> when and by whom it was cleared (a confirmed open clears a door's faults). */
  cleared: Record<string, { at: number; by: Str }>;
  /** Service changes; the latest `(at, id)` per compartment wins. */
  service: Record<string, { compartment: number; inService: boolean; at: number; by: Str; reason: Str }>;
}

export interface CompartmentCondition {
  faults: { id: string; at: number; reason: string }[];
  inService: boolean;
  serviceReason?: string;
}

export class BankState {
  private readonly id: string;

  constructor(
    private readonly bankId: string,
    private readonly docs: DocSet,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {
    this.id = bankStateDocId(bankId);
  }

  private doc(): BankStateDoc | undefined {
    return this.docs.get<BankStateDoc>(this.id);
  }

  private ensure(): void {
    this.docs.create<BankStateDoc>(this.id, { schema: 1, bankId: this.bankId, faults: {}, cleared: {}, service: {} });
  }

  condition(compartment: number): CompartmentCondition {
    const d = this.doc();
    if (!d) return { faults: [], inService: true };
    const faults = Object.entries(d.faults)
      .filter(([id, f]) => f.compartment === compartment && !d.cleared[id])
      .map(([id, f]) => ({ id, at: f.at, reason: str(f.reason) }));
    let latest: { inService: boolean; at: number; id: string; reason: string } | undefined;
    for (const [id, s] of Object.entries(d.service)) {
      if (s.compartment !== compartment) continue;
      if (!latest || s.at > latest.at || (s.at === latest.at && id > latest.id)) latest = { inService: s.inService, at: s.at, id, reason: str(s.reason) };
    }
    return { faults, inService: latest ? latest.inService : true, serviceReason: latest?.reason };
  }

  /** Compartments with at least one uncleared fault. */
  faulty(): number[] {
    const d = this.doc();
    if (!d) return [];
    const out = new Set<number>();
    for (const [id, f] of Object.entries(d.faults)) if (!d.cleared[id]) out.add(f.compartment);
    return [...out].sort((a, b) => a - b);
  }

  recordFault(compartment: number, reason: string): void {
    this.ensure();
    const id = randomId(this.random, 8);
    const at = this.clock.now();
    this.docs.change<BankStateDoc>(this.id, 'fault', (d) => {
      d.faults[id] = { compartment, at, reason: istr(reason) };
    }, at);
  }

  /** Clear every open fault of a compartment (after a confirmed open or a technician's check). */
  clearFaults(compartment: number, by: string): void {
    const open = this.condition(compartment).faults;
    if (open.length === 0) return;
    const at = this.clock.now();
    this.docs.change<BankStateDoc>(this.id, 'clear-faults', (d) => {
      for (const f of open) d.cleared[f.id] = { at, by: istr(by) };
    }, at);
  }

  setService(compartment: number, inService: boolean, by: string, reason: string): void {
    this.ensure();
    const id = randomId(this.random, 8);
    const at = this.clock.now();
    this.docs.change<BankStateDoc>(this.id, 'service', (d) => {
      d.service[id] = { compartment, inService, at, by: istr(by), reason: istr(reason) };
    }, at);
  }
}
