import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { systemClock, type Clock } from '../../../shared/ports.js';
import {
  CLOSED_RESULT,
  type NotificationChannel,
  type OutgoingMessage,
  type Receipt,
  type SendResult,
} from './channel.js';
import { ReceiptEmitter } from './receipt-emitter.js';

/**
 * E-mail over SMTP (nodemailer). The `Message-ID` header is derived from `msg.messageId`
 * (`<messageId@messageIdDomain>`), so a resend of the same attempt is recognisable and the
 * sink (or a real MTA with duplicate suppression) drops it. The `providerId` of a result or
 * receipt is `msg.messageId` itself, so the outbox can match a bounce without a lookup.
 *
 * Mapping: 250 -> delivered (or accepted, see `acceptanceIsDelivery`); a 5xx reply -> failed,
 * not retryable, and a 5xx to `RCPT TO` (recipient rejected: a bounce) also emits an
 * `undelivered` receipt; a 4xx reply, refused connection, timeout, TLS or auth trouble ->
 * failed, retryable.
 */
export interface SmtpEmailChannelOptions {
  /** SMTP server host, e.g. `127.0.0.1`. */
  host: string;
  /** SMTP server port, e.g. 2525 for the demo sink, 587 for a relay. */
  port: number;
  /** `From:` header and envelope sender, e.g. `Cubby <noreply@cubby.example>`. */
  from: string;
  /** Implicit TLS (port 465). Default false. */
  secure?: boolean;
  /** Never try STARTTLS (local sink). Default false. */
  ignoreTLS?: boolean;
  /** Refuse to send unless STARTTLS succeeds (real relays). Default false. */
  requireTLS?: boolean;
  /** SMTP AUTH credentials. Default: none. */
  auth?: { user: string; pass: string };
  /** Connection, greeting and socket timeout in ms. Default 10 000. */
  timeoutMs?: number;
  /** Right-hand side of generated Message-IDs. Default: the domain of `from`, else `cubby.local`. */
  messageIdDomain?: string;
  /**
   * Whether a 250 means delivered (true: the server is the final hop, like the demo sink) or
   * only accepted for relay (false: bounces may follow out of band). Default true.
   */
  acceptanceIsDelivery?: boolean;
  /** Time source for receipt `at`. Default: wall clock. */
  clock?: Clock;
  /** Called when a receipt listener throws. Default: ignore. */
  onListenerError?: (err: unknown) => void;
}

/** The fields of a nodemailer error we look at. */
interface SmtpError {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

/** The e-mail adapter of {@link NotificationChannel}. The constructor does no I/O. */
export class SmtpEmailChannel implements NotificationChannel {
  readonly name = 'email' as const;
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo>;
  private readonly receipts: ReceiptEmitter;
  private readonly clock: Clock;
  private readonly domain: string;
  private closed = false;

  constructor(private readonly opts: SmtpEmailChannelOptions) {
    const timeout = opts.timeoutMs ?? 10_000;
    const smtp: SMTPTransport.Options = {
      host: opts.host,
      port: opts.port,
      secure: opts.secure ?? false,
      ignoreTLS: opts.ignoreTLS ?? false,
      requireTLS: opts.requireTLS ?? false,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      logger: false,
      debug: false,
    };
    if (opts.auth) smtp.auth = { user: opts.auth.user, pass: opts.auth.pass };
    this.transport = nodemailer.createTransport(smtp);
    this.clock = opts.clock ?? systemClock;
    this.receipts = new ReceiptEmitter(opts.onListenerError);
    this.domain = opts.messageIdDomain ?? /@([^>\s]+)>?\s*$/.exec(opts.from)?.[1] ?? 'cubby.local';
  }

  /** The `Message-ID` header value this channel uses for `messageId`. */
  messageIdHeader(messageId: string): string {
    // Injective escaping into msg-id atext, so distinct ids never share a header.
    const local = messageId.replace(/[^A-Za-z0-9._-]/g, (c) => `=${c.codePointAt(0)!.toString(16)}=`);
    return `<${local}@${this.domain}>`;
  }

  async send(msg: OutgoingMessage): Promise<SendResult> {
    if (this.closed) return CLOSED_RESULT;
    try {
      await this.transport.sendMail({
        from: this.opts.from,
        to: msg.to,
        subject: msg.subject,
        text: msg.body,
        messageId: this.messageIdHeader(msg.messageId),
      });
      const status = (this.opts.acceptanceIsDelivery ?? true) ? 'delivered' : 'accepted';
      return { status, providerId: msg.messageId };
    } catch (err) {
      return this.failure(msg, err as SmtpError);
    }
  }

  private failure(msg: OutgoingMessage, err: SmtpError): SendResult {
    const code = err.responseCode;
    if (code !== undefined && code >= 500) {
      const error = `SMTP ${code}${err.command ? ` at ${err.command}` : ''}`;
      if (err.command === 'RCPT TO') {
        this.receipts.emit({ providerId: msg.messageId, status: 'undelivered', error, at: this.clock.now() });
      }
      return { status: 'failed', retryable: false, error };
    }
    if (code !== undefined) return { status: 'failed', retryable: true, error: `SMTP ${code}` };
    // No reply code: the address was refused before talking to the server (bad syntax).
    if (err.code === 'EENVELOPE') return { status: 'failed', retryable: false, error: 'invalid recipient address' };
    const reason = err.originalCode ?? err.code ?? 'unknown';
    return { status: 'failed', retryable: true, error: `SMTP connection: ${reason}` };
  }

  onReceipt(fn: (r: Receipt) => void): () => void {
    return this.receipts.on(fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.receipts.clear();
    this.transport.close();
  }
}
