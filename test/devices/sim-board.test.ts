import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { loadBankModel } from '../../devices/bank-model.js';
import { encodeMessage, FirmataDecoder, PIN_MODE, type FirmataMessage } from '../../devices/sim/firmata-protocol.js';
import { CableUnplugged, SimBoard, type SimBoardOptions } from '../../devices/sim/sim-board.js';
import { SIM_FIRMWARE_NAME } from '../../devices/sim/standard-firmata.js';
import { FAST_BOARD_TIMING, sleep, waitUntil } from '../support/board.js';

// The simulated board driven byte by byte, with no Johnny-Five: what StandardFirmata does
// on the wire, and what the test controls do to the physical world.

/** A minimal Firmata host: sends messages, collects decoded replies. */
class RawHost {
  readonly received: FirmataMessage[] = [];
  closed = false;
  private readonly decoder = new FirmataDecoder('to-host');
  constructor(readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => this.received.push(...this.decoder.push(chunk)));
    stream.on('close', () => (this.closed = true));
    stream.on('error', () => {});
  }
  send(...messages: FirmataMessage[]): void {
    for (const m of messages) this.stream.write(encodeMessage(m));
  }
  async next<T extends FirmataMessage['type']>(type: T, filter: (m: Extract<FirmataMessage, { type: T }>) => boolean = () => true): Promise<Extract<FirmataMessage, { type: T }>> {
    const find = (): Extract<FirmataMessage, { type: T }> | undefined => {
      const i = this.received.findIndex((m) => m.type === type && filter(m as Extract<FirmataMessage, { type: T }>));
      return i < 0 ? undefined : (this.received.splice(i, 1)[0] as Extract<FirmataMessage, { type: T }>);
    };
    let found = find();
    const deadline = Date.now() + 2000;
    while (!found) {
      if (Date.now() > deadline) throw new Error(`no ${type} message from the board`);
      await sleep(2);
      found = find();
    }
    return found;
  }
}

