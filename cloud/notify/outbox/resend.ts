import { z } from 'zod';
import { BadRequest, Conflict, DomainError, NotFound } from '../../../shared/errors.js';
import type { Clock } from '../../../shared/ports.js';
import type { CloudStore } from '../../store/cloud-store.js';
import type { ChannelName } from '../channels/channel.js';
import type { CloudCodeIssuer } from './code-issuer.js';
import type { NotifyRecords } from './notify-records.js';
import { destinationFor, type Outbox } from './outbox.js';

/** `POST /v1/parcels/:parcelId/resend`. */
export const resendSchema = z.object({ channel: z.enum(['sms', 'email', 'push']).optional() }).strict();

/** 429 `throttled`: this parcel's code was resent too often. */
export class ResendThrottled extends DomainError {
  constructor(limit: number, retryAfterSeconds: number) {
    super('throttled', `This parcel's code was already resent ${limit} times in the last hour. Wait ${retryAfterSeconds} seconds, or check the diagnosis first.`, 429, {
      retryAfterSeconds,
    });
  }
}

/** What a resend did (masked). */
export interface ResendResult {
  parcelId: string;
  codeId: string;
  replacedCodeId?: string;
  channel: ChannelName;
  to: string;
  queuedAt: number;
}

export interface ResendDeps {
  store: CloudStore;
  outbox: Outbox;
  records: NotifyRecords;
  issuer: CloudCodeIssuer;
  clock: Clock;
  /** Resends per parcel per hour. */
  perHour: number;
  onQueued?: () => void;
}

const HOUR = 3600_000;

/**
 * "Resend my code" ROTATES (DESIGN.md "Pickup codes"): nothing can recover a plaintext, so
 * the live code is revoked, a new one issued and queued — on the named channel only, or
 * along the recipient's preferences. Rate-limited per parcel (durable: counted in the
 * database with the injected clock).
 */
export class ResendService {
  constructor(private readonly deps: ResendDeps) {}

  async resend(actor: string, parcelId: string, channel?: ChannelName): Promise<ResendResult> {
    const { store, outbox, records, issuer, clock, perHour } = this.deps;
    const rec = store.parcels.get(parcelId);
    if (!rec) throw new NotFound(`No parcel ${parcelId} is known to you.`, 'parcel_not_found');
    const contact = store.parcels.contact(parcelId);
    if (!contact) throw new Conflict('no_contact', `Parcel ${parcelId} has no recipient contact; add one with PATCH /v1/recipients/${parcelId}.`);
    const held = records.deferred(parcelId);
    if (held && held.doneAt === null) {
      throw new Conflict('contact_change_hold', `The contact of parcel ${parcelId} was just changed; its new code goes out at ${new Date(held.dueAt).toISOString()}.`, { newCodeAt: held.dueAt });
    }
    if (channel) {
      if (!outbox.usableChannels({ ...contact, preferences: [channel] }).length) {
        const why = destinationFor(channel, contact) ? 'is not configured in this cloud' : 'has no address on file for this recipient';
        throw new BadRequest(`Field "channel": ${channel} ${why}.`, 'channel_unavailable', { field: 'channel' });
      }
    } else if (outbox.usableChannels(contact).length === 0) {
      throw new Conflict('no_reachable_channel', `None of the recipient's preferred channels can be used; correct the contact first.`);
    }
    issuer.check(rec.bankId, parcelId);
    this.throttle(parcelId, clock.now());
    const issued = await issuer.issue({
      bankId: rec.bankId,
      parcelId,
      actor,
      reason: `resend requested by ${actor}${channel ? ` on ${channel}` : ''}`,
      only: channel,
      within: (codeId, row) => {
        // Nothing is rotated unless the new code is queued somewhere.
        if (!row) throw new Conflict('no_reachable_channel', 'The new code could not be queued on any channel; correct the contact first.');
        // Checked again inside the transaction: two requests racing past the first check.
        this.throttle(parcelId, clock.now());
        records.recordResend(parcelId, clock.now(), actor, channel ?? null, codeId);
      },
    });
    this.deps.onQueued?.();
    return {
      parcelId,
      codeId: issued.codeId,
      ...(issued.replaced ? { replacedCodeId: issued.replaced } : {}),
      channel: issued.row!.channel,
      to: issued.row!.destinationMasked,
      queuedAt: issued.row!.createdAt,
    };
  }

  private throttle(parcelId: string, now: number): void {
    const recent = this.deps.records.resendsSince(parcelId, now - HOUR);
    if (recent.length >= this.deps.perHour) {
      throw new ResendThrottled(this.deps.perHour, Math.max(1, Math.ceil((recent[0]! + HOUR - now) / 1000)));
    }
  }
}
