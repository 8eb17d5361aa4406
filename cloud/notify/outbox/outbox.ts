import { randomId, type Clock, type Random } from '../../../shared/ports.js';
import type { NotificationAttempt } from '../../ports.js';
import type { Contact } from '../../store/parcel-registry.js';
import type { ChannelName } from '../channels/channel.js';
import { maskEmail, maskPhone } from '../contacts.js';
import type { OutboxRow, OutboxStore } from './outbox-store.js';

/** A code to get to its recipient. */
export interface CodeToDeliver {
  parcelId: string;
  bankId: string;
  codeId: string;
  /** The plaintext sealed to the cloud's X25519 public key. */
  sealed: string;
  expiresAt: number;
  compartment?: number;
  /** Hold: not sent before this time. */
  notBefore?: number;
  /** Send on this channel only (no failover), e.g. support's "resend by e-mail". */
  only?: ChannelName;
}

/** Options of {@link Outbox}. */
export interface OutboxOptions {
  store: OutboxStore;
  /** The recipients' contacts (the cloud's parcel registry). */
  contacts: { contact(parcelId: string): Contact | undefined };
  clock: Clock;
  random: Random;
  /** The channels this cloud can send on. */
  channels: () => ReadonlySet<ChannelName>;
  /** Sends per row before it counts as failed (retryable failures). */
  maxAttempts: number;
  /** Called after a row was queued (wakes the worker). */
  onQueued?: () => void;
}

/** Where a channel reaches a contact: phone for SMS, e-mail for e-mail, the app account (phone, else e-mail) for push. */
export function destinationFor(channel: ChannelName, c: Pick<Contact, 'phone' | 'email'>): string | undefined {
  if (channel === 'sms') return c.phone;
  if (channel === 'email') return c.email;
  return c.phone ?? c.email;
}

/** A destination as support may see it. */
export function maskDestination(destination: string): string {
  return destination.includes('@') ? maskEmail(destination) : maskPhone(destination);
}

/**
 * The outbox's rules for creating rows: which channel first (the recipient's preference
 * order, restricted to channels the contact can use and this cloud has), the next channel on
 * failover, idempotency per (code, channel), and superseding rows whose code is dead. Every
 * method writes only the cloud database, so callers run it inside the transaction of the
 * fact that needs it.
 */
export class Outbox {
  constructor(private readonly opts: OutboxOptions) {}

  /** The channels, in preference order, on which `contact` can be reached from this cloud. */
  usableChannels(contact: Contact | undefined): ChannelName[] {
    if (!contact) return [];
    const have = this.opts.channels();
    return [...new Set(contact.preferences)].filter((ch) => have.has(ch) && destinationFor(ch, contact) !== undefined);
  }

  /** Queue `code` on its first usable channel (or `only`). Idempotent per (code, channel); undefined when no channel can reach the recipient. */
  enqueueCode(code: CodeToDeliver): OutboxRow | undefined {
    const existing = this.opts.store.forCode(code.codeId);
    if (existing.length > 0 && !code.only) return existing[0];
    const contact = this.opts.contacts.contact(code.parcelId);
    // A named channel may be outside the preferences (support's choice), but must exist here.
    const channel = code.only ? (this.opts.channels().has(code.only) ? code.only : undefined) : this.usableChannels(contact)[0];
    if (!channel || !contact) return undefined;
    const destination = destinationFor(channel, contact);
    if (!destination) return undefined;
    return this.insertCodeRow(code, channel, destination, code.only ? 'only' : 'prefs');
  }

  /**
   * Start the next channel for the code of `from` (same sealed code), along the recipient's
   * current preferences, skipping channels already tried for this code. Undefined when none is left.
   */
  failover(from: OutboxRow, reason: string): OutboxRow | undefined {
    const { store, clock } = this.opts;
    if (from.kind !== 'code' || from.chain !== 'prefs' || !from.codeId || !from.sealed) return undefined;
    const tried = new Set(store.forCode(from.codeId).map((r) => r.channel));
    const contact = this.opts.contacts.contact(from.parcelId);
    const prefs = this.usableChannels(contact);
    const after = prefs.includes(from.channel) ? prefs.slice(prefs.indexOf(from.channel) + 1) : prefs;
    const next = after.find((ch) => !tried.has(ch));
    store.event(from.id, clock.now(), 'failover', next ? `${reason}; next: ${next}` : `${reason}; no other channel in the preferences`);
    if (!next || !contact) return undefined;
    const row = this.insertCodeRow(
      {
        parcelId: from.parcelId,
        bankId: from.bankId,
        codeId: from.codeId,
        sealed: from.sealed,
        expiresAt: from.expiresAt ?? clock.now(),
        compartment: from.compartment ?? undefined,
        notBefore: from.notBefore,
      },
      next,
      destinationFor(next, contact)!,
      'prefs',
    );
    return row;
  }

