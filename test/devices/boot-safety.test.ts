import { afterEach, describe, expect, it } from 'vitest';
import { loadBankModel, type BankModel } from '../../devices/bank-model.js';
import { encodeMessage, FirmataDecoder, PIN_MODE } from '../../devices/sim/firmata-protocol.js';
import { SimBoard } from '../../devices/sim/sim-board.js';
import type { SimulatedBank } from '../../devices/sim/simulated-bank.js';
import { createSimulatedBank, FAST_BOARD_TIMING, nextEvent, sleep, waitUntil } from '../support/board.js';
import { checkSafeStartup } from './startup-order.js';

// DESIGN.md: "a board restart must never open a door". The simulated board models what
// StandardFirmata does at boot (pins float, then every digital pin becomes an OUTPUT driving
// LOW) and releases a latch only when its lock output is actively driven to the release
// level for >= releaseMs. These tests restart the board and the link many times under a
// connected hub and check the door-open log, the lock pulse log and the hub's commands.

const CYCLES = 100;

function expectNothingMoved(board: SimBoard): void {
  expect(board.doorOpenLog).toEqual([]);
  expect(board.pulseLog).toEqual([]);
  for (let no = 1; no <= board.model.compartments.length; no++) expect(board.lockOutput(no)).toBe('locked');
}

function expectSafeStartupInEveryBoot(board: SimBoard, expectedConfigurations: number): void {
  const boots = new Map<number, Parameters<typeof checkSafeStartup>[0]>();
  for (const { boot, message } of board.hostLog) boots.set(boot, [...(boots.get(boot) ?? []), message]);
  let configurations = 0;
  for (const [boot, messages] of boots) {
    const { configured, violations } = checkSafeStartup(messages, board.model);
    expect({ boot, violations }).toEqual({ boot, violations: [] });
    if (configured) configurations++;
  }
  expect(configurations).toBeGreaterThanOrEqual(expectedConfigurations);
}

describe('boot safety: restarts never open a door', () => {
  let sim: SimulatedBank | null = null;
  afterEach(async () => {
    await sim?.close();
    sim = null;
  });

  it(`${CYCLES} board reboots under a connected hub: each one reconfigured safely, no lock ever driven`, async () => {
    sim = await createSimulatedBank({ model: 'cubby-24', board: { hostLogLimit: 1_000_000 } });
    const { bank, board } = sim;
    const bootsBefore = board.bootCount;
    let downs = 0;
    bank.on('connection', (up) => void (up ? 0 : downs++));
    for (let i = 0; i < CYCLES; i++) {
      const up = nextEvent(bank, 'connection', (c) => c, 5000);
      await board.reboot();
      await up;
    }
    expect(board.bootCount - bootsBefore).toBe(CYCLES);
    expect(downs).toBe(CYCLES);
    expectNothingMoved(board);
    expectSafeStartupInEveryBoot(board, CYCLES + 1);
    // and the bank still works
    expect((await bank.openDoor(24)).opened).toBe(true);
    expect(board.doorOpenLog).toEqual([expect.objectContaining({ no: 24, cause: 'pulse' })]);
  });

  it(`${CYCLES} cable pulls and plugs (each reconnection resets the board, as USB DTR does)`, async () => {
    sim = await createSimulatedBank({ model: 'cubby-24', board: { hostLogLimit: 1_000_000 } });
    const { bank, board } = sim;
    const connectsBefore = board.connectCount;
    for (let i = 0; i < CYCLES; i++) {
      const down = nextEvent(bank, 'connection', (c) => !c, 5000);
      board.pullCable();
      await down;
      expect(await bank.openDoor(1 + (i % 24))).toEqual({ opened: false, reason: 'board_lost' });
      const up = nextEvent(bank, 'connection', (c) => c, 5000);
      board.plugCable();
      await up;
    }
    expect(board.connectCount - connectsBefore).toBeGreaterThanOrEqual(CYCLES);
    expectNothingMoved(board);
    expectSafeStartupInEveryBoot(board, CYCLES + 1);
    expect((await bank.openDoor(1)).opened).toBe(true);
  });

  it('reboots and pulls at random moments, even mid-handshake and mid-configuration, open nothing', async () => {
    sim = await createSimulatedBank({ model: 'cubby-12', board: { hostLogLimit: 1_000_000 } });
    const { bank, board } = sim;
    let seed = 20260101;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 60; i++) {
      const action = random();
      if (action < 0.4) void board.reboot();
      else if (action < 0.8) {
        board.pullCable();
        await sleep(random() * 15);
        board.plugCable();
      }
      await sleep(random() * 25);
    }
    board.plugCable();
    await waitUntil(() => bank.health().connected, 'the hub is connected again', 10_000);
    expectNothingMoved(board);
    expectSafeStartupInEveryBoot(board, 1);
  });
});

