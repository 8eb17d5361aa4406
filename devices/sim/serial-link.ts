/**
 * A simulated USB serial cable: two cross-wired Duplex streams. Bytes written to one end
 * come out of the other on a later turn of the event loop (like a real link, never inside
 * the writer's call). Destroying either end closes both, as unplugging a cable does.
 */
import { Duplex } from 'node:stream';

class LinkEnd extends Duplex {
  peer: LinkEnd | null = null;

  constructor() {
    super({ allowHalfOpen: false });
  }

  override _read(): void {
    // Data is pushed by the peer's writes.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    setImmediate(() => {
      if (peer && !peer.destroyed) peer.push(chunk);
    });
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    setImmediate(() => {
      if (peer && !peer.destroyed) peer.push(null);
    });
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = null;
    setImmediate(() => {
      if (peer && !peer.destroyed) {
        peer.push(null);
        peer.destroy();
      }
    });
    callback(error);
  }
}

/** The two ends of one simulated serial link. */
export interface SerialLink {
  /** The computer's end (what serialport would give the hub). */
  host: Duplex;
  /** The board's end. */
  board: Duplex;
}

/** Create a connected pair of streams. */
export function createSerialLink(): SerialLink {
  const host = new LinkEnd();
  const board = new LinkEnd();
  host.peer = board;
  board.peer = host;
  return { host, board };
}
