import * as A from '@automerge/automerge';
import type { DocSet } from './doc-set.js';
import { istr, str, type Str } from './str.js';

export const configDocId = (bankId: string): string => `config:${bankId}`;

export type TechnicianRole = 'technician' | 'auditor';

/**
 * A bank's configuration and credentials. **Authored by the cloud only** (DESIGN.md rule 4):
 * the cloud never accepts changes to this document from a hub, and a hub never writes it.
 * Secrets are argon2id PHC strings, so hubs verify couriers and technicians offline.
 */
export interface BankConfigDoc {
  schema: 1;
  /** Written by the genesis as text and left so (see `ParcelDoc.parcelId`). Other strings are `Str` (DESIGN.md rule 7). */
  bankId: string;
  couriers: Record<string, { name: Str; hash: Str; disabled?: boolean }>;
  technicians: Record<string, { name: Str; role: Str<TechnicianRole>; hash: Str; disabled?: boolean }>;
  /** Compartment sizes by number, as installed. */
  compartments: Record<string, { size: Str<'S' | 'M' | 'L'> }>;
  settings: {
    /** Code lifetime after deposit, hours. Default 72. */
    codeTtlHours: number;
  };
}

/** Cloud side: create or update a bank's config document. */
export class BankConfigAuthor {
  constructor(private readonly docs: DocSet) {}

  ensure(bankId: string, compartments: Record<string, { size: 'S' | 'M' | 'L' }>): A.Doc<BankConfigDoc> {
    const id = configDocId(bankId);
    if (!this.docs.has(id)) {
      this.docs.create<BankConfigDoc>(id, {
        schema: 1,
        bankId,
        couriers: {},
        technicians: {},
        compartments: {},
        settings: { codeTtlHours: 72 },
      });
    }
    const doc = this.docs.get<BankConfigDoc>(id)!;
    const missing = Object.entries(compartments).filter(([n, c]) => str(doc.compartments[n]?.size) !== c.size);
    if (missing.length) {
      this.docs.change<BankConfigDoc>(id, 'compartments', (d) => {
        for (const [n, c] of missing) d.compartments[n] = { size: istr(c.size) };
      });
    }
    return this.docs.get<BankConfigDoc>(id)!;
  }

  setCourier(bankId: string, courierId: string, name: string, hash: string): void {
    this.docs.change<BankConfigDoc>(configDocId(bankId), 'courier', (d) => {
      d.couriers[courierId] = { name: istr(name), hash: istr(hash) };
    });
  }

  setTechnician(bankId: string, technicianId: string, name: string, role: TechnicianRole, hash: string): void {
    this.docs.change<BankConfigDoc>(configDocId(bankId), 'technician', (d) => {
      d.technicians[technicianId] = { name: istr(name), role: istr(role), hash: istr(hash) };
    });
  }
}
