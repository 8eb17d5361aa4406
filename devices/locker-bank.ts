/**
 * The `LockerBank` port: everything the hub may do with the hardware of one bank of
 * compartments (doors, their locks and sensors, the keypad, the QR scanner, the status
 * light and the buzzer).
 *
 * Hardware rules every implementation enforces (the simulator enforces them as the real
 * hardware would):
 *
 * 1. **A lock pulse lasts `pulseMs`** (default {@link DEFAULT_PULSE_MS} = 300 ms). The lock
 *    output is driven to its active level for that long, then back to its locked level.
 *    Locks are fail-secure: an unpowered, floating or reset output keeps the door locked.
 * 2. **A door must report open within `openTimeoutMs`** (default
 *    {@link DEFAULT_OPEN_TIMEOUT_MS} = 2000 ms) counted from the start of the pulse, or the
 *    open failed (`{ opened: false, reason: 'no_response' }`): a jammed latch, a stuck
 *    sensor, a dead solenoid all look the same from here, and all must leave the pickup
 *    code unused.
 * 3. **No two pulses on one lock at once.** A second `openDoor` on a compartment whose open
 *    is still in flight (from the pulse start until both the pulse has ended and the result
 *    is known) rejects with {@link LockBusy}. Different compartments may open concurrently.
 * 4. **The door sensor is the truth.** `opened: true` means the door sensor reported open,
 *    never merely that a pulse was sent. `status()` reports what the sensors last said.
 * 5. **Start-up is safe.** `start()` first drives every lock output to its locked level,
 *    only then configures inputs and enables reporting; the same on every reconnection
 *    and after every board reboot. A board restart must never open a door.
 * 6. **A lost board fails fast.** While the board is unreachable, `openDoor` resolves
 *    `{ opened: false, reason: 'board_lost' }` at once; the implementation reconnects on
 *    its own and emits `connection` events.
 */

/** Default length of a lock pulse, in milliseconds. */
export const DEFAULT_PULSE_MS = 300;
/** Default time a door has to report open, counted from the pulse start, in milliseconds. */
export const DEFAULT_OPEN_TIMEOUT_MS = 2000;

/** What a door sensor reports. */
export type DoorState = 'open' | 'closed';

/** Compartment sizes, smallest first. */
export type CompartmentSize = 'S' | 'M' | 'L';

/** The keys of the bank's 12-key keypad. */
export const KEYPAD_KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'] as const;
/** One key of the keypad. */
export type KeypadKey = (typeof KEYPAD_KEYS)[number];

/** Colours of the bank's status light. */
export type LightColor = 'off' | 'green' | 'red' | 'amber';

/** Buzzer patterns: `ok` is one short beep, `error` three. */
export type BeepKind = 'ok' | 'error';

/** What the sensors last said about one compartment. */
export interface CompartmentStatus {
  /** Compartment number, 1-based, as printed on the door. */
  no: number;
  size: CompartmentSize;
  /** Door sensor reading (the truth, rule 4). */
  door: DoorState;
  /** Occupancy sensor reading: a parcel is inside. */
  occupied: boolean;
}

/**
 * Outcome of {@link LockerBank.openDoor}. `ms` is the time from the pulse start to the
 * sensor reporting open. `no_response`: the sensor did not report open in time (jammed,
 * stuck sensor, dead lock). `board_lost`: the board was unreachable before or during the
 * attempt; whether the door moved is unknown until the board reports again.
 */
export type OpenResult = { opened: true; ms: number } | { opened: false; reason: 'no_response' | 'board_lost' };

/** Health of the bank's hardware, for the hub's fault service and telemetry. */
export interface BankHealth {
  /** The board is connected and configured (safe start-up done). */
  connected: boolean;
  /** `degraded` when at least one key is known dead. */
  keypad: 'ok' | 'degraded';
  /**
   * Keys known dead. Only a shorted (stuck-pressed) key can be detected electrically; an
   * open-circuit key simply never fires and cannot be seen from the board.
   */
  deadKeys: string[];
  /** `missing` when the board reports the QR scanner gone (or never reported it). */
  scanner: 'ok' | 'missing';
  /** Epoch ms of the last byte received from the board, `null` if never. */
  lastSeenAt: number | null;
}

/** Events a bank emits. Listeners must not throw. */
export interface LockerBankEvents {
  /** A door sensor changed. */
  door: (no: number, state: DoorState) => void;
  /** An occupancy sensor changed. */
  occupancy: (no: number, occupied: boolean) => void;
  /** A keypad key was pressed (fires on press, once). */
  key: (key: string) => void;
  /** The QR scanner read a code. */
  scan: (text: string) => void;
  /** The board became reachable and configured (`true`) or was lost (`false`). */
  connection: (connected: boolean) => void;
  /** A lock pulse started on compartment `no`. */
  pulse: (no: number) => void;
  /** Something in {@link BankHealth} other than `lastSeenAt` changed. */
  health: (health: BankHealth) => void;
}

/** The hardware of one locker bank. See the module comment for the rules. */
export interface LockerBank {
  /** Bank model name, e.g. `cubby-24`. */
  readonly model: string;
  /** Number of compartments, numbered 1..compartmentCount. */
  readonly compartmentCount: number;
  /**
   * Connect and configure: FIRST drive every lock output to its locked level, then configure
   * inputs and enable reporting, then read the sensors. Resolves once the sensors have been
   * read, or after the implementation's start timeout with `health().connected === false`
   * (it keeps reconnecting in the background and emits `connection(true)` when it succeeds).
   */
  start(): Promise<void>;
  /** Leave every lock locked, disconnect and stop reconnecting. */
  stop(): Promise<void>;
  /**
   * Pulse the lock of compartment `no`, then wait for its door sensor to report open
   * (rules 1-4, 6). Rejects with {@link LockBusy} if an open of `no` is in flight and with
   * {@link UnknownCompartment} for a number outside 1..compartmentCount. If the sensor
   * already reports open, resolves `{ opened: true, ms: 0 }` without pulsing.
   */
  openDoor(no: number): Promise<OpenResult>;
  /**
   * Resolve `true` when the door sensor of `no` reports closed (at once if it already does),
   * `false` if it has not within `timeoutMs`.
   */
  waitForClose(no: number, timeoutMs: number): Promise<boolean>;
  /** What the sensors last said about compartment `no`. */
  status(no: number): CompartmentStatus;
  /** {@link status} of every compartment, in number order. */
  statuses(): CompartmentStatus[];
  health(): BankHealth;
  /** Set the status light: shown at once if connected, remembered and shown again after every reconnection. */
  setLight(color: LightColor): void;
  /** Sound the buzzer. Ignored while the board is lost. */
  beep(kind: BeepKind): void;
  /** Subscribe; returns the unsubscribe function. */
  on<E extends keyof LockerBankEvents>(event: E, fn: LockerBankEvents[E]): () => void;
}

/** Thrown (rejected) by `openDoor` when an open of the same compartment is in flight. */
export class LockBusy extends Error {
  constructor(readonly compartment: number) {
    super(`Compartment ${compartment} is already being opened.`);
    this.name = 'LockBusy';
  }
}

/** Thrown for a compartment number the bank does not have. */
export class UnknownCompartment extends RangeError {
  constructor(
    readonly compartment: number,
    readonly compartmentCount: number,
  ) {
    super(`No compartment ${compartment}: this bank has compartments 1..${compartmentCount}.`);
    this.name = 'UnknownCompartment';
  }
}
