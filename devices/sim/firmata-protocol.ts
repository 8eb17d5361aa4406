/**
 * The Firmata 2.x wire protocol (MIDI-like framing plus sysex), both directions: typed
 * messages, {@link encodeMessage} to bytes and a streaming {@link FirmataDecoder} from bytes.
 * Pure: no I/O, no timers. The simulated board uses it to speak to firmata-io exactly as
 * StandardFirmata would; tests use it to drive the board byte by byte.
 *
 * Reference: the Firmata protocol documentation and firmata-io's `lib/firmata.js`.
 */

/** Command bytes (the high nibble carries the port or channel for the first four). */
export const COMMAND = {
  DIGITAL_MESSAGE: 0x90,
  ANALOG_MESSAGE: 0xe0,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  START_SYSEX: 0xf0,
  SET_PIN_MODE: 0xf4,
  SET_DIGITAL_PIN_VALUE: 0xf5,
  END_SYSEX: 0xf7,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
} as const;

/** Sysex command bytes. */
export const SYSEX = {
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  STRING_DATA: 0x71,
  QUERY_FIRMWARE: 0x79,
  SAMPLING_INTERVAL: 0x7a,
} as const;

/** Pin modes as numbered by Firmata. */
export const PIN_MODE = {
  INPUT: 0x00,
  OUTPUT: 0x01,
  ANALOG: 0x02,
  PWM: 0x03,
  SERVO: 0x04,
  PULLUP: 0x0b,
} as const;

/** Firmata protocol version the simulator announces (StandardFirmata 2.5.x speaks 2.5). */
export const PROTOCOL_VERSION = { major: 2, minor: 5 } as const;

/** One supported mode of a pin with its resolution in bits. */
export interface PinModeCapability {
  mode: number;
  resolution: number;
}

/** A decoded Firmata message. Query messages flow host to board, the rest either way. */
export type FirmataMessage =
  | { type: 'digital-port'; port: number; value: number }
  | { type: 'analog'; channel: number; value: number }
  | { type: 'report-analog'; channel: number; enable: boolean }
  | { type: 'report-digital'; port: number; enable: boolean }
  | { type: 'set-pin-mode'; pin: number; mode: number }
  | { type: 'set-pin-value'; pin: number; value: number }
  | { type: 'version-query' }
  | { type: 'version'; major: number; minor: number }
  | { type: 'system-reset' }
  | { type: 'firmware-query' }
  | { type: 'firmware'; major: number; minor: number; name: string }
  | { type: 'capability-query' }
  | { type: 'capabilities'; pins: PinModeCapability[][] }
  | { type: 'analog-mapping-query' }
  | { type: 'analog-mapping'; channels: number[] }
  | { type: 'pin-state-query'; pin: number }
  | { type: 'pin-state'; pin: number; mode: number; state: number }
  | { type: 'sampling-interval'; ms: number }
  | { type: 'string'; text: string }
  | { type: 'sysex'; command: number; data: number[] };

/** Which way bytes flow: it decides what a lone `0xF9` means (a query or a version report). */
export type Direction = 'to-board' | 'to-host';

/** The port (group of 8 pins) a pin belongs to. */
export function portOf(pin: number): number {
  return pin >> 3;
}

/** Split a byte array into 7-bit pairs, LSB first (Firmata's encoding of 8-bit data). */
export function toSevenBitPairs(bytes: Uint8Array | number[]): number[] {
  const out: number[] = [];
  for (const b of bytes) out.push(b & 0x7f, (b >> 7) & 0x7f);
  return out;
}

