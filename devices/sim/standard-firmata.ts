/**
 * An emulation of StandardFirmata 2.5 on an AVR board, message by message: pin modes,
 * output latches, port writes, input reporting, queries, resets; plus the small scanner
 * bridge described in `../scanner-protocol.ts`. It receives decoded host messages and
 * sends encoded replies through `send`; the physics decides what inputs read and what
 * driven outputs do.
 *
 * Behaviour kept from the real firmware because it matters for safety:
 * - boot: every pin floats (bootloader) for a glitch window, then `systemReset` makes every
 *   digital pin an OUTPUT driving LOW (power-on clears the latches) and every analog-capable
 *   pin an analog input (not driven); reporting is off until the host enables it.
 * - SYSTEM_RESET from the host re-runs the pin reset without a reboot: latches are NOT
 *   cleared, so a former pull-up input becomes an output driving HIGH (an AVR quirk).
 * - a PULLUP input sets its latch to 1; switching it to OUTPUT drives HIGH (same quirk).
 * - DIGITAL_MESSAGE writes only OUTPUT pins of the port (a 1 on an INPUT pin enables its
 *   pull-up); SET_DIGITAL_PIN_VALUE writes only an OUTPUT pin.
 * - enabling REPORT_DIGITAL for a port sends its value at once; afterwards the port is
 *   sent whenever an input in it changes.
 */
import { formatScannerStatus, SCANNER_QUERY } from '../scanner-protocol.js';
import { PIN_MODE, PROTOCOL_VERSION, portOf, type FirmataMessage, type PinModeCapability } from './firmata-protocol.js';
import type { Drive, DriveSource, LockerPhysics } from './physics.js';

/** Firmware name the simulated board reports in its QUERY_FIRMWARE reply. */
export const SIM_FIRMWARE_NAME = 'CubbySim StandardFirmata';

interface PinState {
  /** Firmata mode, or `null` while the board boots (not configured, floating). */
  mode: number | null;
  /** The output latch (AVR PORT bit): what an OUTPUT drives, 1 = pull-up on for an input. */
  latch: 0 | 1;
  /** Who last set the latch. */
  source: DriveSource;
}

/** Static description of the emulated board. */
export interface FirmwareBoard {
  pinCount: number;
  /** Pins that also have an ADC; StandardFirmata resets them to analog inputs. */
  analogPins: number[];
}

/** One StandardFirmata instance running on the simulated board. */
export class StandardFirmata {
  /** Sampling interval last set by the host (ms). */
  samplingIntervalMs = 19;
  /** Whether the QR scanner is attached and bridged (the bridge reports it). */
  scannerPresent: boolean;
  private readonly pins: PinState[];
  private readonly reportPorts = new Array<boolean>(16).fill(false);
  private readonly lastReported = new Array<number>(16).fill(0);

  constructor(
    private readonly board: FirmwareBoard,
    private readonly physics: LockerPhysics,
    private readonly send: (message: FirmataMessage) => void,
    /** The scanner bridge is built in; without it the firmware is plain StandardFirmata. */
    private readonly scannerBridge = true,
  ) {
    this.scannerPresent = scannerBridge;
    this.pins = Array.from({ length: board.pinCount }, () => ({ mode: null, latch: 0, source: 'boot' }));
  }

  /** Power-on or watchdog reset, first half: the bootloader runs, every pin floats. */
  enterBootloader(): void {
    this.reportPorts.fill(false);
    this.pins.forEach((pin, n) => {
      pin.mode = null;
      pin.latch = 0;
      pin.source = 'boot';
      this.physics.drive(n, null, 'boot');
    });
  }

  /** Second half: `setup()` runs `systemReset` and announces version and firmware name. */
  setup(): void {
    this.systemReset();
    this.send({ type: 'version', ...PROTOCOL_VERSION });
    this.send({ type: 'firmware', ...PROTOCOL_VERSION, name: SIM_FIRMWARE_NAME });
  }

  /** Mode of a pin (`null` while booting). */
  modeOf(pin: number): number | null {
    return this.pins[pin]?.mode ?? null;
  }

  /** The bridge tells the host the scanner came or went. */
  setScannerPresent(present: boolean): void {
    if (!this.scannerBridge || this.scannerPresent === present) return;
    this.scannerPresent = present;
    this.send({ type: 'string', text: formatScannerStatus(present) });
  }

  /** An input level changed: report its port if the host asked for it and its value moved. */
  inputChanged(pin: number): void {
    const port = portOf(pin);
    if (!this.reportPorts[port]) return;
    const value = this.portValue(port);
    if (value === this.lastReported[port]) return;
    this.lastReported[port] = value;
    this.send({ type: 'digital-port', port, value });
  }

