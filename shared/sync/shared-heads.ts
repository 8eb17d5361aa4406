import * as A from '@automerge/automerge';
import type { SyncStateStore } from './sync-state-store.js';

/*
 * What a replica persists about a peer, per document: the heads both are known to hold
 * (Automerge's encoded sync state keeps exactly its `sharedHeads`), and the sync state a new
 * exchange starts from.
 */

const EMPTY = new Uint8Array(0);
let base: A.SyncState | undefined;
const baseState = (): A.SyncState => (base ??= A.initSyncState());

/**
 * A sync state that assumes the peer holds exactly `shared` (what both sides persisted at the
 * end of the last exchange), so the FIRST message already carries the changes since then,
 * instead of spending a round trip on heads and Bloom filters. If the assumption is wrong
 * (the peer lost data), the peer's answer says what it needs and the protocol repairs itself.
 * Relies on the documented `JsSyncState` fields of @automerge/automerge 3.
 */
export function primed(shared: A.Heads): A.SyncState {
  return {
    ...baseState(),
    sharedHeads: shared,
    theirHeads: shared,
    theirHave: [{ lastSync: shared, bloom: EMPTY }],
    theirNeed: [],
    // Every Cubby peer runs Automerge 3: v2 messages carry changes in the compressed document format.
    theirCapabilities: ['message-v2', 'sync-reset'],
  } as A.SyncState;
}

/** The encoded state recording that both sides hold `heads`. */
export function encodeShared(heads: A.Heads): Uint8Array {
  return A.encodeSyncState({ ...baseState(), sharedHeads: heads } as A.SyncState);
}

/** The shared heads a stored state records, or undefined when absent or unreadable. */
export function decodeShared(bytes: Uint8Array | undefined): A.Heads | undefined {
  if (!bytes) return undefined;
  try {
    return A.decodeSyncState(bytes).sharedHeads;
  } catch {
    return undefined;
  }
}

/** True when `heads` contains every head of `ours`. */
export function coversHeads(heads: A.Heads, ours: A.Heads): boolean {
  const s = new Set(heads);
  return ours.every((h) => s.has(h));
}

/**
 * True when the peer whose states are in `store` is known to hold every change of `doc`
 * (the hub prunes a finished parcel only then). Works while disconnected.
 */
export function peerHolds(store: SyncStateStore, peer: string, docId: string, doc: A.Doc<unknown> | undefined): boolean {
  if (!doc) return true;
  const shared = decodeShared(store.get(peer, docId));
  return shared !== undefined && coversHeads(shared, A.getHeads(doc));
}

