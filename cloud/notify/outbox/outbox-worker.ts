import { open, type SealKeyPair } from '../../../shared/crypto/sealed-box.js';
import { randomInt, type Clock, type Random } from '../../../shared/ports.js';
import { realTimers, type Timers } from '../../../shared/sync/sync-peer.js';
import type { ChannelName, NotificationChannel, Receipt, SendResult } from '../channels/channel.js';
import { codeMessage, contactChangedAlert, type MessageText } from './message-text.js';
import type { Outbox } from './outbox.js';
import type { OutboxRow, OutboxStore } from './outbox-store.js';

/** Options of {@link OutboxWorker}. Times are read from `clock`; only polling uses `timers`. */
export interface OutboxWorkerOptions {
  store: OutboxStore;
  outbox: Outbox;
  /** The channels to send on (wrapped with `withHealthTracking` by the caller). */
  channels: ReadonlyMap<ChannelName, NotificationChannel>;
  /** The cloud's seal key pair: a sealed code is opened in memory just before its send. */
  sealKeys: SealKeyPair;
  clock: Clock;
  /** Jitter of the retry backoff. */
  random: Random;
  /** Default: real timers. */
  timers?: Timers;
  /** Whether the code of a row may still go out (its code is the parcel's live one). */
  isLive(row: OutboxRow): boolean;
  /** How often due rows are looked for, ms. Default 1000 (new rows also wake the worker). */
  pollMs?: number;
  /** Sends in flight at once. Default 8. */
  concurrency?: number;
  /** First retry delay cap, ms; doubles per attempt (full jitter). Default 5000. */
  backoffBaseMs?: number;
  /** Largest retry delay, ms. Default 5 minutes. */
  backoffMaxMs?: number;
  /** An accepted row with no `delivered` receipt after this long fails over, ms. Default 2 minutes. */
  receiptTimeoutMs?: number;
  /**
   * A row another cloud node claimed this long ago and never finished is sent again (that node
   * died mid-send; the provider sees the same idempotency key). Must exceed any channel's send
   * timeout. Default 2 minutes.
   */
  reclaimAfterMs?: number;
  /** Other periodic work run on every pass (deferred issuance). Must not throw. */
  chores?: (() => void | Promise<void>)[];
  /** After every recorded send (tests, the benchmark). */
  onSent?: (row: OutboxRow, result: SendResult) => void;
  /** Operational messages: row ids and provider errors only, never a body or a contact. */
  log?: (msg: string) => void;
}

const RECEIPT_BUFFER = 1000;

/**
 * Sends what the outbox holds. Claims due rows (`pending` -> `sending`, in a transaction),
 * opens the sealed code in memory, sends through the row's channel, forgets the plaintext
 * and records the answer: accepted / delivered, retry later with exponential backoff and full
 * jitter (retryable failures), or failed — then the next channel of the recipient's
 * preferences gets a row for the same code (failover). Also fails over on `undelivered`
 * receipts and on accepted rows with no `delivered` receipt after `receiptTimeoutMs`.
 * A row found in `sending` at start (the process died mid-send) is sent again with the SAME
 * id, which providers take as the idempotency key: no double message.
 */