describe('SimBoard over raw Firmata', () => {
  let board: SimBoard | null = null;
  afterEach(() => {
    board?.dispose();
    board = null;
  });
  const boardWith = (options: Partial<SimBoardOptions> = {}): SimBoard => {
    board = new SimBoard({ model: 'cubby-4', ...FAST_BOARD_TIMING, ...options });
    return board;
  };
  const cubby4 = loadBankModel('cubby-4');
  const door1 = cubby4.compartments[0]!;

  it('opening the port resets the board: bytes sent while it boots are lost, then it announces itself', async () => {
    // A boot long enough that the check below still falls inside it on a machine under heavy
    // load (with 30 ms, a busy CI runner sometimes saw the board already running).
    const b = boardWith({ bootGlitchMs: 400 });
    const host = new RawHost(b.connect());
    host.send({ type: 'version-query' });
    await sleep(5);
    expect(b.state).toBe('booting');
    expect([...b.lastWrite!]).toEqual([0xf9]);
    expect(await host.next('version')).toEqual({ type: 'version', major: 2, minor: 5 });
    expect(await host.next('firmware')).toMatchObject({ name: SIM_FIRMWARE_NAME });
    expect(b.hostLog).toEqual([]); // the query hit the bootloader
    expect(host.received.filter((m) => m.type === 'version')).toEqual([]);
  });

  it('without DTR reset it stays quiet until asked; capabilities and analog mapping describe the wired board', async () => {
    const b = boardWith({ resetOnConnect: false });
    await waitUntil(() => b.state === 'running', 'power-on boot done');
    const host = new RawHost(b.connect());
    host.send({ type: 'capability-query' }, { type: 'analog-mapping-query' });
    const caps = await host.next('capabilities');
    expect(caps.pins).toHaveLength(70);
    expect(caps.pins[0]).toEqual([]);
    expect(caps.pins[2]!.map((c) => c.mode)).toEqual([PIN_MODE.INPUT, PIN_MODE.OUTPUT, PIN_MODE.PULLUP]);
    expect(caps.pins[54]!.map((c) => c.mode)).toContain(PIN_MODE.ANALOG);
    const mapping = await host.next('analog-mapping');
    expect(mapping.channels[54]).toBe(0);
    expect(mapping.channels[69]).toBe(15);
    expect(mapping.channels[2]).toBe(127);
    expect(host.received.filter((m) => m.type === 'version')).toEqual([]);
  });

  it('after boot every digital pin is an OUTPUT driving LOW and every analog pin an analog input', async () => {
    const b = boardWith({ resetOnConnect: false });
    await waitUntil(() => b.state === 'running', 'booted');
    const host = new RawHost(b.connect());
    host.send({ type: 'pin-state-query', pin: door1.lockPin }, { type: 'pin-state-query', pin: 60 });
    expect(await host.next('pin-state', (m) => m.pin === door1.lockPin)).toMatchObject({ mode: PIN_MODE.OUTPUT, state: 0 });
    expect(await host.next('pin-state', (m) => m.pin === 60)).toMatchObject({ mode: PIN_MODE.ANALOG });
    expect(b.lockOutput(1)).toBe('locked');
  });

  it('reports an input port when reporting is enabled and again whenever an input in it changes', async () => {
    const b = boardWith({ resetOnConnect: false });
    await waitUntil(() => b.state === 'running', 'booted');
    const host = new RawHost(b.connect());
    const port = door1.doorPin >> 3;
    const bit = 1 << (door1.doorPin & 7);
    host.send({ type: 'set-pin-mode', pin: door1.doorPin, mode: PIN_MODE.PULLUP }, { type: 'report-digital', port, enable: true });
    const first = await host.next('digital-port', (m) => m.port === port);
    expect(first.value & bit).toBe(0); // closed door pulls the input low
    host.send({ type: 'set-pin-mode', pin: door1.lockPin, mode: PIN_MODE.OUTPUT }, { type: 'set-pin-value', pin: door1.lockPin, value: 1 });
    const opened = await host.next('digital-port', (m) => m.port === port && (m.value & bit) !== 0);
    expect(opened.value & bit).toBe(bit);
    expect(b.doorOpenLog).toEqual([expect.objectContaining({ no: 1, cause: 'pulse' })]);
    host.send({ type: 'set-pin-value', pin: door1.lockPin, value: 0 });
  });

  it('DIGITAL_MESSAGE writes only output pins; a 1 on an INPUT pin turns its pull-up on', async () => {
    const b = boardWith({ resetOnConnect: false });
    await waitUntil(() => b.state === 'running', 'booted');
    const host = new RawHost(b.connect());
    const { lockPin, doorPin } = door1; // both in port 0
    host.send({ type: 'set-pin-mode', pin: doorPin, mode: PIN_MODE.INPUT });
    host.send({ type: 'digital-port', port: 0, value: (1 << doorPin) | 0 });
    host.send({ type: 'pin-state-query', pin: doorPin }, { type: 'pin-state-query', pin: lockPin });
    expect(await host.next('pin-state', (m) => m.pin === doorPin)).toMatchObject({ mode: PIN_MODE.PULLUP, state: 1 });
    expect(await host.next('pin-state', (m) => m.pin === lockPin)).toMatchObject({ mode: PIN_MODE.OUTPUT, state: 0 });
    expect(b.lockOutput(1)).toBe('locked');
  });

  it('SYSTEM_RESET re-runs the pin reset without clearing latches: a pull-up input becomes an output driving HIGH', async () => {
    const b = boardWith({ resetOnConnect: false });
    await waitUntil(() => b.state === 'running', 'booted');
    const host = new RawHost(b.connect());
    host.send({ type: 'set-pin-mode', pin: door1.lockPin, mode: PIN_MODE.PULLUP }, { type: 'system-reset' });
    await waitUntil(() => b.doorOpenLog.length === 1, 'the AVR quirk releases the lock');
    expect(b.doorOpenLog[0]).toMatchObject({ no: 1, cause: 'boot' });
  });

  it('hung firmware answers nothing until rebooted', async () => {
    const b = boardWith({ resetOnConnect: false });
    await waitUntil(() => b.state === 'running', 'booted');
    const host = new RawHost(b.connect());
    b.hang();
    host.send({ type: 'version-query' });
    await sleep(30);
    expect(host.received).toEqual([]);
    await b.reboot();
    expect(await host.next('version')).toBeDefined();
  });

  it('pulling the cable closes the host stream; connect() fails until it is plugged back', async () => {
    const b = boardWith();
    const host = new RawHost(b.connect());
    expect(b.isHostConnected).toBe(true);
    b.pullCable();
    await waitUntil(() => host.closed, 'the host sees the stream close');
    expect(b.isHostConnected).toBe(false);
    expect(() => b.connect()).toThrow(CableUnplugged);
    b.plugCable();
    const again = new RawHost(b.connect());
    expect(await again.next('firmware')).toBeDefined();
  });

  it('a cable pulled mid-pulse leaves the solenoid energised until the board resets (why real banks need a pulse limiter)', async () => {
    const b = boardWith({ resetOnConnect: false });
    await waitUntil(() => b.state === 'running', 'booted');
    const host = new RawHost(b.connect());
    host.send({ type: 'set-pin-value', pin: door1.lockPin, value: 1 });
    await waitUntil(() => b.lockOutput(1) === 'released', 'the pulse starts');
    b.pullCable();
    await sleep(30);
    expect(b.lockOutput(1)).toBe('released');
    b.close(1);
    await waitUntil(() => b.doorOpenLog.length === 2, 'the unlatched door springs open again');
    await b.reboot();
    expect(b.lockOutput(1)).toBe('locked');
  });

  it('scanner bridge: scans and presence go out as STRING_DATA; SCANNER? is answered', async () => {
    const b = boardWith();
    const host = new RawHost(b.connect());
    await host.next('firmware');
    expect(b.scan('CUBBY:bank-1:123-456789')).toBe(true);
    expect(await host.next('string')).toEqual({ type: 'string', text: 'QR:CUBBY:bank-1:123-456789' });
    b.removeScanner();
    expect(await host.next('string')).toEqual({ type: 'string', text: 'SCANNER:missing' });
    expect(b.scan('x')).toBe(false);
    host.send({ type: 'string', text: 'SCANNER?' });
    expect(await host.next('string')).toEqual({ type: 'string', text: 'SCANNER:missing' });
    expect(() => b.scan('Grüße')).toThrow(RangeError);
  });

  it('keys: a press pulls the key input low then releases it; dead and stuck keys behave as wired', async () => {
    const b = boardWith();
    const pin = cubby4.keypad.pins['5']!;
    expect(b.physics.inputLevel(pin)).toBe(1);
    const press = b.pressKey('5', 20);
    expect(b.physics.inputLevel(pin)).toBe(0);
    await press;
    expect(b.physics.inputLevel(pin)).toBe(1);
    b.killKey('5');
    const dead = b.pressKey('5', 5);
    expect(b.physics.inputLevel(pin)).toBe(1);
    await dead;
    b.stickKey('6');
    expect(b.physics.inputLevel(cubby4.keypad.pins['6']!)).toBe(0);
    expect(() => b.killKey('A')).toThrow(RangeError);
  });
});
