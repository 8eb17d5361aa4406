/**
 * The physical side of a simulated locker bank: solenoid latches, spring-loaded doors, reed
 * switches, occupancy sensors, keypad switches, status light and buzzer, wired as the bank
 * model says. It knows nothing of Firmata: the firmware drives output pins and reads input
 * levels. It enforces what hardware would: a latch releases only while its lock output is
 * actively driven to the active level for `releaseMs` (a floating or weakly pulled pin never
 * counts); a jammed latch never releases; a released door springs open and its sensor says
 * so after `springDelayMs`, unless the sensor is stuck.
 */
import { levelValue, otherLevel, type BankModel, type CompartmentWiring, type Level } from '../bank-model.js';
import type { DoorState, LightColor } from '../locker-bank.js';

/** How an output pin is driven: 0 or 1, or `null` when not driven (input, floating, booting). */
export type Drive = 0 | 1 | null;
/** Who set an output: a host command, or the firmware itself (reset defaults, boot). */
export type DriveSource = 'host' | 'boot';

/** One door opening, and why: a host-driven `pulse` or a firmware `boot` default. */
export interface DoorOpenEvent {
  no: number;
  at: number;
  cause: 'pulse' | 'boot';
}
/** One interval during which a lock output was actively driven to its release level. */
export interface LockPulse {
  no: number;
  startedAt: number;
  /** `null` while still driven. */
  endedAt: number | null;
  source: DriveSource;
}

/** Physical timing of the simulated bank. */
export interface PhysicsOptions {
  /** Time a lock output must stay at its active level before the latch releases. Default 5 ms. */
  releaseMs?: number;
  /** Time from latch release to the door being open (sensor reports it). Default 20 ms. */
  springDelayMs?: number;
  /** A person closes every door this long after it opened; `null` (default): only `close(no)` does. */
  autoCloseMs?: number | null;
  /** Clock for the logs. Default `Date.now`. */
  now?: () => number;
}

interface Compartment {
  wiring: CompartmentWiring;
  jammed: boolean;
  doorOpen: boolean;
  occupied: boolean;
  stuckSensor: DoorState | null;
  latchReleased: boolean;
  activePulse: LockPulse | null;
  releaseCause: DoorOpenEvent['cause'];
  releaseTimer: NodeJS.Timeout | null;
  springTimer: NodeJS.Timeout | null;
  autoCloseTimer: NodeJS.Timeout | null;
}

/** The mechanics and sensors of one bank. */
export class LockerPhysics {
  /** Every door opening since creation, oldest first. */
  readonly doorOpenLog: DoorOpenEvent[] = [];
  /** Every interval a lock output was driven active, oldest first. */
  readonly pulseLog: LockPulse[] = [];
  /** Every buzzer sound: start time and length. */
  readonly buzzerLog: Array<{ at: number; ms: number }> = [];
  /** Called when an input pin's level changes (the firmware reports it). */
  onInputChange: (pin: number) => void = () => {};

  private readonly compartments: Compartment[];
  private readonly byLockPin = new Map<number, Compartment>();
  private readonly keyByPin = new Map<number, string>();
  private readonly inputLevels = new Map<number, 0 | 1>();
  private readonly outputs = new Map<number, Drive>();
  private readonly deadKeys = new Set<string>();
  private readonly stuckKeys = new Set<string>();
  private readonly pressedKeys = new Set<string>();
  private buzzerSince: number | null = null;
  private readonly releaseMs: number;
  private readonly springDelayMs: number;
  private autoCloseMs: number | null;
  private readonly now: () => number;
  private readonly activeValue: 0 | 1;

  constructor(
    readonly model: BankModel,
    options: PhysicsOptions = {},
  ) {
    this.releaseMs = options.releaseMs ?? 5;
    this.springDelayMs = options.springDelayMs ?? 20;
    this.autoCloseMs = options.autoCloseMs ?? null;
    this.now = options.now ?? Date.now;
    this.activeValue = levelValue(model.lockActive);
    this.compartments = model.compartments.map((wiring) => ({
      wiring,
      jammed: false,
      doorOpen: false,
      occupied: false,
      stuckSensor: null,
      latchReleased: false,
      activePulse: null,
      releaseCause: 'pulse',
      releaseTimer: null,
      springTimer: null,
      autoCloseTimer: null,
    }));
    for (const c of this.compartments) this.byLockPin.set(c.wiring.lockPin, c);
    for (const [key, pin] of Object.entries(model.keypad.pins)) this.keyByPin.set(pin, key);
    this.refreshInputs(false);
  }

