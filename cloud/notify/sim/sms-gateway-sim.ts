import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { randomId, systemClock, type Clock, type Random } from '../../../shared/ports.js';
import { signatureHeaders } from '../channels/signature.js';
import { listenHttp, PendingWork, type RunningServer } from './http-listen.js';

/**
 * A local SMS gateway speaking the HTTP API `SmsHttpChannel` talks to, with test controls.
 *
 * API: `POST /v1/messages` `{ to, body, idempotencyKey, callbackUrl? }` -> 202 `{ id }`;
 * after `deliveryDelayMs` the message lands in the inbox (what the phone shows) and a signed
 * receipt `{ id, status }` is POSTed to `callbackUrl`. A repeated `idempotencyKey` answers the
 * same id and delivers nothing more. Inbox: `GET /messages[?to=]` -> `[ { id, to, body, at } ]`,
 * `DELETE /messages`. Control for other processes: `GET /control`, `POST /control`
 * `{ mode?, unreachable?: string[], reachable?: string[] }`.
 */
export type SmsSimMode = 'up' | 'down' | 'slow' | 'blackhole';
/** `reject`: 400 `{ error: 'unreachable' }` at send; `undelivered`: 202, then an `undelivered` receipt. */
export type UnreachableBehaviour = 'reject' | 'undelivered';

/** One SMS as the recipient's phone received it. */
export interface SmsInboxEntry {
  id: string;
  to: string;
  body: string;
  /** Delivery time, ms since epoch. */
  at: number;
}

/** Options of {@link SmsGatewaySim}. */
export interface SmsGatewaySimOptions {
  /** Secret shared with the channel; every receipt webhook is signed with it. */
  webhookSecret: string;
  /** When set, `POST /v1/messages` requires `Authorization: Bearer <apiKey>`. Default: open. */
  apiKey?: string;
  /** Delay between accepting and delivering + sending the receipt, ms. Default 10. */
  deliveryDelayMs?: number;
  /** How long `slow` mode waits before answering, ms. Default 1000. */
  slowMs?: number;
  /** What `markUnreachable(n)` does by default. Default `reject`. */
  unreachableBehaviour?: UnreachableBehaviour;
  /**
   * `down` closes the listener (connection refused) instead of answering 503. Default false.
   * Only an in-process `setMode('up')` can then bring it back (the control endpoint is gone too).
   */
  refuseConnections?: boolean;
  /** Tries per receipt webhook (50 ms apart). Default 3. */
  receiptAttempts?: number;
  /** Inbox entries kept (oldest dropped first). Default 1000. */
  maxInbox?: number;
  /** Default: wall clock. */
  clock?: Clock;
  /** Source of message ids. Default: node:crypto. */
  random?: Random;
}

/** Counters for assertions. */
export interface SmsSimStats {
  requests: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  receiptsSent: number;
  receiptFailures: number;
}

const sendSchema = z.object({
  to: z.string().min(1).max(32),
  body: z.string().max(2000),
  idempotencyKey: z.string().min(1).max(200),
  callbackUrl: z.url().optional(),
});
const controlSchema = z.object({
  mode: z.enum(['up', 'down', 'slow', 'blackhole']).optional(),
  unreachable: z.array(z.string()).optional(),
  reachable: z.array(z.string()).optional(),
});

interface Accepted {
  id: string;
  to: string;
  body: string;
}

const cryptoRandom: Random = { bytes: (n) => new Uint8Array(randomBytes(n)) };

/** The simulator. The constructor does no I/O; call `listen()`. */
export class SmsGatewaySim {
  /** The HTTP API as a Hono app (usable with `app.request()` without a socket). */
  readonly app = new Hono();
  private currentMode: SmsSimMode = 'up';
  private readonly unreachable = new Map<string, UnreachableBehaviour>();
  private readonly byKey = new Map<string, Accepted>();
  private readonly messages: SmsInboxEntry[] = [];
  private readonly work = new PendingWork();
  private readonly counters: SmsSimStats = { requests: 0, accepted: 0, duplicates: 0, rejected: 0, receiptsSent: 0, receiptFailures: 0 };
  private readonly clock: Clock;
  private readonly random: Random;
  private server: RunningServer | null = null;
  private port = 0;
  private host = '127.0.0.1';
  private closed = false;

