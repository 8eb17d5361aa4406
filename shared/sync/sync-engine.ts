import * as A from '@automerge/automerge';
import { sameHeads, type DocSet } from '../ledger/doc-set.js';
import { SyncRejected, type Refusal } from './sync-errors.js';
import { isReservedKey, type SyncStateStore } from './sync-state-store.js';
import { decodeShared, encodeShared, primed } from './shared-heads.js';

/** One Automerge sync message about one document. */
export interface SyncEntry {
  docId: string;
  message: Uint8Array;
}

/** A batch produced by {@link SyncEngine.outgoing}; hand it back to `settle()` with the peer's answer. */
export interface OutgoingBatch {
  entries: SyncEntry[];
  /** Our heads of each entry's document when the message was generated. */
  heads: A.Heads[];
  /** Sum of the message sizes. */
  bytes: number;
}

/**
 * The receiver's answer about one entry of a frame, sent in the reply frame instead of a
 * sync message:
 * - `0` it will answer with a message about the document;
 * - `1` it now holds exactly the heads the sender announced;
 * - `2` the sender's message crossed one of the receiver's own (both announced changes at
 *   once): the receiver now holds exactly the union of both announced versions, as the
 *   sender does once it applied the receiver's message (which it reads first).
 */
export type Ack = 0 | 1 | 2;

/** What {@link SyncEngine.receive} did with a batch. */
export interface ReceiveResult {
  /** Per entry, the answer for the peer (see {@link Ack}). */
  acks: Ack[];
  /** Documents whose content changed here. */
  changed: string[];
}

/**
 * Decide whether a received version of a document may be accepted. Called for every entry
 * of a batch, on a clone: `before` is this replica's version (undefined if it has none),
 * `after` the version the message would produce (undefined while still empty). Returns a
 * refusal, or undefined to accept.
 */
export type AuthorizeDoc = (docId: string, before: A.Doc<unknown> | undefined, after: A.Doc<unknown> | undefined) => Refusal | undefined;

export interface SyncEngineOptions {
  docs: DocSet;
  /** Who the peer is, as the key of its states in `store` (e.g. `cloud`, `hub:bank-1`). */
  peer: string;
  store: SyncStateStore;
  authorize: AuthorizeDoc;
  /** Which local documents this peer may receive. Default: all. */
  shares?: (docId: string) => boolean;
  /**
   * Called for every document the peer changed, inside the transaction that stores it
   * (e.g. `ParcelLedger.receive` to reindex, or the cloud's parcel registry).
   */
  onDocChanged?: (docId: string, doc: A.Doc<unknown>) => void;
  /** Limit of one outgoing batch, in message bytes (a larger single message goes alone). Default 4 MiB. */
  maxBatchBytes?: number;
}

/**
 * The transport-independent half of sync with ONE peer, for ONE session: Automerge's sync
 * protocol with one sync state per document, batched so thousands of documents travel in a
 * few frames.
 *
 * - **Only documents that may differ** are mentioned: at `start()` those whose heads differ
 *   from the shared heads persisted at the end of the last session; then those changed
 *   locally (`markChanged`) or mentioned by the peer.
 * - **All or nothing**: `receive()` applies every message to a clone, asks `authorize` about
 *   each result, and commits them in one transaction (documents and sync states), or throws
 *   `SyncRejected` having changed nothing.
 * - **Implicit acknowledgements**: a document the receiver now holds exactly as announced (or,
 *   when both sides sent changes at once, exactly as the union of both) is not answered with
 *   a message; the sender learns it from the {@link Ack}s of the reply frame (`settle()`),
 *   which saves one or two messages (hashes, Bloom filter) per document.
 */
export class SyncEngine {
  private readonly docs: DocSet;
  private readonly peer: string;
  private readonly store: SyncStateStore;
  private readonly shares: (docId: string) => boolean;
  private readonly maxBatchBytes: number;
  /** Persisted shared heads, by document. */
  private readonly shared = new Map<string, A.Heads>();
  /** Sync states of documents in the middle of an exchange. */
  private readonly live = new Map<string, A.SyncState>();
  private readonly dirty = new Set<string>();
  /** Documents whose messages crossed: our heads right after applying the peer's (the union of both). */
  private readonly crossed = new Map<string, A.Heads>();

  constructor(private readonly opts: SyncEngineOptions) {
    this.docs = opts.docs;
    this.peer = opts.peer;
    this.store = opts.store;
    this.shares = opts.shares ?? (() => true);
    this.maxBatchBytes = opts.maxBatchBytes ?? 4 * 1024 * 1024;
  }

