import * as A from '@automerge/automerge';
import { createHash } from 'node:crypto';
import { concat, headsOf, sameHeads, type DocSet } from '../ledger/doc-set.js';
import { applyChunk } from './apply-chunk.js';
import { encodeChanges, isChangesEntry, unpackChanges } from './changes-codec.js';
import { SyncRejected, type Refusal } from './sync-errors.js';
import type { SyncStateStore } from './sync-state-store.js';
import { allShared, encodeShared, primed } from './shared-heads.js';
import type { SyncOutbox } from './sync-outbox.js';

/**
 * What a frame says about one document: either the changes the receiver lacks, in compact form
 * (see changes-codec.ts), or an Automerge sync message (the repair path, and what a peer that
 * does not send changes directly speaks).
 */
export interface SyncEntry {
  docId: string;
  message: Uint8Array;
}

/** A batch produced by {@link SyncEngine.outgoing}; hand it back to `settle()` with the peer's answer. */
export interface OutgoingBatch {
  entries: SyncEntry[];
  /** Our heads of each entry's document when the entry was generated. */
  heads: A.Heads[];
  /** Per entry: `changes` (compact changes) or `sync` (an Automerge sync message). */
  kinds: ('changes' | 'sync')[];
  /** Sum of the message sizes. */
  bytes: number;
}

/**
 * The receiver's answer about one entry of a frame, sent in the reply frame instead of a
 * message:
 * - `0` it will answer with a message about the document (it holds changes the sender lacks);
 * - `1` it now holds exactly the heads the sender had when it wrote the entry;
 * - `2` the entry crossed one of the receiver's own (both sent changes at once): the receiver
 *   now holds exactly the union of both, as the sender does once it applied the receiver's
 *   entry (which it reads first);
 * - `3` it could not apply the changes (it lacks the history they build on): the sender sends
 *   the whole document.
 */
export type Ack = 0 | 1 | 2 | 3;

/** What {@link SyncEngine.receive} did with a batch. */
export interface ReceiveResult {
  /** Per entry, the answer for the peer (see {@link Ack}). */
  acks: Ack[];
  /** {@link headsDigest} of every entry answered `1`, with the heads held now: the sender checks it. */
  digest: Uint8Array;
  /** Documents whose content changed here. */
  changed: string[];
}

/**
 * Decide whether a received version of a document may be accepted. Called for every entry
 * of a batch before anything is stored: `before` is this replica's version (undefined if it
 * has none; read-only — it may already be superseded by `after`), `after` the version the
 * entry would produce (undefined while still empty). Returns a refusal, or undefined to accept.
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
  /**
   * Called with the documents of a received batch before any of them is authorized, e.g. to
   * fetch in one query what `authorize` will look up for each.
   */
  beforeBatch?: (docIds: readonly string[]) => void;
  /** Changes encoded while the peer was away (`SyncOutbox`), used when still exact. */
  outbox?: Pick<SyncOutbox, 'take'>;
}

/** What one entry of a received batch will do, decided before anything is stored. */
interface Staged {
  docId: string;
  /** Compact changes, applied in place (else an Automerge sync message, applied to a clone). */
  direct: boolean;
  before: A.Doc<unknown> | undefined;
  after: A.Doc<unknown> | undefined;
  heads: A.Heads;
  changed: boolean;
  ack: Ack;
  /** Sync messages: the sync state after the message. */
  state?: A.SyncState;
  /** Compact changes: the Automerge chunk applied (stored as it is). */
  chunk?: Uint8Array;
}

/**
 * The transport-independent half of sync with ONE peer, for ONE session, over many documents.
 *
 * Both replicas persist, per document, the heads they know the other holds (the *shared
 * heads*, `store`). That makes a session incremental and lets it skip Automerge's sync
 * protocol (heads, Bloom filters, a discovery round) for every document whose shared heads are
 * known — which, after the first session, is every document:
 *
 * - **Only documents that may differ** are mentioned: at `start()` those whose heads differ
 *   from the shared heads; then those changed locally (`markChanged`) or by the peer.
 * - **Changes, not negotiation**: a document is sent as its changes since the shared heads
 *   (its whole history when none are shared), without the hashes the receiver can rebuild
 *   (changes-codec.ts), applied by the receiver to its own version with `loadIncremental` —
 *   no clone, no sync state. If the receiver lacks part of the history they build on (its
 *   shared heads were wrong), it answers `3` and gets the whole document.
 * - **All or nothing**: `receive()` applies every entry, asks `authorize` about each result,
 *   and commits them in one transaction (documents and shared heads), or throws
 *   `SyncRejected` having changed nothing (documents applied in place are reverted).
 * - **Implicit acknowledgements**: the receiver answers each entry with two bits
 *   ({@link Ack}) and, per reply frame, one 8-byte digest of the heads it now holds for the
 *   entries answered `1`: both sides then record the same shared heads without sending a
 *   single hash. A digest that does not match (the replicas disagree about what they share)
 *   puts those documents through Automerge's sync protocol, which repairs any disagreement.
 */
