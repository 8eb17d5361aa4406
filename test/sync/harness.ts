import * as A from '@automerge/automerge';
import { DocSet, sameHeads } from '../../shared/ledger/doc-set.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { ManualClock, SeededRandom, randomId } from '../../shared/ports.js';
import { MemoryDocStorage } from '../../shared/storage/doc-storage.js';
import { ObservedDocStorage } from '../../shared/sync/change-feed.js';
import { SyncEngine, type AuthorizeDoc, type SyncEngineOptions } from '../../shared/sync/sync-engine.js';
import type { SyncRejected } from '../../shared/sync/sync-errors.js';
import { SyncPeer } from '../../shared/sync/sync-peer.js';
import { MemorySyncStateStore } from '../../shared/sync/sync-state-store.js';

/** A fake but well-formed argon2id PHC string (sync tests never verify codes). */
export const FAKE_HASH = '$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

/** One replica: documents, a ledger of `bankId`, sync states. */
export class Replica {
  readonly storage: ObservedDocStorage;
  readonly docs: DocSet;
  readonly ledger: ParcelLedger;
  readonly states = new MemorySyncStateStore();
  constructor(
    readonly bankId: string,
    readonly clock: ManualClock,
    seed: number,
    readonly backing = new Map<string, Uint8Array[]>(),
  ) {
    const random = new SeededRandom(seed);
    this.storage = new ObservedDocStorage(new MemoryDocStorage(backing));
    this.docs = new DocSet(this.storage, randomId(random, 16));
    this.ledger = new ParcelLedger({ bankId, docs: this.docs, clock, random });
  }

  deposit(parcelId: string, compartment: number, selector = '123'): string {
    return this.ledger.depositAndIssue(parcelId, { depositId: `d-${parcelId}`, compartment, courierId: 'courier-1', size: 'S' }, { selector, hash: FAKE_HASH, issuer: 'hub' });
  }

  /** Byte-exact snapshot of every document (to prove a refusal changed nothing). */
  snapshot(): Map<string, string> {
    return new Map([...this.docs.ids()].map((id) => [id, Buffer.from(A.save(this.docs.get(id)!)).toString('base64')]));
  }
}

export const allow: AuthorizeDoc = () => undefined;

/** Two SyncPeers wired back to back in memory; `pump()` delivers frames until nothing moves. */
export class InMemoryLink {
  readonly a: SyncPeer;
  readonly b: SyncPeer;
  private readonly toA: Uint8Array[] = [];
  private readonly toB: Uint8Array[] = [];
  refusals: { side: 'a' | 'b'; err: SyncRejected }[] = [];
  rounds = 0;

  constructor(
    readonly ra: Replica,
    readonly rb: Replica,
    opts: { authorizeA?: AuthorizeDoc; authorizeB?: AuthorizeDoc; key?: Buffer; outboxA?: SyncEngineOptions['outbox'] } = {},
  ) {
    const key = opts.key ?? Buffer.alloc(32, 1);
    const timers = { setTimeout: (fn: () => void) => (queueMicrotask(fn), 1), clearTimeout: () => {} };
    this.a = new SyncPeer({
      engine: new SyncEngine({ docs: ra.docs, peer: 'b', store: ra.states, authorize: opts.authorizeA ?? allow, outbox: opts.outboxA }),
      key,
      side: 'client',
      send: (f) => this.toB.push(f),
      refuse: (err) => this.refusals.push({ side: 'a', err }),
      timers,
    });
    this.b = new SyncPeer({
      engine: new SyncEngine({ docs: rb.docs, peer: 'a', store: rb.states, authorize: opts.authorizeB ?? allow }),
      key,
      side: 'server',
      send: (f) => this.toA.push(f),
      refuse: (err) => this.refusals.push({ side: 'b', err }),
      timers,
    });
    ra.storage.onChange((id) => this.a.changed(id));
    rb.storage.onChange((id) => this.b.changed(id));
  }

  start(): void {
    this.b.start(false);
    this.a.start(true);
  }

  /** Deliver frames (and let debounced flushes run) until both sides are quiet. */
  async pump(max = 1000): Promise<void> {
    for (let i = 0; i < max; i++) {
      await new Promise((r) => setImmediate(r));
      if (this.toA.length === 0 && this.toB.length === 0) {
        if (this.a.settled() && this.b.settled()) return;
        continue;
      }
      this.rounds++;
      for (const f of this.toB.splice(0)) this.b.handleFrame(f);
      for (const f of this.toA.splice(0)) this.a.handleFrame(f);
    }
    throw new Error('the link did not settle');
  }

  close(): void {
    this.a.close();
    this.b.close();
  }
}

/** True when both replicas hold the same documents with the same heads. */
export function converged(a: DocSet, b: DocSet, filter: (id: string) => boolean = () => true): boolean {
  const ids = new Set([...a.ids(), ...b.ids()].filter(filter));
  for (const id of ids) {
    const x = a.get(id);
    const y = b.get(id);
    if (!x || !y || !sameHeads(A.getHeads(x), A.getHeads(y))) return false;
  }
  return true;
}

export const newClock = (): ManualClock => new ManualClock(Date.UTC(2026, 0, 5, 8));
