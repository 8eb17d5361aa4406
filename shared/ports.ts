/**
 * The ports every part of Cubby receives from outside: time and randomness.
 * Nothing in `shared/` reads the wall clock or a global RNG directly, so tests inject
 * deterministic versions and time-dependent behaviour is tested without sleeping.
 */

/** A source of the current time. */
export interface Clock {
  /** Milliseconds since the Unix epoch (wall clock). */
  now(): number;
  /**
   * Optional: milliseconds on a clock that never jumps (not related to the epoch; only for
   * measuring a wait within one process while the wall clock may be set or corrected).
   */
  monotonic?(): number;
}

/** A source of cryptographically strong random bytes. */
export interface Random {
  /** `n` random bytes. Production implementations must be a CSPRNG. */
  bytes(n: number): Uint8Array;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

/**
 * A clock tests move by hand. `advance(ms)` is time passing (wall and monotonic clock move
 * together); `set(t)` is someone setting the wall clock (the monotonic clock does not move).
 */
export class ManualClock implements Clock {
  private m = 0;
  constructor(private t = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.m;
  }
  /** Move forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.t += ms;
    this.m += ms;
  }
  set(t: number): void {
    this.t = t;
  }
}

/** A uniformly distributed integer in [0, max) drawn from `random` without modulo bias. */
export function randomInt(random: Random, max: number): number {
  if (!Number.isInteger(max) || max <= 0 || max > 2 ** 32) throw new RangeError(`bad max ${max}`);
  const limit = Math.floor(2 ** 32 / max) * max;
  for (;;) {
    const b = random.bytes(4);
    const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (v < limit) return v % max;
  }
}

/** A random identifier of `bytes` random bytes, hex-encoded. */
export function randomId(random: Random, bytes = 8): string {
  return Array.from(random.bytes(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A deterministic, seeded generator for tests and simulations (xorshift128+).
 * Never use it for real codes.
 */
export class SeededRandom implements Random {
  private s0: bigint;
  private s1: bigint;
  constructor(seed: number) {
    this.s0 = BigInt(seed >>> 0) | 0x9e3779b97f4a7c15n;
    this.s1 = BigInt((seed * 2654435761) >>> 0) ^ 0xbf58476d1ce4e5b9n;
    for (let i = 0; i < 8; i++) this.next();
  }
  private next(): bigint {
    const mask = (1n << 64n) - 1n;
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= (x << 23n) & mask;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (this.s1 + y) & mask;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 8) {
      let v = this.next();
      for (let j = 0; j < 8 && i + j < n; j++) {
        out[i + j] = Number(v & 0xffn);
        v >>= 8n;
      }
    }
    return out;
  }
}
