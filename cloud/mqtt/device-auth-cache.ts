import { createHmac, randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/ports.js';

/** Checks a bank's device credential (argon2 in production: ~90 ms per call). */
export type VerifyDevice = (bankId: string, secret: string) => Promise<boolean>;

/** Tuning of {@link DeviceAuthCache}. */
export interface DeviceAuthCacheOptions {
  /**
   * How long a successful verification is trusted without calling `verifyDevice` again.
   * Bounds how long a rotated-away secret keeps working for reconnects, unless the
   * rotation calls `forget(bankId)`. Default 10 minutes.
   */
  ttlMs?: number;
  /** Entries kept at most; the oldest are dropped first. Default 10,000. */
  maxEntries?: number;
}

interface Entry {
  bankId: string;
  expiresAt: number;
}

/**
 * Remembers successful device verifications so that a reconnect storm (a broker restart,
 * a network blip at a site with many banks) does not cost one argon2 verify per connection.
 *
 * Keys are fingerprints: HMAC-SHA-256 of `bankId NUL secret` under a random per-process key,
 * so the cache never holds a secret, and a different secret for the same bank is a
 * different key (it is verified, never served from the cache). Failures are never cached.
 * Concurrent checks of the same credential share one verification.
 */
export class DeviceAuthCache {
  private readonly key = randomBytes(32);
  private readonly ok = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  /** Calls made to the underlying verifier (for tests and metrics). */
  verifications = 0;
  /** Checks answered without a new verification (from the cache, or joining one in flight). */
  hits = 0;

  constructor(
    private readonly verify: VerifyDevice,
    private readonly clock: Clock,
    opts: DeviceAuthCacheOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 10 * 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /** True when `secret` is the bank's device secret (from the cache or `verifyDevice`). */
  async check(bankId: string, secret: string): Promise<boolean> {
    const fp = this.fingerprint(bankId, secret);
    const hit = this.ok.get(fp);
    if (hit && hit.expiresAt > this.clock.now()) {
      this.hits++;
      return true;
    }
    if (hit) this.ok.delete(fp);
    let pending = this.inFlight.get(fp);
    if (!pending) {
      this.verifications++;
      pending = this.verify(bankId, secret).finally(() => this.inFlight.delete(fp));
      this.inFlight.set(fp, pending);
    } else {
      this.hits++;
    }
    const good = await pending;
    if (good) this.remember(fp, bankId);
    return good;
  }

  /** Drop every cached verification of `bankId` (call it when its credential is rotated). */
  forget(bankId: string): void {
    for (const [fp, e] of this.ok) if (e.bankId === bankId) this.ok.delete(fp);
  }

  get size(): number {
    return this.ok.size;
  }

  private remember(fp: string, bankId: string): void {
    this.ok.delete(fp); // re-insert at the end: Map order is the eviction order
    this.ok.set(fp, { bankId, expiresAt: this.clock.now() + this.ttlMs });
    while (this.ok.size > this.maxEntries) {
      const oldest = this.ok.keys().next();
      if (oldest.done) break;
      this.ok.delete(oldest.value);
    }
  }

  private fingerprint(bankId: string, secret: string): string {
    return createHmac('sha256', this.key).update(bankId).update('\0').update(secret).digest('base64url');
  }
}
