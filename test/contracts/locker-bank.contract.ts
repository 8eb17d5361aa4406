import { afterEach, describe, expect, it } from 'vitest';
import { LockBusy, UnknownCompartment, type LockerBank } from '../../devices/locker-bank.js';
import type { SimulatedHardware } from '../../devices/sim/hardware-controls.js';
import { nextEvent, sleep, waitUntil } from '../support/board.js';

/**
 * The contract every `LockerBank` implementation passes, run against each one on simulated
 * hardware (`test/devices/j5-sim.contract.test.ts`). The harness gives the bank, already
 * started, plus the hardware's test controls, so the suite checks what the doors really did,
 * not only what the bank said.
 */
export interface LockerBankHarness {
  bank: LockerBank;
  hardware: SimulatedHardware;
  /** Stop the bank and dispose of the hardware. */
  close(): Promise<void>;
}

/** What the suite asks of `makeBank`: a 4-compartment bank with these timings. */
export interface LockerBankContractOptions {
  model: 'cubby-4';
  pulseMs: number;
  openTimeoutMs: number;
}

/** Builds and starts a bank on fresh hardware. */
export type MakeLockerBank = (options: LockerBankContractOptions) => Promise<LockerBankHarness>;

const PULSE_MS = 40;
const OPEN_TIMEOUT_MS = 250;

