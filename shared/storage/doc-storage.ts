/**
 * The storage port for Automerge documents: keys and bytes, nothing else.
 *
 * A document is stored as a list of chunks — a full snapshot followed by incremental
 * change chunks — whose concatenation `Automerge.load()` accepts. The interface is
 * synchronous on purpose: the hub must know a fact is durable *before* it pulses a lock,
 * and better-sqlite3 gives exactly that without an event-loop hop.
 *
 * Contract (test/contracts/doc-storage.contract.ts runs it against every adapter):
 * - `append` and `replace` are durable when they return (for adapters that persist);
 * - `transaction(fn)` commits every write inside `fn` together, or none when `fn` throws;
 * - `loadAll` returns chunks in the order they were appended;
 * - after `close()` and re-opening the same backing store, everything written is there.
 */
export interface DocStorage {
  /** Every stored document with its chunks in append order. */
  loadAll(): Map<string, Uint8Array[]>;
  /** One document's chunks, or undefined when it is not stored. */
  load(docId: string): Uint8Array[] | undefined;
  /**
   * Optional, for a storage other processes write too (several cloud nodes on one
   * PostgreSQL): the chunks of `docId` this adapter has neither loaded nor written — what the
   * other writers added since — in any order; empty when there are none.
   */
  loadUnseen?(docId: string): Uint8Array[];
  /** Append an incremental chunk to a document (creating it). */
  append(docId: string, chunk: Uint8Array): void;
  /** Replace every chunk of a document with one snapshot (compaction). */
  replace(docId: string, snapshot: Uint8Array): void;
  /** Forget a document. */
  remove(docId: string): void;
  /** Run `fn` atomically. Nested calls join the outer transaction. */
  transaction<T>(fn: () => T): T;
  /** Bytes the store occupies (file size for files). */
  sizeBytes(): number;
  close(): void;
}

/**
 * In-memory adapter. `backing` may be shared between instances to model close-and-reopen.
 */
export class MemoryDocStorage implements DocStorage {
  private pending: Map<string, Uint8Array[] | null> | undefined;

  constructor(readonly backing: Map<string, Uint8Array[]> = new Map()) {}

  // Chunks are copied out as well as in, like a real store: a caller that mutates what it
  // loaded must not change what is stored.
  loadAll(): Map<string, Uint8Array[]> {
    return new Map([...this.backing].map(([k, v]) => [k, v.map((c) => c.slice())]));
  }
  load(docId: string): Uint8Array[] | undefined {
    return this.current(docId)?.map((c) => c.slice());
  }
  append(docId: string, chunk: Uint8Array): void {
    this.write(docId, [...(this.current(docId) ?? []), chunk.slice()]);
  }
  replace(docId: string, snapshot: Uint8Array): void {
    this.write(docId, [snapshot.slice()]);
  }
  remove(docId: string): void {
    this.write(docId, null);
  }
  transaction<T>(fn: () => T): T {
    if (this.pending) return fn();
    this.pending = new Map();
    try {
      const out = fn();
      for (const [k, v] of this.pending) {
        if (v) this.backing.set(k, v);
        else this.backing.delete(k);
      }
      return out;
    } finally {
      this.pending = undefined;
    }
  }
  sizeBytes(): number {
    let n = 0;
    for (const chunks of this.backing.values()) for (const c of chunks) n += c.length;
    return n;
  }
  close(): void {}

  private current(docId: string): Uint8Array[] | undefined {
    return (this.pending?.has(docId) ? this.pending.get(docId) : this.backing.get(docId)) ?? undefined;
  }

  private write(docId: string, v: Uint8Array[] | null): void {
    if (this.pending) this.pending.set(docId, v);
    else if (v) this.backing.set(docId, v);
    else this.backing.delete(docId);
  }
}