  /** Load the persisted shared heads and mark every document that changed since. */
  start(): void {
    for (const [id, bytes] of this.store.all(this.peer)) {
      if (isReservedKey(id)) continue;
      const heads = decodeShared(bytes);
      if (heads) this.shared.set(id, heads);
    }
    this.rescan();
  }

  /** Compare every shared document with what the peer is known to hold (for missed notifications). */
  rescan(): void {
    for (const id of this.docs.ids()) {
      if (this.live.has(id) || !this.shares(id)) continue;
      const doc = this.docs.get(id)!;
      if (!sameHeads(A.getHeads(doc), this.shared.get(id) ?? [])) this.dirty.add(id);
    }
  }

  /** A local change of `docId` (or any reason to look at it again). */
  markChanged(docId: string): void {
    if (!this.shares(docId)) return;
    // Our own commit of a crossed message is not a local change: the peer's ack settles it.
    const crossed = this.crossed.get(docId);
    const doc = this.docs.get(docId);
    if (crossed && doc && sameHeads(A.getHeads(doc), crossed)) return;
    this.dirty.add(docId);
  }

  /** Nothing to send and no exchange under way. */
  isQuiet(): boolean {
    return this.dirty.size === 0 && this.live.size === 0;
  }

  /** Documents waiting to be looked at (for stats). */
  get pending(): number {
    return this.dirty.size;
  }

  /** The next batch of messages, or null when nothing needs saying. */
  outgoing(maxBytes = this.maxBatchBytes): OutgoingBatch | null {
    const out: OutgoingBatch = { entries: [], heads: [], bytes: 0 };
    for (const id of [...this.dirty]) {
      if (out.bytes >= maxBytes) break;
      this.dirty.delete(id);
      if (!this.shares(id)) continue;
      const doc = this.docs.get(id);
      let state = this.live.get(id);
      if (!doc && !state) continue;
      const current = doc ?? A.init({ actor: this.docs.actor });
      const heads = A.getHeads(current);
      if (!state) {
        const shared = this.shared.get(id) ?? [];
        if (sameHeads(heads, shared)) continue; // clean: the peer holds exactly this
        state = primed(shared);
      }
      const [next, message] = A.generateSyncMessage(current, state);
      this.live.set(id, next);
      if (!message) {
        if (next.theirHeads && sameHeads(next.theirHeads, heads)) this.persistShared([[id, heads]], true);
        continue;
      }
      out.entries.push({ docId: id, message });
      out.heads.push(heads);
      out.bytes += message.length;
    }
    return out.entries.length ? out : null;
  }

  /**
   * The peer processed `batch` and answered with `acks` (one per entry): record as shared
   * every document it now holds as we do.
   */
  settle(batch: OutgoingBatch, acks: readonly Ack[]): void {
    const exact: [string, A.Heads][] = [];
    const union: [string, A.Heads][] = [];
    batch.entries.forEach((e, i) => {
      const ack = acks[i];
      const crossed = this.crossed.get(e.docId);
      if (ack === 2 && crossed) union.push([e.docId, crossed]);
      else if (ack === 1 || ack === 2) exact.push([e.docId, batch.heads[i]!]);
      if (ack) this.crossed.delete(e.docId);
    });
    this.writeShared([...exact, ...union]);
    this.noteShared(exact, false);
    this.noteShared(union, true);
  }

  /** Apply a batch from the peer atomically; throws `SyncRejected` (nothing applied) on any problem. */
  receive(entries: readonly SyncEntry[]): ReceiveResult {
    const seen = new Set<string>();
    const decoded = entries.map((e) => {
      if (seen.has(e.docId)) throw new SyncRejected('malformed_frame', `Document ${e.docId} appears twice in one batch.`);
      seen.add(e.docId);
      try {
        return A.decodeSyncMessage(e.message);
      } catch {
        throw new SyncRejected('malformed_sync_message', `The sync message for ${e.docId} does not decode.`);
      }
    });
    const staged = entries.map((e, i) => this.stage(e, decoded[i]!));
    const changed = staged.filter((s) => s.changed);
    const { onDocChanged } = this.opts;
    const settled = staged.filter((s) => s.ack === 1).map((s): [string, A.Heads] => [s.docId, s.heads]);
    // Known before the commit: the change feed reports our own writes as it commits.
    const crossed = staged.filter((s) => s.ack === 2);
    for (const s of crossed) this.crossed.set(s.docId, s.heads);
    try {
      this.docs.transaction(() => {
        for (const s of changed) {
          this.docs.put(s.docId, s.after);
          onDocChanged?.(s.docId, this.docs.get(s.docId)!);
        }
        this.writeShared(settled);
      });
    } catch (err) {
      for (const s of crossed) this.crossed.delete(s.docId);
      throw err;
    }
    this.noteShared(settled, true);
    for (const s of staged) {
      if (s.ack === 1) continue;
      this.live.set(s.docId, s.state);
      if (s.ack === 0) this.dirty.add(s.docId);
    }
    return { acks: staged.map((s) => s.ack), changed: changed.map((s) => s.docId) };
  }

