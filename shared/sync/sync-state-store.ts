/**
 * The port where a replica keeps its Automerge sync states, one per (peer, document).
 *
 * What is stored is the heads both sides are known to share (`encodeShared` in
 * shared-heads.ts; older stores hold `Automerge.encodeSyncState`, which keeps the same). It is
 * what makes sync **incremental across reconnects**: a document whose heads still equal the
 * stored shared heads is not mentioned at all, and a changed one is sent as the changes since them.
 *
 * Contract (test/sync/sync-state-store.test.ts runs it against every adapter):
 * - `set` is durable when it returns, for adapters that persist; it should live in the same
 *   database as the documents so a received change and the state recording it commit together;
 * - `get` returns exactly the bytes last `set` for the pair, or undefined;
 * - `clear(peer)` forgets every state of that peer and nothing else.
 */
export interface SyncStateStore {
  get(peer: string, docId: string): Uint8Array | undefined;
  set(peer: string, docId: string, state: Uint8Array): void;
  /** Every stored state of `peer`, by document id (one query instead of one per document). */
  all(peer: string): Map<string, Uint8Array>;
  /** Forget every state of `peer` (it lost its data, or was re-provisioned). */
  clear(peer: string): void;
  /** Run `fn` atomically where the adapter can; nested calls join the outer transaction. */
  transaction<T>(fn: () => T): T;
}

/** In-memory adapter, for tests and simulations. */
export class MemorySyncStateStore implements SyncStateStore {
  private readonly states = new Map<string, Map<string, Uint8Array>>();

  get(peer: string, docId: string): Uint8Array | undefined {
    return this.states.get(peer)?.get(docId);
  }
  set(peer: string, docId: string, state: Uint8Array): void {
    let m = this.states.get(peer);
    if (!m) this.states.set(peer, (m = new Map()));
    m.set(docId, state.slice());
  }
  all(peer: string): Map<string, Uint8Array> {
    return new Map(this.states.get(peer) ?? []);
  }
  clear(peer: string): void {
    this.states.delete(peer);
  }
  transaction<T>(fn: () => T): T {
    return fn();
  }
}

/** Reserved keys: not document ids (document ids never start with `~`). */
const SELF = '~self';
const EPOCH = '~epoch';

/**
 * This store's epoch: a random id created with the store. A replica that loses its store
 * (new disk, restore from an old backup) comes back with a new epoch, and its peer drops
 * the sync states it kept for it — otherwise the peer would believe the replica still holds
 * documents it no longer has, and never send them again.
 */
export function storeEpoch(store: SyncStateStore, fresh: () => string): string {
  const have = store.get(SELF, EPOCH);
  if (have) return new TextDecoder().decode(have);
  const epoch = fresh();
  store.set(SELF, EPOCH, new TextEncoder().encode(epoch));
  return epoch;
}

/**
 * Record the epoch `peer` presents; when it differs from the one seen last, every state kept
 * for that peer is dropped (the next sync with it starts from nothing). Returns true when
 * states were dropped.
 */
export function adoptPeerEpoch(store: SyncStateStore, peer: string, epoch: string): boolean {
  const seen = store.get(peer, EPOCH);
  const known = seen ? new TextDecoder().decode(seen) : undefined;
  if (known === epoch) return false;
  store.transaction(() => {
    if (known !== undefined) store.clear(peer);
    store.set(peer, EPOCH, new TextEncoder().encode(epoch));
  });
  return known !== undefined;
}

/** True for keys of the store that are bookkeeping, not documents. */
export const isReservedKey = (docId: string): boolean => docId.startsWith('~');
