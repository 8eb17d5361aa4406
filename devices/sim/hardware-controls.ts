/**
 * The test controls of a simulated locker bank: what people do to it and what can break.
 * Every simulated `LockerBank` implementation offers these, so the one contract suite
 * (`test/contracts/locker-bank.contract.ts`) can drive any of them.
 */
import type { DoorState, LightColor } from '../locker-bank.js';
import type { DoorOpenEvent, LockPulse } from './physics.js';

/** A simulated bank's physical world and fault injection. */
export interface SimulatedHardware {
  // ---- people ----
  /** A person closes door `no` (no-op if closed). */
  close(no: number): void;
  /** A person puts a parcel in `no`; throws if the door is closed. */
  placeParcel(no: number): void;
  /** A person takes the parcel out of `no`; throws if the door is closed. */
  removeParcel(no: number): void;
  /** A person presses a key for `holdMs` (default 20 ms); resolves on release. */
  pressKey(key: string, holdMs?: number): Promise<void>;
  /** The QR scanner reads `text`; false if no scanner is attached. */
  scan(text: string): boolean;
  /** People close every door `ms` after it opens (`null`: only `close`). */
  setAutoClose(ms: number | null): void;

  // ---- faults ----
  /** The latch of `no` will not release. */
  jam(no: number): void;
  unjam(no: number): void;
  /** The door sensor of `no` reports `state` whatever the door does. */
  stickSensor(no: number, state: DoorState): void;
  unstickSensor(no: number): void;
  /** A key goes open-circuit: it never fires. */
  killKey(key: string): void;
  /** A key shorts: it reads pressed until revived. */
  stickKey(key: string): void;
  reviveKey(key: string): void;
  removeScanner(): void;
  restoreScanner(): void;
  /** The link to the board drops (the hub sees its stream close). */
  pullCable(): void;
  /** The link can be re-established (the hub reconnects on its own). */
  plugCable(): void;
  /** The board restarts. Resolves when its firmware is running again. */
  reboot(): Promise<void>;

  // ---- observation ----
  /** The door is physically open (whatever its sensor says). */
  isOpen(no: number): boolean;
  /** What the lock output of `no` does now. */
  lockOutput(no: number): 'locked' | 'released' | 'float';
  /** The colour of the status light. */
  light(): LightColor;
  /** Every door opening, with its cause. */
  readonly doorOpenLog: readonly DoorOpenEvent[];
  /** Every interval a lock output was driven to its release level. */
  readonly pulseLog: readonly LockPulse[];
  /** Every buzzer sound. */
  readonly buzzerLog: ReadonlyArray<{ at: number; ms: number }>;
}
