/**
 * The notification-channel port: one interface for every way a pickup code reaches a person
 * (SMS over an HTTP gateway, e-mail over SMTP, app push over a webhook). The outbox worker
 * sends through it and listens for receipts; each adapter maps its provider's answers onto
 * {@link SendResult} so the worker can decide between "wait", "retry" and "fail over".
 *
 * Rules every implementation follows (checked by `test/contracts/notification-channel.contract.ts`):
 * - `send` never throws for provider trouble: it resolves to a `failed` result instead.
 * - `retryable: true` means the provider side failed (down, timeout, 5xx) and the same message
 *   may be sent again later with the same `messageId`; `retryable: false` means this recipient
 *   cannot be reached on this channel (invalid/unreachable number, rejected mailbox).
 * - Sending the same `messageId` twice never reaches the recipient twice (provider idempotency
 *   key, Message-ID dedupe, webhook dedupe).
 * - A message body contains a pickup code: adapters never log it and never put it in `error`.
 * - After `close()`, `send` resolves to `failed` (retryable) without contacting the provider.
 */

/** The channels Cubby knows, in the vocabulary of a recipient's `preferences`. */
export type ChannelName = 'sms' | 'email' | 'push';

/** One attempt to notify one recipient on one channel. */
export interface OutgoingMessage {
  /** Stable id of this attempt, used as idempotency key where the provider supports it. */
  messageId: string;
  /** Address on this channel: E.164 phone number, e-mail address, or push target/device id. */
  to: string;
  /** Subject line (e-mail subject, push title); SMS ignores it. */
  subject: string;
  /** Plain-text body. Contains the pickup code: never log it. */
  body: string;
}

/** What the provider said to one `send`. */
export type SendResult =
  /** The provider took it; a receipt may follow via `onReceipt`. */
  | { status: 'accepted'; providerId: string }
  /** Synchronous confirmation (SMTP 250 from the final hop, push 2xx). */
  | { status: 'delivered'; providerId: string }
  /** Not sent. `retryable`: provider trouble (try again later) vs recipient unreachable here. */
  | { status: 'failed'; retryable: boolean; error: string };

/** An asynchronous delivery report (SMS status webhook, e-mail bounce). */
export interface Receipt {
  /** The `providerId` of the `SendResult` this receipt is about. */
  providerId: string;
  /** `undelivered`: the recipient could not be reached (e.g. ported/unknown number, bounce). */
  status: 'delivered' | 'failed' | 'undelivered';
  /** Provider's reason, when there is one (never contains the body). */
  error?: string;
  /** When Cubby learned about it (ms since epoch, from the channel's clock). */
  at: number;
}

/** A way to reach a person. See the module comment for the rules. */
export interface NotificationChannel {
  readonly name: ChannelName;
  /** Hand one message to the provider. Resolves (never rejects) with the provider's answer. */
  send(msg: OutgoingMessage): Promise<SendResult>;
  /** Subscribe to asynchronous delivery receipts (SMS webhook, e-mail bounces). Returns unsubscribe. */
  onReceipt(fn: (r: Receipt) => void): () => void;
  /** Release connections and listeners. Idempotent. */
  close(): Promise<void>;
}

/** The result every adapter returns for a send after `close()`. */
export const CLOSED_RESULT: SendResult = Object.freeze({
  status: 'failed',
  retryable: true,
  error: 'channel closed',
});

export {
  ChannelHealthTracker,
  withHealthTracking,
  type ChannelHealth,
  type ChannelHealthTrackerOptions,
} from './channel-health.js';
