/** Options of the Johnny-Five locker bank, with their defaults. */
import type { BankModel, BankModelName } from '../bank-model.js';
import { DEFAULT_OPEN_TIMEOUT_MS, DEFAULT_PULSE_MS } from '../locker-bank.js';
import type { StreamFactory } from './j5-link.js';

/** Options of the Johnny-Five locker bank. Every duration is in milliseconds. */
export interface J5LockerBankOptions {
  /** The bank's pin map: a shipped model name or a parsed model. */
  model: BankModel | BankModelName;
  /**
   * Opens a stream to the board, called for the first connection and every reconnection;
   * throwing or rejecting means "not available now" (retried with backoff). For a real bank:
   * `() => new SerialPort({ path, baudRate: 57600 })`; for the simulator: `() => board.connect()`.
   */
  connect: StreamFactory;
  /** Lock pulse length. Default 300. */
  pulseMs?: number;
  /** Time a door has to report open, from the pulse start. Default 2000. */
  openTimeoutMs?: number;
  /** Heartbeat period. Default 1000. */
  heartbeatMs?: number;
  /** The board is lost after this long without a byte from it. Default 3000. */
  heartbeatTimeoutMs?: number;
  /** Limit for the handshake and for the first sensor readings. Default 10 000 (Johnny-Five's own). */
  handshakeTimeoutMs?: number;
  /**
   * Ask the board for its version if it has not announced it this long after the port
   * opened. A board without DTR auto-reset never announces; one with it does after its
   * bootloader (~1.6 s on an Uno), which would swallow an earlier query. Default 2000.
   */
  versionQueryDelayMs?: number;
  /** First reconnection delay; doubles up to `reconnectMaxMs`. Default 250. */
  reconnectMinMs?: number;
  /** Longest reconnection delay. Default 5000. */
  reconnectMaxMs?: number;
  /** `start()` resolves after this long even if the board is not there yet. Default 15 000. */
  startTimeoutMs?: number;
  /** How long to wait for the board to say whether the scanner is there. Default 500. */
  scannerQueryTimeoutMs?: number;
  /** A key pressed this long is declared dead (shorted). Default 3000. */
  stuckKeyMs?: number;
  /** Diagnostics: connection lost and why, reboots detected, reconnection delays. Default: none. */
  log?: (message: string) => void;
  /** Clock for `lastSeenAt` and open durations. Default `Date.now`. */
  now?: () => number;
}

/** Options with every default filled in. */
export type ResolvedJ5Options = Required<Omit<J5LockerBankOptions, 'model'>>;

/** Fill in the defaults. */
export function resolveJ5Options(options: J5LockerBankOptions): ResolvedJ5Options {
  return {
    connect: options.connect,
    pulseMs: options.pulseMs ?? DEFAULT_PULSE_MS,
    openTimeoutMs: options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS,
    heartbeatMs: options.heartbeatMs ?? 1000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 3000,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    versionQueryDelayMs: options.versionQueryDelayMs ?? 2000,
    reconnectMinMs: options.reconnectMinMs ?? 250,
    reconnectMaxMs: options.reconnectMaxMs ?? 5000,
    startTimeoutMs: options.startTimeoutMs ?? 15_000,
    scannerQueryTimeoutMs: options.scannerQueryTimeoutMs ?? 500,
    stuckKeyMs: options.stuckKeyMs ?? 3000,
    log: options.log ?? (() => {}),
    now: options.now ?? Date.now,
  };
}
