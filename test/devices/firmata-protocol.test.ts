import { Duplex } from 'node:stream';
import firmataIo from 'firmata-io';
import { describe, expect, it } from 'vitest';
import {
  encodeMessage,
  FirmataDecoder,
  fromSevenBitPairs,
  PIN_MODE,
  toSevenBitPairs,
  type Direction,
  type FirmataMessage,
} from '../../devices/sim/firmata-protocol.js';

const { Firmata } = firmataIo;

/** A transport that records what firmata-io writes and lets the test push what the board says. */
function fakeTransport(): { transport: Duplex; written: number[] } {
  const written: number[] = [];
  const transport = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(...chunk);
      callback();
    },
  });
  return { transport, written };
}

// Byte vectors written by hand from the Firmata 2.x protocol description.
const VECTORS: Array<[string, Direction, FirmataMessage, number[]]> = [
  ['digital port write/report', 'to-board', { type: 'digital-port', port: 2, value: 0b1000_0101 }, [0x92, 0x05, 0x01]],
  ['analog message', 'to-host', { type: 'analog', channel: 0, value: 1023 }, [0xe0, 0x7f, 0x07]],
  ['report digital', 'to-board', { type: 'report-digital', port: 3, enable: true }, [0xd3, 0x01]],
  ['report analog off', 'to-board', { type: 'report-analog', channel: 1, enable: false }, [0xc1, 0x00]],
  ['set pin mode', 'to-board', { type: 'set-pin-mode', pin: 13, mode: PIN_MODE.OUTPUT }, [0xf4, 0x0d, 0x01]],
  ['set pin mode pull-up', 'to-board', { type: 'set-pin-mode', pin: 100, mode: PIN_MODE.PULLUP }, [0xf4, 0x64, 0x0b]],
  ['set digital pin value', 'to-board', { type: 'set-pin-value', pin: 13, value: 1 }, [0xf5, 0x0d, 0x01]],
  ['version query', 'to-board', { type: 'version-query' }, [0xf9]],
  ['version report', 'to-host', { type: 'version', major: 2, minor: 5 }, [0xf9, 0x02, 0x05]],
  ['system reset', 'to-board', { type: 'system-reset' }, [0xff]],
  ['firmware query', 'to-board', { type: 'firmware-query' }, [0xf0, 0x79, 0xf7]],
  ['firmware report', 'to-host', { type: 'firmware', major: 2, minor: 5, name: 'AB' }, [0xf0, 0x79, 0x02, 0x05, 0x41, 0x00, 0x42, 0x00, 0xf7]],
  ['capability query', 'to-board', { type: 'capability-query' }, [0xf0, 0x6b, 0xf7]],
  [
    'capability response',
    'to-host',
    {
      type: 'capabilities',
      pins: [
        [],
        [
          { mode: 0, resolution: 1 },
          { mode: 1, resolution: 1 },
        ],
        [{ mode: 2, resolution: 10 }],
      ],
    },
    [0xf0, 0x6c, 0x7f, 0x00, 0x01, 0x01, 0x01, 0x7f, 0x02, 0x0a, 0x7f, 0xf7],
  ],
  ['analog mapping query', 'to-board', { type: 'analog-mapping-query' }, [0xf0, 0x69, 0xf7]],
  ['analog mapping response', 'to-host', { type: 'analog-mapping', channels: [127, 0, 1] }, [0xf0, 0x6a, 0x7f, 0x00, 0x01, 0xf7]],
  ['pin state query', 'to-board', { type: 'pin-state-query', pin: 3 }, [0xf0, 0x6d, 0x03, 0xf7]],
  ['pin state response', 'to-host', { type: 'pin-state', pin: 3, mode: 1, state: 1 }, [0xf0, 0x6e, 0x03, 0x01, 0x01, 0xf7]],
  ['pin state, 14-bit state', 'to-host', { type: 'pin-state', pin: 3, mode: 3, state: 300 }, [0xf0, 0x6e, 0x03, 0x03, 0x2c, 0x02, 0xf7]],
  ['sampling interval', 'to-board', { type: 'sampling-interval', ms: 1000 }, [0xf0, 0x7a, 0x68, 0x07, 0xf7]],
  ['string', 'to-host', { type: 'string', text: 'Hi' }, [0xf0, 0x71, 0x48, 0x00, 0x69, 0x00, 0xf7]],
  ['string, UTF-8 as 7-bit pairs', 'to-host', { type: 'string', text: 'é' }, [0xf0, 0x71, 0x43, 0x01, 0x29, 0x01, 0xf7]],
  ['unknown sysex', 'to-board', { type: 'sysex', command: 0x42, data: [1, 2, 3] }, [0xf0, 0x42, 0x01, 0x02, 0x03, 0xf7]],
];

