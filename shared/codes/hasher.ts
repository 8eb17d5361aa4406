import argon2 from 'argon2';
import type { PickupCode } from './format.js';

/**
 * The port that turns pickup codes into stored hashes and checks them.
 * Implementations must be slow, salted and keyed (peppered): a copy of the ledger alone must
 * not allow an offline brute force of the 10^9 code space.
 */
export interface CodeHasher {
  /** A PHC string of the whole code. */
  hash(code: PickupCode): Promise<string>;
  /** True when `code` matches `hash`. Never throws on a malformed hash: returns false. */
  verify(hash: string, code: PickupCode): Promise<boolean>;
  /**
   * Spend the same time as one `verify` against a hash that matches nothing, so that a
   * selector with no live code is indistinguishable by timing.
   */
  verifyDummy(code: PickupCode): Promise<false>;
}

/** argon2id cost parameters. */
export interface Argon2Params {
  /** Memory in KiB. Default 19456 (19 MiB, OWASP's minimum for argon2id). */
  memoryCost: number;
  /** Iterations. Default 2. */
  timeCost: number;
  /** Lanes. Default 1. */
  parallelism: number;
}

export const DEFAULT_ARGON2: Argon2Params = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
/** Cheap parameters for simulations that create tens of thousands of codes (never production). */
export const TEST_ARGON2: Argon2Params = { memoryCost: 256, timeCost: 1, parallelism: 1 };

/**
 * argon2id hasher keyed with a per-bank pepper (argon2's `secret` input). The pepper lives in
 * hub config and the cloud's key store, never in the ledger.
 */
export class Argon2CodeHasher implements CodeHasher {
  private readonly secret: Buffer;
  private readonly dummy: Promise<string>;

  constructor(
    pepper: Uint8Array,
    private readonly params: Argon2Params = DEFAULT_ARGON2,
  ) {
    if (pepper.length < 16) throw new Error('the pepper must be at least 16 bytes');
    this.secret = Buffer.from(pepper);
    // Computed once up front so the first miss costs the same as every later one.
    this.dummy = argon2.hash('dummy-never-matches', { type: argon2.argon2id, secret: this.secret, ...params });
  }

  hash(code: PickupCode): Promise<string> {
    return argon2.hash(code.selector + code.verifier, { type: argon2.argon2id, secret: this.secret, ...this.params });
  }

  async verify(hash: string, code: PickupCode): Promise<boolean> {
    try {
      return await argon2.verify(hash, code.selector + code.verifier, { secret: this.secret });
    } catch {
      return false;
    }
  }

  async verifyDummy(code: PickupCode): Promise<false> {
    // The dummy hash has the same parameters, so one verify against it costs the same.
    await this.verify(await this.dummy, code);
    return false;
  }
}
