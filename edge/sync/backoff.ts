import type { Random } from '../../shared/ports.js';
import { randomInt } from '../../shared/ports.js';

export interface BackoffOptions {
  /** First delay. Default 500 ms. */
  initialMs?: number;
  /** Largest delay. Default 30 s. */
  maxMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
}

/**
 * Exponential reconnect backoff with "equal jitter" (each delay uniformly between half and
 * all of the exponential value), so a thousand hubs cut off by the same outage do not all
 * reconnect in the same millisecond.
 */
export class Backoff {
  private attempt = 0;
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;

  constructor(
    private readonly random: Random,
    opts: BackoffOptions = {},
  ) {
    this.initial = opts.initialMs ?? 500;
    this.max = opts.maxMs ?? 30_000;
    this.factor = opts.factor ?? 2;
  }

  /** The delay before the next attempt. */
  next(): number {
    const full = Math.min(this.max, this.initial * this.factor ** this.attempt);
    this.attempt += 1;
    const half = Math.floor(full / 2);
    return half + randomInt(this.random, Math.max(1, full - half));
  }

  /** A connection succeeded: start small again. */
  reset(): void {
    this.attempt = 0;
  }

  /** Jump to the largest delay (e.g. the credentials were refused: retrying fast will not help). */
  exhaust(): void {
    this.attempt = Math.ceil(Math.log(this.max / this.initial) / Math.log(this.factor)) + 1;
  }
}
