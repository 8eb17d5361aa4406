import { createPublicKey } from 'node:crypto';
import type Database from 'better-sqlite3';
import { verifyCommand } from '../../shared/crypto/signed-command.js';
import type { Clock } from '../../shared/ports.js';
import { remoteOpenLimits, type RemoteOpenLimits } from './remote-open-limits.js';
import { RemoteOpenStore } from './remote-open-store.js';

/** Why a remote open was not carried out. */
export type RemoteOpenRefusal =
  | 'unsigned_or_malformed'
  | 'bad_signature'
  | 'wrong_bank'
  | 'expired'
  | 'issued_in_future'
  | 'lifetime_too_long'
  | 'replayed'
  | 'rate_limited'
  | 'door_failed';

/** The outcome of {@link RemoteOpenService.handle}. */
export type RemoteOpenResult =
  | { ok: true; compartment: number; nonce: string; requestedBy: string }
  | {
      ok: false;
      refusal: RemoteOpenRefusal;
      compartment?: number;
      nonce?: string;
      /** `rate_limited`: hub time when the next remote open of this scope may pass. */
      retryAt?: number;
      /** `rate_limited`: which window is full. */
      scope?: 'bank' | 'compartment';
      /** `door_failed`: what the door service said. */
      doorReason?: string;
    };

/**
 * What the service hands to `audit`. Shaped as the hub's audit events (`type`, `actor`,
 * `compartment`, `detail`) plus the structured fields. Never a code or secret; `reason` is
 * the free text support typed.
 */
export interface RemoteOpenAuditEvent {
  type: 'remote_open' | 'remote_open_failed' | 'remote_open_refused';
  /** `cloud:{requestedBy}` for a verified command, `cloud:unknown` otherwise. */
  actor: string;
  compartment?: number;
  requestedBy?: string;
  reason?: string;
  nonce?: string;
  refusal?: RemoteOpenRefusal;
  /** One readable line for the audit trail. */
  detail: string;
}

/** Moves a door; the hub's door service, which confirms the open with the door sensor. */
export type OpenDoor = (
  compartment: number,
  reason: string,
  /** `cloud:{requestedBy}`. */
  actor: string,
) => Promise<{ opened: boolean; reason?: string }>;

/** Dependencies of {@link RemoteOpenService}. */
export interface RemoteOpenServiceOptions {
  /** The hub store's better-sqlite3 handle; tables `remote_nonces` and `remote_open_attempts` are created in it. */
  db: Database.Database;
  clock: Clock;
  /** The cloud's Ed25519 public key (SPKI DER, base64url), from hub config. Checked at construction. */
  cloudPublicKey: string;
  /** This hub's bank; a command for another bank is refused. */
  bankId: string;
  openDoor: OpenDoor;
  /** Receives one event per handled command, accepted or not. Must not throw. */
  audit: (event: RemoteOpenAuditEvent) => void;
  /** Overrides of {@link DEFAULT_REMOTE_OPEN_LIMITS}. */
  limits?: Partial<RemoteOpenLimits>;
}

/**
 * Carries out remote opens signed by the cloud, on the hub's own terms. In order:
 * signature and shape, bank, freshness (expiry, `issuedAt` not in the future, bounded
 * lifetime), then the nonce is committed to SQLite — before anything can move — so a
 * replay is refused even after a restart or a crash mid-open; then the hub's own rate
 * limits (persisted, so a restart does not reset them); then the door, then the audit.
 * A nonce is spent as soon as it is claimed: a command refused by the rate limit, or whose
 * door failed, must be re-issued (new nonce) by the cloud.
 */
export class RemoteOpenService {
  private readonly store: RemoteOpenStore;
  private readonly limits: RemoteOpenLimits;

  constructor(private readonly opts: RemoteOpenServiceOptions) {
    // Fail at start-up, not at the first command, on a misconfigured key.
    createPublicKey({ key: Buffer.from(opts.cloudPublicKey, 'base64url'), format: 'der', type: 'spki' });
    this.limits = remoteOpenLimits(opts.limits);
    this.store = new RemoteOpenStore(opts.db);
  }

  /** Verify and, if everything holds, open. Never throws for a bad command; returns why. */
  async handle(cmd: unknown): Promise<RemoteOpenResult> {
    const v = verifyCommand(cmd, this.opts.cloudPublicKey);
    if (!v.ok) {
      const refusal = v.reason === 'bad_signature' ? 'bad_signature' : 'unsigned_or_malformed';
      this.emit({ type: 'remote_open_refused', actor: 'cloud:unknown', refusal, detail: `remote open refused: ${refusal}` });
      return { ok: false, refusal };
    }
    const b = v.body;
    const now = this.opts.clock.now();
    const base = { actor: `cloud:${b.requestedBy}`, compartment: b.compartment, requestedBy: b.requestedBy, reason: b.reason, nonce: b.nonce };
    const refuse = (refusal: RemoteOpenRefusal, extra: Partial<RemoteOpenResult & { ok: false }> = {}): RemoteOpenResult => {
      this.emit({ type: 'remote_open_refused', ...base, refusal, detail: `remote open of ${b.compartment} by ${b.requestedBy} refused: ${refusal}` });
      return { ok: false, refusal, compartment: b.compartment, nonce: b.nonce, ...extra };
    };

    if (b.bankId !== this.opts.bankId) return refuse('wrong_bank');
    if (now >= b.expiresAt) return refuse('expired');
    if (b.issuedAt > now + this.limits.maxFutureSkewMs) return refuse('issued_in_future');
    if (b.expiresAt - b.issuedAt > this.limits.maxLifetimeMs) return refuse('lifetime_too_long');

    this.store.prune(now - this.limits.nonceRetentionMs, now - Math.max(this.limits.perBank.windowMs, this.limits.perCompartment.windowMs));
    const fresh = this.store.claimNonce({ nonce: b.nonce, compartment: b.compartment, requestedBy: b.requestedBy, now, expiresAt: b.expiresAt });
    if (!fresh) return refuse('replayed');

    const slot = this.store.tryTakeSlot({ nonce: b.nonce, compartment: b.compartment, now, perBank: this.limits.perBank, perCompartment: this.limits.perCompartment });
    if (!slot.ok) {
      this.store.setOutcome(b.nonce, 'rate_limited');
      return refuse('rate_limited', { retryAt: slot.retryAt, scope: slot.scope });
    }

    let door: { opened: boolean; reason?: string };
    try {
      door = await this.opts.openDoor(b.compartment, b.reason, base.actor);
    } catch {
      door = { opened: false, reason: 'door_error' };
    }
    if (!door.opened) {
      this.store.setOutcome(b.nonce, 'door_failed');
      const doorReason = door.reason ?? 'not_opened';
      this.emit({ type: 'remote_open_failed', ...base, refusal: 'door_failed', detail: `remote open of ${b.compartment} by ${b.requestedBy} failed: ${doorReason}` });
      return { ok: false, refusal: 'door_failed', compartment: b.compartment, nonce: b.nonce, doorReason };
    }
    this.store.setOutcome(b.nonce, 'opened');
    this.emit({ type: 'remote_open', ...base, detail: `remote open of ${b.compartment} by ${b.requestedBy}: ${b.reason}` });
    return { ok: true, compartment: b.compartment, nonce: b.nonce, requestedBy: b.requestedBy };
  }

  private emit(e: RemoteOpenAuditEvent): void {
    try {
      this.opts.audit(e);
    } catch {
      // The door already did (or did not) move; a broken audit sink must not change the answer.
    }
  }
}
