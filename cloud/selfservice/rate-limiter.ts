import type { Clock } from '../../shared/ports.js';

/** Options of {@link SlidingWindowLimiter}. */
export interface RateLimitOptions {
  /** Hits allowed per key within `windowMs`. */
  limit: number;
  windowMs: number;
  /** Keys tracked at once (the oldest are forgotten first). Default 10,000. */
  maxKeys?: number;
}

/**
 * An in-memory sliding-window rate limiter on the injected clock. Memory is bounded by
 * `maxKeys`; a restart forgets everything (fine for a public page's abuse guard, not for
 * business rules — those live in the database).
 */
export class SlidingWindowLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly opts: RateLimitOptions,
  ) {}

  /** Count a hit for `key`; `allowed: false` with the wait when it is over the limit (not counted then). */
  hit(key: string): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const now = this.clock.now();
    const recent = (this.hits.get(key) ?? []).filter((t) => t > now - this.opts.windowMs);
    if (recent.length >= this.opts.limit) {
      this.hits.set(key, recent);
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((recent[0]! + this.opts.windowMs - now) / 1000)) };
    }
    recent.push(now);
    this.hits.delete(key);
    this.hits.set(key, recent);
    if (this.hits.size > (this.opts.maxKeys ?? 10_000)) this.hits.delete(this.hits.keys().next().value!);
    return { allowed: true };
  }
}