  /** Queue a security notice (no code) to each of `to`, once per (event, channel). */
  enqueueAlert(a: { parcelId: string; bankId: string; eventId: string; to: { channel: ChannelName; destination: string }[] }): OutboxRow[] {
    const now = this.opts.clock.now();
    const out: OutboxRow[] = [];
    for (const t of a.to) {
      if (!this.opts.channels().has(t.channel)) continue;
      const row = this.baseRow(a.parcelId, a.bankId, t.channel, t.destination, now);
      const { row: r } = this.opts.store.insert({ ...row, kind: 'alert', chain: 'only' }, `alert:${a.eventId}:${t.channel}`);
      out.push(r);
    }
    if (out.length) this.opts.onQueued?.();
    return out;
  }

  /** Pending rows of a dead code (used, revoked, expired, replaced) will never be sent. */
  supersedeCode(codeId: string, reason: string): number {
    return this.close(this.opts.store.forCode(codeId), 'superseded', reason);
  }

  /** Cancel every unsent code row of a parcel (its contact changed), except those of `keepCodeId`. */
  cancelParcelCodes(parcelId: string, reason: string, keepCodeId?: string): number {
    const rows = this.opts.store.forParcel(parcelId).filter((r) => r.kind === 'code' && r.codeId !== keepCodeId);
    return this.close(rows, 'cancelled', reason);
  }

  /** True when any row was ever queued for the code. */
  hasRowsForCode(codeId: string): boolean {
    return this.opts.store.forCode(codeId).length > 0;
  }

  /** What `GET /v1/parcels/:id` shows: one entry per row, oldest first, never a destination in clear. */
  attempts(parcelId: string): NotificationAttempt[] {
    return this.opts.store.forParcel(parcelId).map((r) => ({
      channel: r.channel,
      status: r.status,
      at: r.updatedAt,
      ...(r.lastError ? { error: r.lastError } : {}),
    }));
  }

  private close(rows: OutboxRow[], status: 'superseded' | 'cancelled', reason: string): number {
    const now = this.opts.clock.now();
    let n = 0;
    for (const r of rows) {
      if (r.status !== 'pending') {
        // An accepted or failed row keeps its status; its sealed copy is no longer needed.
        if (r.sealed && r.status !== 'sending') this.opts.store.update(r.id, { sealed: null }, now);
        continue;
      }
      this.opts.store.update(r.id, { status, sealed: null, lastError: reason }, now);
      this.opts.store.event(r.id, now, status, reason);
      n++;
    }
    return n;
  }

  private insertCodeRow(code: CodeToDeliver, channel: ChannelName, destination: string, chain: 'prefs' | 'only'): OutboxRow {
    const now = this.opts.clock.now();
    const row: OutboxRow = {
      ...this.baseRow(code.parcelId, code.bankId, channel, destination, now),
      kind: 'code',
      codeId: code.codeId,
      sealed: code.sealed,
      notBefore: code.notBefore ?? 0,
      chain,
      compartment: code.compartment ?? null,
      expiresAt: code.expiresAt,
    };
    const { row: r, created } = this.opts.store.insert(row, `code:${code.codeId}:${channel}`);
    if (created) this.opts.onQueued?.();
    return r;
  }

  private baseRow(parcelId: string, bankId: string, channel: ChannelName, destination: string, now: number): OutboxRow {
    return {
      id: `ob_${randomId(this.opts.random, 12)}`,
      kind: 'code',
      parcelId,
      bankId,
      codeId: null,
      channel,
      destination,
      destinationMasked: maskDestination(destination),
      sealed: null,
      status: 'pending',
      attempts: 0,
      maxAttempts: this.opts.maxAttempts,
      nextAttemptAt: now,
      notBefore: 0,
      chain: 'prefs',
      providerId: null,
      lastError: null,
      createdAt: now,
      updatedAt: now,
      claimedAt: null,
      sentAt: null,
      deliveredAt: null,
      failoverAt: null,
      compartment: null,
      expiresAt: null,
    };
  }
}
