import * as A from '@automerge/automerge';
import { isReservedKey, type SyncStateStore } from './sync-state-store.js';

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

/** Version byte of the compact encoding below (an encoded Automerge sync state starts with 0x43). */
const SHARED_V1 = 0x01;

/**
 * The stored record that both sides hold `heads`: a version byte and the raw 32-byte hashes.
 * (Earlier versions stored `Automerge.encodeSyncState`, which keeps the same `sharedHeads`;
 * `decodeShared` reads both. The compact form costs no wasm call per document, which matters
 * when a resync records thousands of them.)
 */
export function encodeShared(heads: A.Heads): Uint8Array {
  const out = new Uint8Array(1 + heads.length * 32);
  out[0] = SHARED_V1;
  heads.forEach((h, i) => out.set(Buffer.from(h, 'hex'), 1 + i * 32));
  return out;
}

/** The shared heads a stored record holds, or undefined when absent or unreadable. */
export function decodeShared(bytes: Uint8Array | undefined): A.Heads | undefined {
  if (!bytes || bytes.length === 0) return undefined;
  if (bytes[0] === SHARED_V1) {
    if ((bytes.length - 1) % 32 !== 0) return undefined;
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const heads: A.Heads = [];
    for (let o = 1; o < buf.length; o += 32) heads.push(buf.toString('hex', o, o + 32));
    return heads;
  }
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

/** Every document's shared heads with `peer`, as `store` holds them (one query). */
export function allShared(store: SyncStateStore, peer: string): Map<string, A.Heads> {
  const out = new Map<string, A.Heads>();
  for (const [id, bytes] of store.all(peer)) {
    if (isReservedKey(id)) continue;
    const heads = decodeShared(bytes);
    if (heads) out.set(id, heads);
  }
  return out;
}