export class SyncEngine {
  private readonly docs: DocSet;
  private readonly peer: string;
  private readonly store: SyncStateStore;
  private readonly shares: (docId: string) => boolean;
  private readonly maxBatchBytes: number;
  /** Persisted shared heads, by document. */
  private readonly shared = new Map<string, A.Heads>();
  /** Documents exchanged through Automerge's sync protocol (repair, or a peer's sync message), with their sync state. */
  private readonly live = new Map<string, A.SyncState>();
  /** Documents to look at in the next batch. */
  private readonly dirty = new Set<string>();
  /** Documents to look at once the changes in flight about them are answered. */
  private readonly waiting = new Set<string>();
  /** Changes sent and not yet answered: our heads when we sent them. */
  private readonly inflight = new Map<string, A.Heads>();
  /** Documents whose messages crossed: our heads right after applying the peer's (the union of both). */
  private readonly crossed = new Map<string, A.Heads>();
  /** While `receive()` commits: the documents it writes, with their heads (the change feed reports them as it commits). */
  private committing: ReadonlyMap<string, A.Heads> | undefined;

  constructor(private readonly opts: SyncEngineOptions) {
    this.docs = opts.docs;
    this.peer = opts.peer;
    this.store = opts.store;
    this.shares = opts.shares ?? (() => true);
    this.maxBatchBytes = opts.maxBatchBytes ?? 4 * 1024 * 1024;
  }

  /** Load the persisted shared heads and mark every document that changed since. */
  start(): void {
    for (const [id, heads] of allShared(this.store, this.peer)) this.shared.set(id, heads);
    this.rescan();
  }

  /** Compare every shared document with what the peer is known to hold (for missed notifications). */
  rescan(): void {
    for (const id of this.docs.ids()) {
      if (this.live.has(id) || !this.shares(id)) continue;
      const doc = this.docs.get(id)!;
      if (!sameHeads(headsOf(doc), this.shared.get(id) ?? [])) this.mark(id);
    }
  }

  /** A local change of `docId` (or any reason to look at it again). Returns false when there is nothing to say about it. */
  markChanged(docId: string): boolean {
    if (!this.shares(docId)) return false;
    // Our own commit of what the peer sent is not a local change (the exchange settles it),
    // unless a hook of the same transaction changed the document further.
    const committing = this.committing?.get(docId);
    const doc = committing && this.docs.get(docId);
    if (doc && sameHeads(headsOf(doc), committing!)) return false;
    this.mark(docId);
    return true;
  }

  /** Nothing to send and no exchange under way. */
  isQuiet(): boolean {
    return this.dirty.size === 0 && this.waiting.size === 0 && this.live.size === 0 && this.inflight.size === 0;
  }

  /** Documents waiting to be looked at (for stats). */
  get pending(): number {
    return this.dirty.size;
  }

  /** The next batch of entries, or null when nothing needs saying. */
  outgoing(maxBytes = this.maxBatchBytes): OutgoingBatch | null {
    const out: OutgoingBatch = { entries: [], heads: [], kinds: [], bytes: 0 };
    for (const id of [...this.dirty]) {
      if (out.bytes >= maxBytes) break;
      this.dirty.delete(id);
      if (!this.shares(id)) continue;
      const doc = this.docs.get(id);
      const state = this.live.get(id);
      if (state) {
        this.syncMessage(id, doc, state, out);
        continue;
      }
      if (!doc) continue;
      if (this.inflight.has(id)) {
        this.waiting.add(id);
        continue;
      }
      const heads = headsOf(doc);
      const shared = this.shared.get(id) ?? [];
      if (sameHeads(heads, shared)) continue; // clean: the peer holds exactly this
      const message = this.opts.outbox?.take(id, heads, shared) ?? encodeChanges(doc, shared);
      if (!message) continue; // we hold nothing the peer lacks (it holds more: it will say so)
      this.inflight.set(id, heads);
      out.entries.push({ docId: id, message });
      out.heads.push(heads);
      out.kinds.push('changes');
      out.bytes += message.length;
    }
    return out.entries.length ? out : null;
  }

