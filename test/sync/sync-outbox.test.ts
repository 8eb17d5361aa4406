import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { parcelDocId } from '../../shared/ledger/parcel-ledger.js';
import { encodeChanges } from '../../shared/sync/changes-codec.js';
import { decodeShared } from '../../shared/sync/shared-heads.js';
import { SyncOutbox } from '../../shared/sync/sync-outbox.js';
import { converged, InMemoryLink, newClock, Replica } from './harness.js';

/** A hub and a cloud that synced once, then went apart; the hub's outbox (peer `b`, as the link names the cloud). */
async function apart() {
  const clock = newClock();
  const hub = new Replica('bank-1', clock, 1);
  const cloud = new Replica('bank-1', clock, 2);
  const code = hub.deposit('p1', 1, '111');
  cloud.ledger.announce('a1', { carrier: 'c', trackingNumber: 'T-a1', size: 'S' });
  const first = new InMemoryLink(hub, cloud);
  first.start();
  await first.pump();
  first.close();
  const outbox = new SyncOutbox({ docs: hub.docs, feed: hub.storage, store: hub.states, peer: 'b' });
  return { clock, hub, cloud, code, outbox };
}

const sharedOf = (r: Replica, id: string) => decodeShared(r.states.get('b', id)) ?? [];
const settle = () => new Promise<void>((r) => queueMicrotask(r));

/** The outbox as the engine sees it, recording which documents it answered from. */
function spied(outbox: SyncOutbox) {
  const taken: string[] = [];
  return {
    taken,
    take: (id: string, heads: A.Heads, shared: A.Heads) => {
      const m = outbox.take(id, heads, shared);
      if (m) taken.push(id);
      return m;
    },
  };
}

/** A session over an in-memory link whose hub engine reads `outbox`; `release` lets go of the outbox's hold after it. */
async function session(hub: Replica, cloud: Replica, outbox: SyncOutbox, release: () => void) {
  const spy = spied(outbox);
  const link = new InMemoryLink(hub, cloud, { outboxA: spy });
  link.start();
  await link.pump();
  release();
  return { link, taken: spy.taken };
}

describe('SyncOutbox', () => {
  it('encodes what the peer lacks as offline changes are made, and the next session sends exactly those bytes', async () => {
    const { hub, cloud, code, outbox } = await apart();
    // Writes outside a transaction are reported while being made: the entry must be of the new version.
    hub.ledger.markUsed('p1', code, 'attempt-1', 1);
    hub.deposit('p2', 2, '222');
    await settle();
    expect(outbox.size).toBe(2);
    for (const id of [parcelDocId('p1'), parcelDocId('p2')]) {
      const doc = hub.docs.get(id)!;
      const message = outbox.take(id, A.getHeads(doc), sharedOf(hub, id));
      expect(message).toEqual(encodeChanges(doc, sharedOf(hub, id)));
    }
    const { link, taken } = await session(hub, cloud, outbox, outbox.hold());
    expect(link.refusals).toEqual([]);
    expect(converged(hub.docs, cloud.docs)).toBe(true);
    expect(taken.sort()).toEqual([parcelDocId('p1'), parcelDocId('p2')]);
    expect(cloud.ledger.view('p1')?.codes[0]?.state).toBe('used');
    // The session settled both: nothing left that the next one could use.
    expect(outbox.size).toBe(0);
    expect(outbox.heldBytes).toBe(0);
  });

  it('never hands over an entry the document or the shared heads moved past; the session encodes those itself', async () => {
    const { hub, cloud, code, outbox } = await apart();
    hub.deposit('p2', 2, '222');
    await settle();
    const p2 = parcelDocId('p2');
    const encodedAt = A.getHeads(hub.docs.get(p2)!);
    const release = outbox.hold();
    hub.ledger.revoke('p2', 'courier took it back'); // while held: not encoded
    hub.ledger.markUsed('p1', code, 'attempt-1', 1);
    await settle();
    expect(outbox.take(p2, A.getHeads(hub.docs.get(p2)!), sharedOf(hub, p2))).toBeUndefined();
    expect(outbox.take(p2, encodedAt, ['00'.repeat(32)])).toBeUndefined();
    expect(outbox.take(p2, encodedAt, sharedOf(hub, p2))).toBeDefined();
    const { taken } = await session(hub, cloud, outbox, release);
    expect(taken).toEqual([]);
    expect(converged(hub.docs, cloud.docs)).toBe(true);
    expect(cloud.ledger.view('p2')?.codes[0]?.state).toBe('revoked');
  });

  it('after a session, keeps only the entries still built on what the peer holds', async () => {
    const { hub, cloud, outbox } = await apart();
    hub.deposit('p2', 2, '222');
    await settle();
    // A session that only the cloud's side of p3 goes through: p2 stays unsent (the link only starts the cloud).
    const release = outbox.hold();
    cloud.ledger.announce('p3', { carrier: 'c', trackingNumber: 'T-p3', size: 'M' });
    const link = new InMemoryLink(hub, cloud);
    link.b.start(true);
    await link.pump();
    release();
    // p2 still differs from what the cloud holds, and the entry is still exact.
    const p2 = parcelDocId('p2');
    expect(outbox.take(p2, A.getHeads(hub.docs.get(p2)!), sharedOf(hub, p2))).toBeDefined();
    expect(outbox.size).toBe(1);
  });

  it('stays within its byte budget, and encodes nothing after close()', async () => {
    const clock = newClock();
    const hub = new Replica('bank-1', clock, 1);
    const small = new SyncOutbox({ docs: hub.docs, feed: hub.storage, store: hub.states, peer: 'b', maxBytes: 10 });
    const closed = new SyncOutbox({ docs: hub.docs, feed: hub.storage, store: hub.states, peer: 'b' });
    closed.close();
    const filtered = new SyncOutbox({ docs: hub.docs, feed: hub.storage, store: hub.states, peer: 'b', shares: (id) => id.endsWith('p2') });
    hub.deposit('p1', 1, '111');
    hub.deposit('p2', 2, '222');
    await settle();
    expect(small.size).toBe(0);
    expect(small.heldBytes).toBe(0);
    expect(closed.size).toBe(0);
    expect(filtered.size).toBe(1);
    expect(filtered.take(parcelDocId('p2'), A.getHeads(hub.docs.get(parcelDocId('p2'))!), [])).toBeDefined();
  });
});