/** Register the contract for one implementation. */
export function lockerBankContract(name: string, makeBank: MakeLockerBank): void {
  describe(`LockerBank contract: ${name}`, () => {
    let h: LockerBankHarness | null = null;
    const make = async (overrides: Partial<LockerBankContractOptions> = {}): Promise<LockerBankHarness> => {
      h = await makeBank({ model: 'cubby-4', pulseMs: PULSE_MS, openTimeoutMs: OPEN_TIMEOUT_MS, ...overrides });
      return h;
    };
    afterEach(async () => {
      await h?.close();
      h = null;
    });

    it('start drives every lock to its locked level, reads the sensors and opens nothing', async () => {
      const { bank, hardware } = await make();
      expect(bank.model).toBe('cubby-4');
      expect(bank.compartmentCount).toBe(4);
      expect(bank.health()).toMatchObject({ connected: true, keypad: 'ok', deadKeys: [], scanner: 'ok' });
      expect(bank.health().lastSeenAt).toEqual(expect.any(Number));
      for (let no = 1; no <= 4; no++) expect(hardware.lockOutput(no)).toBe('locked');
      expect(bank.statuses()).toEqual([
        { no: 1, size: 'S', door: 'closed', occupied: false },
        { no: 2, size: 'M', door: 'closed', occupied: false },
        { no: 3, size: 'M', door: 'closed', occupied: false },
        { no: 4, size: 'L', door: 'closed', occupied: false },
      ]);
      expect(hardware.pulseLog).toEqual([]);
      expect(hardware.doorOpenLog).toEqual([]);
    });

    it('openDoor on a good door pulses for pulseMs and resolves opened once the sensor says so', async () => {
      const { bank, hardware } = await make();
      const seen: string[] = [];
      bank.on('pulse', (no) => seen.push(`pulse ${no}`));
      bank.on('door', (no, state) => seen.push(`door ${no} ${state}`));
      const result = await bank.openDoor(2);
      expect(result.opened).toBe(true);
      if (result.opened) expect(result.ms).toBeGreaterThanOrEqual(0);
      if (result.opened) expect(result.ms).toBeLessThan(OPEN_TIMEOUT_MS);
      expect(seen).toEqual(['pulse 2', 'door 2 open']);
      expect(bank.status(2).door).toBe('open');
      expect(hardware.isOpen(2)).toBe(true);
      expect(hardware.doorOpenLog).toEqual([expect.objectContaining({ no: 2, cause: 'pulse' })]);
      await waitUntil(() => hardware.lockOutput(2) === 'locked', 'the pulse ends');
      const [pulse] = hardware.pulseLog;
      expect(hardware.pulseLog).toHaveLength(1);
      expect(pulse!.no).toBe(2);
      const length = pulse!.endedAt! - pulse!.startedAt;
      expect(length).toBeGreaterThanOrEqual(PULSE_MS - 5);
      expect(length).toBeLessThan(PULSE_MS + 100);
      expect([1, 3, 4].map((no) => hardware.isOpen(no))).toEqual([false, false, false]);
    });

    it('a jammed door resolves no_response after openTimeoutMs and stays closed, relocked', async () => {
      const { bank, hardware } = await make();
      hardware.jam(3);
      const t0 = Date.now();
      expect(await bank.openDoor(3)).toEqual({ opened: false, reason: 'no_response' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(OPEN_TIMEOUT_MS - 5);
      expect(hardware.isOpen(3)).toBe(false);
      expect(bank.status(3).door).toBe('closed');
      expect(hardware.lockOutput(3)).toBe('locked');
      expect(hardware.pulseLog).toHaveLength(1);
      hardware.unjam(3);
      expect((await bank.openDoor(3)).opened).toBe(true);
    });

    it('a sensor stuck closed means no_response, even though the door moved: the sensor is the truth', async () => {
      const { bank, hardware } = await make();
      hardware.stickSensor(1, 'closed');
      expect(await bank.openDoor(1)).toEqual({ opened: false, reason: 'no_response' });
      expect(hardware.isOpen(1)).toBe(true);
      expect(bank.status(1).door).toBe('closed');
      hardware.unstickSensor(1);
      await waitUntil(() => bank.status(1).door === 'open', 'the freed sensor reports the open door');
    });

    it('a door already reported open resolves opened with ms 0 and no pulse', async () => {
      const { bank, hardware } = await make();
      hardware.stickSensor(4, 'open');
      await waitUntil(() => bank.status(4).door === 'open', 'the sensor reports open');
      expect(await bank.openDoor(4)).toEqual({ opened: true, ms: 0 });
      expect(hardware.pulseLog).toEqual([]);
    });

    it('rejects a second openDoor on the same lock with LockBusy until the pulse is over', async () => {
      const pulseMs = 150;
      const { bank, hardware } = await make({ pulseMs });
      const first = bank.openDoor(1);
      const other = bank.openDoor(2);
      await expect(bank.openDoor(1)).rejects.toBeInstanceOf(LockBusy);
      await expect(bank.openDoor(1)).rejects.toMatchObject({ compartment: 1 });
      expect((await first).opened).toBe(true);
      expect((await other).opened).toBe(true);
      // The door is open but the pulse still runs: still busy (no two pulses on one lock).
      expect(hardware.lockOutput(1)).toBe('released');
      await expect(bank.openDoor(1)).rejects.toBeInstanceOf(LockBusy);
      await waitUntil(() => hardware.lockOutput(1) === 'locked', 'the pulse ends');
      await sleep(5);
      expect(await bank.openDoor(1)).toEqual({ opened: true, ms: 0 });
      expect(hardware.pulseLog.filter((p) => p.no === 1)).toHaveLength(1);
    });

    it('rejects unknown compartments', async () => {
      const { bank } = await make();
      await expect(bank.openDoor(0)).rejects.toBeInstanceOf(UnknownCompartment);
      await expect(bank.openDoor(5)).rejects.toBeInstanceOf(RangeError);
      await expect(bank.openDoor(1.5)).rejects.toBeInstanceOf(UnknownCompartment);
      expect(() => bank.status(5)).toThrow(UnknownCompartment);
    });

    it('waitForClose: true at once when closed, true when a person closes it, false on timeout', async () => {
      const { bank, hardware } = await make();
      expect(await bank.waitForClose(1, 10)).toBe(true);
      await bank.openDoor(1);
      expect(await bank.waitForClose(1, 50)).toBe(false);
      setTimeout(() => hardware.close(1), 30);
      const t0 = Date.now();
      expect(await bank.waitForClose(1, 1000)).toBe(true);
      expect(Date.now() - t0).toBeLessThan(500);
      expect(bank.status(1).door).toBe('closed');
    });

    it('door and occupancy events follow the sensors; a closed compartment cannot be filled', async () => {
      const { bank, hardware } = await make();
      const seen: string[] = [];
      bank.on('door', (no, state) => seen.push(`door ${no} ${state}`));
      bank.on('occupancy', (no, occupied) => seen.push(`occupancy ${no} ${occupied}`));
      expect(() => hardware.placeParcel(3)).toThrow();
      await bank.openDoor(3);
      hardware.placeParcel(3);
      await nextEvent(bank, 'occupancy', (no) => no === 3);
      expect(bank.status(3)).toEqual({ no: 3, size: 'M', door: 'open', occupied: true });
      hardware.close(3);
      await nextEvent(bank, 'door', (no, state) => no === 3 && state === 'closed');
      expect(bank.status(3)).toEqual({ no: 3, size: 'M', door: 'closed', occupied: true });
      await waitUntil(() => hardware.lockOutput(3) === 'locked', 'the pulse ends');
      await bank.openDoor(3);
      hardware.removeParcel(3);
      await nextEvent(bank, 'occupancy', (no, occupied) => no === 3 && !occupied);
      expect(seen).toEqual(['door 3 open', 'occupancy 3 true', 'door 3 closed', 'door 3 open', 'occupancy 3 false']);
    });

    it('keypad: presses become key events; a dead key never fires; a shorted key is reported dead', async () => {
      const { bank, hardware } = await make();
      const keys: string[] = [];
      bank.on('key', (k) => keys.push(k));
      for (const k of ['1', '2', '*', '#', '0']) await hardware.pressKey(k);
      await waitUntil(() => keys.length === 5, 'five keys arrive');
      hardware.killKey('7');
      await hardware.pressKey('7');
      await hardware.pressKey('8');
      await waitUntil(() => keys.length === 6, 'the live key arrives');
      expect(keys).toEqual(['1', '2', '*', '#', '0', '8']);
      expect(bank.health().keypad).toBe('ok'); // an open-circuit key cannot be seen electrically
      hardware.stickKey('5');
      await nextEvent(bank, 'health', (health) => health.deadKeys.includes('5'));
      expect(bank.health()).toMatchObject({ keypad: 'degraded', deadKeys: ['5'] });
      hardware.reviveKey('5');
      await nextEvent(bank, 'health', (health) => health.keypad === 'ok');
    });

    it('scanner: reads become scan events; a removed scanner is reported missing until restored', async () => {
      const { bank, hardware } = await make();
      const scanned = nextEvent(bank, 'scan');
      expect(hardware.scan('CUBBY:bank-7:123-456789')).toBe(true);
      expect(await scanned).toEqual(['CUBBY:bank-7:123-456789']);
      hardware.removeScanner();
      await nextEvent(bank, 'health', (health) => health.scanner === 'missing');
      expect(hardware.scan('ignored')).toBe(false);
      hardware.restoreScanner();
      await nextEvent(bank, 'health', (health) => health.scanner === 'ok');
      const again = nextEvent(bank, 'scan');
      hardware.scan('123456789');
      expect(await again).toEqual(['123456789']);
    });

    it('cable pulled: connection false and board_lost at once; plugged again: reconnects safely and opens work', async () => {
      const { bank, hardware } = await make();
      const lost = nextEvent(bank, 'connection', (up) => !up);
      hardware.pullCable();
      await lost;
      expect(bank.health().connected).toBe(false);
      const t0 = Date.now();
      expect(await bank.openDoor(1)).toEqual({ opened: false, reason: 'board_lost' });
      expect(Date.now() - t0).toBeLessThan(50);
      const back = nextEvent(bank, 'connection', (up) => up, 5000);
      hardware.plugCable();
      await back;
      expect(bank.health().connected).toBe(true);
      for (let no = 1; no <= 4; no++) expect(hardware.lockOutput(no)).toBe('locked');
      expect(hardware.doorOpenLog).toEqual([]);
      expect((await bank.openDoor(4)).opened).toBe(true);
    });

    it('an open in flight when the cable is pulled resolves board_lost; the lock is locked after reconnection', async () => {
      const { bank, hardware } = await make({ pulseMs: 150, openTimeoutMs: 1000 });
      hardware.jam(2);
      const open = bank.openDoor(2);
      await sleep(20);
      hardware.pullCable();
      expect(await open).toEqual({ opened: false, reason: 'board_lost' });
      hardware.unjam(2);
      const back = nextEvent(bank, 'connection', (up) => up, 5000);
      hardware.plugCable();
      await back;
      expect(hardware.lockOutput(2)).toBe('locked');
    });

    it('a board reboot while connected: the bank reconfigures and keeps working, no door opens', async () => {
      const { bank, hardware } = await make();
      const down = nextEvent(bank, 'connection', (up) => !up, 5000);
      const up = nextEvent(bank, 'connection', (c) => c, 5000);
      await hardware.reboot();
      await down;
      await up;
      expect(hardware.doorOpenLog).toEqual([]);
      const key = nextEvent(bank, 'key');
      await hardware.pressKey('9');
      expect(await key).toEqual(['9']);
      expect((await bank.openDoor(1)).opened).toBe(true);
    });

    it('setLight and beep drive the light and the buzzer', async () => {
      const { bank, hardware } = await make();
      expect(hardware.light()).toBe('off');
      bank.setLight('green');
      await waitUntil(() => hardware.light() === 'green', 'the light turns green');
      bank.setLight('amber');
      await waitUntil(() => hardware.light() === 'amber', 'the light turns amber');
      bank.beep('ok');
      await waitUntil(() => hardware.buzzerLog.length === 1, 'one beep');
      bank.beep('error');
      await waitUntil(() => hardware.buzzerLog.length === 4, 'three more beeps');
      bank.setLight('off');
      await waitUntil(() => hardware.light() === 'off', 'the light turns off');
    });

    it('unsubscribing stops events', async () => {
      const { bank, hardware } = await make();
      const keys: string[] = [];
      const off = bank.on('key', (k) => keys.push(k));
      await hardware.pressKey('1');
      await waitUntil(() => keys.length === 1, 'the first key');
      off();
      const still = nextEvent(bank, 'key');
      await hardware.pressKey('2');
      await still;
      expect(keys).toEqual(['1']);
    });

    it('stop leaves every lock locked; afterwards openDoor reports board_lost', async () => {
      const { bank, hardware } = await make({ pulseMs: 200 });
      hardware.jam(1);
      void bank.openDoor(1);
      await sleep(10);
      expect(hardware.lockOutput(1)).toBe('released');
      await bank.stop();
      await waitUntil(() => hardware.lockOutput(1) === 'locked', 'the lock is locked after stop');
      expect(bank.health().connected).toBe(false);
      expect(await bank.openDoor(2)).toEqual({ opened: false, reason: 'board_lost' });
    });
  });
}
