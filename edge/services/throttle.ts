import type Database from 'better-sqlite3';
import type { Clock } from '../../shared/ports.js';

/**
 * Brute-force throttle for secrets typed at the bank (pickup codes, courier and technician
 * secrets). Failures are counted **per scope, hub-wide** — not per selector or per
 * compartment, which an attacker could rotate through. State lives in SQLite, so a restart
 * (or pulling the plug) does not reset it. The arithmetic behind the defaults is in SECURITY.md.
 */
export interface ThrottlePolicy {
  /** Consecutive failures allowed before the first wait. Default 5. */
  freeFailures: number;
  /** First wait after the free failures, ms. Doubles with each further failure. Default 10 s. */
  baseLockoutMs: number;
  /** Longest wait for an ordinary lock-out, ms, so a stranger cannot lock recipients out for long. Default 120 s. */
  maxLockoutMs: number;
  /**
   * NIST SP 800-63B: at most 100 consecutive failures. From this many on, every failure
   * locks for `hardLockoutMs` and raises an alarm to support. Default 100.
   */
  hardLimit: number;
  /** Wait once `hardLimit` is reached, ms. Default 15 min. */
  hardLockoutMs: number;
}

export const DEFAULT_POLICY: ThrottlePolicy = {
  freeFailures: 5,
  baseLockoutMs: 10_000,
  maxLockoutMs: 120_000,
  hardLimit: 100,
  hardLockoutMs: 15 * 60_000,
};

export type ThrottleCheck = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface FailureOutcome {
  consecutive: number;
  /** Attempts left before the next wait (0 when the next attempt will have to wait). */
  attemptsLeft: number;
  lockedUntil: number;
  /** True the first time the hard limit is reached: raise an alarm. */
  alarm: boolean;
}

/** The lock-out after `consecutive` failures, per the policy. */
export function lockoutMs(policy: ThrottlePolicy, consecutive: number): number {
  if (consecutive >= policy.hardLimit) return policy.hardLockoutMs;
  if (consecutive < policy.freeFailures) return 0;
  const steps = consecutive - policy.freeFailures;
  return Math.min(policy.maxLockoutMs, policy.baseLockoutMs * 2 ** Math.min(steps, 30));
}

/**
 * Clock rule (test/chaos/README.md, "Clock skew"): a lock-out is stored as a wall-clock time so
 * it survives a restart, but the wall clock may be wrong or corrected by hours (the hub adopts
 * the cloud's time at each sync). So:
 * - within one run the wait is measured on the clock's monotonic reading (`Clock.monotonic`,
 *   when it has one): setting the wall clock forward does not end a lock-out early, setting it
 *   back does not stretch it;
 * - after a restart (no monotonic reference yet) the stored deadline counts, but never for
 *   longer than the lock-out the failure count calls for — a clock set back by hours cannot lock
 *   recipients out for hours — and from that first look on, the monotonic clock again.
 * A clock without a monotonic reading is taken as it is (tests with plain `{ now }` clocks).
 */
export class Throttle {
  private readonly get;
  private readonly put;
  /** Monotonic deadlines of this run's lock-outs, by scope. */
  private readonly monoUntil = new Map<string, number>();
  /** The clock's monotonic reading, when it has one (`Clock.monotonic`). */
  private readonly monotonic: (() => number) | undefined;

  constructor(
    db: Database.Database,
    private readonly clock: Clock,
    private readonly policy: ThrottlePolicy = DEFAULT_POLICY,
  ) {
    this.monotonic = clock.monotonic ? () => clock.monotonic!() : undefined;
    db.exec(`CREATE TABLE IF NOT EXISTS throttle (
      scope TEXT PRIMARY KEY,
      consecutive INTEGER NOT NULL,
      locked_until INTEGER NOT NULL
    )`);
    this.get = db.prepare('SELECT consecutive, locked_until FROM throttle WHERE scope = ?');
    this.put = db.prepare(
      'INSERT INTO throttle (scope, consecutive, locked_until) VALUES (?, ?, ?) ON CONFLICT(scope) DO UPDATE SET consecutive = excluded.consecutive, locked_until = excluded.locked_until',
    );
  }

  private state(scope: string): { consecutive: number; lockedUntil: number } {
    const row = this.get.get(scope) as { consecutive: number; locked_until: number } | undefined;
    return { consecutive: row?.consecutive ?? 0, lockedUntil: row?.locked_until ?? 0 };
  }

  /** May an attempt be made now? */
  check(scope: string): ThrottleCheck {
    const { consecutive, lockedUntil } = this.state(scope);
    if (lockedUntil === 0) return { allowed: true };
    let left: number;
    if (this.monotonic) {
      const mono = this.monotonic();
      let until = this.monoUntil.get(scope);
      if (until === undefined) {
        // A lock-out recorded before this run: from its stored deadline, but never longer than
        // the failure count calls for (a wall clock set back must not stretch it), then on the
        // monotonic clock.
        until = mono + Math.min(lockedUntil - this.clock.now(), lockoutMs(this.policy, consecutive));
        this.monoUntil.set(scope, until);
      }
      left = until - mono;
    } else {
      left = lockedUntil - this.clock.now();
    }
    return left > 0 ? { allowed: false, retryAfterSeconds: Math.ceil(left / 1000) } : { allowed: true };
  }

  /** Record a failure (durably) and return the new lock-out. */
  fail(scope: string): FailureOutcome {
    const consecutive = this.state(scope).consecutive + 1;
    const wait = lockoutMs(this.policy, consecutive);
    const lockedUntil = wait > 0 ? this.clock.now() + wait : 0;
    this.put.run(scope, consecutive, lockedUntil);
    if (wait > 0 && this.monotonic) this.monoUntil.set(scope, this.monotonic() + wait);
    else this.monoUntil.delete(scope);
    return {
      consecutive,
      attemptsLeft: Math.max(0, this.policy.freeFailures - consecutive),
      lockedUntil,
      alarm: consecutive === this.policy.hardLimit,
    };
  }

  /** A success ends the run of consecutive failures. */
  succeed(scope: string): void {
    this.put.run(scope, 0, 0);
    this.monoUntil.delete(scope);
  }

  snapshot(scope: string): { consecutive: number; lockedUntil: number } {
    return this.state(scope);
  }
}