  /**
   * The peer processed `batch` and answered with `acks` (one per entry) and the digest of its
   * heads for the entries it answered `1`: record as shared every document it now holds as we do.
   */
  settle(batch: OutgoingBatch, acks: readonly Ack[], digest?: Uint8Array): void {
    const expected: [string, A.Heads][] = [];
    batch.entries.forEach((e, i) => {
      if (acks[i] === 1) expected.push([e.docId, batch.heads[i]!]);
    });
    const verified = digest === undefined ? expected.length === 0 : equalBytes(headsDigest(expected), digest);
    const exact: [string, A.Heads][] = [];
    const union: [string, A.Heads][] = [];
    const reset: string[] = [];
    const repair: string[] = [];
    batch.entries.forEach((e, i) => {
      const id = e.docId;
      const ack = acks[i];
      const direct = batch.kinds[i] === 'changes';
      if (direct) this.inflight.delete(id);
      if (this.waiting.delete(id)) this.dirty.add(id);
      const crossed = this.crossed.get(id);
      if (ack === 3) reset.push(id);
      else if (ack === 1 && !verified) repair.push(id);
      else if (ack === 2 && crossed) union.push([id, crossed]);
      else if (ack === 1 || ack === 2) exact.push([id, batch.heads[i]!]);
      if (ack || direct) this.crossed.delete(id);
    });
    this.writeShared([...exact, ...union, ...reset.map((id): [string, A.Heads] => [id, []])]);
    this.noteShared(exact, false);
    this.noteShared(union, true);
    for (const id of reset) {
      // The peer lacks history we believed it had: send it the whole document.
      this.shared.set(id, []);
      this.live.delete(id);
      this.mark(id);
    }
    for (const id of repair) {
      // The peer does not hold what both of us think: let Automerge's sync protocol find out what differs.
      this.live.set(id, A.initSyncState());
      this.mark(id);
    }
  }

  /**
   * Apply a batch from the peer atomically; throws `SyncRejected` (nothing applied) on any
   * problem. `answered`: the batch of ours this frame replies to, with the peer's answers
   * (applied by the caller after this call).
   */
  receive(entries: readonly SyncEntry[], answered?: { batch: OutgoingBatch; acks: readonly Ack[] }): ReceiveResult {
    const seen = new Set<string>();
    for (const e of entries) {
      if (seen.has(e.docId)) throw new SyncRejected('malformed_frame', `Document ${e.docId} appears twice in one batch.`);
      seen.add(e.docId);
    }
    this.opts.beforeBatch?.([...seen]);
    // Documents of our batch the peer answered 0 in this frame: what it says about them here
    // was written after it applied ours.
    const followUps = new Set<string>();
    answered?.batch.entries.forEach((e, i) => {
      if (answered.acks[i] === 0) followUps.add(e.docId);
    });
    const staged: Staged[] = [];
    const crossed: Staged[] = [];
    const previous = new Map<string, A.Heads | undefined>();
    try {
      for (const e of entries) staged.push(isChangesEntry(e.message) ? this.stageChanges(e, followUps) : this.stageSync(e, followUps));
      for (const s of staged) if (s.ack === 2) crossed.push(s);
      const settled = staged.filter((s) => s.ack === 1).map((s): [string, A.Heads] => [s.docId, s.heads]);
      // Known before the commit: the change feed reports our own writes as it commits.
      for (const s of crossed) this.crossed.set(s.docId, s.heads);
      for (const [id, heads] of settled) {
        previous.set(id, this.shared.get(id));
        this.shared.set(id, heads);
      }
      const { onDocChanged } = this.opts;
      this.committing = new Map(staged.filter((s) => s.changed).map((s) => [s.docId, s.heads]));
      try {
        this.docs.transaction(() => {
          for (const s of staged) {
            // Changes that added nothing still superseded our version object: keep the current one.
            if (!s.changed) {
              if (s.direct && s.after && s.after !== s.before) this.docs.put(s.docId, s.after);
              continue;
            }
            this.docs.put(s.docId, s.after!, { heads: s.heads, received: s.chunk });
            onDocChanged?.(s.docId, this.docs.get(s.docId)!);
          }
          this.writeShared(settled);
        });
      } finally {
        this.committing = undefined;
      }
      this.noteShared(settled, true);
      for (const s of staged) {
        if (s.ack === 1 || s.ack === 3) continue;
        if (!s.direct) {
          this.live.set(s.docId, s.state!);
          if (s.ack === 0) this.dirty.add(s.docId);
        } else if (s.ack === 0) this.mark(s.docId);
      }
      return { acks: staged.map((s) => s.ack), digest: headsDigest(settled), changed: staged.filter((s) => s.changed).map((s) => s.docId) };
    } catch (err) {
      for (const s of crossed) this.crossed.delete(s.docId);
      for (const [id, heads] of previous) {
        if (heads) this.shared.set(id, heads);
        else this.shared.delete(id);
      }
      for (const s of staged) if (s.direct && s.after !== s.before) this.revert(s.docId, s.before, s.after, { unchanged: !s.changed });
      throw err;
    }
  }

