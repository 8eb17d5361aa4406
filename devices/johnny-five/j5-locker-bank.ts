/**
 * The Johnny-Five implementation of the `LockerBank` port: a Firmata board (StandardFirmata
 * on an Arduino over USB serial, or the simulated board) configured by a bank model.
 *
 * Connection life cycle: open a stream with the factory, handshake (`J5Link`), configure
 * safely (locks locked first, then other outputs, then inputs and reporting, then read
 * every sensor and ask for the scanner), then `connection(true)`. The link is lost when the
 * stream closes or errors, or when the board stops answering the heartbeat (a
 * PIN_STATE_QUERY of the first door input every `heartbeatMs`); then `connection(false)`
 * and reconnection with exponential backoff. The heartbeat answer also reveals a board
 * that rebooted under us (its inputs are outputs again): it is configured again at once.
 */
import { loadBankModel, type BankModel, type CompartmentWiring } from '../bank-model.js';
import { BankEventEmitter } from '../bank-events.js';
import { BankInputs } from '../bank-inputs.js';
import {
  LockBusy,
  UnknownCompartment,
  type BankHealth,
  type BeepKind,
  type CompartmentStatus,
  type LightColor,
  type LockerBank,
  type LockerBankEvents,
  type OpenResult,
} from '../locker-bank.js';
import { parseBoardString, SCANNER_QUERY } from '../scanner-protocol.js';
import { DoorPulses } from './door-pulses.js';
import { Indicators } from './indicators.js';
import { resolveJ5Options, type J5LockerBankOptions, type ResolvedJ5Options } from './j5-bank-options.js';
import { J5Link } from './j5-link.js';
import { lockedLevels, writeSafeConfiguration } from './safe-startup.js';

export type { J5LockerBankOptions } from './j5-bank-options.js';

/** A locker bank driven through Johnny-Five. Construct, then `start()`. */
export class J5LockerBank implements LockerBank {
  readonly model: string;
  readonly compartmentCount: number;
  private readonly bank: BankModel;
  private readonly events = new BankEventEmitter();
  private readonly inputs: BankInputs;
  private readonly pulses: DoorPulses;
  private readonly indicators: Indicators;
  private readonly o: ResolvedJ5Options;
  private link: J5Link | null = null;
  private configured = false;
  private configureRun = 0;
  private running = false;
  private reconnectDelay: number;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private scannerPresent = false;
  private scannerAnswered: (() => void) | null = null;
  private lastSeenAt: number | null = null;
  private lastHealth = '';
  private starting: Promise<void> | null = null;
  private abortStart: (() => void) | null = null;

  constructor(options: J5LockerBankOptions) {
    this.bank = typeof options.model === 'string' ? loadBankModel(options.model) : options.model;
    this.model = this.bank.model;
    this.compartmentCount = this.bank.compartments.length;
    this.o = resolveJ5Options(options);
    this.reconnectDelay = this.o.reconnectMinMs;
    this.inputs = new BankInputs(this.bank, this.events, {
      stuckKeyMs: this.o.stuckKeyMs,
      onDeadKeysChange: () => this.emitHealthIfChanged(),
    });
    this.pulses = new DoorPulses(this.o, this.events, this.inputs, this.bank.lockActive);
    this.indicators = new Indicators(this.bank);
  }

  /** Also resolves at once if called again while starting, and when `stop()` is called meanwhile. */
  async start(): Promise<void> {
    if (this.running) return this.starting ?? undefined;
    this.running = true;
    let timer: NodeJS.Timeout | undefined;
    let off = (): void => {};
    const connected = new Promise<void>((resolve) => {
      off = this.events.on('connection', (up) => up && resolve());
      timer = setTimeout(resolve, this.o.startTimeoutMs);
      this.abortStart = resolve;
    });
    this.starting = connected.then(() => {
      off();
      clearTimeout(timer);
      this.starting = null;
      this.abortStart = null;
    });
    void this.attempt();
    return this.starting;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abortStart?.();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const link = this.link;
    if (link && this.configured) link.writePins(lockedLevels(this.bank));
    this.disconnect(link, 'stopped', true);
    this.inputs.dispose();
  }

  async openDoor(no: number): Promise<OpenResult> {
    const wiring = this.wiring(no);
    if (this.pulses.inFlight(no)) throw new LockBusy(no);
    if (!this.link || !this.configured) return { opened: false, reason: 'board_lost' };
    return this.pulses.open(wiring, this.link);
  }

