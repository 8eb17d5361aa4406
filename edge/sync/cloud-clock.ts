import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Clock } from '../../shared/ports.js';

export interface CloudClockOptions {
  /** Where the last offset is kept, so a hub restarted offline keeps it. Absent: memory only. */
  file?: string;
  /** Samples whose handshake round trip took longer are too imprecise to use. Default 5,000 ms. */
  maxRttMs?: number;
  /** Offsets closer than this to the current one are not worth a change. Default 1,000 ms. */
  minStepMs?: number;
  /** Told about every change of the offset (ms). */
  onAdjust?: (offsetMs: number, previousMs: number) => void;
}

/**
 * The hub's clock for the ledger: its own wall clock, corrected by the offset to the cloud's
 * clock measured at each sync handshake (`welcome.serverTime`, taken as the time at the middle of
 * the hello/welcome round trip).
 *
 * Clock rule (test/chaos/README.md, "Clock skew"): timestamps the hub writes (`issuedAt`,
 * `expiresAt`, `usedAt`, audit times) and the checks it makes against times others wrote (a code
 * issued by the cloud expires at the cloud's `expiresAt`; a remote open is valid until the
 * cloud's `expiresAt`) are in cloud time once the hub has synced once; before the first sync
 * ever, the hub's own clock (offset 0). The offset is kept on disk, so a restart offline keeps
 * it. Durations (throttle lock-outs) are measured on the monotonic clock, which the correction
 * never moves.
 */
export class CloudCorrectedClock implements Clock {
  private offset = 0;
  private readonly maxRtt: number;
  private readonly minStep: number;

  constructor(
    private readonly base: Clock,
    private readonly opts: CloudClockOptions = {},
  ) {
    this.maxRtt = opts.maxRttMs ?? 5_000;
    this.minStep = opts.minStepMs ?? 1_000;
    if (opts.file && existsSync(opts.file)) {
      try {
        const v = (JSON.parse(readFileSync(opts.file, 'utf8')) as { offsetMs?: unknown }).offsetMs;
        if (typeof v === 'number' && Number.isFinite(v)) this.offset = v;
      } catch {
        // an unreadable offset file: start from the hub's own clock until the next sync
      }
    }
  }

  now(): number {
    return this.base.now() + this.offset;
  }

  monotonic(): number {
    return this.base.monotonic ? this.base.monotonic() : this.base.now();
  }

  /** Current correction: cloud time minus the hub's own clock, ms. */
  offsetMs(): number {
    return this.offset;
  }

  /**
   * A handshake: the cloud said `serverTime`, `rttMs` after the hub sent its hello. Returns
   * true when the offset changed.
   */
  observe(serverTime: number, rttMs: number): boolean {
    if (!Number.isFinite(serverTime) || !(rttMs >= 0) || rttMs > this.maxRtt) return false;
    const offset = Math.round(serverTime + rttMs / 2 - this.base.now());
    if (Math.abs(offset - this.offset) < this.minStep) return false;
    const previous = this.offset;
    this.offset = offset;
    if (this.opts.file) {
      try {
        writeFileSync(`${this.opts.file}.tmp`, JSON.stringify({ offsetMs: offset }));
        renameSync(`${this.opts.file}.tmp`, this.opts.file);
      } catch {
        // kept in memory; the next handshake tries again
      }
    }
    this.opts.onAdjust?.(offset, previous);
    return true;
  }
}