  /** Apply one message to a clone and authorize the result; nothing is stored yet. */
  private stage(e: SyncEntry, decoded: A.DecodedSyncMessage) {
    const before = this.docs.get(e.docId);
    const applied = (!before && this.loadNew(e.docId, decoded)) || this.applyMessage(e, before);
    const { after, state } = applied;
    const heads = A.getHeads(after);
    const beforeHeads = before ? A.getHeads(before) : [];
    const changed = !sameHeads(heads, beforeHeads);
    const refusal = this.opts.authorize(e.docId, before, heads.length ? after : undefined);
    if (refusal) throw new SyncRejected(refusal.code, refusal.message);
    let ack: Ack = 0;
    if (heads.length > 0 && sameHeads(heads, decoded.heads)) ack = 1;
    else if (this.crosses(e.docId, beforeHeads, after, decoded.heads)) ack = 2;
    return { docId: e.docId, after, state, heads, changed, ack };
  }

  /** The protocol's way: `receiveSyncMessage` on a clone (or a new document). */
  private applyMessage(e: SyncEntry, before: A.Doc<unknown> | undefined): { after: A.Doc<unknown>; state: A.SyncState } {
    const work = before ? A.clone(before, { actor: this.docs.actor }) : A.init({ actor: this.docs.actor });
    const state = this.live.get(e.docId) ?? primed(before ? (this.shared.get(e.docId) ?? []) : []);
    try {
      const [after, next] = A.receiveSyncMessage(work, state, e.message);
      return { after, state: next };
    } catch {
      throw new SyncRejected('malformed_sync_message', `The sync message for ${e.docId} could not be applied.`);
    }
  }

  /**
   * Fast path for a document we do not have: when the message only carries changes (it
   * needs nothing from us) and they make up exactly the version announced, load them with
   * `Automerge.load` — the same result as `receiveSyncMessage` on an empty document, at a
   * third of the cost, and no sync state is needed since the exchange ends here. Anything
   * else (partial history, a request) goes through `receiveSyncMessage`.
   */
  private loadNew(docId: string, m: A.DecodedSyncMessage): { after: A.Doc<unknown>; state: A.SyncState } | undefined {
    if (m.changes.length === 0 || m.need.length > 0 || m.heads.length === 0) return undefined;
    let after: A.Doc<unknown>;
    try {
      after = A.load(m.changes.length === 1 ? m.changes[0]! : concatBytes(m.changes), { actor: this.docs.actor });
    } catch {
      throw new SyncRejected('malformed_sync_message', `The changes for ${docId} do not load.`);
    }
    return sameHeads(A.getHeads(after), m.heads) ? { after, state: primed(m.heads) } : undefined;
  }

  /**
   * Our own message about the document is on its way to the peer, we changed nothing since,
   * and we now hold everything the peer announced: once the peer applies our message (it
   * reads it before our reply) both hold exactly what we hold now.
   */
  private crosses(docId: string, beforeHeads: A.Heads, after: A.Doc<unknown>, theirHeads: A.Heads): boolean {
    const state = this.live.get(docId);
    if (!state || state.lastSentHeads.length === 0 || !sameHeads(state.lastSentHeads, beforeHeads)) return false;
    return theirHeads.length > 0 && A.hasHeads(after, theirHeads);
  }

  /**
   * Record that the peer holds exactly `heads` of each document. `over`: the exchange about
   * it is finished (we hold exactly what the peer announced); otherwise (an acknowledgement)
   * an exchange we started later keeps going.
   */
  private persistShared(done: [string, A.Heads][], over: boolean): void {
    if (done.length === 0) return;
    this.writeShared(done);
    this.noteShared(done, over);
  }

  private writeShared(done: [string, A.Heads][]): void {
    this.store.transaction(() => {
      for (const [id, heads] of done) this.store.set(this.peer, id, encodeShared(heads));
    });
  }

  private noteShared(done: [string, A.Heads][], over: boolean): void {
    for (const [id, heads] of done) {
      this.shared.set(id, heads);
      const state = this.live.get(id);
      if (over || !state || sameHeads(state.lastSentHeads, heads)) this.live.delete(id);
      const doc = this.docs.get(id);
      if (doc && !sameHeads(A.getHeads(doc), heads)) this.dirty.add(id);
    }
  }
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
