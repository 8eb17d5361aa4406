import type { SignedCommand } from '../../shared/crypto/signed-command.js';
import { DomainError } from '../../shared/errors.js';

/** Commands the cloud sends to a hub on `cubby/banks/{bankId}/cmd`. */
export type BankCommand =
  /** "Sync now": a revocation, rotation or config change is waiting for the hub. */
  | { type: 'sync' }
  /** A remote open, signed with the cloud's Ed25519 key (`signCommand`). */
  | { type: 'open'; signed: SignedCommand };

/**
 * The cloud's port for reaching a hub right now. The MQTT implementation is
 * `createCloudMqtt`; tests of cloud services can pass a recording fake.
 *
 * Delivery is best effort: a resolved `send` means the broker accepted the message
 * (QoS 1 PUBACK), not that the hub received or acted on it. A nudge that is lost costs
 * only latency (the hub syncs on every reconnect and on its timer); a remote open's outcome
 * is known from the hub's `remote_open*` event and audit log, never from this call.
 */
export interface BankCommandSender {
  /** Publish `cmd` to the bank. Rejects with {@link BrokerUnavailable} when not connected. */
  send(bankId: string, cmd: BankCommand): Promise<void>;
  /** Shorthand for `send(bankId, { type: 'sync' })`. */
  nudge(bankId: string): Promise<void>;
}

/** The cloud is not connected to its MQTT broker; maps to 503 at the HTTP boundary. */
export class BrokerUnavailable extends DomainError {
  constructor() {
    super('broker_unavailable', 'The cloud cannot reach the locker network right now. Try again in a minute.', 503);
  }
}
