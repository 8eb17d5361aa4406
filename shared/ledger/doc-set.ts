import * as A from '@automerge/automerge';
import type { DocStorage } from '../storage/doc-storage.js';

/** After this many incremental chunks a document is compacted into one snapshot. */
const COMPACT_AFTER = 16;
/**
 * A document whose stored size is below this is rewritten as one snapshot on every change
 * instead of growing a chunk list: for small documents (a parcel is ~1 KB) `A.save` costs
 * no more than `A.saveSince`, and loading one snapshot is ~1.7x faster than a snapshot plus
 * incremental chunks, which is most of a hub's start-up time.
 */
const SNAPSHOT_BELOW_BYTES = 8 * 1024;

interface Entry {
  doc: A.Doc<unknown>;
  savedHeads: A.Heads;
  chunks: number;
  /** Bytes stored for the document (all its chunks). */
  bytes: number;
}

/**
 * A set of Automerge documents persisted through a `DocStorage`.
 *
 * Every local change is persisted before `change()` returns, so a fact is durable when the
 * caller acts on it: small documents as one fresh snapshot, larger ones as the incremental
 * chunk since the last saved heads, compacted into a snapshot after `COMPACT_AFTER` chunks.
 */
export class DocSet {
  private readonly docs = new Map<string, Entry>();
  /** Removed documents to free when the outermost transaction commits (undefined outside one). */
  private freeOnCommit: A.Doc<unknown>[] | undefined;

  constructor(
    readonly storage: DocStorage,
    /** This replica's Automerge actor id (hex). Every replica must have its own. */
    readonly actor: string,
  ) {
    for (const [id, chunks] of storage.loadAll()) {
      const doc = A.load<unknown>(concat(chunks), { actor: this.actor });
      this.docs.set(id, { doc, savedHeads: headsOf(doc), chunks: chunks.length, bytes: chunks.reduce((n, c) => n + c.length, 0) });
    }
  }

  has(id: string): boolean {
    return this.docs.has(id);
  }
  get<T>(id: string): A.Doc<T> | undefined {
    return this.docs.get(id)?.doc as A.Doc<T> | undefined;
  }
  ids(): IterableIterator<string> {
    return this.docs.keys();
  }
  get size(): number {
    return this.docs.size;
  }

  /**
   * Create a document from a deterministic genesis: the same id and initial content give
   * byte-identical first changes on every replica, so two replicas that create the same
   * document concurrently share its root maps instead of overwriting each other's.
   */
  create<T>(id: string, init: T): A.Doc<T> {
    const existing = this.get<T>(id);
    if (existing) return existing;
    let genesis = A.init<T>({ actor: '00000000' });
    genesis = A.change(genesis, { time: 0, message: `genesis ${id}` }, (d) => {
      Object.assign(d as object, init);
    });
    const doc = A.clone(genesis, { actor: this.actor });
    // Free the throw-away genesis now: wasm handles left to the garbage collector pile up
    // as external memory and make creating thousands of documents quadratic (GC storms).
    A.free(genesis);
    const snapshot = A.save(doc);
    this.storage.replace(id, snapshot);
    this.docs.set(id, { doc, savedHeads: headsOf(doc), chunks: 1, bytes: snapshot.length });
    return doc;
  }

  /** Apply one local change (one Automerge change per operation) and persist it. */
  change<T>(id: string, message: string, fn: A.ChangeFn<T>, time?: number): A.Doc<T> {
    const entry = this.docs.get(id);
    if (!entry) throw new Error(`no document ${id}`);
    const doc = A.change(entry.doc as A.Doc<T>, { message, time: time === undefined ? undefined : Math.floor(time / 1000) }, fn);
    this.put(id, doc);
    return doc;
  }

  /**
   * Store a new version of a document (after a local change, a merge or a sync message):
   * durably, as a snapshot or as the chunk since the last saved heads (see the class).
   *
   * `received`: changes a peer sent that turned the stored version into `given` — Automerge
   * chunks that load after what is stored (they may repeat changes it already holds). They
   * are appended as they are instead of encoding the document again, which is what a resync
   * of thousands of documents spends most of its storage time on; the next local change of a
   * small document, or the `COMPACT_AFTER`th chunk, compacts it into one snapshot again.
   * `heads`: `given`'s heads, when the caller already has them.
   */
  put<T>(id: string, given: A.Doc<T>, opts: { received?: Uint8Array; heads?: A.Heads } = {}): void {
    const entry = this.docs.get(id);
    // The version already stored (a hook storing what the sync engine just stored).
    if (entry && entry.doc === given) return;
    // A merged version usually comes from a clone with a random actor: keep writing as this
    // replica, so every later local change is attributable to it.
    const own = A.getActorId(given) === this.actor;
    const doc = own ? given : A.clone(given, { actor: this.actor });
    const heads = own && opts.heads ? opts.heads : headsOf(doc);
    knownHeads.set(doc, heads);
    const { received } = opts;
    if (!entry) {
      const first = received ?? A.save(doc);
      this.storage.replace(id, first);
      this.docs.set(id, { doc, savedHeads: heads, chunks: 1, bytes: first.length });
      return;
    }
    if (sameHeads(heads, entry.savedHeads)) {
      entry.doc = doc;
      return;
    }
    if (received && entry.chunks < COMPACT_AFTER) {
      this.storage.append(id, received);
      entry.chunks += 1;
      entry.bytes += received.length;
    } else if (entry.chunks >= COMPACT_AFTER || entry.bytes < SNAPSHOT_BELOW_BYTES) {
      const snapshot = A.save(doc);
      this.storage.replace(id, snapshot);
      entry.chunks = 1;
      entry.bytes = snapshot.length;
    } else {
      const chunk = A.saveSince(doc, entry.savedHeads);
      this.storage.append(id, chunk);
      entry.chunks += 1;
      entry.bytes += chunk.length;
    }
    entry.doc = doc;
    entry.savedHeads = heads;
  }

