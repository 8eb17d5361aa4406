import { DomainError } from '../../../shared/errors.js';
import type { Clock } from '../../../shared/ports.js';
import type { CloudCodeIssuer } from './code-issuer.js';
import type { NotifyRecords } from './notify-records.js';

/**
 * Issues the codes owed after a contact change once their hold is over. Runs as a chore of
 * the outbox worker; the records are durable, so a restart during the hold loses nothing.
 * A parcel that left meanwhile (picked up, returned) is marked done with no code.
 */
export class DeferredIssuer {
  constructor(
    private readonly deps: { records: NotifyRecords; issuer: CloudCodeIssuer; clock: Clock; log?: (msg: string) => void },
  ) {}

  private running = false;

  /** Issue every due code. Never throws; a call while another runs does nothing. */
  async runDue(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      return await this.issueDue();
    } finally {
      this.running = false;
    }
  }

  private async issueDue(): Promise<number> {
    const { records, issuer, clock } = this.deps;
    let n = 0;
    for (const d of records.dueDeferred(clock.now())) {
      if (!records.claimDeferred(d.parcelId, clock.now())) continue; // another cloud node is on it
      try {
        await issuer.issue({
          bankId: d.bankId,
          parcelId: d.parcelId,
          actor: d.actor,
          reason: `${d.reason}: new code for the new contact after the hold`,
          notBefore: d.dueAt,
          within: (codeId) => records.completeDeferred(d.parcelId, clock.now(), codeId),
        });
        n++;
      } catch (err) {
        if (err instanceof DomainError && err.status < 500 && err.code !== 'no_free_selector') {
          // Nothing to issue for any more (picked up, returned, gone): done, with no code.
          records.completeDeferred(d.parcelId, clock.now(), null);
          this.deps.log?.(`outbox: deferred code for ${d.parcelId} dropped (${err.code})`);
        } else {
          this.deps.log?.(`outbox: deferred code for ${d.parcelId} failed, will retry: ${(err as Error).message}`);
        }
      }
    }
    return n;
  }
}