  /**
   * Apply compact changes to our own version, in place (reverted if the batch fails), and
   * decide the answer. Nothing is stored yet.
   */
  private stageChanges(e: SyncEntry, followUps: ReadonlySet<string>): Staged {
    const id = e.docId;
    const before = this.docs.get(id);
    const shared = this.shared.get(id) ?? [];
    const beforeHeads = before ? headsOf(before) : [];
    const unchanged = (ack: Ack): Staged => ({ docId: id, direct: true, before, after: before, heads: beforeHeads, changed: false, ack });
    let unpacked;
    try {
      unpacked = unpackChanges(e.message, before ? [...shared, ...beforeHeads] : shared);
    } catch {
      throw new SyncRejected('malformed_sync_message', `The changes for ${id} are malformed.`);
    }
    if ('unresolved' in unpacked || (!before && unpacked.deps !== undefined && unpacked.deps > 0)) return unchanged(3);
    const { chunk, deps } = unpacked;
    let after: A.Doc<unknown>;
    try {
      if (before) after = applyChunk(before, chunk, beforeHeads);
      else if (deps === 0) after = A.load(chunk, { actor: this.docs.actor });
      else after = A.loadIncremental(A.init({ actor: this.docs.actor }), chunk);
    } catch {
      if (before) this.revert(id, before, undefined, { heads: beforeHeads });
      throw new SyncRejected('malformed_sync_message', `The changes for ${id} do not load.`);
    }
    if (deps !== 0 && A.getMissingDeps(after, []).length > 0) {
      // Built on history we do not have: leave our version as it was and ask for everything.
      this.revert(id, before, after);
      return unchanged(3);
    }
    const heads = headsOf(after);
    const changed = !sameHeads(heads, beforeHeads);
    let refusal: Refusal | undefined;
    try {
      refusal = this.opts.authorize(id, before, heads.length ? after : undefined);
    } catch (err) {
      this.revert(id, before, after, { unchanged: !changed });
      throw err;
    }
    if (refusal) {
      this.revert(id, before, after, { unchanged: !changed });
      throw new SyncRejected(refusal.code, refusal.message);
    }
    const inflight = this.inflight.get(id);
    let ack: Ack;
    if (this.live.has(id)) ack = 0; // a sync-protocol exchange about it is under way: it carries on
    else if (inflight && sameHeads(inflight, beforeHeads)) ack = followUps.has(id) ? 1 : 2;
    else if (!inflight && (!before || sameHeads(beforeHeads, shared))) ack = 1;
    else ack = 0;
    return { docId: id, direct: true, before, after, heads, changed, ack, chunk };
  }