describe('boot safety: negative controls (the simulator would catch an unsafe bank)', () => {
  let board: SimBoard | null = null;
  afterEach(() => {
    board?.dispose();
    board = null;
  });

  it('locks wired active-low are released by the StandardFirmata boot default (every pin OUTPUT LOW)', async () => {
    const activeLow: BankModel = { ...loadBankModel('cubby-4'), lockActive: 'low' };
    board = new SimBoard({ model: activeLow, ...FAST_BOARD_TIMING });
    await waitUntil(() => board!.doorOpenLog.length === 4, 'the boot opens every door');
    expect(board.doorOpenLog.map((e) => [e.no, e.cause]).sort()).toEqual([
      [1, 'boot'],
      [2, 'boot'],
      [3, 'boot'],
      [4, 'boot'],
    ]);
    expect(board.pulseLog.every((p) => p.source === 'boot')).toBe(true);
  });

  it('a careless hub that drives a lock HIGH at start-up ("lamp test") opens the door, and the checks see it', async () => {
    const model = loadBankModel('cubby-4');
    const lockPin = model.compartments[0]!.lockPin;
    board = new SimBoard({ model, ...FAST_BOARD_TIMING });
    const stream = board.connect();
    const decoder = new FirmataDecoder('to-host');
    stream.on('data', (chunk: Buffer) => {
      for (const m of decoder.push(chunk)) {
        if (m.type !== 'firmware') continue;
        stream.write(encodeMessage({ type: 'set-pin-mode', pin: lockPin, mode: PIN_MODE.OUTPUT }));
        stream.write(encodeMessage({ type: 'digital-port', port: lockPin >> 3, value: 1 << (lockPin & 7) }));
        setTimeout(() => stream.write(encodeMessage({ type: 'digital-port', port: lockPin >> 3, value: 0 })), 20);
      }
    });
    await waitUntil(() => board!.doorOpenLog.length === 1, 'the lamp test opens door 1');
    expect(board.doorOpenLog[0]).toMatchObject({ no: 1, cause: 'pulse' });
    const messages = board.hostLog.map((e) => e.message);
    expect(checkSafeStartup(messages, model).violations).toContain('lock 1 driven active by a port write');
    stream.destroy();
  });

  it('a lock driven active for less than releaseMs does not release (the boot glitch threshold)', async () => {
    const model = loadBankModel('cubby-4');
    board = new SimBoard({ model, ...FAST_BOARD_TIMING, releaseMs: 40 });
    await waitUntil(() => board!.state === 'running', 'the board runs');
    const lockPin = model.compartments[1]!.lockPin;
    board.physics.drive(lockPin, 1, 'host');
    await sleep(10);
    board.physics.drive(lockPin, 0, 'host');
    await sleep(80);
    expect(board.doorOpenLog).toEqual([]);
    expect(board.pulseLog).toHaveLength(1);
    board.physics.drive(lockPin, 1, 'host');
    await waitUntil(() => board!.doorOpenLog.length === 1, 'a long enough drive releases the latch');
  });
});
