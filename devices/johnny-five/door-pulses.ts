/**
 * Door opens in flight: rules 1-3 of the `LockerBank` port. One pulse per lock at a time;
 * the pulse always ends after `pulseMs` (the lock is written back to its locked level);
 * the result is the door sensor reporting open within `openTimeoutMs` of the pulse start,
 * or `no_response`, or `board_lost` if the link dies first.
 */
import { levelValue, otherLevel, type CompartmentWiring, type Level } from '../bank-model.js';
import type { BankEventEmitter } from '../bank-events.js';
import type { BankInputs } from '../bank-inputs.js';
import type { OpenResult } from '../locker-bank.js';

/** What a pulse needs from the board link. */
export interface PinWriter {
  readonly alive: boolean;
  writePins(values: ReadonlyArray<readonly [pin: number, value: 0 | 1]>): void;
}

/** Timing of door opens. */
export interface DoorPulseTiming {
  pulseMs: number;
  openTimeoutMs: number;
  now: () => number;
}

interface Flight {
  startedAt: number;
  result: OpenResult | null;
  pulseOver: boolean;
  pulseTimer: NodeJS.Timeout;
  timeoutTimer: NodeJS.Timeout;
  offDoor: () => void;
  resolve: (result: OpenResult) => void;
}

/** The opens in flight of one bank. */
export class DoorPulses {
  private readonly flights = new Map<number, Flight>();
  private readonly active: 0 | 1;
  private readonly locked: 0 | 1;

  constructor(
    private readonly timing: DoorPulseTiming,
    private readonly events: BankEventEmitter,
    private readonly inputs: BankInputs,
    lockActive: Level,
  ) {
    this.active = levelValue(lockActive);
    this.locked = levelValue(otherLevel(lockActive));
  }

  /** An open of compartment `no` is in flight (pulse running or result pending). */
  inFlight(no: number): boolean {
    return this.flights.has(no);
  }

  /** Pulse the lock of `wiring` over `link` and wait for its door sensor. The caller checks busy/connected. */
  open(wiring: CompartmentWiring, link: PinWriter): Promise<OpenResult> {
    const no = wiring.no;
    if (this.inputs.door(no) === 'open') return Promise.resolve({ opened: true, ms: 0 });
    return new Promise<OpenResult>((resolve) => {
      const startedAt = this.timing.now();
      const flight: Flight = {
        startedAt,
        result: null,
        pulseOver: false,
        resolve,
        offDoor: this.events.on('door', (n, state) => {
          if (n === no && state === 'open') this.settle(no, flight, { opened: true, ms: this.timing.now() - startedAt });
        }),
        pulseTimer: setTimeout(() => {
          flight.pulseOver = true;
          if (link.alive) link.writePins([[wiring.lockPin, this.locked]]);
          if (flight.result) this.flights.delete(no);
        }, this.timing.pulseMs),
        timeoutTimer: setTimeout(() => this.settle(no, flight, { opened: false, reason: 'no_response' }), this.timing.openTimeoutMs),
      };
      this.flights.set(no, flight);
      link.writePins([[wiring.lockPin, this.active]]);
      this.events.emit('pulse', no);
    });
  }

  /**
   * The link is gone (or the board rebooted): every open in flight resolves `board_lost`.
   * Nothing can be written; the next configuration drives every lock to locked first.
   */
  abortAll(): void {
    for (const [no, flight] of this.flights) {
      clearTimeout(flight.pulseTimer);
      flight.pulseOver = true;
      this.settle(no, flight, { opened: false, reason: 'board_lost' });
    }
    this.flights.clear();
  }

  private settle(no: number, flight: Flight, result: OpenResult): void {
    if (flight.result) return;
    flight.result = result;
    clearTimeout(flight.timeoutTimer);
    flight.offDoor();
    if (flight.pulseOver) this.flights.delete(no);
    flight.resolve(result);
  }
}
