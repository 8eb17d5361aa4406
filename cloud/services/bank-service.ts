import { DomainError, NotFound } from '../../shared/errors.js';
import { signCommand, type CommandBody } from '../../shared/crypto/signed-command.js';
import type { AuditEvent } from '../../shared/ledger/audit-log.js';
import type { Principal } from '../store/credential-store.js';
import type { CloudDeps } from '../app.js';

/** How long a remote-open command stays valid. */
export const REMOTE_OPEN_TTL_MS = 60_000;
/** Audit events `GET /v1/banks/:id` shows: the last this many, of the last week. */
const RECENT_EVENTS = 50;
const RECENT_WINDOW_MS = 7 * 24 * 3600_000;

export interface BankStatusView {
  bankId: string;
  online: boolean;
  lastSyncAt: number | null;
  lastContactAt: number | null;
  compartments: number;
  /** Open door faults, as the hub recorded them. */
  faults: { compartment: number; at: number; reason: string }[];
  /** Compartments a technician took out of service. */
  outOfService: { compartment: number; reason?: string }[];
  recentEvents: AuditEvent[];
}

export class BankUnreachable extends DomainError {
  constructor(bankId: string) {
    super('bank_unreachable', `Bank ${bankId} cannot be reached right now; nothing was sent. Try again when it is online.`, 503);
  }
}

/** The part of the cloud app's dependencies the bank service uses. */
export type BankServiceDeps = Pick<CloudDeps, 'store' | 'replicas' | 'clock' | 'random' | 'keys' | 'presence' | 'commands'>;

/** Support's view of banks and the remote open. */
export class BankService {
  constructor(private readonly deps: BankServiceDeps) {}

  status(bankId: string): BankStatusView {
    const { store, replicas, clock, presence } = this.deps;
    const rec = store.banks.get(bankId);
    if (!rec) throw new NotFound(`No bank ${bankId}.`, 'bank_not_found');
    const replica = replicas.get(bankId);
    const faults: BankStatusView['faults'] = [];
    const outOfService: BankStatusView['outOfService'] = [];
    for (let n = 1; n <= rec.compartments; n++) {
      const cond = replica.bankState.condition(n);
      for (const f of cond.faults) faults.push({ compartment: n, at: f.at, reason: f.reason });
      if (!cond.inService) outOfService.push({ compartment: n, reason: cond.serviceReason });
    }
    return {
      bankId,
      online: presence?.online(bankId) ?? false,
      lastSyncAt: presence?.lastSyncAt(bankId) ?? rec.lastSyncAt,
      lastContactAt: presence?.lastContactAt(bankId) ?? rec.lastContactAt,
      compartments: rec.compartments,
      faults,
      outOfService,
      recentEvents: replica.audit.since(clock.now() - RECENT_WINDOW_MS, RECENT_EVENTS).reverse(),
    };
  }

  /**
   * Sign a single-use, expiring open command with the cloud's Ed25519 key and hand it to
   * the bank's transport. The hub checks signature, expiry and nonce before the door moves.
   */
  async remoteOpen(who: Principal, bankId: string, compartment: number, reason: string): Promise<{ nonce: string; expiresAt: number }> {
    const { store, replicas, clock, random, keys, commands } = this.deps;
    const rec = store.banks.get(bankId);
    if (!rec) throw new NotFound(`No bank ${bankId}.`, 'bank_not_found');
    if (compartment > rec.compartments) throw new NotFound(`Bank ${bankId} has no compartment ${compartment}.`, 'compartment_not_found');
    if (!commands) throw new BankUnreachable(bankId);
    const issuedAt = clock.now();
    const body: CommandBody = {
      type: 'open',
      bankId,
      compartment,
      reason,
      requestedBy: `support:${who.subject}`,
      nonce: Buffer.from(random.bytes(18)).toString('base64url'),
      issuedAt,
      expiresAt: issuedAt + REMOTE_OPEN_TTL_MS,
    };
    try {
      await commands.send(bankId, { type: 'open', signed: signCommand(body, keys.signing.privateKey) });
    } catch {
      throw new BankUnreachable(bankId);
    }
    replicas.get(bankId).audit.append({ type: 'remote_open_requested', actor: `cloud:support:${who.subject}`, compartment, detail: reason });
    return { nonce: body.nonce, expiresAt: body.expiresAt };
  }
}
