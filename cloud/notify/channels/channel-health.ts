import type { Clock } from '../../../shared/ports.js';
import type { ChannelName, NotificationChannel, OutgoingMessage, SendResult } from './channel.js';

/**
 * Per-channel health for the outbox worker and the support view: how often the provider
 * took our messages recently, and when it last failed or succeeded.
 *
 * Only *provider* outcomes enter the sliding window: a success (`accepted`/`delivered`) or a
 * retryable failure (gateway down, timeout). A non-retryable failure (unreachable number,
 * rejected mailbox) is the recipient's problem: it is counted in `failures` and
 * `recipientFailures`, but a run of bad numbers does not make SMS look down.
 */
export interface ChannelHealth {
  channel: ChannelName;
  /** Every recorded send. */
  attempts: number;
  /** Sends the provider took (`accepted` or `delivered`). */
  successes: number;
  /** Every failed send, provider's or recipient's. */
  failures: number;
  /** The part of `failures` that was the recipient's (non-retryable). */
  recipientFailures: number;
  /** Provider outcomes in the window (at most `windowSize`). */
  windowSamples: number;
  /** Successes / samples over the window; `null` before the first provider outcome. */
  successRate: number | null;
  /** Last failure's error string (never a body), and when (ms since epoch). */
  lastError?: string;
  lastErrorAt?: number;
  /** When the provider last took a message (ms since epoch). */
  lastSuccessAt?: number;
}

/** Options of {@link ChannelHealthTracker}. */
export interface ChannelHealthTrackerOptions {
  /** Time source for `lastErrorAt` / `lastSuccessAt`. */
  clock: Clock;
  /** How many recent provider outcomes the success rate covers. Default 20. */
  windowSize?: number;
}

interface Counters {
  attempts: number;
  successes: number;
  failures: number;
  recipientFailures: number;
  /** Ring of recent provider outcomes, true = success. */
  window: boolean[];
  lastError?: string;
  lastErrorAt?: number;
  lastSuccessAt?: number;
}

/** Counts outcomes per channel. In memory; rebuilt from outbox rows after a restart if needed. */
export class ChannelHealthTracker {
  private readonly byChannel = new Map<ChannelName, Counters>();
  private readonly windowSize: number;

  constructor(private readonly opts: ChannelHealthTrackerOptions) {
    this.windowSize = opts.windowSize ?? 20;
    if (!Number.isInteger(this.windowSize) || this.windowSize < 1) throw new RangeError('windowSize must be >= 1');
  }

  /** A send the provider took. */
  recordSuccess(channel: ChannelName): void {
    const c = this.counters(channel);
    c.attempts++;
    c.successes++;
    c.lastSuccessAt = this.opts.clock.now();
    this.push(c, true);
  }

  /** A failed send; `providerFault` false for the recipient's problem (kept out of the window). */
  recordFailure(channel: ChannelName, error: string, providerFault = true): void {
    const c = this.counters(channel);
    c.attempts++;
    c.failures++;
    c.lastError = error;
    c.lastErrorAt = this.opts.clock.now();
    if (providerFault) this.push(c, false);
    else c.recipientFailures++;
  }

  /** Record a {@link SendResult}: failures are provider faults exactly when retryable. */
  recordResult(channel: ChannelName, result: SendResult): void {
    if (result.status === 'failed') this.recordFailure(channel, result.error, result.retryable);
    else this.recordSuccess(channel);
  }

  /** Snapshot of one channel (all zeros if never used). */
  health(channel: ChannelName): ChannelHealth {
    const c = this.byChannel.get(channel);
    if (!c) {
      return { channel, attempts: 0, successes: 0, failures: 0, recipientFailures: 0, windowSamples: 0, successRate: null };
    }
    const ok = c.window.filter(Boolean).length;
    const h: ChannelHealth = {
      channel,
      attempts: c.attempts,
      successes: c.successes,
      failures: c.failures,
      recipientFailures: c.recipientFailures,
      windowSamples: c.window.length,
      successRate: c.window.length ? ok / c.window.length : null,
    };
    if (c.lastError !== undefined) h.lastError = c.lastError;
    if (c.lastErrorAt !== undefined) h.lastErrorAt = c.lastErrorAt;
    if (c.lastSuccessAt !== undefined) h.lastSuccessAt = c.lastSuccessAt;
    return h;
  }

  /** Snapshots of every channel that has been used. */
  all(): ChannelHealth[] {
    return [...this.byChannel.keys()].map((ch) => this.health(ch));
  }

  /**
   * Whether to try this channel now: true when there is too little data (< `minSamples`)
   * or the windowed success rate is at least `minRate`. Defaults: 0.5 and 5.
   */
  isHealthy(channel: ChannelName, minRate = 0.5, minSamples = 5): boolean {
    const h = this.health(channel);
    return h.windowSamples < minSamples || (h.successRate ?? 1) >= minRate;
  }

  private counters(channel: ChannelName): Counters {
    let c = this.byChannel.get(channel);
    if (!c) {
      c = { attempts: 0, successes: 0, failures: 0, recipientFailures: 0, window: [] };
      this.byChannel.set(channel, c);
    }
    return c;
  }

  private push(c: Counters, ok: boolean): void {
    c.window.push(ok);
    if (c.window.length > this.windowSize) c.window.shift();
  }
}

/**
 * Wrap a channel so every `send` is recorded in `tracker`. Receipts are not counted (a
 * receipt follows an `accepted` that was already counted as the provider taking it).
 */
export function withHealthTracking(channel: NotificationChannel, tracker: ChannelHealthTracker): NotificationChannel {
  return {
    name: channel.name,
    async send(msg: OutgoingMessage): Promise<SendResult> {
      const result = await channel.send(msg);
      tracker.recordResult(channel.name, result);
      return result;
    },
    onReceipt: (fn) => channel.onReceipt(fn),
    close: () => channel.close(),
  };
}