  /** The level an input pin reads now. Pins wired to nothing read as pulled up (or low). */
  inputLevel(pin: number): 0 | 1 {
    return this.inputLevels.get(pin) ?? (this.model.inputPullUp ? 1 : 0);
  }

  /** The firmware drives (or releases) an output pin. */
  drive(pin: number, drive: Drive, source: DriveSource): void {
    const before = this.outputs.get(pin) ?? null;
    this.outputs.set(pin, drive);
    const lock = this.byLockPin.get(pin);
    if (lock) this.driveLock(lock, drive === this.activeValue, source);
    if (pin === this.model.buzzerPin && before !== drive) this.driveBuzzer(drive === 1);
  }

  /** Current drive of an output pin. */
  output(pin: number): Drive {
    return this.outputs.get(pin) ?? null;
  }

  /** What a lock output is doing: `released` (driven active), `locked` (driven inactive) or `float`. */
  lockOutput(no: number): 'locked' | 'released' | 'float' {
    const d = this.output(this.get(no).wiring.lockPin);
    if (d === null) return 'float';
    return d === this.activeValue ? 'released' : 'locked';
  }

  /** The colour the status light shows (`off` if none or several LEDs are lit). */
  light(): LightColor {
    const lit = (['green', 'red', 'amber'] as const).filter((c) => this.output(this.model.light[c]) === 1);
    return lit.length === 1 ? lit[0]! : 'off';
  }

  // ---- test controls: people and faults ----

  /** The door is physically open (whatever its sensor says). */
  isOpen(no: number): boolean {
    return this.get(no).doorOpen;
  }
  /** A person pushes the door shut. If the latch is still released, it springs open again. */
  close(no: number): void {
    const c = this.get(no);
    if (!c.doorOpen) return;
    c.doorOpen = false;
    this.clear(c, 'autoCloseTimer');
    this.refreshInputs(true);
    if (c.latchReleased) this.scheduleSpring(c);
  }
  /** A person puts a parcel in. Throws if the door is closed. */
  placeParcel(no: number): void {
    this.setOccupied(no, true);
  }
  /** A person takes the parcel out. Throws if the door is closed. */
  removeParcel(no: number): void {
    this.setOccupied(no, false);
  }
  /** Whether a parcel is physically inside. */
  isOccupied(no: number): boolean {
    return this.get(no).occupied;
  }
  /** The latch will not release (an open door stays open). */
  jam(no: number): void {
    this.get(no).jammed = true;
  }
  /** The latch works again; if its lock is being driven active right now, it releases. */
  unjam(no: number): void {
    const c = this.get(no);
    c.jammed = false;
    if (c.activePulse && this.now() - c.activePulse.startedAt >= this.releaseMs) this.release(c);
  }
  /** The door sensor reports `state` whatever the door does. */
  stickSensor(no: number, state: DoorState): void {
    this.get(no).stuckSensor = state;
    this.refreshInputs(true);
  }
  /** The door sensor follows the door again. */
  unstickSensor(no: number): void {
    this.get(no).stuckSensor = null;
    this.refreshInputs(true);
  }
  /** Close doors automatically `ms` after they open (`null`: never). */
  setAutoClose(ms: number | null): void {
    this.autoCloseMs = ms;
  }
  /** A key goes open-circuit: pressing it does nothing. */
  killKey(key: string): void {
    this.assertKey(key);
    this.deadKeys.add(key);
    this.refreshInputs(true);
  }
  /** A key shorts: it reads pressed until revived. */
  stickKey(key: string): void {
    this.assertKey(key);
    this.stuckKeys.add(key);
    this.refreshInputs(true);
  }
  /** A key works again. */
  reviveKey(key: string): void {
    this.deadKeys.delete(key);
    this.stuckKeys.delete(key);
    this.refreshInputs(true);
  }
  /** A person presses `key` for `holdMs`; resolves once it is released. */
  async pressKey(key: string, holdMs = 20): Promise<void> {
    this.assertKey(key);
    this.pressedKeys.add(key);
    this.refreshInputs(true);
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    this.pressedKeys.delete(key);
    this.refreshInputs(true);
  }