  waitForClose(no: number, timeoutMs: number): Promise<boolean> {
    this.wiring(no);
    if (this.inputs.door(no) === 'closed') return Promise.resolve(true);
    return new Promise((resolve) => {
      const off = this.events.on('door', (n, state) => {
        if (n !== no || state !== 'closed') return;
        clearTimeout(timer);
        off();
        resolve(true);
      });
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, timeoutMs);
    });
  }

  status(no: number): CompartmentStatus {
    this.wiring(no);
    return this.inputs.status(no);
  }

  statuses(): CompartmentStatus[] {
    return this.bank.compartments.map((c) => this.inputs.status(c.no));
  }

  health(): BankHealth {
    const deadKeys = this.inputs.deadKeys();
    return {
      connected: this.configured,
      keypad: deadKeys.length ? 'degraded' : 'ok',
      deadKeys,
      scanner: this.scannerPresent ? 'ok' : 'missing',
      lastSeenAt: this.lastSeenAt,
    };
  }

  setLight(color: LightColor): void {
    this.indicators.setLight(color, this.configured ? this.link : null);
  }

  beep(kind: BeepKind): void {
    if (this.link && this.configured) this.indicators.beep(kind, this.link);
  }

  on<E extends keyof LockerBankEvents>(event: E, fn: LockerBankEvents[E]): () => void {
    return this.events.on(event, fn);
  }

  // ---- connection ----

  private async attempt(): Promise<void> {
    this.reconnectTimer = null;
    if (!this.running || this.link) return;
    let link: J5Link;
    try {
      const stream = await this.o.connect();
      if (!this.running) {
        stream.destroy();
        return;
      }
      link = await J5Link.open(stream, { handshakeTimeoutMs: this.o.handshakeTimeoutMs, versionQueryDelayMs: this.o.versionQueryDelayMs });
    } catch (error) {
      this.o.log(`board not reachable: ${error instanceof Error ? error.message : String(error)}`);
      this.scheduleReconnect();
      return;
    }
    if (!this.running) return link.close();
    this.link = link;
    this.lastSeenAt = this.o.now();
    link.on('activity', () => (this.lastSeenAt = this.o.now()));
    link.on('digital', (pin, value) => this.inputs.reading(pin, value));
    link.on('string', (text) => this.onBoardString(text));
    link.on('pinState', (pin, mode) => this.onPinState(pin, mode));
    link.on('firmware', () => (this.configured ? link.queryPinState(this.probePin) : void this.configure(link)));
    link.on('lost', (reason) => this.lose(link, reason));
    this.heartbeatTimer = setInterval(() => this.heartbeat(link), this.o.heartbeatMs);
    await this.configure(link);
  }

  /** Safe start-up on a fresh or rebooted board. Locks come first, always. */
  private async configure(link: J5Link): Promise<void> {
    const run = ++this.configureRun;
    this.inputs.beginSnapshot();
    writeSafeConfiguration(link, this.bank, this.inputs.inputPins);
    const scannerAnswer = new Promise<void>((resolve) => (this.scannerAnswered = resolve));
    link.sendString(SCANNER_QUERY);

    const read = await within(this.inputs.whenSnapshotComplete(), this.o.handshakeTimeoutMs);
    if (run !== this.configureRun || link !== this.link) return;
    if (!read) return this.lose(link, 'no sensor report');
    if (!(await within(scannerAnswer, this.o.scannerQueryTimeoutMs))) this.scannerPresent = false;
    if (run !== this.configureRun || link !== this.link) return;
    this.scannerAnswered = null;
    this.indicators.showLight(link);
    this.configured = true;
    this.reconnectDelay = this.o.reconnectMinMs;
    this.o.log(`board configured (${this.bank.model}, scanner ${this.scannerPresent ? 'ok' : 'missing'})`);
    this.events.emit('connection', true);
    this.emitHealthIfChanged();
  }

  private heartbeat(link: J5Link): void {
    if (link !== this.link) return;
    if (this.lastSeenAt !== null && this.o.now() - this.lastSeenAt > this.o.heartbeatTimeoutMs) {
      return this.lose(link, 'board silent');
    }
    link.queryPinState(this.probePin);
  }

  private onPinState(pin: number, mode: number): void {
    const link = this.link;
    if (!link || !this.configured || pin !== this.probePin) return;
    const expected = this.bank.inputPullUp ? 0x0b : 0x00;
    if (mode === expected) return;
    // The board reset its pins: it rebooted. Same link, so configure again at once.
    this.disconnect(null, `board rebooted (probe pin ${pin} in mode ${mode})`, false);
    void this.configure(link);
  }

  private onBoardString(raw: string): void {
    const s = parseBoardString(raw);
    if (s.kind === 'scan') this.events.emit('scan', s.text);
    if (s.kind !== 'scanner') return;
    this.scannerPresent = s.present;
    this.scannerAnswered?.();
    this.emitHealthIfChanged();
  }

  private lose(link: J5Link, reason: string): void {
    if (link !== this.link) return link.close();
    this.disconnect(link, reason, false);
    this.scheduleReconnect();
  }

  /** Mark the bank disconnected; with `link`, also close that link. Fails every open in flight. */
  private disconnect(link: J5Link | null, reason: string, flush: boolean): void {
    this.o.log(`board disconnected: ${reason}`);
    this.configureRun++;
    if (link) {
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = null;
      this.link = null;
      link.close(flush);
    }
    this.indicators.cancel();
    this.pulses.abortAll();
    const was = this.configured;
    this.configured = false;
    if (was) this.events.emit('connection', false);
    this.emitHealthIfChanged();
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer) return;
    this.o.log(`reconnecting in ${this.reconnectDelay} ms`);
    this.reconnectTimer = setTimeout(() => void this.attempt(), this.reconnectDelay);
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.o.reconnectMaxMs);
  }

  // ---- helpers ----

  private get probePin(): number {
    return this.bank.compartments[0]!.doorPin;
  }

  private wiring(no: number): CompartmentWiring {
    const wiring = Number.isInteger(no) ? this.bank.compartments[no - 1] : undefined;
    if (!wiring) throw new UnknownCompartment(no, this.compartmentCount);
    return wiring;
  }

  private emitHealthIfChanged(): void {
    const { lastSeenAt: _ignored, ...rest } = this.health();
    const key = JSON.stringify(rest);
    if (key === this.lastHealth) return;
    this.lastHealth = key;
    this.events.emit('health', this.health());
  }
}

/** Resolve true if `promise` settles within `ms`, false otherwise. */
async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Create a Johnny-Five locker bank (call `start()` to connect). */
export function createJ5LockerBank(options: J5LockerBankOptions): LockerBank {
  return new J5LockerBank(options);
}
