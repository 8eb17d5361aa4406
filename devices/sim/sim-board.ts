/**
 * A simulated locker-bank board: an Arduino running StandardFirmata, wired to the locks,
 * doors, sensors, keypad, scanner, light and buzzer of one bank model, reachable over a
 * simulated USB serial cable that speaks real Firmata bytes. Johnny-Five (through
 * firmata-io) cannot tell it from the real thing.
 *
 * Like serialport's binding-mock it adds test controls: faults (`jam`, `stickSensor`,
 * `killKey`, `removeScanner`, `pullCable`, `hang`, `reboot`), people (`close`,
 * `placeParcel`, `pressKey`, `scan`) and records (`doorOpenLog`, `pulseLog`, `lastWrite`,
 * `hostLog`). It enforces the hardware rules: see `physics.ts` and `standard-firmata.ts`.
 */
import type { Duplex } from 'node:stream';
import { loadBankModel, type BankModel, type BankModelName } from '../bank-model.js';
import type { DoorState, LightColor } from '../locker-bank.js';
import { formatScan } from '../scanner-protocol.js';
import { encodeMessage, FirmataDecoder, type FirmataMessage } from './firmata-protocol.js';
import type { SimulatedHardware } from './hardware-controls.js';
import { LockerPhysics, type DoorOpenEvent, type LockPulse, type PhysicsOptions } from './physics.js';
import { createSerialLink, type SerialLink } from './serial-link.js';
import { StandardFirmata } from './standard-firmata.js';

/** Options of a simulated board. Physical timings are in {@link PhysicsOptions}. */
export interface SimBoardOptions extends PhysicsOptions {
  /** The bank wired to the board: a shipped model name or a parsed model. */
  model: BankModel | BankModelName;
  /** How long the pins float while the bootloader runs after a (re)boot. Default 50 ms (a real Uno: ~1.5 s). */
  bootGlitchMs?: number;
  /** Opening the serial port resets the board (DTR auto-reset, as on an Uno or Mega). Default true. */
  resetOnConnect?: boolean;
  /**
   * The firmware includes the scanner bridge (`../scanner-protocol.ts`). Default true; false
   * is plain StandardFirmata: no scanner, `SCANNER?` never answered.
   */
  scannerBridge?: boolean;
  /** How many host messages `hostLog` keeps. Default 10 000. */
  hostLogLimit?: number;
}

/** What the board's firmware is doing. */
export type BoardState = 'booting' | 'running' | 'hung';

/** Thrown by {@link SimBoard.connect} while the cable is pulled (like opening a missing serial port). */
export class CableUnplugged extends Error {
  constructor() {
    super('The board is not connected: its USB cable is unplugged.');
    this.name = 'CableUnplugged';
  }
}

/** A simulated board. Create with {@link createSimBoard} or `new SimBoard(options)`. */
export class SimBoard implements SimulatedHardware {
  readonly model: BankModel;
  readonly physics: LockerPhysics;
  readonly firmware: StandardFirmata;
  /** The last chunk of bytes the host wrote (whether or not the firmware was listening). */
  lastWrite: Buffer | null = null;
  /** Decoded host messages the firmware handled, oldest first, with the boot they arrived in (bounded by `hostLogLimit`). */
  readonly hostLog: Array<{ at: number; boot: number; message: FirmataMessage }> = [];
  /** Number of boots (power-on counts as the first). */
  bootCount = 0;
  /** Number of times a host opened the serial port. */
  connectCount = 0;
  private boardState: BoardState = 'booting';
  private link: SerialLink | null = null;
  private decoder = new FirmataDecoder('to-board');
  private cablePlugged = true;
  private bootTimer: NodeJS.Timeout | null = null;
  private bootWaiters: Array<() => void> = [];
  private readonly bootGlitchMs: number;
  private readonly resetOnConnect: boolean;
  private readonly hostLogLimit: number;
  private readonly now: () => number;

  constructor(options: SimBoardOptions) {
    this.model = typeof options.model === 'string' ? loadBankModel(options.model) : options.model;
    this.bootGlitchMs = options.bootGlitchMs ?? 50;
    this.resetOnConnect = options.resetOnConnect ?? true;
    this.hostLogLimit = options.hostLogLimit ?? 10_000;
    this.now = options.now ?? Date.now;
    this.physics = new LockerPhysics(this.model, options);
    this.firmware = new StandardFirmata(this.model.board, this.physics, (m) => this.send(m), options.scannerBridge ?? true);
    this.physics.onInputChange = (pin) => {
      if (this.boardState === 'running') this.firmware.inputChanged(pin);
    };
    void this.reboot(); // power-on
  }

  /** What the firmware is doing. */
  get state(): BoardState {
    return this.boardState;
  }
  /** The cable is plugged in. */
  get isCablePlugged(): boolean {
    return this.cablePlugged;
  }
  /** A host has the serial port open. */
  get isHostConnected(): boolean {
    return this.link !== null;
  }

  // ---- the serial port, as the hub's stream factory sees it ----