  /** Cancel every pending timer (the simulation is being thrown away). */
  dispose(): void {
    for (const c of this.compartments) {
      this.clear(c, 'releaseTimer');
      this.clear(c, 'springTimer');
      this.clear(c, 'autoCloseTimer');
    }
  }

  // ---- mechanics ----

  private driveLock(c: Compartment, active: boolean, source: DriveSource): void {
    if (active && !c.activePulse) {
      c.activePulse = { no: c.wiring.no, startedAt: this.now(), endedAt: null, source };
      this.pulseLog.push(c.activePulse);
      c.releaseTimer = setTimeout(() => {
        c.releaseTimer = null;
        this.release(c);
      }, this.releaseMs);
    } else if (!active && c.activePulse) {
      c.activePulse.endedAt = this.now();
      c.activePulse = null;
      this.clear(c, 'releaseTimer');
      c.latchReleased = false; // the spring latch re-engages; a door already pushed open stays open
    }
  }

  private release(c: Compartment): void {
    if (c.jammed || !c.activePulse) return;
    c.latchReleased = true;
    c.releaseCause = c.activePulse.source === 'host' ? 'pulse' : 'boot';
    if (!c.doorOpen) this.scheduleSpring(c);
  }

  private scheduleSpring(c: Compartment): void {
    if (c.springTimer) return;
    const cause = c.releaseCause;
    c.springTimer = setTimeout(() => {
      c.springTimer = null;
      if (c.doorOpen) return;
      c.doorOpen = true;
      this.doorOpenLog.push({ no: c.wiring.no, at: this.now(), cause });
      this.refreshInputs(true);
      if (this.autoCloseMs !== null) {
        c.autoCloseTimer = setTimeout(() => {
          c.autoCloseTimer = null;
          this.close(c.wiring.no);
        }, this.autoCloseMs);
      }
    }, this.springDelayMs);
  }

  private driveBuzzer(on: boolean): void {
    if (on && this.buzzerSince === null) this.buzzerSince = this.now();
    if (!on && this.buzzerSince !== null) {
      this.buzzerLog.push({ at: this.buzzerSince, ms: this.now() - this.buzzerSince });
      this.buzzerSince = null;
    }
  }

  private setOccupied(no: number, occupied: boolean): void {
    const c = this.get(no);
    if (!c.doorOpen) throw new Error(`Compartment ${no} is closed: open it before ${occupied ? 'placing' : 'removing'} a parcel.`);
    c.occupied = occupied;
    this.refreshInputs(true);
  }

  /** Recompute every input level from the physical state; report the ones that changed. */
  private refreshInputs(notify: boolean): void {
    const polarity = this.model.sensorPolarity;
    const set = (pin: number, active: boolean, activeLevel: Level): void => {
      const level = levelValue(active ? activeLevel : otherLevel(activeLevel));
      if (this.inputLevels.get(pin) === level) return;
      this.inputLevels.set(pin, level);
      if (notify) this.onInputChange(pin);
    };
    for (const c of this.compartments) {
      const door = c.stuckSensor ?? (c.doorOpen ? 'open' : 'closed');
      set(c.wiring.doorPin, door === 'closed', polarity.doorClosed);
      set(c.wiring.occupancyPin, c.occupied, polarity.occupied);
    }
    for (const [pin, key] of this.keyByPin) {
      const closed = this.stuckKeys.has(key) || (this.pressedKeys.has(key) && !this.deadKeys.has(key));
      set(pin, closed, polarity.keyPressed);
    }
  }

  private get(no: number): Compartment {
    const c = this.compartments[no - 1];
    if (!c) throw new RangeError(`No compartment ${no} in ${this.model.model}`);
    return c;
  }

  private assertKey(key: string): void {
    if (!(key in this.model.keypad.pins)) throw new RangeError(`No key ${JSON.stringify(key)} on the keypad`);
  }

  private clear(c: Compartment, timer: 'releaseTimer' | 'springTimer' | 'autoCloseTimer'): void {
    const t = c[timer];
    if (t) clearTimeout(t);
    c[timer] = null;
  }
}
