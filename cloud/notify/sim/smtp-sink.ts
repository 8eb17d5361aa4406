import type { AddressInfo } from 'node:net';
import type { Context } from 'hono';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { systemClock, type Clock } from '../../../shared/ports.js';
import { parseMail } from './mime-parse.js';

/**
 * A real SMTP server on 127.0.0.1 that keeps what it receives: the demo's mailbox and the
 * e-mail channel's test provider. No TLS (STARTTLS disabled), AUTH optional (any credentials
 * pass). One stored entry per envelope recipient, deduplicated by (Message-ID, recipient),
 * like a mailbox that hides duplicates. Test controls: `rejectAddress` (550 at RCPT TO),
 * `stop()` / `start()` (the same port again), `clear()`.
 */
export interface SinkMessage {
  /** Envelope recipient (lower-cased). */
  to: string;
  /** `From:` header as sent (envelope sender if there is no header). */
  from: string;
  subject: string;
  /** Decoded text body, line breaks as `\n`. Contains pickup codes: demo inspection only. */
  text: string;
  /** `Message-ID:` header including angle brackets, or `''` when absent. */
  messageId: string;
  /** Receipt time, ms since epoch. */
  at: number;
}

/** Options of {@link SmtpSink}. */
export interface SmtpSinkOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Port of the first `start()`; 0 picks a free one, later starts reuse it. Default 0. */
  port?: number;
  /** Largest message accepted, bytes. Default 1 MiB. */
  maxBytes?: number;
  /** Messages kept (oldest dropped first). Default 1000. */
  maxMessages?: number;
  /** Default: wall clock. */
  clock?: Clock;
}

/** The sink. The constructor does no I/O; call `start()`. */
export class SmtpSink {
  private server: SMTPServer | null = null;
  private readonly stored: SinkMessage[] = [];
  private readonly seen = new Set<string>();
  private readonly rejected = new Set<string>();
  private readonly clock: Clock;
  private boundPort: number;
  private readonly host: string;
  private duplicateCount = 0;

  constructor(private readonly opts: SmtpSinkOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.boundPort = opts.port ?? 0;
    this.host = opts.host ?? '127.0.0.1';
  }

  /** Listen (again, on the same port after a `stop()`). Resolves with the address. */
  async start(): Promise<{ host: string; port: number }> {
    if (this.server) return { host: this.host, port: this.boundPort };
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      closeTimeout: 100,
      size: this.opts.maxBytes ?? 1024 * 1024,
      banner: 'Cubby SMTP sink',
      disableReverseLookup: true,
      onAuth: (_auth, _session, cb) => cb(null, { user: 'sink' }),
      onRcptTo: (address, _session, cb) => {
        if (this.rejected.has(address.address.toLowerCase())) {
          cb(Object.assign(new Error('Mailbox unavailable'), { responseCode: 550 }));
        } else cb();
      },
      onData: (stream, session, cb) => this.receive(stream, session, cb),
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {}); // client-side hiccups must not crash the process
    this.boundPort = (server.server.address() as AddressInfo).port;
    this.server = server;
    return { host: this.host, port: this.boundPort };
  }

  /** Stop listening (clients then get "connection refused"); kept messages survive. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** The port (after the first `start()`). */
  get port(): number {
    return this.boundPort;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Answer 550 to `RCPT TO:<addr>` (case-insensitive) from now on. */
  rejectAddress(addr: string): void {
    this.rejected.add(addr.toLowerCase());
  }

  acceptAddress(addr: string): void {
    this.rejected.delete(addr.toLowerCase());
  }

  /** Received mail, oldest first, optionally only that to `to`. */
  messages(to?: string): SinkMessage[] {
    const want = to?.toLowerCase();
    return this.stored.filter((m) => want === undefined || m.to === want).map((m) => ({ ...m }));
  }

  /** How many deliveries were dropped as duplicates. */
  get duplicates(): number {
    return this.duplicateCount;
  }

  /** Empty the mailbox. Message-IDs already seen stay known, so a late duplicate is still dropped. */
  clear(): void {
    this.stored.length = 0;
  }

  /** Stop for good. */
  close(): Promise<void> {
    return this.stop();
  }

  private receive(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err) => cb(err));
    stream.on('end', () => {
      if (stream.sizeExceeded) {
        cb(Object.assign(new Error('Message too large'), { responseCode: 552 }));
        return;
      }
      const mail = parseMail(Buffer.concat(chunks));
      const messageId = mail.headers.get('message-id') ?? '';
      const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      for (const rcpt of session.envelope.rcptTo) {
        const to = rcpt.address.toLowerCase();
        const key = `${messageId}\u0000${to}`;
        if (messageId && this.seen.has(key)) {
          this.duplicateCount++;
          continue;
        }
        if (messageId) {
          this.seen.add(key);
          if (this.seen.size > 10_000) this.seen.delete(this.seen.values().next().value!);
        }
        this.stored.push({
          to,
          from: mail.headers.get('from') ?? envelopeFrom,
          subject: mail.headers.get('subject') ?? '',
          text: mail.text,
          messageId,
          at: this.clock.now(),
        });
        if (this.stored.length > (this.opts.maxMessages ?? 1000)) this.stored.shift();
      }
      cb();
    });
  }
}

/** Create a sink and start it. */
export async function startSmtpSink(opts: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const sink = new SmtpSink(opts);
  await sink.start();
  return sink;
}

/**
 * Hono handler for the cloud's demo endpoint: `app.get('/v1/dev/mail', createDevMailHandler(sink))`
 * (mount only when `CUBBY_DEMO=1`). Answers `[ SinkMessage ]`, filtered by `?to=` when given.
 */
export function createDevMailHandler(sink: SmtpSink): (c: Context) => Response {
  return (c) => c.json(sink.messages(c.req.query('to')));
}