export class OutboxWorker {
  private readonly timers: Timers;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly early = new Map<string, Receipt>();
  private unsubscribe: (() => void)[] = [];
  private timer: unknown;
  private running = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: OutboxWorkerOptions) {
    this.timers = opts.timers ?? realTimers;
  }

  /** Recover rows a crash left in `sending`, listen for receipts, poll. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const now = this.opts.clock.now();
    const recovered = this.opts.store.unclaimAll(now);
    if (recovered > 0) this.opts.log?.(`outbox: ${recovered} message(s) interrupted by a restart will be sent again with their idempotency keys`);
    for (const [name, ch] of this.opts.channels) this.unsubscribe.push(ch.onReceipt((r) => this.onReceipt(name, r)));
    this.schedule(0);
  }

  /** Stop polling and wait for the sends in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    for (const u of this.unsubscribe.splice(0)) u();
    await this.idle();
  }

  /** Look for due rows soon (a row was just queued). */
  wake(): void {
    if (this.running) this.schedule(0);
  }

  /** One pass now, resolved when every send in flight is recorded (tests drive time with this). */
  async tick(): Promise<void> {
    await this.pass();
    await this.idle();
  }

  /** Resolves when no send is in flight. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight.values()]);
  }

  /** Apply a provider's receipt (also called by the channels' `onReceipt`). */
  onReceipt(channel: ChannelName, r: Receipt): void {
    const { store, clock } = this.opts;
    const row = store.byProvider(channel, r.providerId);
    if (!row || row.status === 'sending') {
      // The receipt overtook the answer to our send: apply it once the answer is recorded.
      this.early.set(`${channel}:${r.providerId}`, r);
      if (this.early.size > RECEIPT_BUFFER) this.early.delete(this.early.keys().next().value!);
      return;
    }
    const now = clock.now();
    store.transaction(() => {
      if (r.status === 'delivered') {
        if (row.status !== 'accepted') return;
        store.update(row.id, { status: 'delivered', deliveredAt: r.at, sealed: null }, now);
        store.event(row.id, now, 'delivered', 'delivery receipt');
        return;
      }
      if (row.status !== 'accepted' && row.status !== 'failed' && row.status !== 'delivered') return;
      const error = r.error ? `${r.status}: ${r.error}` : r.status;
      store.update(row.id, { status: 'undelivered', lastError: error }, now);
      store.event(row.id, now, 'undelivered', error);
      if (row.failoverAt === null) this.failover(row, `undelivered (${error})`, now);
    });
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    if (this.timer !== undefined) {
      if (ms > 0) return;
      this.timers.clearTimeout(this.timer);
    }
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.pass().finally(() => this.schedule(this.opts.pollMs ?? 1000));
    }, ms);
  }

  /** Passes run one after another, never two at once. */
  private pass(): Promise<void> {
    const run = this.chain.then(() => this.doPass());
    this.chain = run.catch(() => {});
    return run;
  }

  /** Chores, receipt timeouts, then claim as many due rows as there is room for (sends are not awaited). */
  private async doPass(): Promise<void> {
    try {
      for (const chore of this.opts.chores ?? []) await chore();
      this.receiptTimeouts();
      const now = this.opts.clock.now();
      for (const r of this.opts.store.reclaimExpired(now, now - (this.opts.reclaimAfterMs ?? 120_000))) {
        this.opts.store.event(r.id, now, 'reclaimed', `node ${r.claimedBy} did not finish the send`);
        this.opts.log?.(`outbox: ${r.id} re-queued: node ${r.claimedBy} claimed it and did not finish`);
      }
      const room = (this.opts.concurrency ?? 8) - this.inflight.size;
      if (room <= 0) return;
      for (const row of this.opts.store.claimDue(this.opts.clock.now(), room)) this.launch(row);
    } catch (err) {
      this.opts.log?.(`outbox: pass failed: ${(err as Error).message}`);
    }
  }

  private launch(row: OutboxRow): Promise<void> {
    const p = this.deliver(row)
      .catch((err: Error) => this.opts.log?.(`outbox: ${row.id} failed to record: ${err.message}`))
      .finally(() => {
        this.inflight.delete(row.id);
        this.wake();
      });
    this.inflight.set(row.id, p);
    return p;
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const { store, clock } = this.opts;
    if (row.kind === 'code' && !this.opts.isLive(row)) {
      store.transaction(() => {
        store.update(row.id, { status: 'superseded', sealed: null, lastError: 'the code is no longer live' }, clock.now());
        store.event(row.id, clock.now(), 'superseded', 'the code was used, revoked, replaced or expired before it went out');
      });
      return;
    }
    const channel = this.opts.channels.get(row.channel);
    let text: MessageText;
    try {
      if (!channel) throw new Error(`channel ${row.channel} is not configured`);
      if (row.kind === 'alert') text = contactChangedAlert(row);
      else if (!row.sealed) throw new Error('no sealed code to send');
      else text = codeMessage(row, open(row.sealed, this.opts.sealKeys));
    } catch (err) {
      this.record(row, { status: 'failed', retryable: false, error: (err as Error).message.slice(0, 200) });
      return;
    }
    // The plaintext lives only in `text` and the channel call; nothing keeps it after this.
    const result = await channel!.send({ messageId: row.id, to: row.destination, subject: text.subject, body: text.body });
    this.record(row, result);
  }

  private record(row: OutboxRow, result: SendResult): void {
    const { store, clock } = this.opts;
    const now = clock.now();
    store.transaction(() => {
      if (result.status === 'accepted' || result.status === 'delivered') {
        const delivered = result.status === 'delivered';
        // An accepted code row keeps its sealed copy until a receipt or the failover needs no more of it.
        const keepSealed = !delivered && row.kind === 'code' && row.chain === 'prefs';
        store.update(
          row.id,
          { status: result.status, providerId: result.providerId, sentAt: now, lastError: null, ...(delivered ? { deliveredAt: now } : {}), ...(keepSealed ? {} : { sealed: null }) },
          now,
        );
        store.event(row.id, now, result.status, `${row.channel} provider id ${result.providerId}`);
      } else if (result.retryable && row.attempts < row.maxAttempts) {
        const delay = this.backoff(row.attempts);
        store.update(row.id, { status: 'pending', nextAttemptAt: now + delay, lastError: result.error }, now);
        store.event(row.id, now, 'retry', `${result.error}; attempt ${row.attempts} of ${row.maxAttempts}, next in ${Math.ceil(delay / 1000)} s`);
      } else {
        const why = result.retryable ? `retries exhausted (${row.attempts}): ${result.error}` : `rejected: ${result.error}`;
        store.update(row.id, { status: 'failed', lastError: result.error }, now);
        store.event(row.id, now, 'failed', why);
        this.failover(row, why, now);
      }
    });
    const providerId = result.status === 'failed' ? row.id : result.providerId;
    const early = this.early.get(`${row.channel}:${providerId}`) ?? this.early.get(`${row.channel}:${row.id}`);
    if (early) {
      this.early.delete(`${row.channel}:${providerId}`);
      this.early.delete(`${row.channel}:${row.id}`);
      this.onReceipt(row.channel, early);
    }
    this.opts.onSent?.(store.get(row.id) ?? row, result);
  }

  /** Start the next channel for the row's code and drop this row's sealed copy. */
  private failover(row: OutboxRow, why: string, now: number): void {
    const fresh = this.opts.store.get(row.id) ?? row;
    if (fresh.failoverAt !== null) return;
    this.opts.outbox.failover({ ...fresh, sealed: fresh.sealed ?? row.sealed }, why);
    this.opts.store.update(row.id, { failoverAt: now, sealed: null }, now);
  }

  private receiptTimeouts(): void {
    const { store, clock } = this.opts;
    const now = clock.now();
    const t = this.opts.receiptTimeoutMs ?? 120_000;
    for (const row of store.awaitingReceipt(now - t)) {
      if (row.kind !== 'code' || row.chain !== 'prefs') {
        store.update(row.id, { failoverAt: now, sealed: null }, now);
        continue;
      }
      store.transaction(() => {
        store.event(row.id, now, 'no_receipt', `accepted ${Math.round((now - row.sentAt!) / 1000)} s ago, no delivery receipt`);
        this.failover(row, 'accepted but never delivered', now);
      });
    }
  }

  /** Full jitter: uniform in [0, min(max, base * 2^(attempt-1))]. */
  private backoff(attempt: number): number {
    const cap = Math.min(this.opts.backoffMaxMs ?? 300_000, (this.opts.backoffBaseMs ?? 5000) * 2 ** Math.max(0, attempt - 1));
    return randomInt(this.opts.random, Math.floor(cap) + 1);
  }
}
