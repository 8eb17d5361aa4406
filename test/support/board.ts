/**
 * Test helpers for anything that needs locker hardware: a Johnny-Five `LockerBank` on a
 * simulated Firmata board with fast timings (tens of ms instead of the real 300 ms pulses
 * and 2 s timeouts), plus small waiting helpers. Example:
 *
 * ```ts
 * const { bank, board, close } = await createSimulatedBank({ model: 'cubby-24' });
 * board.jam(3);
 * expect(await bank.openDoor(3)).toEqual({ opened: false, reason: 'no_response' });
 * await close();
 * ```
 *
 * The board and the bank run on real timers (the serial link delivers bytes with
 * `setImmediate`): a test that fakes timers must fake only `Date` (`vi.useFakeTimers({ toFake:
 * ['Date'] })`) or the link stands still.
 */
import type { BankModel, BankModelName } from '../../devices/bank-model.js';
import type { J5LockerBankOptions } from '../../devices/johnny-five/j5-locker-bank.js';
import type { LockerBank, LockerBankEvents } from '../../devices/locker-bank.js';
import type { SimBoardOptions } from '../../devices/sim/sim-board.js';
import { createSimulatedBank as createBank, type SimulatedBank } from '../../devices/sim/simulated-bank.js';

/** Bank timings for tests: short pulses and timeouts, quick reconnection. */
export const FAST_BANK_TIMING = {
  pulseMs: 40,
  openTimeoutMs: 250,
  heartbeatMs: 200,
  // generous: a loaded CI machine must not make a healthy board look silent
  heartbeatTimeoutMs: 3000,
  handshakeTimeoutMs: 3000,
  reconnectMinMs: 10,
  reconnectMaxMs: 100,
  startTimeoutMs: 5000,
  scannerQueryTimeoutMs: 300,
  stuckKeyMs: 300,
} satisfies Omit<J5LockerBankOptions, 'model' | 'connect'>;

/** Board timings for tests: a 5 ms boot glitch, 5 ms latch release, 10 ms spring. */
export const FAST_BOARD_TIMING = {
  bootGlitchMs: 5,
  releaseMs: 5,
  springDelayMs: 10,
} satisfies Omit<SimBoardOptions, 'model'>;

/** Options of the test {@link createSimulatedBank}; anything unset gets the fast timings. */
export interface TestBankOptions {
  /** Default `cubby-4`. */
  model?: BankModel | BankModelName;
  pulseMs?: number;
  openTimeoutMs?: number;
  /** People close doors this long after they open; default: only `board.close(no)` does. */
  autoCloseMs?: number | null;
  /** Extra board options (override the fast timings). */
  board?: Omit<SimBoardOptions, 'model'>;
  /** Extra bank options (override the fast timings). */
  bank?: Omit<J5LockerBankOptions, 'model' | 'connect'>;
  /** Start the bank before returning. Default true. */
  start?: boolean;
}

/** A started Johnny-Five bank on a simulated board, with fast timings. */
export function createSimulatedBank(options: TestBankOptions = {}): Promise<SimulatedBank> {
  return createBank({
    model: options.model ?? 'cubby-4',
    start: options.start ?? true,
    board: { ...FAST_BOARD_TIMING, autoCloseMs: options.autoCloseMs ?? null, ...options.board },
    bank: {
      ...FAST_BANK_TIMING,
      ...(options.pulseMs !== undefined ? { pulseMs: options.pulseMs } : {}),
      ...(options.openTimeoutMs !== undefined ? { openTimeoutMs: options.openTimeoutMs } : {}),
      ...options.bank,
    },
  });
}

/** Resolve with the arguments of the next `event` that passes `filter`; reject after `timeoutMs`. */
export function nextEvent<E extends keyof LockerBankEvents>(
  bank: LockerBank,
  event: E,
  filter: (...args: Parameters<LockerBankEvents[E]>) => boolean = () => true,
  timeoutMs = 5000,
): Promise<Parameters<LockerBankEvents[E]>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (...args: Parameters<LockerBankEvents[E]>): void => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      off();
      resolve(args);
    };
    const off = bank.on(event, listener as unknown as LockerBankEvents[E]);
  });
}

/** Poll `condition` every 5 ms until it holds; reject after `timeoutMs` naming `what`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

/** Wait `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type { SimulatedBank };
