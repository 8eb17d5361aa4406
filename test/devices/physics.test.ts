import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadBankModel } from '../../devices/bank-model.js';
import { LockerPhysics } from '../../devices/sim/physics.js';

// The locker mechanics alone, on fake timers: exact thresholds, no Firmata.

const model = loadBankModel('cubby-4');
const lock = (no: number): number => model.compartments[no - 1]!.lockPin;
const doorPin = (no: number): number => model.compartments[no - 1]!.doorPin;

describe('LockerPhysics', () => {
  let physics: LockerPhysics;
  let changed: number[];
  beforeEach(() => {
    vi.useFakeTimers();
    physics = new LockerPhysics(model, { releaseMs: 5, springDelayMs: 20, now: () => Date.now() });
    changed = [];
    physics.onInputChange = (pin) => changed.push(pin);
  });
  afterEach(() => {
    physics.dispose();
    vi.useRealTimers();
  });

  it('releases a latch only after its lock is driven active for releaseMs, then the door springs open', () => {
    physics.drive(lock(1), 1, 'host');
    vi.advanceTimersByTime(4);
    physics.drive(lock(1), 0, 'host');
    vi.advanceTimersByTime(100);
    expect(physics.isOpen(1)).toBe(false);
    physics.drive(lock(1), 1, 'host');
    vi.advanceTimersByTime(5 + 19);
    expect(physics.isOpen(1)).toBe(false); // released, still springing
    vi.advanceTimersByTime(1);
    expect(physics.isOpen(1)).toBe(true);
    expect(physics.doorOpenLog).toEqual([{ no: 1, at: expect.any(Number), cause: 'pulse' }]);
    expect(changed).toEqual([doorPin(1)]);
    expect(physics.inputLevel(doorPin(1))).toBe(1); // open reed: pulled up
  });

  it('a floating output never releases, nor does the locked level', () => {
    physics.drive(lock(2), null, 'boot');
    physics.drive(lock(3), 0, 'boot');
    vi.advanceTimersByTime(10_000);
    expect(physics.doorOpenLog).toEqual([]);
    expect(physics.lockOutput(2)).toBe('float');
    expect(physics.lockOutput(3)).toBe('locked');
  });

  it('the door opens once released even if the pulse ends before it has swung', () => {
    physics.drive(lock(1), 1, 'host');
    vi.advanceTimersByTime(6);
    physics.drive(lock(1), 0, 'host');
    vi.advanceTimersByTime(30);
    expect(physics.isOpen(1)).toBe(true);
    expect(physics.pulseLog).toEqual([{ no: 1, startedAt: expect.any(Number), endedAt: expect.any(Number), source: 'host' }]);
  });

  it('a firmware-driven active level opens the door with cause boot', () => {
    physics.drive(lock(4), 1, 'boot');
    vi.advanceTimersByTime(30);
    expect(physics.doorOpenLog).toEqual([expect.objectContaining({ no: 4, cause: 'boot' })]);
  });

  it('a jammed latch never releases; unjamming while driven releases it', () => {
    physics.jam(2);
    physics.drive(lock(2), 1, 'host');
    vi.advanceTimersByTime(1000);
    expect(physics.isOpen(2)).toBe(false);
    physics.unjam(2);
    vi.advanceTimersByTime(20);
    expect(physics.isOpen(2)).toBe(true);
  });

  it('a stuck sensor reports its state whatever the door does', () => {
    physics.stickSensor(3, 'closed');
    physics.drive(lock(3), 1, 'host');
    vi.advanceTimersByTime(30);
    expect(physics.isOpen(3)).toBe(true);
    expect(physics.inputLevel(doorPin(3))).toBe(0);
    physics.unstickSensor(3);
    expect(physics.inputLevel(doorPin(3))).toBe(1);
    physics.stickSensor(3, 'open');
    physics.close(3);
    expect(physics.inputLevel(doorPin(3))).toBe(1);
  });

  it('a door closed while its solenoid is still energised springs open again', () => {
    physics.drive(lock(1), 1, 'host');
    vi.advanceTimersByTime(25);
    physics.close(1);
    expect(physics.isOpen(1)).toBe(false);
    vi.advanceTimersByTime(20);
    expect(physics.isOpen(1)).toBe(true);
    physics.drive(lock(1), 0, 'host');
    physics.close(1);
    vi.advanceTimersByTime(100);
    expect(physics.isOpen(1)).toBe(false);
    expect(physics.doorOpenLog).toHaveLength(2);
  });

  it('auto-close shuts doors after the configured time', () => {
    physics.setAutoClose(500);
    physics.drive(lock(2), 1, 'host');
    vi.advanceTimersByTime(10);
    physics.drive(lock(2), 0, 'host');
    vi.advanceTimersByTime(20);
    expect(physics.isOpen(2)).toBe(true); // opened at 25 ms, now 30 ms
    vi.advanceTimersByTime(494);
    expect(physics.isOpen(2)).toBe(true);
    vi.advanceTimersByTime(1);
    expect(physics.isOpen(2)).toBe(false);
  });

  it('parcels go in and out only through an open door; occupancy follows', () => {
    expect(() => physics.placeParcel(1)).toThrow(/closed/);
    physics.drive(lock(1), 1, 'host');
    vi.advanceTimersByTime(30);
    physics.placeParcel(1);
    expect(physics.isOccupied(1)).toBe(true);
    expect(physics.inputLevel(model.compartments[0]!.occupancyPin)).toBe(0);
    physics.removeParcel(1);
    expect(physics.inputLevel(model.compartments[0]!.occupancyPin)).toBe(1);
  });

  it('records buzzer sounds and shows the light colour', () => {
    physics.drive(model.buzzerPin, 1, 'host');
    vi.advanceTimersByTime(80);
    physics.drive(model.buzzerPin, 0, 'host');
    expect(physics.buzzerLog).toEqual([{ at: expect.any(Number), ms: 80 }]);
    physics.drive(model.light.red, 1, 'host');
    expect(physics.light()).toBe('red');
    physics.drive(model.light.green, 1, 'host');
    expect(physics.light()).toBe('off'); // two LEDs lit is not a colour
  });
});