  /**
   * Open the serial port: returns the host end of a fresh link. Throws {@link CableUnplugged}
   * while the cable is pulled. A link still open is closed first. With `resetOnConnect` the
   * board reboots, as an Arduino does when the port is opened.
   */
  connect(): Duplex {
    if (!this.cablePlugged) throw new CableUnplugged();
    this.dropLink();
    const link = createSerialLink();
    this.link = link;
    this.connectCount++;
    this.decoder = new FirmataDecoder('to-board');
    link.board.on('data', (chunk: Buffer) => this.receive(link, chunk));
    link.board.on('close', () => {
      if (this.link === link) this.link = null;
    });
    link.board.on('error', () => {});
    if (this.resetOnConnect) void this.reboot();
    return link.host;
  }

  /** Pull the USB cable: the host's stream closes. The board stays powered and keeps its pins. */
  pullCable(): void {
    this.cablePlugged = false;
    this.dropLink();
  }

  /** Plug the cable back in: `connect()` works again (the hub reconnects on its own). */
  plugCable(): void {
    this.cablePlugged = true;
  }

  // ---- the board ----

  /** Restart the board (watchdog, brown-out, reset button): pins float, then reset, then it re-announces. */
  reboot(): Promise<void> {
    this.bootCount++;
    this.boardState = 'booting';
    this.decoder.reset();
    this.firmware.enterBootloader();
    if (this.bootTimer) clearTimeout(this.bootTimer);
    this.bootTimer = setTimeout(() => {
      this.bootTimer = null;
      this.boardState = 'running';
      this.firmware.setup();
      const waiters = this.bootWaiters;
      this.bootWaiters = [];
      waiters.forEach((w) => w());
    }, this.bootGlitchMs);
    return new Promise((resolve) => this.bootWaiters.push(resolve));
  }

  /** The firmware freezes: it stops answering and reporting, outputs hold. `reboot()` recovers. */
  hang(): void {
    this.boardState = 'hung';
  }

  // ---- people and faults (see SimulatedHardware) ----

  jam(no: number): void {
    this.physics.jam(no);
  }
  unjam(no: number): void {
    this.physics.unjam(no);
  }
  stickSensor(no: number, state: DoorState): void {
    this.physics.stickSensor(no, state);
  }
  unstickSensor(no: number): void {
    this.physics.unstickSensor(no);
  }
  close(no: number): void {
    this.physics.close(no);
  }
  isOpen(no: number): boolean {
    return this.physics.isOpen(no);
  }
  placeParcel(no: number): void {
    this.physics.placeParcel(no);
  }
  removeParcel(no: number): void {
    this.physics.removeParcel(no);
  }
  setAutoClose(ms: number | null): void {
    this.physics.setAutoClose(ms);
  }
  pressKey(key: string, holdMs?: number): Promise<void> {
    return this.physics.pressKey(key, holdMs);
  }
  killKey(key: string): void {
    this.physics.killKey(key);
  }
  stickKey(key: string): void {
    this.physics.stickKey(key);
  }
  reviveKey(key: string): void {
    this.physics.reviveKey(key);
  }
  /** The scanner reads `text` (printable ASCII). Returns false if no scanner is attached. */
  scan(text: string): boolean {
    const line = formatScan(text);
    if (!this.firmware.scannerPresent) return false;
    this.send({ type: 'string', text: line });
    return true;
  }
  removeScanner(): void {
    this.firmware.setScannerPresent(false);
  }
  restoreScanner(): void {
    this.firmware.setScannerPresent(true);
  }
  lockOutput(no: number): 'locked' | 'released' | 'float' {
    return this.physics.lockOutput(no);
  }
  light(): LightColor {
    return this.physics.light();
  }
  get doorOpenLog(): readonly DoorOpenEvent[] {
    return this.physics.doorOpenLog;
  }
  get pulseLog(): readonly LockPulse[] {
    return this.physics.pulseLog;
  }
  get buzzerLog(): ReadonlyArray<{ at: number; ms: number }> {
    return this.physics.buzzerLog;
  }

  /** Stop every timer and close the link (end of a test or demo). */
  dispose(): void {
    if (this.bootTimer) clearTimeout(this.bootTimer);
    this.bootTimer = null;
    this.dropLink();
    this.physics.dispose();
  }

  private receive(link: SerialLink, chunk: Buffer): void {
    if (this.link !== link) return;
    this.lastWrite = Buffer.from(chunk);
    if (this.boardState !== 'running') return; // the bootloader or a hung firmware drops bytes
    for (const message of this.decoder.push(chunk)) {
      this.hostLog.push({ at: this.now(), boot: this.bootCount, message });
      if (this.hostLog.length > this.hostLogLimit * 1.1) this.hostLog.splice(0, this.hostLog.length - this.hostLogLimit);
      this.firmware.handle(message);
    }
  }

  private send(message: FirmataMessage): void {
    if (this.boardState !== 'running' || !this.link) return;
    this.link.board.write(encodeMessage(message));
  }

  private dropLink(): void {
    const link = this.link;
    this.link = null;
    link?.board.destroy();
  }
}

/** Create a simulated board. */
export function createSimBoard(options: SimBoardOptions): SimBoard {
  return new SimBoard(options);
}