  /** Handle one message from the host. */
  handle(m: FirmataMessage): void {
    switch (m.type) {
      case 'version-query':
        return this.send({ type: 'version', ...PROTOCOL_VERSION });
      case 'firmware-query':
        return this.send({ type: 'firmware', ...PROTOCOL_VERSION, name: SIM_FIRMWARE_NAME });
      case 'capability-query':
        return this.send({ type: 'capabilities', pins: this.pins.map((_, n) => this.capabilities(n)) });
      case 'analog-mapping-query':
        return this.send({
          type: 'analog-mapping',
          channels: this.pins.map((_, n) => {
            const channel = this.board.analogPins.indexOf(n);
            return channel < 0 ? 0x7f : channel;
          }),
        });
      case 'pin-state-query': {
        const pin = this.pins[m.pin];
        if (!pin || pin.mode === null) return;
        return this.send({ type: 'pin-state', pin: m.pin, mode: pin.mode, state: pin.latch });
      }
      case 'set-pin-mode':
        return this.setPinMode(m.pin, m.mode, 'host');
      case 'set-pin-value': {
        const pin = this.pins[m.pin];
        if (pin?.mode !== PIN_MODE.OUTPUT) return;
        return this.setLatch(m.pin, m.value ? 1 : 0, 'host');
      }
      case 'digital-port':
        return this.writePort(m.port, m.value);
      case 'report-digital':
        this.reportPorts[m.port] = m.enable;
        if (m.enable) {
          const value = this.portValue(m.port);
          this.lastReported[m.port] = value;
          this.send({ type: 'digital-port', port: m.port, value });
        }
        return;
      case 'sampling-interval':
        this.samplingIntervalMs = Math.max(1, m.ms);
        return;
      case 'system-reset':
        return this.systemReset();
      case 'string':
        if (this.scannerBridge && m.text === SCANNER_QUERY) this.send({ type: 'string', text: formatScannerStatus(this.scannerPresent) });
        return;
      default:
        // REPORT_ANALOG, ANALOG_MESSAGE and unknown sysex: nothing on this bank uses them.
        return;
    }
  }

  private capabilities(pin: number): PinModeCapability[] {
    if (pin < 2) return []; // RX/TX of the serial link
    const digital: PinModeCapability[] = [
      { mode: PIN_MODE.INPUT, resolution: 1 },
      { mode: PIN_MODE.OUTPUT, resolution: 1 },
      { mode: PIN_MODE.PULLUP, resolution: 1 },
    ];
    return this.board.analogPins.includes(pin) ? [...digital, { mode: PIN_MODE.ANALOG, resolution: 10 }] : digital;
  }

  private systemReset(): void {
    this.reportPorts.fill(false);
    this.lastReported.fill(0);
    this.pins.forEach((_, n) => {
      if (n < 2) return;
      if (this.board.analogPins.includes(n)) this.setPinMode(n, PIN_MODE.ANALOG, 'boot');
      else this.setPinMode(n, PIN_MODE.OUTPUT, 'boot');
    });
  }

  private setPinMode(n: number, mode: number, source: DriveSource): void {
    const pin = this.pins[n];
    if (!pin || !this.capabilities(n).some((c) => c.mode === mode)) return; // the real firmware ignores it too
    pin.mode = mode;
    if (mode === PIN_MODE.PULLUP) {
      pin.latch = 1;
      pin.source = source;
    } else if (mode === PIN_MODE.INPUT || mode === PIN_MODE.ANALOG) {
      pin.latch = 0;
      pin.source = source;
    } else if (mode === PIN_MODE.OUTPUT && source === 'boot') {
      pin.source = 'boot';
    }
    this.applyDrive(n);
    this.inputChanged(n);
  }

  private writePort(port: number, value: number): void {
    for (let bit = 0; bit < 8; bit++) {
      const n = port * 8 + bit;
      const pin = this.pins[n];
      if (!pin || n < 2) continue;
      const v: 0 | 1 = (value >> bit) & 1 ? 1 : 0;
      if (pin.mode === PIN_MODE.OUTPUT) this.setLatch(n, v, 'host');
      else if (pin.mode === PIN_MODE.INPUT && v === 1) this.setPinMode(n, PIN_MODE.PULLUP, 'host');
    }
  }

  private setLatch(n: number, value: 0 | 1, source: DriveSource): void {
    const pin = this.pins[n]!;
    if (pin.latch === value && pin.source === source) return;
    pin.latch = value;
    pin.source = source;
    this.applyDrive(n);
  }

  private applyDrive(n: number): void {
    const pin = this.pins[n]!;
    // A weak pull-up on an input is not a drive: it cannot energise a lock driver.
    const drive: Drive = pin.mode === PIN_MODE.OUTPUT ? pin.latch : null;
    this.physics.drive(n, drive, pin.source);
  }

  private portValue(port: number): number {
    let value = 0;
    for (let bit = 0; bit < 8; bit++) {
      const n = port * 8 + bit;
      const mode = this.pins[n]?.mode;
      if ((mode === PIN_MODE.INPUT || mode === PIN_MODE.PULLUP) && this.physics.inputLevel(n)) value |= 1 << bit;
    }
    return value;
  }
}
