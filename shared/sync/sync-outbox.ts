import type * as A from '@automerge/automerge';
import { headsOf, sameHeads, type DocSet } from '../ledger/doc-set.js';
import type { ChangeFeed } from './change-feed.js';
import { encodeChanges } from './changes-codec.js';
import { allShared } from './shared-heads.js';
import { isReservedKey, type SyncStateStore } from './sync-state-store.js';

/** One document's changes the peer lacks, encoded for the wire, and what they were encoded from. */
interface Entry {
  /** The document's heads when encoded. */
  heads: A.Heads;
  /** The heads the peer was known to hold then. */
  shared: A.Heads;
  message: Uint8Array;
}

export interface SyncOutboxOptions {
  docs: DocSet;
  /** Local writes of `docs` (the `ObservedDocStorage` under it). */
  feed: ChangeFeed;
  /** Where sync sessions with the peer keep the heads it holds. */
  store: SyncStateStore;
  /** The peer's key in `store` (`cloud`, `hub:bank-1`). */
  peer: string;
  /** Which documents the peer may receive. Default: all. */
  shares?: (docId: string) => boolean;
  /** Stop adding entries beyond this many message bytes (older entries stay). Default 32 MiB. */
  maxBytes?: number;
}

/**
 * What a replica will send a peer it cannot reach now, encoded as its documents change rather
 * than when the peer comes back.
 *
 * A hub offline for days, or the cloud's replica of such a hub's bank, piles up changes the
 * other side lacks. A session's engine would encode each of those documents when the
 * connection comes back (the changes since the shared heads, in the compact wire form), which
 * is where most of a resync's sending side goes — while the person in front of the locker, or
 * the revocation waiting for the hub, waits. The outbox does that encoding as each local
 * change is committed instead (one small document each time, well under a millisecond), so
 * the first frames of the next session are ready when it starts.
 *
 * It is only a cache: `take()` hands an entry over only when the document's heads and the
 * peer's shared heads are exactly what the entry was encoded from, so a stale entry is never
 * sent; the engine encodes what the outbox does not have. While a session holds the outbox
 * (`hold()`), the engine pushes changes itself and the outbox does nothing.
 */
export class SyncOutbox {
  /** What the outbox has done: documents encoded and the time it took (its cost, paid as changes are made). */
  readonly stats = { encoded: 0, ms: 0 };
  private readonly entries = new Map<string, Entry>();
  /** The peer's shared heads, read once from the store per offline period. */
  private shared: Map<string, A.Heads> | undefined;
  private bytes = 0;
  private holders = 0;
  /** Documents written since the last microtask. */
  private readonly pending = new Set<string>();
  private readonly maxBytes: number;
  private readonly shares: (docId: string) => boolean;
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: SyncOutboxOptions) {
    this.maxBytes = opts.maxBytes ?? 32 * 1024 * 1024;
    this.shares = opts.shares ?? (() => true);
    this.unsubscribe = opts.feed.onChange((docId) => this.changed(docId));
  }

  /** Documents with an entry ready. */
  get size(): number {
    return this.entries.size;
  }

  /** Message bytes held. */
  get heldBytes(): number {
    return this.bytes;
  }

  /**
   * A session with the peer starts: stop encoding (its engine pushes every change itself)
   * until the returned function is called, when the session ends.
   */
  hold(): () => void {
    this.holders += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holders -= 1;
      if (this.holders === 0) this.resume();
    };
  }

  /**
   * The encoded changes of `docId` when they were encoded from exactly these heads (the
   * document's now, and the peer's shared ones); otherwise undefined.
   */
  take(docId: string, heads: A.Heads, shared: A.Heads): Uint8Array | undefined {
    const e = this.entries.get(docId);
    return e && sameHeads(e.heads, heads) && sameHeads(e.shared, shared) ? e.message : undefined;
  }

  /** Stop listening and drop every entry. */
  close(): void {
    this.unsubscribe();
    this.clear();
  }

  /**
   * A write of `docId` was reported. Encoded in a microtask: a write outside a transaction is
   * reported while it is being made, before the `DocSet` holds the new version — and a burst
   * of changes to one document is encoded once.
   */
  private changed(docId: string): void {
    if (this.holders > 0 || isReservedKey(docId) || !this.shares(docId)) return;
    this.pending.add(docId);
    if (this.pending.size === 1) queueMicrotask(() => this.encodePending());
  }

  private encodePending(): void {
    const ids = [...this.pending];
    this.pending.clear();
    if (this.holders > 0) return;
    const t0 = performance.now();
    for (const id of ids) this.encode(id);
    this.stats.ms += performance.now() - t0;
    this.stats.encoded += ids.length;
  }

  private encode(docId: string): void {
    const doc = this.opts.docs.get(docId);
    this.drop(docId);
    if (!doc) return;
    const shared = this.sharedHeads().get(docId) ?? [];
    const message = encodeChanges(doc, shared);
    if (!message || this.bytes + message.length > this.maxBytes) return;
    this.entries.set(docId, { heads: headsOf(doc), shared, message });
    this.bytes += message.length;
  }

  /** After a session: what it settled changed the shared heads; keep only entries still built on them. */
  private resume(): void {
    this.shared = undefined;
    if (this.entries.size === 0) return;
    const shared = this.sharedHeads();
    for (const [id, e] of this.entries) if (!sameHeads(shared.get(id) ?? [], e.shared)) this.drop(id);
  }

  private sharedHeads(): Map<string, A.Heads> {
    return (this.shared ??= allShared(this.opts.store, this.opts.peer));
  }

  private drop(docId: string): void {
    const e = this.entries.get(docId);
    if (!e) return;
    this.entries.delete(docId);
    this.bytes -= e.message.length;
  }

  private clear(): void {
    this.entries.clear();
    this.bytes = 0;
    this.shared = undefined;
  }
}
