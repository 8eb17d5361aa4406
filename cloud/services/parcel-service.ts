import { BadRequest, Conflict, Forbidden, NotFound } from '../../shared/errors.js';
import { parcelDocId, toView, type ParcelView } from '../../shared/ledger/parcel-ledger.js';
import type { Clock } from '../../shared/ports.js';
import type { BankReplica, BankReplicas } from '../bank-replicas.js';
import type { BankCommandSender, BankPresence, CloudNotifier, NotificationAttempt } from '../ports.js';
import type { AnnounceBody } from '../schemas.js';
import type { Principal } from '../store/credential-store.js';
import type { CloudStore } from '../store/cloud-store.js';

/** A parcel as carriers and support see it: state, never a code, a selector or a hash. */
export interface ParcelStatusView {
  parcelId: string;
  bankId: string;
  carrier: string | null;
  trackingNumber?: string;
  size?: 'S' | 'M' | 'L';
  status: ParcelView['status'];
  compartment?: number;
  announcedAt?: number;
  depositedAt?: number;
  returnedAt?: number;
  codes: {
    codeId: string;
    state: string;
    issuer: 'hub' | 'cloud';
    issuedAt: number;
    expiresAt: number;
    usedAt?: number;
    revokedAt?: number;
    usedAfterRevoke: boolean;
    openFailures: number;
  }[];
  exceptions: { at: number; reason: string }[];
  notifications: NotificationAttempt[];
}

export interface ParcelServiceDeps {
  store: CloudStore;
  replicas: BankReplicas;
  clock: Clock;
  notifier?: CloudNotifier;
  presence?: BankPresence;
  commands?: BankCommandSender;
}

const notFound = (parcelId: string) => new NotFound(`No parcel ${parcelId} is known to you.`, 'parcel_not_found');

/** Carrier and support operations on parcels. */
export class ParcelService {
  constructor(private readonly deps: ParcelServiceDeps) {}

  /**
   * A carrier announces a parcel: registry row, contact (cloud-only) and the parcel
   * document's announcement, in one transaction. Returns `created: false` for a retry of
   * the same announcement.
   */
  announce(who: Principal, body: AnnounceBody): { created: boolean; view: ParcelStatusView } {
    const { store, replicas, clock, notifier } = this.deps;
    if (body.carrier !== who.subject) throw new Forbidden(`This token announces parcels for "${who.subject}" only.`, 'carrier_mismatch');
    if (!store.banks.get(body.bankId)) throw new BadRequest(`Field "bankId": no bank "${body.bankId}" is known.`, 'unknown_bank');
    const existing = store.parcels.get(body.parcelId);
    const replica = replicas.current(body.bankId, [parcelDocId(body.parcelId)]);
    if (existing && (existing.bankId !== body.bankId || (existing.carrier !== null && existing.carrier !== body.carrier))) {
      throw new Conflict('parcel_exists', `Parcel ${body.parcelId} is already announced elsewhere; use a new parcel id.`);
    }
    if (existing?.carrier && replica.ledger.doc(body.parcelId)?.announcement) {
      return { created: false, view: this.view(body.parcelId, replica) };
    }
    const now = clock.now();
    const { name, phone, email } = body.recipient;
    const preferences = body.recipient.preferences ?? [...(phone ? (['sms'] as const) : []), ...(email ? (['email'] as const) : [])];
    replica.docs.transaction(() => {
      if (!existing) store.parcels.announce(body.parcelId, body.bankId, body.carrier, now);
      else store.parcels.claim(body.parcelId, body.carrier, now);
      store.parcels.setContact(body.parcelId, { name, phone, email, preferences }, now);
      replica.ledger.announce(body.parcelId, { carrier: body.carrier, trackingNumber: body.trackingNumber, size: body.size });
    });
    notifier?.parcelAnnounced?.({ parcelId: body.parcelId, bankId: body.bankId, at: now });
    notifier?.parcelChanged?.({ parcelId: body.parcelId, bankId: body.bankId, doc: replica.ledger.doc(body.parcelId)!, source: 'cloud' });
    return { created: true, view: this.view(body.parcelId, replica) };
  }

  /** Status of a parcel; a carrier sees its own parcels only (others are "not found"). */
  get(who: Principal, parcelId: string): ParcelStatusView {
    const rec = this.deps.store.parcels.get(parcelId);
    if (!rec || (who.role === 'carrier' && rec.carrier !== who.subject)) throw notFound(parcelId);
    return this.view(parcelId, this.deps.replicas.current(rec.bankId, [parcelDocId(parcelId)]));
  }

  /** Support revokes the parcel's live code; the bank's hub gets it with the next push. */
  revoke(who: Principal, parcelId: string, reason: string): { parcelId: string; codeId: string; revokedAt: number } {
    const { store, replicas, clock, notifier } = this.deps;
    const rec = store.parcels.get(parcelId);
    if (!rec) throw notFound(parcelId);
    // Several nodes: the deposit the hub synced with another node a moment ago is read here.
    const replica = replicas.current(rec.bankId, [parcelDocId(parcelId)]);
    if (!replica.ledger.doc(parcelId)) throw notFound(parcelId);
    const codeId = replica.docs.transaction(() => {
      const id = replica.ledger.revoke(parcelId, reason);
      if (id) replica.audit.append({ type: 'code_revoked', actor: `cloud:support:${who.subject}`, parcelId, detail: reason });
      return id;
    });
    if (!codeId) throw new Conflict('no_live_code', `Parcel ${parcelId} has no active code to revoke.`);
    const at = clock.now();
    // A connected hub gets the change pushed by its sync session; one whose sync link is
    // down (reconnecting) is nudged over MQTT to sync now.
    if (!this.deps.presence?.online(rec.bankId)) this.deps.commands?.nudge?.(rec.bankId).catch(() => {});
    notifier?.codeRevoked?.({ parcelId, bankId: rec.bankId, codeId, reason, at });
    notifier?.parcelChanged?.({ parcelId, bankId: rec.bankId, doc: replica.ledger.doc(parcelId)!, source: 'cloud' });
    return { parcelId, codeId, revokedAt: at };
  }

  /** The view of a parcel, from `replica` (its bank's, with the parcel's document current). */
  private view(parcelId: string, replica: BankReplica): ParcelStatusView {
    const { store, clock, notifier } = this.deps;
    const rec = store.parcels.get(parcelId)!;
    const doc = replica.ledger.doc(parcelId);
    if (!doc) throw notFound(parcelId);
    const v = toView(doc, clock.now());
    return {
      parcelId,
      bankId: rec.bankId,
      carrier: rec.carrier,
      trackingNumber: v.announcement?.trackingNumber,
      size: v.announcement?.size ?? v.deposit?.size,
      status: v.status,
      compartment: v.compartment,
      announcedAt: v.announcement?.at,
      depositedAt: v.deposit?.at,
      returnedAt: v.returnedAt,
      codes: v.codes.map((c) => ({
        codeId: c.codeId,
        state: c.state,
        issuer: c.issuer,
        issuedAt: c.issuedAt,
        expiresAt: c.expiresAt,
        usedAt: c.usedAt,
        revokedAt: c.revokedAt,
        usedAfterRevoke: c.usedAfterRevoke,
        openFailures: c.openFailures,
      })),
      exceptions: v.exceptions,
      notifications: notifier?.attempts?.(parcelId) ?? [],
    };
  }
}
