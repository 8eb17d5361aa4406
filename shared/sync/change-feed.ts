import type { DocStorage } from '../storage/doc-storage.js';

/** Something that tells which documents were written. */
export interface ChangeFeed {
  /** Call `fn` with the id of every document written (after its transaction committed). Returns unsubscribe. */
  onChange(fn: (docId: string) => void): () => void;
}

/**
 * A DocStorage decorator that reports every document written through it, so the sync
 * client (and the cloud's sync session) push a local change within milliseconds without
 * polling: a `DocSet` persists every change before returning, so every change passes here.
 *
 * Writes inside a transaction are reported once it commits, and never when it rolls back.
 */
export class ObservedDocStorage implements DocStorage, ChangeFeed {
  private readonly listeners = new Set<(docId: string) => void>();
  private pending: Set<string> | undefined;

  constructor(readonly inner: DocStorage) {}

  onChange(fn: (docId: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  loadAll(): Map<string, Uint8Array[]> {
    return this.inner.loadAll();
  }
  load(docId: string): Uint8Array[] | undefined {
    return this.inner.load(docId);
  }
  get loadUnseen(): ((docId: string) => Uint8Array[]) | undefined {
    const inner = this.inner;
    return inner.loadUnseen && ((docId) => inner.loadUnseen!(docId));
  }
  append(docId: string, chunk: Uint8Array): void {
    this.inner.append(docId, chunk);
    this.written(docId);
  }
  replace(docId: string, snapshot: Uint8Array): void {
    this.inner.replace(docId, snapshot);
    this.written(docId);
  }
  remove(docId: string): void {
    this.inner.remove(docId);
  }
  transaction<T>(fn: () => T): T {
    if (this.pending) return this.inner.transaction(fn);
    const pending = new Set<string>();
    this.pending = pending;
    let out: T;
    try {
      out = this.inner.transaction(fn);
    } finally {
      this.pending = undefined;
    }
    for (const id of pending) this.emit(id);
    return out;
  }
  sizeBytes(): number {
    return this.inner.sizeBytes();
  }
  /** Report a document that changed in the backing store without passing through here (another cloud node wrote it). */
  announce(docId: string): void {
    this.written(docId);
  }
  close(): void {
    this.inner.close();
  }

  private written(docId: string): void {
    if (this.pending) this.pending.add(docId);
    else this.emit(docId);
  }

  private emit(docId: string): void {
    for (const fn of this.listeners) {
      try {
        fn(docId);
      } catch {
        // A listener's failure must never undo or block a durable write.
      }
    }
  }
}
