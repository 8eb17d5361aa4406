import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { sameHeads } from '../../shared/ledger/doc-set.js';
import { parcelDocId } from '../../shared/ledger/parcel-ledger.js';
import { peerHolds } from '../../shared/sync/shared-heads.js';
import { sealFrame } from '../../shared/sync/wire.js';
import { converged, InMemoryLink, newClock, Replica } from './harness.js';

function pair() {
  const clock = newClock();
  const hub = new Replica('bank-1', clock, 1);
  const cloud = new Replica('bank-1', clock, 2);
  return { clock, hub, cloud };
}

describe('SyncEngine over SyncPeer (in memory)', () => {
  it('converges both ways, including a parcel created concurrently on both sides', async () => {
    const { hub, cloud } = pair();
    for (const p of ['a1', 'a2', 'a3']) cloud.ledger.announce(p, { carrier: 'c', trackingNumber: `T-${p}`, size: 'S' });
    cloud.ledger.announce('both', { carrier: 'c', trackingNumber: 'T-both', size: 'M' });
    for (const [i, p] of ['h1', 'h2', 'both'].entries()) hub.deposit(p, i + 1);
    const link = new InMemoryLink(hub, cloud);
    link.start();
    await link.pump();
    expect(link.refusals).toEqual([]);
    expect(converged(hub.docs, cloud.docs)).toBe(true);
    const both = cloud.ledger.view('both')!;
    expect(both.announcement?.trackingNumber).toBe('T-both');
    expect(both.deposit?.compartment).toBe(3);
    expect(hub.ledger.view('a1')?.announcement?.carrier).toBe('c');
    // Every document settled: both sides recorded the other holds exactly their heads.
    for (const id of hub.docs.ids()) {
      expect(peerHolds(hub.states, 'b', id, hub.docs.get(id))).toBe(true);
      expect(peerHolds(cloud.states, 'a', id, cloud.docs.get(id))).toBe(true);
    }
  });

  it('sends the changes in the first message (no discovery round) and acknowledges with flags, not messages', async () => {
    const { hub, cloud } = pair();
    for (let i = 0; i < 50; i++) hub.deposit(`p${i}`, (i % 24) + 1, String(i).padStart(3, '0'));
    const link = new InMemoryLink(hub, cloud);
    link.start();
    await link.pump();
    expect(converged(hub.docs, cloud.docs)).toBe(true);
    expect(link.a.stats.messagesSent).toBe(50);
    expect(link.a.stats.framesSent).toBe(1);
    expect(link.b.stats.messagesSent).toBe(0);
    expect(link.b.stats.framesSent).toBe(1); // the reply with 50 in-sync flags
  });

  it('messages that cross (both sides changed the same documents) need no follow-up: one message per side per document', async () => {
    const { hub, cloud } = pair();
    for (let i = 0; i < 20; i++) {
      cloud.ledger.announce(`x${i}`, { carrier: 'c', trackingNumber: `T${i}`, size: 'S' });
      hub.deposit(`x${i}`, (i % 24) + 1, String(i).padStart(3, '0'));
    }
    const link = new InMemoryLink(hub, cloud);
    link.start();
    await link.pump();
    expect(converged(hub.docs, cloud.docs)).toBe(true);
    expect(link.a.stats.messagesSent).toBe(20);
    expect(link.b.stats.messagesSent).toBe(20);
    expect(link.a.stats.framesSent + link.b.stats.framesSent).toBe(4); // two batches, two replies
    for (const id of hub.docs.ids()) {
      expect(peerHolds(hub.states, 'b', id, hub.docs.get(id))).toBe(true);
      expect(peerHolds(cloud.states, 'a', id, cloud.docs.get(id))).toBe(true);
    }
    // And the next session has nothing to say.
    link.close();
    const again = new InMemoryLink(hub, cloud);
    again.start();
    await again.pump();
    expect(again.a.stats.messagesSent + again.b.stats.messagesSent).toBe(0);
  });

  it('a new session after a disconnect sends nothing when nothing changed, and only what changed otherwise', async () => {
    const { hub, cloud, clock } = pair();
    for (let i = 0; i < 20; i++) hub.deposit(`p${i}`, (i % 24) + 1, String(i).padStart(3, '0'));
    for (let i = 0; i < 20; i++) cloud.ledger.announce(`c${i}`, { carrier: 'c', trackingNumber: `T${i}`, size: 'L' });
    const first = new InMemoryLink(hub, cloud);
    first.start();
    await first.pump();
    first.close();

    const second = new InMemoryLink(hub, cloud);
    second.start();
    await second.pump();
    expect(second.a.stats.messagesSent + second.b.stats.messagesSent).toBe(0);
    expect(second.a.stats.framesSent).toBe(1); // the probe
    second.close();

    clock.advance(60_000);
    cloud.ledger.revoke('p3', 'support');
    hub.ledger.markUsed('p5', Object.keys(hub.ledger.doc('p5')!.codes)[0]!, 'att-1', 6);
    const third = new InMemoryLink(hub, cloud);
    third.start();
    await third.pump();
    expect(third.a.stats.messagesSent).toBe(1);
    expect(third.b.stats.messagesSent).toBe(1);
    expect(converged(hub.docs, cloud.docs)).toBe(true);
    expect(hub.ledger.view('p3')!.codes[0]!.state).toBe('revoked');
    expect(cloud.ledger.view('p5')!.status).toBe('picked_up');
  });

  it('pushes a local change while connected', async () => {
    const { hub, cloud } = pair();
    hub.deposit('p1', 1);
    const link = new InMemoryLink(hub, cloud);
    link.start();
    await link.pump();
    cloud.ledger.revoke('p1', 'support');
    await link.pump();
    expect(hub.ledger.view('p1')!.codes[0]!.state).toBe('revoked');
    expect(sameHeads(A.getHeads(hub.ledger.doc('p1')!), A.getHeads(cloud.ledger.doc('p1')!))).toBe(true);
  });

  it('refuses the whole batch when one document is refused, and changes nothing', async () => {
    const { hub, cloud } = pair();
    hub.deposit('ok', 1);
    hub.deposit('bad', 2);
    const before = cloud.snapshot();
    const link = new InMemoryLink(hub, cloud, {
      authorizeB: (id) => (id === parcelDocId('bad') ? { code: 'forbidden_document', message: 'no' } : undefined),
    });
    link.start();
    await link.pump().catch(() => {});
    expect(link.refusals.map((r) => [r.side, r.err.code])).toEqual([['b', 'forbidden_document']]);
    expect(cloud.snapshot()).toEqual(before);
    expect(cloud.states.all('a').size).toBe(0);
  });

  it('refuses malformed sync messages, replayed and tampered frames', () => {
    const { hub, cloud } = pair();
    const key = Buffer.alloc(32, 1);
    const frame = (seq: number, message?: Uint8Array) =>
      sealFrame(key, 'client', seq, { wantsReply: false, ackSeq: 0, acks: [], entries: message ? [{ docId: 'parcel:x', message }] : [] });
    const cases: [string, (l: InMemoryLink) => void][] = [
      ['malformed_sync_message', (l) => l.b.handleFrame(frame(1, new Uint8Array([0x42, 1, 2, 3, 4]))) ],
      ['replayed_frame', (l) => { const f = frame(1); l.b.handleFrame(f); l.b.handleFrame(f); }],
      ['bad_mac', (l) => { const f = Buffer.from(frame(1)); f[f.length - 1]! ^= 1; l.b.handleFrame(f); }],
    ];
    for (const [code, act] of cases) {
      const link = new InMemoryLink(hub, cloud);
      const before = cloud.snapshot();
      act(link);
      expect(link.refusals.map((r) => r.err.code)).toContain(code);
      expect(cloud.snapshot()).toEqual(before);
    }
  });
});
