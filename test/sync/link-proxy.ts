import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy in front of the cloud that a test can cut and heal: `cut()` drops every
 * connection through it and refuses new ones until `heal()`. A real network partition, as
 * the hub's WebSocket sees it.
 */
export class LinkProxy {
  private server!: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private down = false;
  cuts = 0;
  heals = 0;

  private constructor(private readonly targetPort: number) {}

  static async start(targetPort: number): Promise<LinkProxy> {
    const p = new LinkProxy(targetPort);
    p.server = createServer((client) => p.accept(client));
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', () => r()));
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get isDown(): boolean {
    return this.down;
  }

  cut(): void {
    if (this.down) return;
    this.down = true;
    this.cuts++;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  heal(): void {
    if (!this.down) return;
    this.down = false;
    this.heals++;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(client: Socket): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
