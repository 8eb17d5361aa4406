import { isSqliteCorruption } from '../../adapters/sqlite/sqlite-integrity.js';
import { DomainError } from '../../shared/errors.js';

/**
 * The hub's store is damaged (a truncated file, garbage in its pages, a document that no longer
 * loads): it cannot tell a valid code from an invalid one, so it must not answer as if it
 * could. `startHub` throws this when the file is damaged at start; at run time every
 * `/api/*` request answers it (503 `store_corrupted`) once the damage was seen. Recovery:
 * `rebuildHubStore` (edge/store/store-rebuild.ts) from the cloud's copy.
 */
export class StoreCorrupted extends DomainError {
  constructor(
    /** What was found (SQLite's or Automerge's words; never document content). */
    readonly reason: string,
  ) {
    super(
      'store_corrupted',
      'This locker cannot check codes right now: its memory is damaged and is being restored. Please try again later or contact support.',
      503,
    );
  }
}

/** Whether `err` says the store is damaged, and why. */
export function corruptionOf(err: unknown): StoreCorrupted | undefined {
  if (err instanceof StoreCorrupted) return err;
  if (isSqliteCorruption(err)) return new StoreCorrupted(`SQLite: ${(err as Error).message}`);
  return undefined;
}

/**
 * The store's health, once damage was seen: it stays `corrupted` until the process starts on a
 * rebuilt store (nothing here "heals" a damaged file). Listeners hear about it once.
 */
export class StoreHealth {
  private damage: { reason: string; at: number } | undefined;
  private readonly listeners = new Set<(e: StoreCorrupted) => void>();

  constructor(private readonly now: () => number) {}

  get corrupted(): { reason: string; at: number } | undefined {
    return this.damage;
  }

  /** Record damage (first report wins) and tell the listeners. Returns the error to answer with. */
  markCorrupted(reason: string): StoreCorrupted {
    const err = new StoreCorrupted(reason);
    if (this.damage) return err;
    this.damage = { reason, at: this.now() };
    for (const l of this.listeners) {
      try {
        l(err);
      } catch {
        // a listener's failure changes nothing here
      }
    }
    return err;
  }

  /** If `err` is damage to the store, record it and return the 503 to answer with. */
  observe(err: unknown): StoreCorrupted | undefined {
    const c = corruptionOf(err);
    return c ? this.markCorrupted(c.reason) : undefined;
  }

  /** Throw 503 `store_corrupted` if damage was seen. */
  assertSound(): void {
    if (this.damage) throw new StoreCorrupted(this.damage.reason);
  }

  onCorrupted(fn: (e: StoreCorrupted) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
