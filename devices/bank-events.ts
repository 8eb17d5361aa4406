/**
 * A small typed listener registry for {@link LockerBankEvents}, shared by bank
 * implementations. A throwing listener is reported as a process warning and never breaks
 * the driver or the other listeners.
 */
import type { LockerBankEvents } from './locker-bank.js';

type Listener = (...args: unknown[]) => void;

/** Typed `on`/`emit` for the events of a locker bank. */
export class BankEventEmitter {
  private readonly listeners = new Map<keyof LockerBankEvents, Set<Listener>>();

  /** Subscribe; returns the unsubscribe function. */
  on<E extends keyof LockerBankEvents>(event: E, fn: LockerBankEvents[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    const listener = fn as Listener;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Call every listener of `event` with `args`. */
  emit<E extends keyof LockerBankEvents>(event: E, ...args: Parameters<LockerBankEvents[E]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (error) {
        process.emitWarning(`LockerBank ${event} listener threw: ${String(error)}`, 'CubbyDevicesWarning');
      }
    }
  }

  /** Drop every listener. */
  clear(): void {
    this.listeners.clear();
  }
}
