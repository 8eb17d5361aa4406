import argon2 from 'argon2';
import type { BankConfigDoc } from '../../shared/ledger/bank-config.js';
import { configDocId } from '../../shared/ledger/bank-config.js';
import type { DocSet } from '../../shared/ledger/doc-set.js';

/**
 * Verifies courier and technician secrets against the argon2id hashes in the bank's
 * cloud-authored config document — offline, with no call to the cloud. An unknown id costs
 * one verify against a dummy hash, so timing does not reveal which ids exist.
 */
export class CredentialVerifier {
  private readonly dummy = argon2.hash('never-a-real-secret', { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });

  constructor(
    private readonly bankId: string,
    private readonly docs: DocSet,
  ) {}

  private config(): BankConfigDoc | undefined {
    return this.docs.get<BankConfigDoc>(configDocId(this.bankId));
  }

  /** True when the bank has received its configuration from the cloud (or a provisioning file). */
  provisioned(): boolean {
    return this.config() !== undefined;
  }

  async courier(courierId: string, secret: string): Promise<boolean> {
    const c = this.config()?.couriers[courierId];
    return this.check(c && !c.disabled ? c.hash.toString() : undefined, secret);
  }

  async technician(technicianId: string, secret: string): Promise<{ role: 'technician' | 'auditor'; name: string } | null> {
    const t = this.config()?.technicians[technicianId];
    const ok = await this.check(t && !t.disabled ? t.hash.toString() : undefined, secret);
    return ok && t ? { role: t.role, name: t.name } : null;
  }

  private async check(hash: string | undefined, secret: string): Promise<boolean> {
    try {
      if (!hash) {
        await argon2.verify(await this.dummy, secret);
        return false;
      }
      return await argon2.verify(hash, secret);
    } catch {
      return false;
    }
  }
}
