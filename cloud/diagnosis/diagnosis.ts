import type { CodeView, ParcelStatus } from '../../shared/ledger/parcel-doc.js';
import type { ChannelHealth, ChannelName } from '../notify/channels/channel.js';
import type { OutboxEvent, OutboxRow } from '../notify/outbox/outbox-store.js';
import type { ContactChangeRecord, DeferredIssuance } from '../notify/outbox/notify-records.js';

/**
 * The causes of "my code never arrived / does not open", in the order of DESIGN.md's table;
 * the diagnosis walks them in this order and the first that holds is the verdict.
 */
export const CAUSES = [
  'not_deposited',
  'code_generation_failed',
  'notification_outage',
  'unreachable_contact',
  'channel_or_preferences',
  'recent_contact_change',
  'locker_malfunction',
] as const;
export type Cause = (typeof CAUSES)[number];

/** One fact supporting a finding: a time and a sentence (masked contacts, provider answers; never a code). */
export interface Evidence {
  at?: number;
  text: string;
}

/** Whether one cause holds for the parcel, why, and what fixes it. */
export interface Finding {
  cause: Cause;
  holds: boolean;
  evidence: Evidence[];
  /** The support action that fixes it (when it holds), e.g. "resend on another channel: email". */
  action: string;
}

/** The conclusion: the first cause that holds (null when none does) and what to do. */
export interface Verdict {
  cause: Cause | null;
  /** One sentence for support. */
  summary: string;
  action: string;
}

/** One step of a message's life (queued, retry, accepted, delivered, failover…), masked. */
export interface NotificationStep {
  at: number;
  kind: 'code' | 'alert';
  channel: ChannelName;
  to: string;
  event: string;
  /** Provider answers and ids (support only), never a body. */
  detail: string | null;
}

/** `GET /v1/parcels/:parcelId/diagnosis`. */
export interface Diagnosis {
  parcelId: string;
  bankId: string;
  /** When the diagnosis was made (the cloud's clock). */
  at: number;
  status: ParcelStatus;
  findings: Finding[];
  verdict: Verdict;
  /** Every outbox step of the parcel, oldest first. */
  notifications: NotificationStep[];
}

/** A row of the outbox as the diagnosis reads it (no destination in clear, no sealed code). */
export type RowFacts = Omit<OutboxRow, 'destination' | 'sealed'>;

/** Everything the walk looks at, gathered by `DiagnosisService` (plain data, so the walk is a pure function). */
export interface ParcelFacts {
  parcelId: string;
  bankId: string;
  now: number;
  status: ParcelStatus;
  announcement?: { carrier: string; trackingNumber: string; at: number };
  deposit?: { at: number; compartment: number };
  compartment?: number;
  codes: CodeView[];
  exceptions: { at: number; reason: string }[];
  returnedAt?: number;
  /**
   * What the locker recorded about the parcel (its audit log, as synced), oldest first: door
   * opened for a deposit, deposit abandoned, door left open, deposit confirmed by the hub…
   * Types and times only, never who.
   */
  lockerEvents: { at: number; type: string; compartment?: number }[];
  /** Masked contact; absent when the cloud holds none. */
  contact?: { phone?: string; email?: string; preferences: ChannelName[] };
  /** Preferred channels this cloud can use for the contact, in order. */
  usableChannels: ChannelName[];
  configuredChannels: ChannelName[];
  rows: RowFacts[];
  events: OutboxEvent[];
  health: ChannelHealth[];
  contactChanges: ContactChangeRecord[];
  deferred?: DeferredIssuance;
  bank: {
    online: boolean;
    lastSyncAt: number | null;
    lastContactAt: number | null;
    /** Open faults of the parcel's compartment. */
    faults: { at: number; reason: string }[];
    inService: boolean;
    serviceReason?: string;
  };
  settings: DiagnosisSettings;
}

/** Thresholds of the walk. */
export interface DiagnosisSettings {
  /** Accepted with no delivery receipt after this long counts as "never delivered", ms. Default 2 min. */
  receiptTimeoutMs: number;
  /** A contact change within this window is a takeover risk, ms. Default 72 h. */
  takeoverWindowMs: number;
  /** A due message not sent for this long means the outbox is stuck, ms. Default 1 min. */
  stuckPendingMs: number;
}

export const DEFAULT_DIAGNOSIS_SETTINGS: DiagnosisSettings = {
  receiptTimeoutMs: 120_000,
  takeoverWindowMs: 72 * 3600_000,
  stuckPendingMs: 60_000,
};
