import type { Context } from 'hono';
import { z } from 'zod';
import { BadRequest, DomainError, TooLarge, Unauthorized } from '../../../shared/errors.js';
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
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from './signature.js';

/**
 * SMS over an HTTP gateway API.
 *
 * Send: `POST {baseUrl}/v1/messages` `{ to, body, idempotencyKey, callbackUrl }` -> 202 `{ id }`.
 * 4xx (unreachable/invalid number) -> failed, not retryable (except 401/403/408/429);
 * 5xx, refused connection, timeout -> failed, retryable.
 * Receipts: the gateway POSTs `{ id, status, error? }` to `callbackUrl`, signed with the
 * shared `webhookSecret` (see `signature.ts`); mount {@link createSmsReceiptHandler} there.
 */
export interface SmsHttpChannelOptions {
  /** Gateway base URL, e.g. `http://127.0.0.1:8025` (no trailing `/v1`). */
  baseUrl: string;
  /** Public URL of the cloud's receipt webhook (`.../v1/hooks/sms`), sent with every message. */
  callbackUrl: string;
  /** Secret shared with the gateway; receipts must be signed with it. */
  webhookSecret: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. Default: none. */
  apiKey?: string;
  /** Per-request timeout in ms (connect + answer). Default 5000. */
  timeoutMs?: number;
  /** Accepted webhook timestamp skew in ms. Default 5 minutes. */
  signatureToleranceMs?: number;
  /** Largest receipt body accepted, in bytes. Default 16 KiB. */
  maxReceiptBytes?: number;
  /** Time source for receipt `at` and signature freshness. Default: wall clock. */
  clock?: Clock;
  /** Default: global `fetch`. */
  fetch?: FetchFn;
  /** Called when a receipt listener throws. Default: ignore. */
  onListenerError?: (err: unknown) => void;
}

const acceptedBody = z.object({ id: z.string().min(1).max(200) });

/** Body of the gateway's receipt webhook. */
export const smsReceiptSchema = z.object({
  id: z.string().min(1).max(200),
  status: z.enum(['delivered', 'failed', 'undelivered']),
  error: z.string().max(500).optional(),
});

/** The SMS adapter of {@link NotificationChannel}. The constructor does no I/O. */
export class SmsHttpChannel implements NotificationChannel {
  readonly name = 'sms' as const;
  private readonly receipts: ReceiptEmitter;
  private readonly clock: Clock;
  private closed = false;
  /** Largest receipt body accepted, in bytes. */
  readonly maxReceiptBytes: number;

  constructor(private readonly opts: SmsHttpChannelOptions) {
    this.clock = opts.clock ?? systemClock;
    this.maxReceiptBytes = opts.maxReceiptBytes ?? 16 * 1024;
    this.receipts = new ReceiptEmitter(opts.onListenerError);
  }

  async send(msg: OutgoingMessage): Promise<SendResult> {
    if (this.closed) return CLOSED_RESULT;
    const raw = JSON.stringify({
      to: msg.to,
      body: msg.body,
      idempotencyKey: msg.messageId,
      callbackUrl: this.opts.callbackUrl,
    });
    const headers: Record<string, string> = {};
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    const answer = await postJson(`${this.opts.baseUrl.replace(/\/+$/, '')}/v1/messages`, raw, {
      timeoutMs: this.opts.timeoutMs ?? 5000,
      headers,
      fetch: this.opts.fetch,
    });
    if (!answer.ok) return { status: 'failed', retryable: true, error: answer.error };
    if (answer.status >= 200 && answer.status < 300) {
      const parsed = acceptedBody.safeParse(answer.json);
      // The gateway may have taken it; retrying with the same idempotency key is safe.
      if (!parsed.success) return { status: 'failed', retryable: true, error: `HTTP ${answer.status}: malformed answer` };
      return { status: 'accepted', providerId: parsed.data.id };
    }
    return { status: 'failed', retryable: isRetryableStatus(answer.status), error: providerError(answer.status, answer.json) };
  }

  onReceipt(fn: (r: Receipt) => void): () => void {
    return this.receipts.on(fn);
  }

  /**
   * Authenticate, validate and emit one receipt webhook. Throws `Unauthorized`
   * (`bad_signature`), `BadRequest` (`invalid_receipt`) or `TooLarge`; nothing is emitted then.
   */
  acceptReceiptWebhook(rawBody: string, headers: { signature?: string | null; timestamp?: string | null }): Receipt {
    if (Buffer.byteLength(rawBody, 'utf8') > this.maxReceiptBytes) throw new TooLarge(this.maxReceiptBytes);
    const problem = verifySignature({
      secret: this.opts.webhookSecret,
      rawBody,
      signature: headers.signature,
      timestamp: headers.timestamp,
      nowMs: this.clock.now(),
      toleranceMs: this.opts.signatureToleranceMs,
    });
    if (problem) {
      throw new Unauthorized(
        `The receipt signature is not valid (${problem}); check the shared webhook secret and clock.`,
        'bad_signature',
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(rawBody);
    } catch {
      throw new BadRequest('The receipt body is not valid JSON.', 'invalid_receipt');
    }
    const parsed = smsReceiptSchema.safeParse(json);
    if (!parsed.success) {
      throw new BadRequest('The receipt needs { id, status: delivered|failed|undelivered, error? }.', 'invalid_receipt');
    }
    const receipt: Receipt = { providerId: parsed.data.id, status: parsed.data.status, at: this.clock.now() };
    if (parsed.data.error !== undefined) receipt.error = parsed.data.error;
    if (!this.closed) this.receipts.emit(receipt);
    return receipt;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.receipts.clear();
  }
}

/**
 * The Hono handler for the gateway's receipt webhook; the cloud mounts it with
 * `app.post('/v1/hooks/sms', createSmsReceiptHandler(sms))` (outside bearer-token auth:
 * the HMAC signature is the authentication). Answers 200 `{ ok: true }`, or API.md's error
 * shape: 401 `bad_signature`, 400 `invalid_receipt`, 413 `payload_too_large`.
 */
export function createSmsReceiptHandler(channel: SmsHttpChannel): (c: Context) => Promise<Response> {
  return async (c) => {
    try {
      const declared = Number(c.req.header('content-length') ?? '0');
      if (declared > channel.maxReceiptBytes) throw new TooLarge(channel.maxReceiptBytes);
      const raw = await c.req.text();
      channel.acceptReceiptWebhook(raw, {
        signature: c.req.header(SIGNATURE_HEADER),
        timestamp: c.req.header(TIMESTAMP_HEADER),
      });
      return c.json({ ok: true }, 200);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      return c.json(
        { error: { code: err.code, message: err.message, ...err.details } },
        err.status as 400 | 401 | 413,
      );
    }
  };
}
