/**
 * The hub's own limits on remote opens. They hold even if the cloud's signing key is
 * stolen: an attacker with the key gets at most `perBank.max` doors per window from one
 * bank, and commands must be fresh (in 2020 an attacker opened 2,732 lockers of one network
 * remotely; with these defaults that would have taken one bank ~11 days).
 */
export interface RemoteOpenLimits {
  /** Remote opens of one compartment per sliding window. Default 3 per hour. */
  perCompartment: { max: number; windowMs: number };
  /** Remote opens of the whole bank per sliding window. Default 10 per hour. */
  perBank: { max: number; windowMs: number };
  /** How far `issuedAt` may be ahead of the hub's clock (skew between cloud and hub). Default 60 s. */
  maxFutureSkewMs: number;
  /** Longest accepted `expiresAt - issuedAt`; a command signed to live longer is refused. Default 10 min. */
  maxLifetimeMs: number;
  /**
   * How long a used nonce is remembered after its command expired. The expiry check alone
   * would suffice with a perfect clock; the margin covers a hub clock set back. Default 30 days.
   */
  nonceRetentionMs: number;
}

const HOUR = 60 * 60_000;

/** The defaults documented on {@link RemoteOpenLimits}. */
export const DEFAULT_REMOTE_OPEN_LIMITS: RemoteOpenLimits = {
  perCompartment: { max: 3, windowMs: HOUR },
  perBank: { max: 10, windowMs: HOUR },
  maxFutureSkewMs: 60_000,
  maxLifetimeMs: 10 * 60_000,
  nonceRetentionMs: 30 * 24 * HOUR,
};

/** Defaults overridden by whatever `partial` sets. */
export function remoteOpenLimits(partial: Partial<RemoteOpenLimits> = {}): RemoteOpenLimits {
  const l = { ...DEFAULT_REMOTE_OPEN_LIMITS, ...partial };
  for (const w of [l.perCompartment, l.perBank]) {
    if (!(Number.isInteger(w.max) && w.max >= 0 && w.windowMs > 0)) throw new RangeError('bad remote-open rate limit');
  }
  return l;
}
