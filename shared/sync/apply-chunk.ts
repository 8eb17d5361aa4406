import * as A from '@automerge/automerge';

/** Where @automerge/automerge 3 keeps a document's metadata (a registered symbol, `Symbol.for`). */
const STATE = Symbol.for('_am_meta');

interface DocState {
  handle: unknown;
  heads?: A.Heads;
  patchCallback?: unknown;
  mostRecentPatch?: unknown;
}

interface Handle {
  getHeads(): A.Heads;
  loadIncremental(data: Uint8Array): number;
  applyPatches<T>(doc: T, meta: unknown): T;
  updateDiffCursor(): void;
  materialize(obj: string, heads: undefined, meta: unknown): unknown;
  stats(): { numOps: number };
}

/**
 * Rebuild the JavaScript object from scratch, instead of patching the old one, when the
 * chunk added at least this share of the document's operations. Patching costs per patch
 * (each resolves its path and copies the objects on it, ~10 µs); rebuilding costs per
 * operation of the whole document. Measured on the sync benchmark's parcel documents (~40
 * operations), whole call: a hub's deposit, code and use (~18 new operations) ~230 µs
 * patched, ~185 µs rebuilt; an announcement (5) ~100 µs patched, ~145 µs rebuilt.
 */
const REBUILD_SHARE = 0.2;

/**
 * `Automerge.loadIncremental(doc, chunk)`, cheaper.
 *
 * `loadIncremental` updates the document object from the patches since the last update and
 * also returns those patches to JavaScript (for patch callbacks and `Automerge.diff`'s cache):
 * for a small document that export is a quarter of the whole call. This does the same through
 * the backend's `applyPatches`, which updates the object without exporting them — or, when the
 * chunk brought a large share of the document (a new parcel's first facts), builds the object
 * afresh with `materialize`, as `Automerge.load` does, which is cheaper than patching it
 * field by field. Either way `doc` is left read-only at its old heads, exactly as
 * `loadIncremental` leaves it. It only does so when the document looks as Automerge 3.5 makes
 * it (no patch callback, not a view); otherwise, or with another Automerge, it is
 * `loadIncremental`. `heads`: `doc`'s heads, when the caller already has them.
 */
export function applyChunk<T>(doc: A.Doc<T>, chunk: Uint8Array, heads?: A.Heads): A.Doc<T> {
  const state = Reflect.get(doc as object, STATE) as DocState | undefined;
  const handle = A.getBackend(doc) as unknown as Handle;
  if (!state || state.handle !== handle || state.heads !== undefined || state.patchCallback || !looksLikeOurs(handle)) {
    return A.loadIncremental(doc, chunk);
  }
  const before = heads ?? handle.getHeads();
  const added = handle.loadIncremental(chunk);
  // The new version's state: a document, not a view; no patch of an earlier version cached.
  const { mostRecentPatch: _cached, ...rest } = state;
  const meta = { ...rest, heads: undefined };
  let next: A.Doc<T>;
  if (added > 0 && added >= REBUILD_SHARE * handle.stats().numOps) {
    // Patches not applied must not be applied later (by the next change): start the diff here.
    handle.updateDiffCursor();
    next = handle.materialize('/', undefined, meta) as A.Doc<T>;
  } else {
    next = handle.applyPatches(doc, meta);
  }
  state.heads = before;
  return next;
}

function looksLikeOurs(handle: Handle): boolean {
  return (
    typeof handle.applyPatches === 'function' &&
    typeof handle.materialize === 'function' &&
    typeof handle.updateDiffCursor === 'function' &&
    typeof handle.stats === 'function'
  );
}
