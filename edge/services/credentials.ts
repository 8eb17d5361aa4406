import argon2 from 'argon2';
import type { BankConfigDoc } from '../../shared/ledger/bank-config.js';
import { configDocId } from '../../shared/ledger/bank-config.js';
import type { DocSet } from '../../shared/ledger/doc-set.js';
import { str } from '../../shared/ledger/str.js';

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
    const c = ownEntry(this.config()?.couriers, courierId);
    return this.check(c && !c.disabled ? str(c.hash) : undefined, secret);
  }

  async technician(technicianId: string, secret: string): Promise<{ role: 'technician' | 'auditor'; name: string } | null> {
    const t = ownEntry(this.config()?.technicians, technicianId);
    const ok = await this.check(t && !t.disabled ? str(t.hash) : undefined, secret);
    return ok && t ? { role: str(t.role), name: str(t.name) } : null;
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

/**
 * The entry of a config map for an id typed by a caller. Own entries only: `map[id]` for
 * "constructor", "toString" or "__proto__" is Object.prototype's member, which made the verify
 * read `.hash` of a function and answer 500 instead of an ordinary wrong-credentials 401.
 */
function ownEntry<T>(map: Record<string, T> | undefined, id: string): T | undefined {
  return map !== undefined && Object.hasOwn(map, id) ? map[id] : undefined;
}
