/**
 * A complete simulated bank for a hub: a {@link SimBoard} plus the Johnny-Five
 * `LockerBank` talking to it over real Firmata bytes. `edge/main.ts` uses it to run a demo
 * bank with no hardware; tests use `test/support/board.ts`, which sets fast timings.
 */
import type { BankModel, BankModelName } from '../bank-model.js';
import type { LockerBank } from '../locker-bank.js';
import { J5LockerBank, type J5LockerBankOptions } from '../johnny-five/j5-locker-bank.js';
import { SimBoard, type SimBoardOptions } from './sim-board.js';

/** Options of {@link createSimulatedBank}. */
export interface SimulatedBankOptions {
  /** Bank model wired to the board. Default `cubby-24`. */
  model?: BankModel | BankModelName;
  /** Options of the simulated board (physics timings, boot glitch, auto-close...). */
  board?: Omit<SimBoardOptions, 'model'>;
  /** Options of the Johnny-Five bank (pulse and open timeouts, heartbeat, reconnection...). */
  bank?: Omit<J5LockerBankOptions, 'model' | 'connect'>;
  /** Call `bank.start()` before returning. Default true. */
  start?: boolean;
}

/** A simulated bank: the port for the hub, the board for demos and tests, and a way to stop both. */
export interface SimulatedBank {
  bank: LockerBank;
  board: SimBoard;
  /** Stop the bank and dispose of the board. */
  close(): Promise<void>;
}

/**
 * Build (and by default start) a Johnny-Five locker bank on a simulated board. With no
 * options: a `cubby-24` with real-hardware timings (300 ms pulses, 2 s open timeout) whose
 * doors close on their own 5 s after opening, so a demo never gets stuck open.
 */
export async function createSimulatedBank(options: SimulatedBankOptions = {}): Promise<SimulatedBank> {
  const model = options.model ?? 'cubby-24';
  const board = new SimBoard({ autoCloseMs: 5000, ...options.board, model });
  const bank = new J5LockerBank({ ...options.bank, model: board.model, connect: () => board.connect() });
  const close = async (): Promise<void> => {
    await bank.stop();
    board.dispose();
  };
  if (options.start ?? true) {
    try {
      await bank.start();
    } catch (error) {
      await close();
      throw error;
    }
  }
  return { bank, board, close };
}
