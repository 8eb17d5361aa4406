import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';

/** A simulator's HTTP listener. */
export interface RunningServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  port: number;
  /** Stop listening and drop open (keep-alive) connections at once. */
  close(): Promise<void>;
}

/** The `fetch` of a Hono app (what `serve` needs). */
export type FetchHandler = (req: Request) => Response | Promise<Response>;

/**
 * Serve `fetch` on `host:port` (port 0: chosen by the OS). Rejects on EADDRINUSE and the like.
 * Simulators only: real processes listen in their `main.ts`.
 */
export function listenHttp(fetch: FetchHandler, port = 0, host = '127.0.0.1'): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname: host }) as Server;
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      const actual = (server.address() as AddressInfo).port;
      resolve({
        url: `http://${host}:${actual}`,
        port: actual,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/**
 * Timers a simulator schedules (delayed receipts, slow answers), so `close()` can cancel
 * them all and `idle()` can tell a test when nothing is pending any more.
 */
export class PendingWork {
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private readonly tasks = new Set<Promise<unknown>>();
  private waiters: Array<() => void> = [];

  /** Resolve after `ms` (or at once, when `cancelAll` runs first). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
        this.check();
      }, ms);
      this.timers.set(t, resolve);
    });
  }

  /** Track a background task until it settles (never rejects outward). */
  track(task: Promise<unknown>): void {
    const p = task.catch(() => undefined).finally(() => {
      this.tasks.delete(p);
      this.check();
    });
    this.tasks.add(p);
  }

  /** Resolves once no timer and no task is pending. */
  idle(): Promise<void> {
    if (this.timers.size === 0 && this.tasks.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Fire every pending sleep now (their continuations see the simulator closed). */
  cancelAll(): void {
    for (const [t, resolve] of this.timers) {
      clearTimeout(t);
      resolve();
    }
    this.timers.clear();
    this.check();
  }

  private check(): void {
    if (this.timers.size || this.tasks.size) return;
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }
}
