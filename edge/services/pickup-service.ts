import type { LockerBank } from '../../devices/locker-bank.js';
import type { CodeHasher } from '../../shared/codes/hasher.js';
import { parseCode, parseQrPayload, type PickupCode } from '../../shared/codes/format.js';
import { CodeGone, DoorFault, InvalidCode, Throttled, BadRequest } from '../../shared/errors.js';
import { randomId, type Random } from '../../shared/ports.js';
import { validateCode } from '../../shared/ledger/validate.js';
import type { HubStore } from '../store/hub-store.js';
import type { Throttle } from './throttle.js';
import type { HubEvents } from '../hub-events.js';

export const KEYPAD_SCOPE = 'keypad';

const FAULT_REASON: Record<string, string> = {
  no_response: 'door did not open (jammed lock or stuck sensor)',
  sensor_open: 'door sensor reported open before the pulse (sensor stuck open, or the door was left open)',
};

export interface PickupResult {
  compartment: number;
  parcelId: string;
}

/**
 * Pickup: throttle -> selector lookup -> one argon2 verify -> durable use record -> pulse ->
 * the door sensor must confirm open. If it does not, the attempt is marked failed (the code
 * is NOT consumed), the compartment is marked faulty and the caller gets `DoorFault`.
 *
 * Why write the use before the pulse: a door opens only after the ledger durably says so,
 * and a crash between pulse and record can never let one code open two doors. A crash
 * after the record and before the sensor answer leaves the attempt standing (conservative:
 * the door may have opened); support can re-issue.
 */
export class PickupService {
  constructor(
    private readonly deps: {
      bankId: string;
      store: HubStore;
      bank: LockerBank;
      hasher: CodeHasher;
      throttle: Throttle;
      random: Random;
      events: HubEvents;
    },
  ) {}

  // Both entry points are `async` so that bad input REJECTS instead of throwing synchronously:
  // the scanner listener in hub-runtime only handles rejections (a sync throw escaped it).

  /** A code typed on the keypad or touchscreen. */
  async pickupWithCode(input: unknown, via: 'keypad' | 'qr' = 'keypad'): Promise<PickupResult> {
    return this.pickup(parseCode(input), via);
  }

  /** A QR payload read by the scanner (or the kiosk camera). */
  async pickupWithQr(payload: unknown): Promise<PickupResult> {
    const { bankId, code } = parseQrPayload(payload);
    if (bankId !== this.deps.bankId) throw new BadRequest('This code is for another locker.', 'wrong_locker');
    return this.pickup(code, 'qr');
  }

  private async pickup(code: PickupCode, via: 'keypad' | 'qr'): Promise<PickupResult> {
    const { store, throttle, hasher, bank, events } = this.deps;
    const gate = throttle.check(KEYPAD_SCOPE);
    if (!gate.allowed) throw new Throttled(gate.retryAfterSeconds);

    const result = await validateCode(store.ledger, hasher, code);
    if (result.kind === 'invalid') {
      const f = throttle.fail(KEYPAD_SCOPE);
      if (f.alarm) events.emit({ type: 'keypad_lockout', actor: 'hub', detail: `${f.consecutive} consecutive wrong codes` });
      throw new InvalidCode(f.attemptsLeft);
    }
    if (result.kind === 'gone') throw new CodeGone(result.state);

    throttle.succeed(KEYPAD_SCOPE);
    const { parcelId, codeId, compartment } = result;
    const attemptId = randomId(this.deps.random, 8);
    // Durable before the door moves (synchronous=FULL commit).
    store.ledger.markUsed(parcelId, codeId, attemptId, compartment);

    let outcome: { opened: true; ms: number } | { opened: false; reason: string };
    try {
      outcome = await bank.openDoor(compartment);
    } catch (err) {
      outcome = { opened: false as const, reason: err instanceof Error && err.name === 'LockBusy' ? 'busy' : 'error' };
    }
    // `ms: 0` means the sensor said "open" before any pulse (LockerBank rule): it confirms
    // nothing. A sensor stuck open would otherwise answer 200 for a door that stayed locked
    // and consume the code — the recipient locked out with a "used" code.
    if (outcome.opened && outcome.ms === 0) outcome = { opened: false, reason: 'sensor_open' };
    if (outcome.opened) {
      store.bankState.clearFaults(compartment, 'pickup');
      events.emit({ type: 'pickup', actor: `recipient:${via}`, compartment, parcelId });
      bank.beep('ok');
      return { compartment, parcelId };
    }
    // The attempt failed, but the door is not faulty when another open of it (technician,
    // remote) is in flight ('busy') or the board is unreachable ('board_lost': a cable blip
    // must not leave healthy compartments out of service once the board is back).
    const fault = outcome.reason !== 'busy' && outcome.reason !== 'board_lost';
    store.docs.transaction(() => {
      store.ledger.markOpenFailed(parcelId, codeId, attemptId, outcome.reason);
      if (fault) store.bankState.recordFault(compartment, FAULT_REASON[outcome.reason] ?? outcome.reason);
    });
    if (fault) events.emit({ type: 'door_fault', actor: 'hub', compartment, parcelId, detail: outcome.reason });
    bank.beep('error');
    throw new DoorFault(
      compartment,
      outcome.reason === 'board_lost' ? 'the locker lost contact with its doors' : outcome.reason === 'sensor_open' ? 'its door sensor reported open before the lock moved' : 'the door did not open',
    );
  }
}
