/**
 * The direct path of the sync engine: documents travel as their changes since the persisted
 * shared heads, in compact form, are applied in place, and are acknowledged with two bits plus
 * one heads digest per reply. These tests drive the paths a plain resync does not: the codec's exact
 * round trip, a receiver that lacks the history a bundle builds on (ack 3, whole document), a
 * disagreement about the shared heads (digest mismatch, repaired by Automerge's sync protocol),
 * a refused batch after in-place applies, and a follow-up written after the peer applied ours.
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { sameHeads } from '../../shared/ledger/doc-set.js';
import { parcelDocId } from '../../shared/ledger/parcel-ledger.js';
import { changesSince, packChanges, TAG_CHANGES, unpackChanges } from '../../shared/sync/changes-codec.js';
import { decodeShared, encodeShared, peerHolds } from '../../shared/sync/shared-heads.js';
import { SyncEngine } from '../../shared/sync/sync-engine.js';
import { allow, converged, InMemoryLink, newClock, Replica } from './harness.js';

function pair() {
  const clock = newClock();
  return { clock, hub: new Replica('bank-1', clock, 1), cloud: new Replica('bank-1', clock, 2) };
}

async function synced() {
  const p = pair();
  for (let i = 0; i < 5; i++) p.cloud.ledger.announce(`p${i}`, { carrier: 'c', trackingNumber: `T${i}`, size: 'S' });
  for (let i = 0; i < 5; i++) p.hub.deposit(`p${i}`, i + 1, String(100 + i));
  const link = new InMemoryLink(p.hub, p.cloud);
  link.start();
  await link.pump();
  link.close();
  expect(converged(p.hub.docs, p.cloud.docs)).toBe(true);
  return p;
}

const codeOf = (r: Replica, p: string) => Object.keys(r.ledger.doc(p)!.codes)[0]!;

describe('changes codec', () => {
  it('rebuilds the exact change chunks; shared dependencies travel as prefixes, others in full', async () => {
    const { hub, clock } = await synced();
    const id = parcelDocId('p1');
    const shared = A.getHeads(hub.docs.get(id)!);
    clock.advance(1000);
    hub.ledger.markUsed('p1', codeOf(hub, 'p1'), 'att-1', 2);
    clock.advance(1000);
    hub.ledger.revoke('p1', 'courier took it back'); // a second change, depending on the first
    const chunks = changesSince(hub.docs.get(id)!, shared)!;
    const compact = packChanges(chunks, shared);
    expect(compact[0]).toBe(TAG_CHANGES);
    // Two changes: 2 x (magic + checksum) and the hash of the first, which the second names.
    expect(compact.length).toBeLessThan(chunks.length - 2 * 8 - 32);
    const back = unpackChanges(compact, [...shared, 'ff'.repeat(32)]);
    expect('chunk' in back && Buffer.from(back.chunk).equals(Buffer.from(chunks))).toBe(true);
    // Unknown to the sender as shared: the full hashes travel, nothing to resolve.
    const full = packChanges(chunks, []);
    expect(full.length).toBe(compact.length + 28 * shared.length);
    const back2 = unpackChanges(full, []);
    expect('chunk' in back2 && Buffer.from(back2.chunk).equals(Buffer.from(chunks))).toBe(true);
    // A prefix the receiver cannot resolve.
    expect(unpackChanges(compact, [])).toEqual({ unresolved: true });
    // The whole history of a document: no outside dependency at all.
    const all = changesSince(hub.docs.get(id)!, [])!;
    const whole = unpackChanges(packChanges(all, []), []);
    expect('chunk' in whole && whole.deps === 0 && Buffer.from(whole.chunk).equals(Buffer.from(all))).toBe(true);
    // Shared heads records: compact, and older Automerge-encoded records still read.
    expect(decodeShared(encodeShared(shared))).toEqual(shared);
    expect(decodeShared(A.encodeSyncState({ ...A.initSyncState(), sharedHeads: shared } as A.SyncState))).toEqual(shared);
  });
});

describe('SyncEngine direct path', () => {
  it('a receiver that lacks the history the changes build on asks for the whole document (ack 3)', async () => {
    const { hub, cloud, clock } = await synced();
    const id = parcelDocId('p2');
    hub.docs.remove(id); // e.g. pruned at the hub, or lost
    clock.advance(1000);
    cloud.ledger.revoke('p2', 'support');
    const link = new InMemoryLink(hub, cloud);
    link.start();
    await link.pump();
    expect(link.refusals).toEqual([]);
    expect(converged(hub.docs, cloud.docs)).toBe(true);
    expect(hub.ledger.view('p2')!.codes[0]!.state).toBe('revoked');
    expect(link.b.stats.messagesSent).toBe(2); // the changes, then the whole document
    expect(peerHolds(cloud.states, 'a', id, cloud.docs.get(id))).toBe(true);
  });

  it('a disagreement about the shared heads is caught by the digest and repaired by the sync protocol', async () => {
    const { hub, cloud, clock } = await synced();
    const id = parcelDocId('p3');
    // The hub makes two concurrent changes (x on a fork, y here) and merges them...
    const base = hub.docs.get(id)!;
    const fork = A.change(A.clone(base as A.Doc<{ exceptions: Record<string, unknown> }>, { actor: 'ab'.repeat(16) }), (d) => {
      d.exceptions.x = { at: 1, reason: 'x' };
    });
    clock.advance(1000);
    hub.ledger.markUsed('p3', codeOf(hub, 'p3'), 'att-y', 4);
    hub.docs.put(id, A.merge(A.clone(hub.docs.get(id)!, { actor: hub.docs.actor }), fork));
    const x = A.getHeads(fork)[0]!;
    // ...and wrongly believes the cloud already holds x.
    hub.states.set('b', id, encodeShared([x]));
    const link = new InMemoryLink(hub, cloud);
    link.start();
    await link.pump();
    expect(link.refusals).toEqual([]);
    expect(converged(hub.docs, cloud.docs)).toBe(true);
    expect(A.hasHeads(cloud.docs.get(id)!, [x])).toBe(true);
    expect(peerHolds(hub.states, 'b', id, hub.docs.get(id))).toBe(true);
    expect(peerHolds(cloud.states, 'a', id, cloud.docs.get(id))).toBe(true);
  });

  it('a refused batch reverts the documents it applied in place, which stay writable', async () => {
    const { hub, cloud, clock } = await synced();
    clock.advance(1000);
    hub.ledger.markUsed('p1', codeOf(hub, 'p1'), 'att-1', 2); // the cloud holds p1: applied in place
    hub.deposit('bad', 9);
    const before = cloud.snapshot();
    const heads = A.getHeads(cloud.docs.get(parcelDocId('p1'))!);
    const link = new InMemoryLink(hub, cloud, {
      authorizeB: (id) => (id === parcelDocId('bad') ? { code: 'forbidden_document', message: 'no' } : undefined),
    });
    link.start();
    await link.pump().catch(() => {});
    expect(link.refusals.map((r) => [r.side, r.err.code])).toEqual([['b', 'forbidden_document']]);
    expect(cloud.snapshot()).toEqual(before);
    expect(A.getHeads(cloud.docs.get(parcelDocId('p1'))!)).toEqual(heads);
    expect(cloud.ledger.view('p1')!.status).not.toBe('picked_up');
    // The reverted version is the current one: the cloud can still change it, and sync later.
    cloud.ledger.revoke('p1', 'support');
    expect(cloud.ledger.view('p1')!.codes[0]!.state).toBe('revoked');
    hub.docs.remove(parcelDocId('bad'));
    const again = new InMemoryLink(hub, cloud);
    again.start();
    await again.pump();
    expect(again.refusals).toEqual([]);
    expect(converged(hub.docs, cloud.docs)).toBe(true);
    expect(hub.ledger.view('p1')!.codes[0]!.state).toBe('used');
  });

  it('a follow-up written after the peer applied our changes settles without another round', async () => {
    const { hub, cloud, clock } = await synced();
    const id = parcelDocId('p4');
    const hubE = new SyncEngine({ docs: hub.docs, peer: 'b', store: hub.states, authorize: allow });
    const cloudE = new SyncEngine({ docs: cloud.docs, peer: 'a', store: cloud.states, authorize: allow });
    hubE.start();
    cloudE.start();
    clock.advance(1000);
    hub.ledger.markUsed('p4', codeOf(hub, 'p4'), 'att-1', 5);
    hubE.markChanged(id);
    const ours = hubE.outgoing()!;
    // The cloud changed the document too and has not said so yet.
    cloud.ledger.revoke('p4', 'support');
    cloudE.markChanged(id);
    const r1 = cloudE.receive(ours.entries);
    expect(r1.acks).toEqual([0]);
    const theirs = cloudE.outgoing()!;
    const r2 = hubE.receive(theirs.entries, { batch: ours, acks: r1.acks });
    expect(r2.acks).toEqual([1]);
    hubE.settle(ours, r1.acks, r1.digest);
    cloudE.settle(theirs, r2.acks, r2.digest);
    expect(sameHeads(A.getHeads(hub.docs.get(id)!), A.getHeads(cloud.docs.get(id)!))).toBe(true);
    expect(hubE.isQuiet() && cloudE.isQuiet()).toBe(true);
    expect(hubE.outgoing()).toBeNull();
    expect(cloudE.outgoing()).toBeNull();
    expect(peerHolds(hub.states, 'b', id, hub.docs.get(id))).toBe(true);
    expect(peerHolds(cloud.states, 'a', id, cloud.docs.get(id))).toBe(true);
    expect(hub.ledger.view('p4')!.codes[0]!.state).toBe('used');
  });

  it('a hook that changes a received document in the same transaction still gets that change sent', async () => {
    const { hub, cloud, clock } = await synced();
    const id = parcelDocId('p0');
    const hubE = new SyncEngine({ docs: hub.docs, peer: 'b', store: hub.states, authorize: allow });
    const cloudE = new SyncEngine({
      docs: cloud.docs,
      peer: 'a',
      store: cloud.states,
      authorize: allow,
      onDocChanged: (docId) => {
        cloud.docs.change<{ exceptions: Record<string, unknown> }>(docId, 'hook', (d) => {
          d.exceptions.hook = { at: 1, reason: 'seen by the hook' };
        });
      },
    });
    cloud.storage.onChange((docId) => cloudE.markChanged(docId));
    hubE.start();
    cloudE.start();
    clock.advance(1000);
    hub.ledger.markUsed('p0', codeOf(hub, 'p0'), 'att-1', 1);
    hubE.markChanged(id);
    const ours = hubE.outgoing()!;
    const r = cloudE.receive(ours.entries);
    hubE.settle(ours, r.acks, r.digest);
    const theirs = cloudE.outgoing();
    expect(theirs?.entries.map((e) => e.docId)).toEqual([id]);
    const r2 = hubE.receive(theirs!.entries);
    cloudE.settle(theirs!, r2.acks, r2.digest);
    expect(hub.ledger.view('p0')!.exceptions.map((e) => e.reason)).toEqual(['seen by the hook']);
    expect(sameHeads(A.getHeads(hub.docs.get(id)!), A.getHeads(cloud.docs.get(id)!))).toBe(true);
  });
});