/** Join 7-bit pairs (LSB first) back into bytes; a trailing odd byte is ignored. */
export function fromSevenBitPairs(data: number[]): Uint8Array {
  const out = new Uint8Array(data.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = ((data[2 * i]! & 0x7f) | ((data[2 * i + 1]! & 0x7f) << 7)) & 0xff;
  return out;
}

function lsbMsb(value: number): [number, number] {
  return [value & 0x7f, (value >> 7) & 0x7f];
}

function sysex(command: number, data: number[]): number[] {
  return [COMMAND.START_SYSEX, command, ...data, COMMAND.END_SYSEX];
}

function assertRange(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} ${v} out of range 0..${max}`);
}

/** Encode one message to the exact bytes that go on the wire. */
export function encodeMessage(m: FirmataMessage): Buffer {
  return Buffer.from(encodeBytes(m));
}

function encodeBytes(m: FirmataMessage): number[] {
  switch (m.type) {
    case 'digital-port':
      assertRange('port', m.port, 15);
      assertRange('port value', m.value, 0x3fff);
      return [COMMAND.DIGITAL_MESSAGE | m.port, ...lsbMsb(m.value)];
    case 'analog':
      assertRange('channel', m.channel, 15);
      assertRange('analog value', m.value, 0x3fff);
      return [COMMAND.ANALOG_MESSAGE | m.channel, ...lsbMsb(m.value)];
    case 'report-analog':
      assertRange('channel', m.channel, 15);
      return [COMMAND.REPORT_ANALOG | m.channel, m.enable ? 1 : 0];
    case 'report-digital':
      assertRange('port', m.port, 15);
      return [COMMAND.REPORT_DIGITAL | m.port, m.enable ? 1 : 0];
    case 'set-pin-mode':
      assertRange('pin', m.pin, 127);
      assertRange('mode', m.mode, 127);
      return [COMMAND.SET_PIN_MODE, m.pin, m.mode];
    case 'set-pin-value':
      assertRange('pin', m.pin, 127);
      return [COMMAND.SET_DIGITAL_PIN_VALUE, m.pin, m.value ? 1 : 0];
    case 'version-query':
      return [COMMAND.REPORT_VERSION];
    case 'version':
      return [COMMAND.REPORT_VERSION, m.major & 0x7f, m.minor & 0x7f];
    case 'system-reset':
      return [COMMAND.SYSTEM_RESET];
    case 'firmware-query':
      return sysex(SYSEX.QUERY_FIRMWARE, []);
    case 'firmware':
      return sysex(SYSEX.QUERY_FIRMWARE, [m.major & 0x7f, m.minor & 0x7f, ...toSevenBitPairs(Buffer.from(m.name, 'utf8'))]);
    case 'capability-query':
      return sysex(SYSEX.CAPABILITY_QUERY, []);
    case 'capabilities':
      return sysex(
        SYSEX.CAPABILITY_RESPONSE,
        m.pins.flatMap((modes) => [...modes.flatMap((c) => [c.mode & 0x7f, c.resolution & 0x7f]), 0x7f]),
      );
    case 'analog-mapping-query':
      return sysex(SYSEX.ANALOG_MAPPING_QUERY, []);
    case 'analog-mapping':
      return sysex(SYSEX.ANALOG_MAPPING_RESPONSE, m.channels.map((c) => c & 0x7f));
    case 'pin-state-query':
      assertRange('pin', m.pin, 127);
      return sysex(SYSEX.PIN_STATE_QUERY, [m.pin]);
    case 'pin-state': {
      assertRange('pin', m.pin, 127);
      const state: number[] = [m.state & 0x7f];
      for (let rest = m.state >>> 7; rest > 0; rest >>>= 7) state.push(rest & 0x7f);
      return sysex(SYSEX.PIN_STATE_RESPONSE, [m.pin, m.mode & 0x7f, ...state]);
    }
    case 'sampling-interval':
      assertRange('sampling interval', m.ms, 0x3fff);
      return sysex(SYSEX.SAMPLING_INTERVAL, lsbMsb(m.ms));
    case 'string':
      // StandardFirmata's sendString: every byte as two 7-bit bytes, no terminator.
      return sysex(SYSEX.STRING_DATA, toSevenBitPairs(Buffer.from(m.text, 'utf8')));
    case 'sysex':
      m.data.forEach((b) => assertRange('sysex data byte', b, 0x7f));
      return sysex(m.command, m.data);
  }
}

function decodeSysex(command: number, data: number[]): FirmataMessage {
  switch (command) {
    case SYSEX.QUERY_FIRMWARE:
      if (data.length === 0) return { type: 'firmware-query' };
      if (data.length < 2) break;
      return {
        type: 'firmware',
        major: data[0]!,
        minor: data[1]!,
        name: Buffer.from(fromSevenBitPairs(data.slice(2))).toString('utf8'),
      };
    case SYSEX.CAPABILITY_QUERY:
      return { type: 'capability-query' };
    case SYSEX.CAPABILITY_RESPONSE: {
      const pins: PinModeCapability[][] = [];
      let current: PinModeCapability[] = [];
      for (let i = 0; i < data.length; ) {
        if (data[i] === 0x7f) {
          pins.push(current);
          current = [];
          i += 1;
        } else {
          current.push({ mode: data[i]!, resolution: data[i + 1] ?? 0 });
          i += 2;
        }
      }
      return { type: 'capabilities', pins };
    }
    case SYSEX.ANALOG_MAPPING_QUERY:
      return { type: 'analog-mapping-query' };
    case SYSEX.ANALOG_MAPPING_RESPONSE:
      return { type: 'analog-mapping', channels: [...data] };
    case SYSEX.PIN_STATE_QUERY:
      if (data.length < 1) break;
      return { type: 'pin-state-query', pin: data[0]! };
    case SYSEX.PIN_STATE_RESPONSE: {
      if (data.length < 3) break;
      let state = 0;
      data.slice(2).forEach((b, i) => (state |= b << (7 * i)));
      return { type: 'pin-state', pin: data[0]!, mode: data[1]!, state };
    }
    case SYSEX.SAMPLING_INTERVAL:
      if (data.length < 2) break;
      return { type: 'sampling-interval', ms: data[0]! | (data[1]! << 7) };
    case SYSEX.STRING_DATA:
      return { type: 'string', text: Buffer.from(fromSevenBitPairs(data)).toString('utf8').replace(/\0+$/, '') };
  }
  return { type: 'sysex', command, data: [...data] };
}

/** Data bytes that follow each (non-sysex) command byte. */
function dataLength(command: number, direction: Direction): number | null {
  const high = command & 0xf0;
  if (high === COMMAND.DIGITAL_MESSAGE || high === COMMAND.ANALOG_MESSAGE) return 2;
  if (high === COMMAND.REPORT_ANALOG || high === COMMAND.REPORT_DIGITAL) return 1;
  if (command === COMMAND.SET_PIN_MODE || command === COMMAND.SET_DIGITAL_PIN_VALUE) return 2;
  if (command === COMMAND.REPORT_VERSION) return direction === 'to-board' ? 0 : 2;
  if (command === COMMAND.SYSTEM_RESET) return 0;
  return null; // not a command this protocol knows: skip its data bytes
}

function decodeCommand(command: number, data: number[]): FirmataMessage | null {
  const high = command & 0xf0;
  const low = command & 0x0f;
  const a = data[0] ?? 0;
  const b = data[1] ?? 0;
  if (high === COMMAND.DIGITAL_MESSAGE) return { type: 'digital-port', port: low, value: a | (b << 7) };
  if (high === COMMAND.ANALOG_MESSAGE) return { type: 'analog', channel: low, value: a | (b << 7) };
  if (high === COMMAND.REPORT_ANALOG) return { type: 'report-analog', channel: low, enable: a !== 0 };
  if (high === COMMAND.REPORT_DIGITAL) return { type: 'report-digital', port: low, enable: a !== 0 };
  if (command === COMMAND.SET_PIN_MODE) return { type: 'set-pin-mode', pin: a, mode: b };
  if (command === COMMAND.SET_DIGITAL_PIN_VALUE) return { type: 'set-pin-value', pin: a, value: b ? 1 : 0 };
  if (command === COMMAND.REPORT_VERSION) return data.length ? { type: 'version', major: a, minor: b } : { type: 'version-query' };
  if (command === COMMAND.SYSTEM_RESET) return { type: 'system-reset' };
  return null;
}

/** Longest sysex body kept; longer ones are dropped (a real board's buffer is far smaller). */
const MAX_SYSEX_BYTES = 4096;

/**
 * Streaming decoder: feed it chunks as they arrive, get whole messages back. Like a
 * firmware's parser it resynchronises on the next command byte after garbage or an
 * interrupted message, and counts the bytes it had to drop.
 */
export class FirmataDecoder {
  /** Bytes discarded: stray data bytes, unknown commands, interrupted messages. */
  droppedBytes = 0;
  private command: number | null = null;
  private needed = 0;
  private data: number[] = [];
  private inSysex = false;

  constructor(private readonly direction: Direction) {}

  /** Decode a chunk; returns the messages it completed. */
  push(chunk: Uint8Array | number[]): FirmataMessage[] {
    const out: FirmataMessage[] = [];
    for (const byte of chunk) this.consume(byte & 0xff, out);
    return out;
  }

  /** Forget any partial message (e.g. after the link was re-established). */
  reset(): void {
    this.droppedBytes += this.data.length + (this.command !== null || this.inSysex ? 1 : 0);
    this.command = null;
    this.data = [];
    this.inSysex = false;
  }

  private consume(byte: number, out: FirmataMessage[]): void {
    if (byte === COMMAND.START_SYSEX) {
      this.reset();
      this.inSysex = true;
      return;
    }
    if (this.inSysex) {
      if (byte === COMMAND.END_SYSEX) {
        const [command, ...data] = this.data;
        this.inSysex = false;
        this.data = [];
        if (command === undefined) this.droppedBytes += 2;
        else out.push(decodeSysex(command, data));
        return;
      }
      if (byte < 0x80) {
        if (this.data.length >= MAX_SYSEX_BYTES) this.droppedBytes++;
        else this.data.push(byte);
        return;
      }
      this.reset(); // a command byte interrupts an unfinished sysex
    }
    if (byte >= 0x80) {
      if (this.command !== null) this.reset();
      const needed = dataLength(byte, this.direction);
      if (needed === null) {
        this.droppedBytes++;
        this.command = null;
        return;
      }
      this.command = byte;
      this.needed = needed;
      this.data = [];
    } else if (this.command === null) {
      this.droppedBytes++;
      return;
    } else {
      this.data.push(byte);
    }
    if (this.command !== null && this.data.length === this.needed) {
      const message = decodeCommand(this.command, this.data);
      if (message) out.push(message);
      this.command = null;
      this.data = [];
    }
  }
}
