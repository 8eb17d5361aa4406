/**
 * MQTT 3.1.1 packets written by hand (no client library in between), so the fuzzer can send
 * what mqtt.js would refuse to: wildcards and NUL in PUBLISH topics, invalid UTF-8, QoS 3,
 * wrong reserved flags, lengths that lie, a second CONNECT. And a small reader of what the
 * broker sends back (CONNACK, SUBACK, PUBLISH topics), so a test can tell what leaked.
 */
import { connect, type Socket } from 'node:net';

/** MQTT's variable-length "remaining length". */
export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A UTF-8 string field (2-byte length, then the bytes); `raw` bytes are written as given. */
export function str(s: string | Uint8Array): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length & 0xffff);
  return Buffer.concat([len, b]);
}

export function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), remainingLength(body.length), body]);
}

export function connectPacket(o: { clientId: string; username: string; password: string; keepalive?: number }): Buffer {
  const flags = 0x80 | 0x40 | 0x02; // username, password, clean session
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(o.keepalive ?? 30);
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, flags]), ka, str(o.clientId), str(o.username), str(o.password)]));
}

export function publishPacket(o: { topic: string | Uint8Array; payload: Uint8Array; qos: number; retain: boolean; dup?: boolean; id?: number }): Buffer {
  const first = 0x30 | (o.dup ? 8 : 0) | ((o.qos & 3) << 1) | (o.retain ? 1 : 0);
  const id = Buffer.alloc(2);
  id.writeUInt16BE(o.id ?? 1);
  return packet(first, Buffer.concat([str(o.topic), o.qos > 0 ? id : Buffer.alloc(0), Buffer.from(o.payload)]));
}

export function subscribePacket(o: { filters: { filter: string | Uint8Array; qos: number }[]; id?: number; first?: number }): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(o.id ?? 1);
  return packet(o.first ?? 0x82, Buffer.concat([id, ...o.filters.map((f) => Buffer.concat([str(f.filter), Buffer.from([f.qos])]))]));
}

/** What the broker sent on one connection. */
export interface Inbound {
  connack?: number;
  subacks: number[][];
  /** Topics of PUBLISH packets received. */
  published: string[];
  closed: boolean;
}

/** A raw MQTT connection: CONNECT sent, CONNACK awaited. */
export class RawMqtt {
  readonly inbound: Inbound = { subacks: [], published: [], closed: false };
  private buf = Buffer.alloc(0);
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.read(d));
    socket.on('close', () => {
      this.inbound.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async open(port: number, creds: { clientId: string; username: string; password: string }): Promise<RawMqtt> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawMqtt(socket);
    socket.write(connectPacket(creds));
    await c.until(() => c.inbound.connack !== undefined || c.inbound.closed, 5000, 'CONNACK');
    if (c.inbound.connack !== 0) throw new Error(`CONNACK ${c.inbound.connack}`);
    return c;
  }

  write(b: Uint8Array): void {
    if (!this.inbound.closed) this.socket.write(b);
  }

  /** Resolves when `pred` holds (checked on every packet and on close), or after `ms` with false. */
  until(pred: () => boolean, ms: number, _what = ''): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!pred()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, ms);
      this.waiters.add(check);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private read(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) break;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (; i < 5 && i < this.buf.length; i++) {
        len += (this.buf[i]! & 0x7f) * mul;
        mul *= 128;
        if ((this.buf[i]! & 0x80) === 0) break;
      }
      if (i >= this.buf.length) break;
      const start = i + 1;
      if (this.buf.length < start + len) break;
      const type = this.buf[0]! >> 4;
      const body = this.buf.subarray(start, start + len);
      if (type === 2) this.inbound.connack = body[1];
      else if (type === 9) this.inbound.subacks.push([...body.subarray(2)]);
      else if (type === 3) this.inbound.published.push(body.subarray(2, 2 + body.readUInt16BE(0)).toString('utf8'));
      this.buf = this.buf.subarray(start + len);
    }
    this.wake();
  }
}
