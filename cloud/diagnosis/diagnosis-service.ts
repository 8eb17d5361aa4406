import { NotFound } from '../../shared/errors.js';
import { toView } from '../../shared/ledger/parcel-ledger.js';
import type { Clock } from '../../shared/ports.js';
import type { BankReplicas } from '../bank-replicas.js';
import type { BankPresence } from '../ports.js';
import type { CloudStore } from '../store/cloud-store.js';
import type { ChannelHealthTracker, ChannelName } from '../notify/channels/channel.js';
import { maskEmail, maskPhone } from '../notify/contacts.js';
import type { NotifyRecords } from '../notify/outbox/notify-records.js';
import type { Outbox } from '../notify/outbox/outbox.js';
import type { OutboxStore } from '../notify/outbox/outbox-store.js';
import { diagnose } from './diagnose.js';
import { DEFAULT_DIAGNOSIS_SETTINGS, type Diagnosis, type DiagnosisSettings, type ParcelFacts } from './diagnosis.js';

/** How far before the announcement (or the deposit) the locker's events about a parcel are read: a courier may come before the announcement. */
const LOCKER_EVENTS_BEFORE_MS = 7 * 24 * 3600_000;

/** What {@link DiagnosisService} reads. */
export interface DiagnosisServiceDeps {
  store: CloudStore;
  replicas: BankReplicas;
  outboxStore: OutboxStore;
  outbox: Outbox;
  records: NotifyRecords;
  health: ChannelHealthTracker;
  /** The channels this cloud has. */
  channels: () => ReadonlySet<ChannelName>;
  clock: Clock;
  /** Who is connected (the sync server); absent: the bank directory's times, offline. */
  presence?: () => BankPresence | undefined;
  settings?: Partial<DiagnosisSettings>;
}

/**
 * "Why no code?" for one parcel: gathers the facts the cloud has — the parcel document
 * (deposit, codes, exceptions), the contact (masked), the outbox rows and their history,
 * channel health, contact changes, the bank's presence and its compartment's condition —
 * and walks the causes (`diagnose`). Reads only; never a code or a contact in clear.
 */
export class DiagnosisService {
  constructor(private readonly deps: DiagnosisServiceDeps) {}

  diagnose(parcelId: string): Diagnosis {
    return diagnose(this.facts(parcelId));
  }

  facts(parcelId: string): ParcelFacts {
    const { store, replicas, outboxStore, outbox, records, health, clock } = this.deps;
    const rec = store.parcels.get(parcelId);
    const doc = rec && replicas.get(rec.bankId).ledger.doc(parcelId);
    if (!rec || !doc) throw new NotFound(`No parcel ${parcelId} is known to you.`, 'parcel_not_found');
    const now = clock.now();
    const view = toView(doc, now);
    const replica = replicas.get(rec.bankId);
    const contact = store.parcels.contact(parcelId);
    const presence = this.deps.presence?.();
    const bankRec = store.banks.get(rec.bankId);
    const cond = view.compartment !== undefined ? replica.bankState.condition(view.compartment) : { faults: [], inService: true };
    return {
      parcelId,
      bankId: rec.bankId,
      now,
      status: view.status,
      announcement: view.announcement,
      deposit: view.deposit,
      compartment: view.compartment,
      codes: view.codes,
      exceptions: view.exceptions,
      returnedAt: view.returnedAt,
      lockerEvents: replica.audit
        .forParcel(parcelId, Math.min(view.announcement?.at ?? now, view.deposit?.at ?? now, now) - LOCKER_EVENTS_BEFORE_MS)
        .map((e) => ({ at: e.at, type: e.type, ...(e.compartment !== undefined ? { compartment: e.compartment } : {}) })),
      contact: contact && {
        ...(contact.phone ? { phone: maskPhone(contact.phone) } : {}),
        ...(contact.email ? { email: maskEmail(contact.email) } : {}),
        preferences: contact.preferences,
      },
      usableChannels: outbox.usableChannels(contact),
      configuredChannels: [...this.deps.channels()],
      rows: outboxStore.forParcel(parcelId).map(({ destination: _d, sealed: _s, ...rest }) => rest),
      events: outboxStore.eventsForParcel(parcelId),
      health: health.all(),
      contactChanges: records.contactChanges(parcelId),
      deferred: records.deferred(parcelId),
      bank: {
        online: presence?.online(rec.bankId) ?? false,
        lastSyncAt: presence?.lastSyncAt(rec.bankId) ?? bankRec?.lastSyncAt ?? null,
        lastContactAt: presence?.lastContactAt(rec.bankId) ?? bankRec?.lastContactAt ?? null,
        faults: cond.faults.map((x) => ({ at: x.at, reason: x.reason })),
        inService: cond.inService,
        ...(cond.serviceReason ? { serviceReason: cond.serviceReason } : {}),
      },
      settings: { ...DEFAULT_DIAGNOSIS_SETTINGS, ...this.deps.settings },
    };
  }
}
