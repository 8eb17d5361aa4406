/**
 * One Johnny-Five session with a Firmata board over one duplex stream: the handshake, the
 * pin operations the bank needs, and loss detection. A new `J5Link` (a new `five.Board`
 * and `Firmata`) is made for every connection, so each reconnection gets a clean handshake.
 *
 * The stream can be anything that carries Firmata bytes: the simulated board's link, or a
 * `serialport` SerialPort to an Arduino running StandardFirmata over USB (the same code
 * drives it; this project does not import serialport: the caller's stream factory does).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import firmataIo from 'firmata-io';
import five from 'johnny-five';

const { Firmata } = firmataIo;
type FirmataIo = InstanceType<typeof Firmata>;

/**
 * Opens a new stream to the board. Throwing or rejecting means the board is not reachable
 * now (the caller retries). Each call must return a fresh stream.
 */
export type StreamFactory = () => Duplex | Promise<Duplex>;

/** Pin modes the bank uses. */
export type LinkPinMode = 'output' | 'input' | 'pullup';

/** Events of a link. */
export interface J5LinkEvents {
  /** An input pin was reported (every input of a port, on every report of that port). */
  digital: [pin: number, value: number];
  /** A STRING_DATA message from the board. */
  string: [text: string];
  /** A PIN_STATE_RESPONSE: the board's mode for `pin`. */
  pinState: [pin: number, mode: number];
  /** The board announced its firmware unprompted: it has probably rebooted. */
  firmware: [];
  /** Bytes arrived. */
  activity: [];
  /** The stream closed or failed; the link is dead. Emitted once. */
  lost: [reason: string];
}

/** Options of {@link J5Link.open}. */
export interface J5LinkOptions {
  /** Give up if the board is not ready this long after the stream opened. */
  handshakeTimeoutMs: number;
  /** Query the version if the board has not announced it by then. */
  versionQueryDelayMs: number;
}

/** A connected, handshaken board. */
export class J5Link extends EventEmitter<J5LinkEvents> {
  private dead = false;
  /** Modes this link set, to undo firmata-io overwriting them from PIN_STATE replies. */
  private readonly modes = new Map<number, number>();

  private constructor(
    private readonly board: five.Board,
    private readonly io: FirmataIo,
    private readonly stream: Duplex,
  ) {
    super();
  }

  /**
   * Handshake with the board at the other end of `stream` (firmata-io waits for its version,
   * firmware name, capabilities and analog mapping; Johnny-Five then reports ready).
   * Rejects, and destroys the stream, on timeout or if the stream fails first.
   */
  static open(stream: Duplex, options: J5LinkOptions): Promise<J5Link> {
    const io = new Firmata(stream, { reportVersionTimeout: options.versionQueryDelayMs });
    const board = new five.Board({
      io,
      repl: false,
      debug: false,
      sigint: false,
      timeout: options.handshakeTimeoutMs,
    } as five.BoardOption & { sigint: boolean });
    const link = new J5Link(board, io, stream);
    return new Promise((resolve, reject) => {
      const fail = (reason: string): void => {
        clearTimeout(timer);
        link.close();
        reject(new Error(`Board handshake failed: ${reason}`));
      };
      const timer = setTimeout(() => fail('timeout'), options.handshakeTimeoutMs);
      link.once('lost', fail);
      (board as unknown as EventEmitter).once('ready', () => {
        clearTimeout(timer);
        link.off('lost', fail);
        link.listenAfterReady();
        resolve(link);
      });
      link.listen();
      // Johnny-Five waits for the io's "connect" (firmata-io relays the transport's "open",
      // which serialport emits). A stream that is already open gets it here.
      if ((stream as Duplex & { isOpen?: boolean }).isOpen !== false) process.nextTick(() => io.emit('connect'));
    });
  }

  /** False once the link is lost or closed. */
  get alive(): boolean {
    return !this.dead;
  }

  /** Set a pin's mode (Johnny-Five `Board.pinMode`). */
  pinMode(pin: number, mode: LinkPinMode): void {
    if (this.dead) return;
    const modes = this.io.MODES;
    const value = mode === 'output' ? modes.OUTPUT : mode === 'pullup' ? modes.PULLUP : modes.INPUT;
    this.modes.set(pin, value);
    this.board.pinMode(pin, value);
  }

