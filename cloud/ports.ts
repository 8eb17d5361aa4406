import type { SignedCommand } from '../shared/crypto/signed-command.js';
import type { ParcelDoc } from '../shared/ledger/parcel-doc.js';

/** A remote open, signed with the cloud's Ed25519 key. */
export interface OpenCommand {
  type: 'open';
  signed: SignedCommand;
}

/**
 * Reaches a bank's hub right now (MQTT `cubby/banks/{bankId}/cmd` in the real system:
 * cloud/mqtt's `CloudMqtt` satisfies this interface as is).
 */
export interface BankCommandSender {
  /** Resolves once the transport took the command; rejects when the bank cannot be reached now. */
  send(bankId: string, command: OpenCommand): Promise<void>;
  /** "Sync now": used when a revocation is waiting for a hub whose sync connection is down. */
  nudge?(bankId: string): Promise<void>;
}

/** One attempt to notify a recipient, as support sees it (never the message body). */
export interface NotificationAttempt {
  channel: string;
  status: string;
  at: number;
  error?: string;
}

/**
 * Hooks of the notification outbox (cloud/notify implements them). Every hook is optional
 * and is called after the fact is durable; a hook must not throw (failures are its own to
 * retry) and must never log a code or a contact in clear.
 */
export interface CloudNotifier {
  /** A carrier announced a parcel; its contact is stored in the registry. */
  parcelAnnounced?(e: { parcelId: string; bankId: string; at: number }): void;
  /**
   * A parcel document changed at the cloud: `source: 'hub'` when a hub synced it (e.g. a
   * deposit whose code is sealed for delivery, a pickup), `'cloud'` for the cloud's own changes.
   */
  parcelChanged?(e: { parcelId: string; bankId: string; doc: ParcelDoc; source: 'hub' | 'cloud' }): void;
  /**
   * A hub's version of a parcel document is being committed. Unlike the other hooks this is
   * called INSIDE the SQLite transaction that stores the document (the cloud database), so
   * rows it writes to that database commit or roll back with the document — the outbox
   * queues a fresh hub-issued code here. It must not throw and must do no other I/O.
   */
  parcelReceived?(e: { parcelId: string; bankId: string; doc: ParcelDoc }): void;
  /** Support revoked a code. */
  codeRevoked?(e: { parcelId: string; bankId: string; codeId: string; reason: string; at: number }): void;
  /** Attempts so far, newest last, for `GET /v1/parcels/:id`. */
  attempts?(parcelId: string): NotificationAttempt[];
}

/** Whether a bank's hub is connected, and when it last synced (the sync server knows). */
export interface BankPresence {
  online(bankId: string): boolean;
  /** Last time a sync session with the hub ended with both sides in sync. */
  lastSyncAt(bankId: string): number | null;
  /** Last time the hub was heard from. */
  lastContactAt(bankId: string): number | null;
}
