import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { DomainError, NotFound } from '../../shared/errors.js';
import { parcelIdSchema } from '../../shared/ids.js';
import type { ParcelStatus } from '../../shared/ledger/parcel-doc.js';
import type { Clock } from '../../shared/ports.js';
import type { Cause, Diagnosis } from '../diagnosis/diagnosis.js';
import type { CloudStore } from '../store/cloud-store.js';
import { lastFour } from '../notify/contacts.js';
import { SlidingWindowLimiter } from './rate-limiter.js';

/** `POST /v1/self-service/diagnosis`. */
export const selfServiceSchema = z
  .object({
    parcelId: parcelIdSchema,
    phoneLast4: z.string().regex(/^[0-9]{4}$/, 'the last 4 digits of the phone number the parcel was sent to'),
  })
  .strict();

/** What a recipient is told: no contact, no provider id, no code, no internal detail. */
export interface RecipientAnswer {
  parcelId: string;
  status: ParcelStatus;
  cause: Cause | null;
  message: string;
}

/** 429 of the self-service page. */
export class SelfServiceThrottled extends DomainError {
  constructor(retryAfterSeconds: number) {
    super('throttled', `Too many tries. Please wait ${retryAfterSeconds} seconds and try again.`, 429, { retryAfterSeconds });
  }
}

const NO_MATCH = 'No parcel matches that parcel number and phone number. Check both and try again.';

/** Plain words for each verdict; `delivered` names only the channel. */
function messageFor(d: Diagnosis, deliveredBy: string | undefined): string {
  if (d.status === 'picked_up') return 'This parcel was already picked up.';
  switch (d.verdict.cause) {
    case 'not_deposited':
      return d.status === 'returned'
        ? 'This parcel was returned to the sender. Please contact the sender.'
        : 'Your parcel is not in the locker yet. You will get your pickup code as soon as the courier has put it in.';
    case 'code_generation_failed':
      return 'Your parcel is in the locker, but it has no valid pickup code right now. Please call support: they will send you a new code.';
    case 'notification_outage':
      return deliveredBy
        ? `Our first message service has trouble, so we sent your code by ${deliveredBy}. Please check there.`
        : 'Our message service has trouble right now. We keep trying and will use your other contact if you gave one.';
    case 'unreachable_contact':
      return 'We could not reach you at the contact details we have. Please call support to correct them; you will then get a new code.';
    case 'channel_or_preferences':
      return deliveredBy
        ? `We sent your code by ${deliveredBy}. Please check there.`
        : 'We sent your code but have no confirmation that it arrived. Please check your messages, or call support to get it another way.';
    case 'recent_contact_change':
      return 'Your contact details were changed recently. For your safety the new code is sent after a short delay. If you did not change them, call support now.';
    case 'locker_malfunction':
      // Offline alone does not stop a pickup: the locker checks codes without the network.
      if (d.findings.find((f) => f.cause === 'locker_malfunction')?.action.startsWith('the locker is offline')) {
        return `The locker is offline right now, but it checks codes by itself: ${deliveredBy ? `the code we sent you by ${deliveredBy} still works` : 'your code still works'}. If it does not open, call support.`;
      }
      return 'The locker has a technical problem right now. Please call support: they can open the door remotely or have your parcel moved.';
    default:
      return deliveredBy
        ? `We sent your pickup code by ${deliveredBy}. Please check your messages; if you cannot find it, call support.`
        : 'Your pickup code is on its way. Please check your messages in a few minutes.';
  }
}

/**
 * The recipient's "why no code?": the same diagnosis as support's, reduced to a sentence,
 * for a parcel id plus the last four digits of the phone number it was sent to. A pair that
 * does not match — unknown parcel, wrong digits, no phone on file — gets the same 404, so
 * the answer never tells which part was wrong. Rate-limited per parcel and per client.
 */
export class SelfService {
  private readonly perParcel: SlidingWindowLimiter;
  private readonly perClient: SlidingWindowLimiter;

  constructor(
    private readonly deps: {
      store: CloudStore;
      clock: Clock;
      diagnose(parcelId: string): Diagnosis;
      /** The channel the live code was delivered on, if any. */
      deliveredBy(parcelId: string): string | undefined;
      /** Tries per parcel per 15 min (default 5) and per client per hour (default 30). */
      limits?: { perParcel?: number; perClient?: number };
    },
  ) {
    this.perParcel = new SlidingWindowLimiter(deps.clock, { limit: deps.limits?.perParcel ?? 5, windowMs: 15 * 60_000 });
    this.perClient = new SlidingWindowLimiter(deps.clock, { limit: deps.limits?.perClient ?? 30, windowMs: 3600_000 });
  }

  answer(client: string, parcelId: string, phoneLast4: string): RecipientAnswer {
    for (const r of [this.perClient.hit(`c:${client}`), this.perParcel.hit(`p:${parcelId}`)]) {
      if (!r.allowed) throw new SelfServiceThrottled(r.retryAfterSeconds);
    }
    const phone = this.deps.store.parcels.contact(parcelId)?.phone;
    // Compare even when there is nothing to compare with, so timing tells nothing either.
    const want = Buffer.from(phone ? lastFour(phone).padStart(4, '#') : '####');
    const ok = timingSafeEqual(want, Buffer.from(phoneLast4.padStart(4, '#').slice(0, 4))) && phone !== undefined;
    if (!ok) throw new NotFound(NO_MATCH, 'no_match');
    let d: Diagnosis;
    try {
      d = this.deps.diagnose(parcelId);
    } catch {
      throw new NotFound(NO_MATCH, 'no_match');
    }
    const via = this.deps.deliveredBy(parcelId);
    const deliveredBy = via === 'sms' ? 'SMS' : via === 'email' ? 'e-mail' : via === 'push' ? 'app notification' : undefined;
    return { parcelId, status: d.status, cause: d.verdict.cause, message: messageFor(d, deliveredBy) };
  }
}
