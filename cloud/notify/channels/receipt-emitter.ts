import type { Receipt } from './channel.js';

/**
 * The `onReceipt` half of a channel, written once. Listeners run synchronously in
 * subscription order; one that throws is reported to `onListenerError` and does not stop
 * the others (a webhook must still answer the provider).
 */
export class ReceiptEmitter {
  private readonly listeners = new Set<(r: Receipt) => void>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** Subscribe; returns the unsubscribe function. */
  on(fn: (r: Receipt) => void): () => void {
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const entry = (r: Receipt): void => fn(r);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(receipt: Receipt): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(receipt);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  /** Number of live subscriptions. */
  get size(): number {
    return this.listeners.size;
  }

  clear(): void {
    this.listeners.clear();
  }
}