describe('Firmata protocol: encoding', () => {
  it.each(VECTORS)('%s', (_name, _direction, message, bytes) => {
    expect([...encodeMessage(message)]).toEqual(bytes);
  });

  it('rejects values the wire cannot carry', () => {
    expect(() => encodeMessage({ type: 'digital-port', port: 16, value: 0 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'set-pin-mode', pin: 128, mode: 1 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'sampling-interval', ms: 0x4000 })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'sysex', command: 0x42, data: [0x80] })).toThrow(RangeError);
  });

  it('splits bytes into 7-bit pairs and joins them back', () => {
    const bytes = Uint8Array.from([0, 1, 0x7f, 0x80, 0xff]);
    expect(toSevenBitPairs(bytes)).toEqual([0, 0, 1, 0, 0x7f, 0, 0, 1, 0x7f, 1]);
    expect([...fromSevenBitPairs(toSevenBitPairs(bytes))]).toEqual([...bytes]);
  });
});

describe('Firmata protocol: decoding', () => {
  it.each(VECTORS)('%s', (_name, direction, message, bytes) => {
    expect(new FirmataDecoder(direction).push(bytes)).toEqual([message]);
  });

  it('decodes a stream split at every byte the same as in one chunk', () => {
    const all = VECTORS.filter(([, d]) => d === 'to-host').flatMap(([, , , bytes]) => bytes);
    const whole = new FirmataDecoder('to-host').push(all);
    const decoder = new FirmataDecoder('to-host');
    const split = all.flatMap((b) => decoder.push([b]));
    expect(split).toEqual(whole);
    expect(whole).toHaveLength(VECTORS.filter(([, d]) => d === 'to-host').length);
  });

  it('reads a lone 0xF9 as a query going to the board and as a report coming from it', () => {
    expect(new FirmataDecoder('to-board').push([0xf9, 0xf9])).toEqual([{ type: 'version-query' }, { type: 'version-query' }]);
    expect(new FirmataDecoder('to-host').push([0xf9, 2, 5])).toEqual([{ type: 'version', major: 2, minor: 5 }]);
  });

  it('drops garbage and resynchronises on the next command byte, counting what it dropped', () => {
    const d = new FirmataDecoder('to-board');
    // stray data, an unknown command with data, a sysex cut by a command, a message cut by another
    const out = d.push([0x01, 0x02, 0x80, 0x05, 0xf0, 0x79, 0x01, 0x91, 0x03, 0x00, 0xf4, 0x05, 0xd0, 0x01]);
    expect(out).toEqual([
      { type: 'digital-port', port: 1, value: 3 },
      { type: 'report-digital', port: 0, enable: true },
    ]);
    expect(d.droppedBytes).toBeGreaterThanOrEqual(8);
  });

  it('decodes what firmata-io sends (queries, sampling interval, strings, reset)', () => {
    const { transport, written } = fakeTransport();
    const io = new Firmata(transport, { reportVersionTimeout: 60_000 });
    io.reportVersion(() => {});
    io.queryFirmware(() => {});
    io.setSamplingInterval(100);
    io.sendString('SCANNER?');
    io.sysexCommand([0x6d, 5]);
    io.reset();
    clearTimeout(io.reportVersionTimeoutId);
    expect(new FirmataDecoder('to-board').push(written)).toEqual([
      { type: 'version-query' },
      { type: 'firmware-query' },
      { type: 'sampling-interval', ms: 100 },
      { type: 'string', text: 'SCANNER?' },
      { type: 'pin-state-query', pin: 5 },
      { type: 'system-reset' },
    ]);
  });

  it('firmata-io reads what we encode (version, firmware, capabilities, mapping, ports, strings)', async () => {
    const { transport } = fakeTransport();
    const io = new Firmata(transport, { reportVersionTimeout: 60_000 });
    const ready = new Promise<void>((resolve) => io.once('ready', () => resolve()));
    const pinCaps = [{ mode: PIN_MODE.INPUT, resolution: 1 }, { mode: PIN_MODE.OUTPUT, resolution: 1 }, { mode: PIN_MODE.PULLUP, resolution: 1 }];
    const send = (m: FirmataMessage): void => void transport.push(encodeMessage(m));
    send({ type: 'version', major: 2, minor: 5 });
    send({ type: 'firmware', major: 2, minor: 5, name: 'CubbySim StandardFirmata' });
    send({ type: 'capabilities', pins: [[], [], ...Array.from({ length: 14 }, () => pinCaps)] });
    send({ type: 'analog-mapping', channels: Array.from({ length: 16 }, (_, i) => (i === 15 ? 0 : 127)) });
    await ready;
    expect(io.firmware.name).toBe('CubbySim StandardFirmata');
    expect(io.pins).toHaveLength(16);
    expect(io.pins[2]!.supportedModes).toEqual([PIN_MODE.INPUT, PIN_MODE.OUTPUT, PIN_MODE.PULLUP]);
    expect(io.analogPins).toEqual([15]);
    io.pinMode(9, PIN_MODE.PULLUP);
    const reads: Array<{ pin: number; value: number }> = [];
    io.on('digital-read', (e: { pin: number; value: number }) => reads.push(e));
    const strings: string[] = [];
    io.on('string', (s: string) => strings.push(s));
    send({ type: 'digital-port', port: 1, value: 0b10 });
    send({ type: 'string', text: 'QR:CUBBY:1:123-456789' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(reads).toEqual([{ pin: 9, value: 1 }]);
    expect(strings).toEqual(['QR:CUBBY:1:123-456789']);
    clearTimeout(io.reportVersionTimeoutId);
  });
});
