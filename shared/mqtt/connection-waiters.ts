/**
 * Callers waiting for an MQTT client to (re)connect: `wait()` resolves at once when already
 * connected, else when `release()` is called on connection, and rejects after `timeoutMs`.
 * Shared by the hub's and the cloud's MQTT clients.
 */
export class ConnectionWaiters {
  private readonly waiters = new Set<() => void>();

  /** Resolve every pending wait (call when the client is connected). */
  release(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  wait(connected: boolean, timeoutMs: number, failure: () => string): Promise<void> {
    if (connected) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        reject(new Error(failure()));
      }, timeoutMs);
      this.waiters.add(done);
    });
  }
}