  /**
   * Put back `before`'s content as our version of a document changes were applied to in place
   * (which made `before` a read-only view), and free the version they produced.
   * `unchanged`: the changes added nothing, so `after` is the same content, writable.
   * `heads`: `before`'s heads when it is still current (the load failed half-way).
   */
  private revert(id: string, before: A.Doc<unknown> | undefined, after: A.Doc<unknown> | undefined, opts: { unchanged?: boolean; heads?: A.Heads } = {}): void {
    if (!before) {
      if (after) A.free(after);
      return;
    }
    // Otherwise the DocSet's own rollback already put back a copy of `before`.
    if (this.docs.get(id) === before) {
      if (opts.unchanged && after) return this.docs.put(id, after);
      // As stored (which is `before`): byte for byte what it was, unlike a fork at its heads.
      const stored = this.docs.storage.load(id);
      const actor = this.docs.actor;
      this.docs.put(id, stored ? A.load(concat(stored), { actor }) : A.clone(opts.heads ? A.view(before, opts.heads) : before, { actor }));
    }
    A.free(after ?? before);
  }

  /** Apply one Automerge sync message to a clone and authorize the result; nothing is stored yet. */
  private stageSync(e: SyncEntry, followUps: ReadonlySet<string>): Staged {
    let decoded: A.DecodedSyncMessage;
    try {
      decoded = A.decodeSyncMessage(e.message);
    } catch {
      throw new SyncRejected('malformed_sync_message', `The sync message for ${e.docId} does not decode.`);
    }
    const before = this.docs.get(e.docId);
    const applied = (!before && this.loadNew(e.docId, decoded)) || this.applyMessage(e, before);
    const { after, state } = applied;
    const heads = headsOf(after);
    const beforeHeads = before ? headsOf(before) : [];
    const changed = !sameHeads(heads, beforeHeads);
    const refusal = this.opts.authorize(e.docId, before, heads.length ? after : undefined);
    if (refusal) throw new SyncRejected(refusal.code, refusal.message);
    let ack: Ack = 0;
    if (heads.length > 0 && sameHeads(heads, decoded.heads)) ack = 1;
    // A follow-up (written after the peer read ours) crosses nothing: the protocol goes on.
    else if (!followUps.has(e.docId) && this.crosses(e.docId, beforeHeads, after, decoded.heads)) ack = 2;
    return { docId: e.docId, direct: false, before, after, state, heads, changed, ack };
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
   * Fast path for a sync message about a document we do not have: when it only carries
   * changes (it needs nothing from us) and they make up exactly the version announced, load
   * them with `Automerge.load` — the same result as `receiveSyncMessage` on an empty document,
   * at a third of the cost. Anything else goes through `receiveSyncMessage`.
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
   * Our own sync message about the document is on its way to the peer, we changed nothing
   * since, and we now hold everything the peer announced: once the peer applies our message
   * (it reads it before our reply) both hold exactly what we hold now.
   */
  private crosses(docId: string, beforeHeads: A.Heads, after: A.Doc<unknown>, theirHeads: A.Heads): boolean {
    const state = this.live.get(docId);
    if (!state || state.lastSentHeads.length === 0 || !sameHeads(state.lastSentHeads, beforeHeads)) return false;
    return theirHeads.length > 0 && A.hasHeads(after, theirHeads);
  }

  /** Add an Automerge sync message about `id` to `out`, for a document in a sync-protocol exchange. */
  private syncMessage(id: string, doc: A.Doc<unknown> | undefined, state: A.SyncState, out: OutgoingBatch): void {
    const current = doc ?? A.init({ actor: this.docs.actor });
    const heads = A.getHeads(current);
    const [next, message] = A.generateSyncMessage(current, state);
    this.live.set(id, next);
    if (!message) {
      if (next.theirHeads && sameHeads(next.theirHeads, heads)) this.persistShared([[id, heads]], true);
      return;
    }
    out.entries.push({ docId: id, message });
    out.heads.push(heads);
    out.kinds.push('sync');
    out.bytes += message.length;
  }

  private mark(id: string): void {
    if (this.inflight.has(id)) this.waiting.add(id);
    else this.dirty.add(id);
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
    if (done.length === 0) return;
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
      if (doc && !sameHeads(headsOf(doc), heads)) this.mark(id);
    }
  }
}

/**
 * 8 bytes of SHA-256 over the documents and heads of a list of entries, in order: what the
 * receiver of a batch holds now of the documents it answered `1`, and what the sender expects.
 */
export function headsDigest(items: readonly (readonly [string, A.Heads])[]): Uint8Array {
  const h = createHash('sha256');
  for (const [id, heads] of items) h.update(`${id}\0${[...heads].sort().join(',')}\n`);
  return new Uint8Array(h.digest().subarray(0, 8));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
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
