/**
 * Turns raw input-pin levels into what they mean for a bank model: door and occupancy
 * states, key presses, stuck keys. Pure bookkeeping driven by readings; the only timer is
 * the stuck-key detector. Events fire only for changes of an already known state, so the
 * first reading after a (re)connection sets the state silently unless it differs from what
 * was known before the link dropped.
 */
import { levelValue, type BankModel, type CompartmentWiring } from './bank-model.js';
import type { BankEventEmitter } from './bank-events.js';
import type { CompartmentStatus, DoorState } from './locker-bank.js';

type PinRole =
  | { kind: 'door'; wiring: CompartmentWiring }
  | { kind: 'occupancy'; wiring: CompartmentWiring }
  | { kind: 'key'; key: string };

interface CompartmentReading {
  door: DoorState;
  occupied: boolean;
  doorKnown: boolean;
  occupancyKnown: boolean;
}

/** Options of {@link BankInputs}. */
export interface BankInputsOptions {
  /** A key that reads pressed this long is declared dead (shorted) until released. */
  stuckKeyMs: number;
  /** Called when the set of dead keys changes. */
  onDeadKeysChange: () => void;
}

/** Input state of one bank, fed by pin readings. */
export class BankInputs {
  private readonly roles = new Map<number, PinRole>();
  private readonly compartments: CompartmentReading[];
  private readonly keysDown = new Map<string, NodeJS.Timeout | null>();
  private readonly dead = new Set<string>();
  private readonly keysKnown = new Set<string>();
  private pending = new Set<number>();
  private snapshotWaiters: Array<() => void> = [];

  constructor(
    private readonly model: BankModel,
    private readonly events: BankEventEmitter,
    private readonly options: BankInputsOptions,
  ) {
    for (const wiring of model.compartments) {
      this.roles.set(wiring.doorPin, { kind: 'door', wiring });
      this.roles.set(wiring.occupancyPin, { kind: 'occupancy', wiring });
    }
    for (const [key, pin] of Object.entries(model.keypad.pins)) this.roles.set(pin, { kind: 'key', key });
    this.compartments = model.compartments.map(() => ({ door: 'closed', occupied: false, doorKnown: false, occupancyKnown: false }));
  }

  /** Every input pin of the model. */
  get inputPins(): number[] {
    return [...this.roles.keys()];
  }

  /** Start a new snapshot: {@link whenSnapshotComplete} resolves once every input has been read. */
  beginSnapshot(): void {
    this.pending = new Set(this.roles.keys());
  }

  /** Resolves when every input pin was read since {@link beginSnapshot}. */
  whenSnapshotComplete(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.snapshotWaiters.push(resolve));
  }

  /** A reading of `pin` at logic `value`. Unknown pins are ignored. */
  reading(pin: number, value: number): void {
    const role = this.roles.get(pin);
    if (!role) return;
    if (this.pending.delete(pin) && this.pending.size === 0) {
      const waiters = this.snapshotWaiters;
      this.snapshotWaiters = [];
      waiters.forEach((w) => w());
    }
    const polarity = this.model.sensorPolarity;
    if (role.kind === 'door') {
      const c = this.compartments[role.wiring.no - 1]!;
      const door: DoorState = value === levelValue(polarity.doorClosed) ? 'closed' : 'open';
      const changed = c.doorKnown && c.door !== door;
      c.door = door;
      c.doorKnown = true;
      if (changed) this.events.emit('door', role.wiring.no, door);
    } else if (role.kind === 'occupancy') {
      const c = this.compartments[role.wiring.no - 1]!;
      const occupied = value === levelValue(polarity.occupied);
      const changed = c.occupancyKnown && c.occupied !== occupied;
      c.occupied = occupied;
      c.occupancyKnown = true;
      if (changed) this.events.emit('occupancy', role.wiring.no, occupied);
    } else {
      this.keyReading(role.key, value === levelValue(polarity.keyPressed));
    }
  }

  /** What the sensors last said about compartment `no` (1-based, must exist). */
  status(no: number): CompartmentStatus {
    const wiring = this.model.compartments[no - 1]!;
    const c = this.compartments[no - 1]!;
    return { no, size: wiring.size, door: c.door, occupied: c.occupied };
  }

  /** Door state of compartment `no`. */
  door(no: number): DoorState {
    return this.compartments[no - 1]!.door;
  }

  /** Keys currently known dead (stuck pressed), sorted. */
  deadKeys(): string[] {
    return [...this.dead].sort();
  }

  /** Stop the stuck-key timers. */
  dispose(): void {
    for (const timer of this.keysDown.values()) if (timer) clearTimeout(timer);
    this.keysDown.clear();
    const waiters = this.snapshotWaiters;
    this.snapshotWaiters = [];
    waiters.forEach((w) => w());
  }

  private keyReading(key: string, pressed: boolean): void {
    const known = this.keysKnown.has(key);
    this.keysKnown.add(key);
    const wasDown = this.keysDown.has(key);
    if (pressed && !wasDown) {
      const timer = setTimeout(() => {
        this.keysDown.set(key, null);
        this.dead.add(key);
        this.options.onDeadKeysChange();
      }, this.options.stuckKeyMs);
      this.keysDown.set(key, timer);
      if (known) this.events.emit('key', key);
    } else if (!pressed && wasDown) {
      const timer = this.keysDown.get(key);
      if (timer) clearTimeout(timer);
      this.keysDown.delete(key);
      if (this.dead.delete(key)) this.options.onDeadKeysChange();
    }
  }
}
