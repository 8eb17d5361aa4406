import { systemClock, type Clock } from '../../../shared/ports.js';
import {
  CLOSED_RESULT,
  type NotificationChannel,
  type OutgoingMessage,
  type Receipt,
  type SendResult,
} from './channel.js';
import { isRetryableStatus, postJson, providerError, type FetchFn } from './http-post.js';
import { ReceiptEmitter } from './receipt-emitter.js';
import { signatureHeaders } from './signature.js';

/**
 * App push over a signed webhook: `POST {url}` with JSON `{ messageId, to, subject, body }`,
 * headers `x-cubby-timestamp` and `x-cubby-signature: sha256=<hex>` (see `signature.ts`).
 * 2xx -> delivered; 4xx -> failed, not retryable (except 401/403/408/429); 5xx, refused,
 * timeout -> failed, retryable. The receiver dedupes by `messageId`.
 */
export interface PushWebhookChannelOptions {
  /** Full URL of the push service's endpoint, e.g. `http://127.0.0.1:8026/push`. */
  url: string;
  /** Secret shared with the push service, used to sign every request. */
  secret: string;
  /** Per-request timeout in ms. Default 5000. */
  timeoutMs?: number;
  /** Time source for the signature timestamp. Default: wall clock. */
  clock?: Clock;
  /** Default: global `fetch`. */
  fetch?: FetchFn;
}

/**
 * The push adapter of {@link NotificationChannel}. Push answers synchronously, so it never
 * emits receipts; `onReceipt` is kept for the common interface.
 */
export class PushWebhookChannel implements NotificationChannel {
  readonly name = 'push' as const;
  private readonly receipts = new ReceiptEmitter();
  private readonly clock: Clock;
  private closed = false;

  constructor(private readonly opts: PushWebhookChannelOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  async send(msg: OutgoingMessage): Promise<SendResult> {
    if (this.closed) return CLOSED_RESULT;
    const raw = JSON.stringify({ messageId: msg.messageId, to: msg.to, subject: msg.subject, body: msg.body });
    const answer = await postJson(this.opts.url, raw, {
      timeoutMs: this.opts.timeoutMs ?? 5000,
      headers: { ...signatureHeaders(this.opts.secret, raw, this.clock.now()), 'idempotency-key': msg.messageId },
      fetch: this.opts.fetch,
    });
    if (!answer.ok) return { status: 'failed', retryable: true, error: answer.error };
    if (answer.status >= 200 && answer.status < 300) {
      const id = (answer.json as { id?: unknown } | undefined)?.id;
      return { status: 'delivered', providerId: typeof id === 'string' && id ? id : msg.messageId };
    }
    return { status: 'failed', retryable: isRetryableStatus(answer.status), error: providerError(answer.status, answer.json) };
  }

  onReceipt(fn: (r: Receipt) => void): () => void {
    return this.receipts.on(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.receipts.clear();
  }
}
