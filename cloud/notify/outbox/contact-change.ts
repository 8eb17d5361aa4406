import { z } from 'zod';
import { BadRequest, NotFound } from '../../../shared/errors.js';
import { isFinished, liveCode } from '../../../shared/ledger/parcel-doc.js';
import { randomId, type Clock, type Random } from '../../../shared/ports.js';
import type { BankReplicas } from '../../bank-replicas.js';
import type { CloudStore } from '../../store/cloud-store.js';
import type { Contact } from '../../store/parcel-registry.js';
import type { ChannelName } from '../channels/channel.js';
import { maskEmail, maskPhone } from '../contacts.js';
import type { NotifyRecords } from './notify-records.js';
import type { Outbox } from './outbox.js';
import { parseEmail, parsePhone } from './contact-input.js';

/** `PATCH /v1/recipients/:parcelId`: `null` removes a phone number or an e-mail address. */
export const contactPatchSchema = z
  .object({
    phone: z.string().max(40).nullable().optional(),
    email: z.string().max(254).nullable().optional(),
    preferences: z.array(z.enum(['sms', 'email', 'push'])).min(1).max(3).optional(),
  })
  .strict()
  .refine((b) => b.phone !== undefined || b.email !== undefined || b.preferences !== undefined, {
    message: 'give phone, email or preferences',
    path: ['phone'],
  });
export type ContactPatch = z.infer<typeof contactPatchSchema>;

/** What the contact change did, as support sees it (masked). */
export interface ContactChangeResult {
  parcelId: string;
  changed: string[];
  contact: { phone?: string; email?: string; preferences: ChannelName[] };
  /** Old destinations that were told about the change. */
  alerted: string[];
  revokedCodeId?: string;
  /** When the new code goes to the new contact (absent when no code is owed: not deposited, picked up). */
  newCodeAt?: number;
}

/** What {@link ContactChangeService} needs. */
export interface ContactChangeDeps {
  store: CloudStore;
  replicas: BankReplicas;
  outbox: Outbox;
  records: NotifyRecords;
  clock: Clock;
  random: Random;
  /** Delay before a new code goes to a NEW contact, ms (0 allowed). */
  holdMs: number;
  /** After the change committed (wakes the worker). */
  onChanged?: () => void;
}

const mask = (field: 'phone' | 'email', v: string | undefined): string => (v === undefined ? '(none)' : field === 'phone' ? maskPhone(v) : maskEmail(v));

/**
 * A recipient's contact changes (DESIGN.md "account takeover / redirected code"): the OLD
 * destinations get an alert, the live code — sent to the old contact — is revoked and its
 * unsent messages cancelled, and a fresh code is owed to the NEW contact after a hold (a
 * deferred issuance record, so a restart during the hold loses nothing). The contact, the
 * change record, the revocation, the alerts, the deferred issuance and the audit event
 * (the bank's audit document, masked contacts only) commit in ONE transaction.
 */
export class ContactChangeService {
  constructor(private readonly deps: ContactChangeDeps) {}

  change(actor: string, parcelId: string, patch: ContactPatch): ContactChangeResult {
    const { store, replicas, outbox, records, clock, random, holdMs } = this.deps;
    const rec = store.parcels.get(parcelId);
    if (!rec) throw new NotFound(`No parcel ${parcelId} is known to you.`, 'parcel_not_found');
    const old: Contact = store.parcels.contact(parcelId) ?? { name: 'Recipient', preferences: [] };
    const next = this.merge(old, patch);
    const changed = (['phone', 'email'] as const).filter((f) => old[f] !== next[f]) as string[];
    if (JSON.stringify(old.preferences) !== JSON.stringify(next.preferences)) changed.push('preferences');
    const view = { phone: next.phone && maskPhone(next.phone), email: next.email && maskEmail(next.email), preferences: next.preferences };
    if (changed.length === 0) return { parcelId, changed, contact: view, alerted: [] };

    const replica = replicas.get(rec.bankId);
    const now = clock.now();
    const redirected = changed.includes('phone') || changed.includes('email');
    const result = replica.docs.transaction((): ContactChangeResult => {
      store.parcels.setContact(parcelId, next, now);
      const before: Record<string, string> = {};
      const after: Record<string, string> = {};
      for (const f of changed) {
        before[f] = f === 'preferences' ? old.preferences.join(',') : mask(f as 'phone' | 'email', old[f as 'phone' | 'email']);
        after[f] = f === 'preferences' ? next.preferences.join(',') : mask(f as 'phone' | 'email', next[f as 'phone' | 'email']);
      }
      records.recordContactChange({ parcelId, at: now, actor, fields: changed, before, after });
      const out: ContactChangeResult = { parcelId, changed, contact: view, alerted: [] };
      if (redirected) {
        const to: { channel: ChannelName; destination: string }[] = [];
        if (changed.includes('phone') && old.phone) to.push({ channel: 'sms', destination: old.phone });
        if (changed.includes('email') && old.email) to.push({ channel: 'email', destination: old.email });
        out.alerted = outbox.enqueueAlert({ parcelId, bankId: rec.bankId, eventId: randomId(random, 8), to }).map((r) => r.destinationMasked);
        const doc = replica.ledger.doc(parcelId);
        outbox.cancelParcelCodes(parcelId, 'contact changed');
        if (doc && liveCode(doc, now)) out.revokedCodeId = replica.ledger.revoke(parcelId, 'contact changed');
        if (doc?.deposit && !isFinished(doc, now)) {
          records.defer({ parcelId, bankId: rec.bankId, dueAt: now + holdMs, reason: 'contact changed', actor, createdAt: now });
          out.newCodeAt = now + holdMs;
        }
      }
      const summary = changed.map((f) => `${f} ${before[f]} -> ${after[f]}`).join('; ');
      const consequence = redirected
        ? `; old contact alerted${out.revokedCodeId ? '; live code revoked' : ''}${out.newCodeAt !== undefined ? `; new code due ${new Date(out.newCodeAt).toISOString()}` : ''}`
        : '';
      replica.audit.append({ type: 'contact_changed', actor, parcelId, detail: summary + consequence });
      return out;
    });
    this.deps.onChanged?.();
    return result;
  }

  private merge(old: Contact, patch: ContactPatch): Contact {
    const phone = patch.phone === undefined ? old.phone : patch.phone === null ? undefined : parsePhone(patch.phone, 'phone');
    const email = patch.email === undefined ? old.email : patch.email === null ? undefined : parseEmail(patch.email, 'email');
    if (!phone && !email) throw new BadRequest('Field "phone": keep a phone number or an e-mail address.', 'invalid_input', { field: 'phone' });
    let preferences = (patch.preferences ?? old.preferences).filter((p, i, a) => a.indexOf(p) === i);
    if (patch.preferences) {
      if (preferences.includes('sms') && !phone) throw new BadRequest('Field "preferences": "sms" needs a phone number.', 'invalid_input', { field: 'preferences' });
      if (preferences.includes('email') && !email) throw new BadRequest('Field "preferences": "email" needs an e-mail address.', 'invalid_input', { field: 'preferences' });
    } else {
      // A removed phone or address takes its channel with it; a new one joins at the end.
      preferences = preferences.filter((p) => (p === 'sms' ? !!phone : p === 'email' ? !!email : true));
      if (phone && !old.phone && !preferences.includes('sms')) preferences.push('sms');
      if (email && !old.email && !preferences.includes('email')) preferences.push('email');
    }
    if (preferences.length === 0) preferences = [...(phone ? (['sms'] as const) : []), ...(email ? (['email'] as const) : [])];
    return { name: old.name, phone, email, preferences };
  }
}