  /**
   * Write several digital outputs at once: firmata-io's local port state is updated for
   * every pin first, then each touched port is sent once. Input pins listed with 0 clear
   * stale local bits, so no later port write can carry an old 1 to a pin the board has
   * meanwhile reset to an output.
   */
  writePins(values: ReadonlyArray<readonly [pin: number, value: 0 | 1]>): void {
    if (this.dead) return;
    const ports = new Set<number>();
    for (const [pin, value] of values) {
      this.io.digitalWrite(pin, value, true); // local state only
      ports.add(pin >> 3);
    }
    // Send the touched ports ourselves: firmata-io's flushDigitalPorts also resends every
    // port numbered below the highest queued one.
    this.io.digitalPortQueue = 0;
    for (const port of [...ports].sort((a, b) => a - b)) this.io.writeDigitalPort(port);
  }

  /** Enable reporting of the port holding `pin`; the board answers with the port's value at once. */
  reportPort(pin: number): void {
    if (this.dead) return;
    this.io.reportDigitalPin(pin, 1);
  }

  /** Send a STRING_DATA message to the board. */
  sendString(text: string): void {
    if (this.dead) return;
    this.io.sendString(text);
  }

  /** Send a PIN_STATE_QUERY for `pin`; the answer comes as a `pinState` event. */
  queryPinState(pin: number): void {
    if (this.dead) return;
    this.io.sysexCommand([0x6d, pin]);
  }

  /**
   * Close the stream and forget the board. Does not emit `lost`. With `flush`, writes already
   * made are delivered first (the stream is ended, then destroyed).
   */
  close(flush = false): void {
    if (this.dead) return;
    this.dead = true;
    this.teardown(flush);
  }

  private listen(): void {
    const lost = (reason: string) => () => this.lose(reason);
    this.stream.on('close', lost('stream closed'));
    this.stream.on('end', lost('stream ended'));
    this.stream.on('error', (error: Error) => this.lose(`stream error: ${error.message}`));
    this.stream.on('data', () => this.emit('activity'));
    this.io.on('error', (error: Error) => this.lose(`firmata error: ${String(error?.message ?? error)}`));
    this.board.on('error', () => this.lose('board error'));
  }

  private listenAfterReady(): void {
    this.io.on('digital-read', (e: { pin: number; value: number }) => this.emit('digital', e.pin, e.value));
    this.io.on('string', (text: string) => this.emit('string', text));
    this.io.on('queryfirmware', () => this.emit('firmware'));
    for (let pin = 0; pin < this.io.pins.length; pin++) {
      this.io.on(`pin-state-${pin}`, () => {
        const record = this.io.pins[pin];
        if (!record) return;
        const reported = record.mode ?? -1;
        // firmata-io copies the reported mode into its own pin table, and it only decodes
        // input reports for pins it believes are inputs. A reply that was in flight while we
        // reconfigured would switch reporting off for that pin: keep the mode we last set.
        const mine = this.modes.get(pin);
        if (mine !== undefined) record.mode = mine;
        this.emit('pinState', pin, reported);
      });
    }
  }

  private lose(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.teardown();
    this.emit('lost', reason);
  }

  private teardown(flush = false): void {
    const board = this.board as five.Board & { timer?: NodeJS.Timeout | null };
    if (board.timer) clearTimeout(board.timer);
    if (this.io.reportVersionTimeoutId) clearTimeout(this.io.reportVersionTimeoutId);
    const noop = (): void => {};
    for (const emitter of [this.io, this.board as unknown as EventEmitter, this.stream]) {
      emitter.removeAllListeners();
      emitter.on('error', noop);
    }
    if (flush && this.stream.writable) {
      const stream = this.stream;
      const destroy = (): void => {
        clearTimeout(fallback);
        stream.destroy();
      };
      const fallback = setTimeout(destroy, 500);
      stream.end(destroy);
    } else {
      this.stream.destroy();
    }
    // Johnny-Five keeps every Board ever made in a module-level list with no way to remove
    // one; dropping the io lets the Firmata instance, its pin table and the stream be freed.
    (this.board as { io: unknown }).io = null;
  }
}
