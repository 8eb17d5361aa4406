import { afterEach, describe, expect, it } from 'vitest';
import { J5LockerBank } from '../../devices/johnny-five/j5-locker-bank.js';
import { SimBoard } from '../../devices/sim/sim-board.js';
import type { SimulatedBank } from '../../devices/sim/simulated-bank.js';
import { createSimulatedBank, FAST_BANK_TIMING, FAST_BOARD_TIMING, nextEvent, sleep, waitUntil } from '../support/board.js';
import { checkSafeStartup } from './startup-order.js';

// Behaviour of the Johnny-Five bank beyond the LockerBank contract: start-up order on the
// wire, connection management (absent board, failing factory, hung firmware), concurrency
// across shared ports, and what happens to state while the link is down.

describe('J5LockerBank on the simulated board', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const bankOn = async (options: Parameters<typeof createSimulatedBank>[0]): Promise<SimulatedBank> => {
    const sim = await createSimulatedBank(options);
    cleanups.push(sim.close);
    return sim;
  };

  it('configures the board in the safe order: locks locked and made outputs before anything else', async () => {
    const { board } = await bankOn({ model: 'cubby-24' });
    const messages = board.hostLog.filter((e) => e.boot === board.bootCount).map((e) => e.message);
    expect(checkSafeStartup(messages, board.model)).toEqual({ configured: true, violations: [] });
    // the first pin command of all is a port write that locks
    const first = messages.find((m) => m.type === 'digital-port' || m.type === 'set-pin-mode' || m.type === 'report-digital');
    expect(first?.type).toBe('digital-port');
  });

  it('opens all 24 doors of a cubby-24 at once (locks share ports) and relocks every one', async () => {
    const { bank, board } = await bankOn({ model: 'cubby-24' });
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => bank.openDoor(i + 1)));
    expect(results.every((r) => r.opened)).toBe(true);
    expect(board.doorOpenLog).toHaveLength(24);
    await waitUntil(() => Array.from({ length: 24 }, (_, i) => board.lockOutput(i + 1)).every((o) => o === 'locked'), 'every lock relocks');
    expect(board.pulseLog).toHaveLength(24);
  });

  it('starts without a board (cable out), reports disconnected, and connects when it is plugged in', async () => {
    const board = new SimBoard({ model: 'cubby-4', ...FAST_BOARD_TIMING });
    cleanups.push(() => board.dispose());
    board.pullCable();
    const bank = new J5LockerBank({ ...FAST_BANK_TIMING, startTimeoutMs: 150, model: board.model, connect: () => board.connect() });
    cleanups.push(() => bank.stop());
    const t0 = Date.now();
    await bank.start();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(bank.health().connected).toBe(false);
    expect(await bank.openDoor(1)).toEqual({ opened: false, reason: 'board_lost' });
    const up = nextEvent(bank, 'connection', (c) => c, 3000);
    board.plugCable();
    await up;
    expect((await bank.openDoor(1)).opened).toBe(true);
  });

  it('retries a failing stream factory with growing delays', async () => {
    const board = new SimBoard({ model: 'cubby-4', ...FAST_BOARD_TIMING });
    cleanups.push(() => board.dispose());
    const attempts: number[] = [];
    const bank = new J5LockerBank({
      ...FAST_BANK_TIMING,
      reconnectMinMs: 20,
      reconnectMaxMs: 1000,
      model: board.model,
      connect: async () => {
        attempts.push(Date.now());
        if (attempts.length < 4) throw new Error('ENOENT: no such serial port');
        return board.connect();
      },
    });
    cleanups.push(() => bank.stop());
    await bank.start();
    expect(bank.health().connected).toBe(true);
    expect(attempts).toHaveLength(4);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[2]).toBeGreaterThanOrEqual(75); // 20, 40, 80
  });

  it('detects a hung board by its silence, then recovers by reconnecting (which resets it)', async () => {
    const log: string[] = [];
    const { bank, board } = await bankOn({ bank: { heartbeatMs: 30, heartbeatTimeoutMs: 200, log: (m) => log.push(m) } });
    const down = nextEvent(bank, 'connection', (c) => !c, 2000);
    const t0 = Date.now();
    board.hang();
    await down;
    expect(Date.now() - t0).toBeLessThan(600);
    expect(await bank.openDoor(1)).toEqual({ opened: false, reason: 'board_lost' });
    await nextEvent(bank, 'connection', (c) => c, 3000);
    expect(board.state).toBe('running');
    expect((await bank.openDoor(1)).opened).toBe(true);
    expect(log).toContain('board disconnected: board silent');
    expect(log.filter((m) => m.startsWith('board configured'))).toHaveLength(2);
  });

  it('a board that does not reset when the port opens is asked for its version, and reconfigured on reconnection', async () => {
    const { bank, board } = await bankOn({ start: false, board: { resetOnConnect: false }, bank: { versionQueryDelayMs: 50 } });
    await waitUntil(() => board.state === 'running', 'the power-on boot is over');
    await bank.start();
    expect(bank.health().connected).toBe(true);
    const boots = board.bootCount;
    expect(board.hostLog.some((e) => e.message.type === 'version-query')).toBe(true);
    const down = nextEvent(bank, 'connection', (c) => !c);
    board.pullCable();
    await down;
    const up = nextEvent(bank, 'connection', (c) => c, 3000);
    board.plugCable();
    await up;
    expect(board.bootCount).toBe(boots);
    expect((await bank.openDoor(2)).opened).toBe(true);
  });

  it('a board without the scanner bridge has its scanner reported missing', async () => {
    const { bank } = await bankOn({ board: { scannerBridge: false } });
    expect(bank.health()).toMatchObject({ connected: true, scanner: 'missing' });
  });

  it('reports after reconnection what changed while the link was down', async () => {
    const { bank, board } = await bankOn({});
    await bank.openDoor(2);
    board.placeParcel(2);
    await waitUntil(() => bank.status(2).occupied, 'the parcel is seen');
    // (pulled mid-pulse, the board would keep the solenoid energised and the door would spring open again)
    await waitUntil(() => board.lockOutput(2) === 'locked', 'the pulse ends');
    const down = nextEvent(bank, 'connection', (c) => !c);
    board.pullCable();
    await down;
    board.removeParcel(2);
    board.close(2);
    const events: string[] = [];
    bank.on('door', (no, state) => events.push(`door ${no} ${state}`));
    bank.on('occupancy', (no, occupied) => events.push(`occupancy ${no} ${occupied}`));
    const up = nextEvent(bank, 'connection', (c) => c, 3000);
    board.plugCable();
    await up;
    expect(events.sort()).toEqual(['door 2 closed', 'occupancy 2 false']);
    expect(bank.status(2)).toMatchObject({ door: 'closed', occupied: false });
  });

  it('a reboot during an open in flight resolves board_lost and leaves the lock locked', async () => {
    const { bank, board } = await bankOn({ pulseMs: 200, openTimeoutMs: 1000 });
    board.jam(3);
    const open = bank.openDoor(3);
    await sleep(20);
    expect(board.lockOutput(3)).toBe('released');
    void board.reboot();
    expect(await open).toEqual({ opened: false, reason: 'board_lost' });
    await waitUntil(() => bank.health().connected, 'reconfigured');
    expect(board.lockOutput(3)).toBe('locked');
    expect(board.doorOpenLog).toEqual([]);
  });

  it('can be stopped and started again; Johnny-Five boards per connection leave no process listeners', async () => {
    const { bank, board } = await bankOn({});
    const sigint = process.listenerCount('SIGINT');
    for (let i = 0; i < 5; i++) {
      await bank.stop();
      await bank.start();
      expect(bank.health().connected).toBe(true);
    }
    expect(process.listenerCount('SIGINT')).toBe(sigint);
    expect((await bank.openDoor(4)).opened).toBe(true);
    expect(board.connectCount).toBeGreaterThanOrEqual(6);
  });
});

describe('J5LockerBank start and stop', () => {
  it('stop() during a start that is still waiting for the board ends the start at once', async () => {
    const board = new SimBoard({ model: 'cubby-4', ...FAST_BOARD_TIMING });
    board.pullCable();
    const bank = new J5LockerBank({ ...FAST_BANK_TIMING, startTimeoutMs: 10_000, model: board.model, connect: () => board.connect() });
    const t0 = Date.now();
    const started = bank.start();
    const again = bank.start();
    await sleep(30);
    await bank.stop();
    await Promise.all([started, again]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(bank.health().connected).toBe(false);
    board.plugCable();
    await sleep(100);
    expect(board.connectCount).toBe(0); // no reconnection after stop
    board.dispose();
  });
});