  constructor(private readonly opts: SmsGatewaySimOptions) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? cryptoRandom;
    this.routes();
  }

  /** Start listening (port 0: any free port). Returns where. */
  async listen(port = 0, host = '127.0.0.1'): Promise<RunningServer> {
    this.server = await listenHttp(this.app.fetch, port, host);
    this.port = this.server.port;
    this.host = host;
    return { url: this.server.url, port: this.server.port, close: () => this.close() };
  }

  /** Base URL, e.g. `http://127.0.0.1:40123` (valid after `listen`, also while refusing). */
  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  get mode(): SmsSimMode {
    return this.currentMode;
  }

  /** Switch behaviour; with `refuseConnections`, `down` closes and `up` reopens the same port. */
  async setMode(mode: SmsSimMode): Promise<void> {
    this.currentMode = mode;
    if (!this.opts.refuseConnections || this.closed) return;
    if (mode === 'down' && this.server) {
      const s = this.server;
      this.server = null;
      await s.close();
    } else if (mode !== 'down' && !this.server && this.port) {
      this.server = await listenHttp(this.app.fetch, this.port, this.host);
    }
  }

  /** Make `number` unreachable (a ported or dead number). */
  markUnreachable(number: string, behaviour: UnreachableBehaviour = this.opts.unreachableBehaviour ?? 'reject'): void {
    this.unreachable.set(number, behaviour);
  }

  markReachable(number: string): void {
    this.unreachable.delete(number);
  }

  /** Delivered messages, oldest first, optionally only those to `to`. */
  inbox(to?: string): SmsInboxEntry[] {
    return this.messages.filter((m) => to === undefined || m.to === to).map((m) => ({ ...m }));
  }

  clearInbox(): void {
    this.messages.length = 0;
  }

  stats(): SmsSimStats {
    return { ...this.counters };
  }

  /** Resolves when no delivery or receipt is pending. */
  idle(): Promise<void> {
    return this.work.idle();
  }

  /** Stop listening and cancel pending deliveries. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.work.cancelAll();
    const s = this.server;
    this.server = null;
    await s?.close();
    await this.work.idle();
  }

  private routes(): void {
    const app = this.app;
    app.post('/v1/messages', async (c) => {
      this.counters.requests++;
      if (this.currentMode === 'down') return c.json({ error: 'gateway unavailable' }, 503);
      if (this.opts.apiKey && c.req.header('authorization') !== `Bearer ${this.opts.apiKey}`) {
        return c.json({ error: 'unauthorized' }, 401);
      }
      const parsed = sendSchema.safeParse(await c.req.json().catch(() => null));
      if (!parsed.success) return c.json({ error: 'invalid_request' }, 400);
      if (this.currentMode === 'slow') {
        // Slow *processing*: the request is in, so it is still accepted after the client gave up.
        await this.work.sleep(this.opts.slowMs ?? 1000);
        if (this.closed) return c.json({ error: 'shutting down' }, 503);
      }
      const { to, body, idempotencyKey, callbackUrl } = parsed.data;
      if (!/^\+[1-9]\d{6,14}$/.test(to)) return c.json({ error: 'invalid_number' }, 400);

      const seen = this.byKey.get(idempotencyKey);
      if (seen) {
        if (seen.to !== to || seen.body !== body) return c.json({ error: 'idempotency_key_reused' }, 409);
        this.counters.duplicates++;
        return c.json({ id: seen.id }, 202);
      }
      const behaviour = this.unreachable.get(to);
      if (behaviour === 'reject') {
        this.counters.rejected++;
        return c.json({ error: 'unreachable' }, 400);
      }
      const msg: Accepted = { id: `sms_${randomId(this.random, 8)}`, to, body };
      this.remember(idempotencyKey, msg);
      this.counters.accepted++;
      if (this.currentMode !== 'blackhole') this.work.track(this.deliver(msg, behaviour !== undefined, callbackUrl));
      return c.json({ id: msg.id }, 202);
    });

    app.get('/messages', (c) => c.json(this.inbox(c.req.query('to'))));
    app.delete('/messages', (c) => {
      this.clearInbox();
      return c.body(null, 204);
    });
    app.get('/control', (c) => c.json(this.controlState()));
    app.post('/control', async (c) => {
      const parsed = controlSchema.safeParse(await c.req.json().catch(() => null));
      if (!parsed.success) return c.json({ error: 'invalid_request' }, 400);
      for (const n of parsed.data.unreachable ?? []) this.markUnreachable(n);
      for (const n of parsed.data.reachable ?? []) this.markReachable(n);
      const mode = parsed.data.mode;
      // Answer first: with refuseConnections, `down` closes the socket this answer travels on.
      if (mode) setImmediate(() => void this.setMode(mode));
      return c.json({ ...this.controlState(), mode: mode ?? this.currentMode });
    });
  }

  private controlState(): { mode: SmsSimMode; unreachable: string[] } {
    return { mode: this.currentMode, unreachable: [...this.unreachable.keys()] };
  }

  private remember(key: string, msg: Accepted): void {
    this.byKey.set(key, msg);
    if (this.byKey.size > 10_000) this.byKey.delete(this.byKey.keys().next().value!);
  }

  private async deliver(msg: Accepted, unreachable: boolean, callbackUrl: string | undefined): Promise<void> {
    await this.work.sleep(this.opts.deliveryDelayMs ?? 10);
    if (this.closed) return;
    if (!unreachable) {
      this.messages.push({ id: msg.id, to: msg.to, body: msg.body, at: this.clock.now() });
      if (this.messages.length > (this.opts.maxInbox ?? 1000)) this.messages.shift();
    }
    if (!callbackUrl) return;
    const receipt = unreachable
      ? { id: msg.id, status: 'undelivered', error: 'unreachable' }
      : { id: msg.id, status: 'delivered' };
    await this.postReceipt(callbackUrl, JSON.stringify(receipt));
  }

  private async postReceipt(url: string, raw: string): Promise<void> {
    const attempts = this.opts.receiptAttempts ?? 3;
    for (let i = 0; i < attempts && !this.closed; i++) {
      if (i > 0) await this.work.sleep(50);
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signatureHeaders(this.opts.webhookSecret, raw, this.clock.now()) },
          body: raw,
          signal: AbortSignal.timeout(2000),
        });
        await res.body?.cancel();
        if (res.ok) {
          this.counters.receiptsSent++;
          return;
        }
        if (res.status < 500) break; // refused as bad: retrying the same bytes will not help
      } catch {
        // network trouble at the cloud: try again
      }
    }
    this.counters.receiptFailures++;
  }
}

/** Create a simulator and start it on `port` (default 0). */
export async function startSmsGatewaySim(
  opts: SmsGatewaySimOptions & { port?: number; host?: string },
): Promise<SmsGatewaySim> {
  const sim = new SmsGatewaySim(opts);
  await sim.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  return sim;
}
