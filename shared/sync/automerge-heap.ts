import * as A from '@automerge/automerge';

let reserved = 0;

/**
 * Grow Automerge's WebAssembly heap once, by about `mib` MiB, before thousands of documents
 * are loaded or synced.
 *
 * Why: Automerge's allocator grows wasm memory 64 KiB at a time, and V8 answers every grow
 * with a full garbage collection whose cost grows with the heap. With thousands of live
 * documents (a hub's live parcels, a cloud replica, a resync after days offline) that is
 * quadratic: measured here, syncing 2,700 parcel documents took 88 s instead of 3 s.
 * (automerge/automerge#934 discusses growing in 64 MiB chunks inside the allocator.)
 *
 * How: one load of `mib` MiB of zeros. The bytes are copied into wasm memory in one
 * allocation (one grow), the load fails, the block returns to the allocator's free list and
 * serves every later allocation. The cost is `mib` MiB of resident memory, so size it to the
 * expected working set: ~12 KiB per live document, plus clones while a batch is applied.
 * Idempotent up to the largest size asked for.
 */
export function reserveAutomergeHeap(mib: number): void {
  if (!Number.isFinite(mib) || mib <= reserved) return;
  try {
    A.load(new Uint8Array(Math.floor(mib * 1024 * 1024)));
  } catch {
    // Expected: zeros are not a document. The memory stays reserved.
  }
  reserved = mib;
}