  /**
   * Forget a document and release its memory: versions of it obtained earlier can still be
   * read, but no longer changed, saved or merged.
   */
  remove(id: string): void {
    const entry = this.docs.get(id);
    this.storage.remove(id);
    this.docs.delete(id);
    if (!entry) return;
    // Automerge documents live in wasm memory that only A.free() returns promptly; left to
    // the garbage collector, a hub that prunes thousands of parcels slows down steadily.
    // Inside a transaction the document may come back on rollback: free it on commit.
    if (this.freeOnCommit) this.freeOnCommit.push(entry.doc);
    else A.free(entry.doc);
  }

  /**
   * Another writer of the same storage (a second cloud node on one PostgreSQL) added chunks
   * to document `id`: merge what the storage holds into memory, without writing anything.
   * Returns the new version, or undefined when the storage held nothing new. Every local
   * change was persisted when it was made, so the merged version is exactly what is stored.
   */
  refresh<T>(id: string): A.Doc<T> | undefined {
    const known = this.docs.get(id);
    const unseen = known && this.storage.loadUnseen?.(id);
    if (known && unseen) {
      // Only what the other writers added: usually nothing, and then no Automerge work at all.
      if (unseen.length === 0) return undefined;
      const before = A.getHeads(known.doc);
      const doc = A.loadIncremental(known.doc, concat(unseen));
      known.doc = doc;
      // Every change a chunk builds on is in some stored chunk (a writer stores all it has;
      // compaction writes its snapshot before deleting what it covers), and this replica holds
      // every chunk it has seen. Should that ever not hold, the whole document is read below.
      if (A.getMissingDeps(doc, []).length === 0) {
        if (sameHeads(A.getHeads(doc), before)) return undefined;
        known.savedHeads = A.getHeads(doc);
        known.chunks += unseen.length;
        known.bytes += unseen.reduce((n, c) => n + c.length, 0);
        return doc as A.Doc<T>;
      }
    }
    const chunks = this.storage.load(id);
    if (!chunks) return undefined;
    const bytes = chunks.reduce((n, c) => n + c.length, 0);
    const entry = this.docs.get(id);
    if (!entry) {
      const doc = A.load<T>(concat(chunks), { actor: this.actor });
      this.docs.set(id, { doc, savedHeads: A.getHeads(doc), chunks: chunks.length, bytes });
      return doc;
    }
    const before = A.getHeads(entry.doc);
    const doc = A.loadIncremental(entry.doc, concat(chunks));
    // loadIncremental marks the version it was given as outdated even when nothing was new
    // (this node had already merged the chunk, e.g. from its hub): keep the new one, or the
    // next change() to the document throws.
    entry.doc = doc;
    if (sameHeads(A.getHeads(doc), before)) return undefined;
    entry.savedHeads = A.getHeads(doc);
    entry.chunks = chunks.length;
    entry.bytes = bytes;
    return doc as A.Doc<T>;
  }

  transaction<R>(fn: () => R): R {
    const outermost = this.freeOnCommit === undefined;
    if (outermost) this.freeOnCommit = [];
    // Roll the in-memory view back too when the storage transaction aborts.
    const before = new Map([...this.docs].map(([k, v]) => [k, { ...v }]));
    try {
      const out = this.storage.transaction(fn);
      if (outermost) for (const doc of this.freeOnCommit!) A.free(doc);
      return out;
    } catch (err) {
      const current = new Map(this.docs);
      this.docs.clear();
      for (const [k, v] of before) {
        // A.change() marks the version it started from as outdated (read-only): restore a
        // writable copy of the old version, or every later change to the document would throw.
        const changed = current.get(k)?.doc !== v.doc;
        this.docs.set(k, changed ? { ...v, doc: A.clone(v.doc, { actor: this.actor }) } : v);
      }
      throw err;
    } finally {
      if (outermost) this.freeOnCommit = undefined;
    }
  }
}

/**
 * A document version's heads. A version object never changes (a new version is a new object),
 * so its heads are cached: sync asks for them several times per document, and a resync for
 * every document at once. `DocSet` records the heads of every version it stores.
 */
const knownHeads = new WeakMap<object, A.Heads>();
export function headsOf(doc: A.Doc<unknown>): A.Heads {
  let heads = knownHeads.get(doc);
  if (!heads) knownHeads.set(doc, (heads = A.getHeads(doc)));
  return heads;
}

export function sameHeads(a: A.Heads, b: A.Heads): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((h) => s.has(h));
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
