import { Hono } from 'hono';
import { z } from 'zod';
import { systemClock, type Clock } from '../../../shared/ports.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../channels/signature.js';
import { listenHttp, PendingWork, type RunningServer } from './http-listen.js';

/**
 * A local push service: the endpoint `PushWebhookChannel` posts to, standing in for the
 * app's push backend. `POST /push` verifies the signature (401 if wrong or stale), dedupes
 * by `messageId` (a duplicate answers 200 and shows nothing twice) and stores an inbox
 * (what the phone shows). `GET /messages[?to=]`, `DELETE /messages`, `GET|POST /control`
 * `{ mode?, unreachable?: string[], reachable?: string[] }` for other processes.
 */
export type PushSimMode = 'up' | 'down' | 'slow';

/** One notification as the device received it. */
export interface PushInboxEntry {
  messageId: string;
  to: string;
  subject: string;
  body: string;
  /** Receipt time, ms since epoch. */
  at: number;
}

/** Options of {@link PushReceiverSim}. */
export interface PushReceiverSimOptions {
  /** Secret shared with the channel. */
  secret: string;
  /** How long `slow` mode waits before answering, ms. Default 1000. */
  slowMs?: number;
  /** Accepted signature timestamp skew, ms. Default 5 minutes. */
  toleranceMs?: number;
  /** Inbox entries kept (oldest dropped first). Default 1000. */
  maxInbox?: number;
  /** Default: wall clock. */
  clock?: Clock;
}

/** Counters for assertions. */
export interface PushSimStats {
  requests: number;
  delivered: number;
  duplicates: number;
  badSignatures: number;
}

const pushSchema = z.object({
  messageId: z.string().min(1).max(200),
  to: z.string().min(1).max(200),
  subject: z.string().max(500),
  body: z.string().max(4000),
});
const controlSchema = z.object({
  mode: z.enum(['up', 'down', 'slow']).optional(),
  unreachable: z.array(z.string()).optional(),
  reachable: z.array(z.string()).optional(),
});

/** The simulator. The constructor does no I/O; call `listen()`. */
export class PushReceiverSim {
  /** The HTTP API as a Hono app. */
  readonly app = new Hono();
  private currentMode: PushSimMode = 'up';
  private readonly unknownTargets = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly messages: PushInboxEntry[] = [];
  private readonly counters: PushSimStats = { requests: 0, delivered: 0, duplicates: 0, badSignatures: 0 };
  private readonly work = new PendingWork();
  private readonly clock: Clock;
  private server: RunningServer | null = null;
  private closed = false;

  constructor(private readonly opts: PushReceiverSimOptions) {
    this.clock = opts.clock ?? systemClock;
    this.routes();
  }

  /** Start listening (port 0: any free port). */
  async listen(port = 0, host = '127.0.0.1'): Promise<RunningServer> {
    this.server = await listenHttp(this.app.fetch, port, host);
    return { url: this.server.url, port: this.server.port, close: () => this.close() };
  }

  /** The endpoint to configure as the channel's `url` (valid after `listen`). */
  get pushUrl(): string {
    if (!this.server) throw new Error('push receiver sim is not listening');
    return `${this.server.url}/push`;
  }

  setMode(mode: PushSimMode): void {
    this.currentMode = mode;
  }

  /** Answer 410 `unknown_target` for `to` (app uninstalled, token expired). */
  makeUnreachable(to: string): void {
    this.unknownTargets.add(to);
  }

  makeReachable(to: string): void {
    this.unknownTargets.delete(to);
  }

  inbox(to?: string): PushInboxEntry[] {
    return this.messages.filter((m) => to === undefined || m.to === to).map((m) => ({ ...m }));
  }

  clearInbox(): void {
    this.messages.length = 0;
  }

  stats(): PushSimStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.work.cancelAll();
    const s = this.server;
    this.server = null;
    await s?.close();
  }

  private routes(): void {
    this.app.post('/push', async (c) => {
      this.counters.requests++;
      if (this.currentMode === 'down') return c.json({ error: 'push service unavailable' }, 503);
      if (this.currentMode === 'slow') {
        await this.work.sleep(this.opts.slowMs ?? 1000);
        if (this.closed) return c.json({ error: 'shutting down' }, 503);
      }
      const raw = await c.req.text();
      const problem = verifySignature({
        secret: this.opts.secret,
        rawBody: raw,
        signature: c.req.header(SIGNATURE_HEADER),
        timestamp: c.req.header(TIMESTAMP_HEADER),
        nowMs: this.clock.now(),
        toleranceMs: this.opts.toleranceMs,
      });
      if (problem) {
        this.counters.badSignatures++;
        return c.json({ error: problem }, 401);
      }
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        json = null;
      }
      const parsed = pushSchema.safeParse(json);
      if (!parsed.success) return c.json({ error: 'invalid_request' }, 400);
      const m = parsed.data;
      if (this.seen.has(m.messageId)) {
        this.counters.duplicates++;
        return c.json({ id: m.messageId, duplicate: true }, 200);
      }
      if (this.unknownTargets.has(m.to)) return c.json({ error: 'unknown_target' }, 410);
      this.seen.add(m.messageId);
      if (this.seen.size > 10_000) this.seen.delete(this.seen.values().next().value!);
      this.messages.push({ ...m, at: this.clock.now() });
      if (this.messages.length > (this.opts.maxInbox ?? 1000)) this.messages.shift();
      this.counters.delivered++;
      return c.json({ id: m.messageId }, 200);
    });
    this.app.get('/messages', (c) => c.json(this.inbox(c.req.query('to'))));
    this.app.delete('/messages', (c) => {
      this.clearInbox();
      return c.body(null, 204);
    });
    this.app.get('/control', (c) => c.json(this.controlState()));
    this.app.post('/control', async (c) => {
      const parsed = controlSchema.safeParse(await c.req.json().catch(() => null));
      if (!parsed.success) return c.json({ error: 'invalid_request' }, 400);
      if (parsed.data.mode) this.setMode(parsed.data.mode);
      for (const t of parsed.data.unreachable ?? []) this.makeUnreachable(t);
      for (const t of parsed.data.reachable ?? []) this.makeReachable(t);
      return c.json(this.controlState());
    });
  }

  private controlState(): { mode: PushSimMode; unreachable: string[] } {
    return { mode: this.currentMode, unreachable: [...this.unknownTargets] };
  }
}

/** Create a push receiver simulator and start it on `port` (default 0). */
export async function startPushReceiverSim(
  opts: PushReceiverSimOptions & { port?: number; host?: string },
): Promise<PushReceiverSim> {
  const sim = new PushReceiverSim(opts);
  await sim.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  return sim;
}
