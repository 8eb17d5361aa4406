import * as A from '@automerge/automerge';
import { afterEach, describe, expect, it } from 'vitest';
import { BankReplicas } from '../../cloud/bank-replicas.js';
import { SeededRandom } from '../../shared/ports.js';
import { FAKE_HASH } from '../sync/harness.js';
import { testCloud, type TestCloud } from './cloud-fixture.js';

let cloud: TestCloud | undefined;
afterEach(() => {
  cloud?.close();
  cloud = undefined;
});

describe('BankReplicas', () => {
  it('loads banks lazily, evicts the least recently used idle one, never a pinned one', async () => {
    cloud = await testCloud();
    const { store, clock, random } = cloud;
    for (const b of ['b1', 'b2', 'b3']) store.banks.add(b, 4, 0);
    const replicas = new BankReplicas({ db: store.db, clock, random, capacity: 2 });
    replicas.get('b1').ledger.announce('p-b1', { carrier: 'c', trackingNumber: 't', size: 'S' });
    const pin = replicas.pin('b2');
    replicas.get('b3');
    replicas.get('b1');
    replicas.get('b3');
    // b2 is pinned: the idle ones make room instead.
    expect(replicas.loaded()).toContain('b2');
    expect(replicas.loaded().length).toBeLessThanOrEqual(3);
    pin.release();
    replicas.get('b1');
    replicas.get('b3');
    expect(replicas.loaded()).toEqual(['b1', 'b3']);
    // An evicted bank reloads from the database with everything it had.
    const again = new BankReplicas({ db: store.db, clock, random, capacity: 1 });
    again.get('b2');
    expect(again.get('b1').ledger.view('p-b1')?.announcement?.trackingNumber).toBe('t');
    expect(again.loaded()).toEqual(['b1']);
  });

  it('the capacity counts idle banks: banks pinned by hub sessions do not crowd them out', async () => {
    cloud = await testCloud();
    const { store, clock, random } = cloud;
    for (const b of ['b1', 'b2', 'b3', 'b4']) store.banks.add(b, 4, 0);
    const replicas = new BankReplicas({ db: store.db, clock, random, capacity: 2 });
    replicas.pin('b1');
    replicas.pin('b2');
    replicas.get('b3');
    replicas.get('b4');
    // Two sessions and two idle banks: both idle ones stay cached (the API uses them again).
    expect(replicas.loaded().sort()).toEqual(['b1', 'b2', 'b3', 'b4']);
    expect(replicas.get('b3')).toBe(replicas.get('b3'));
  });

  it('a bank pinned when every cached bank is pinned stays the one the API uses', async () => {
    cloud = await testCloud();
    const { store, clock, random } = cloud;
    for (const b of ['b1', 'b2', 'b3']) store.banks.add(b, 4, 0);
    const replicas = new BankReplicas({ db: store.db, clock, random, capacity: 2 });
    replicas.pin('b1');
    replicas.pin('b2');
    const { replica } = replicas.pin('b3'); // over capacity, all pinned
    expect(replicas.get('b3')).toBe(replica);
    const written: string[] = [];
    replica.storage.onChange((id) => written.push(id));
    replicas.get('b3').ledger.announce('p-b3', { carrier: 'c', trackingNumber: 't', size: 'S' });
    expect(written).toContain('parcel:p-b3'); // the sync session of b3 hears of it
  });

  it('keeps each bank’s documents apart in the shared table', async () => {
    cloud = await testCloud();
    const r1 = cloud.replicas.get('bank-1');
    r1.ledger.depositAndIssue('only-in-1', { depositId: 'd', compartment: 1, courierId: 'c', size: 'S' }, { selector: '001', hash: FAKE_HASH, issuer: 'hub' });
    const fresh = new BankReplicas({ db: cloud.store.db, clock: cloud.clock, random: cloud.random });
    expect(fresh.get('bank-2').ledger.doc('only-in-1')).toBeUndefined();
    const doc = fresh.get('bank-1').ledger.doc('only-in-1')!;
    expect(A.getHeads(doc)).toEqual(A.getHeads(r1.ledger.doc('only-in-1')!));
  });

  describe('several nodes on one database (two BankReplicas here, each its own actor)', () => {
    const nodes = (c: TestCloud) => {
      const make = (seed: number) => new BankReplicas({ db: c.store.db, clock: c.clock, random: new SeededRandom(seed), shared: true });
      return [make(1), make(2)] as const;
    };
    const announce = (r: BankReplicas, bankId: string, parcelId: string) => r.get(bankId).ledger.announce(parcelId, { carrier: 'c', trackingNumber: `t-${parcelId}`, size: 'S' });

    it('a bank whose hub syncs here merges another node’s write at once and tells its session', async () => {
      cloud = await testCloud();
      const [a, b] = nodes(cloud);
      const pin = a.pin('bank-1');
      const written: string[] = [];
      pin.replica.storage.onChange((id) => written.push(id));
      announce(b, 'bank-1', 'p1');
      expect(a.refresh('bank-1', 'parcel:p1')).toBe(true);
      expect(written).toEqual(['parcel:p1']);
      expect(pin.replica.ledger.doc('p1')?.announcement).toBeDefined();
      expect(a.refresh('bank-1', 'parcel:p1')).toBe(false); // nothing new the second time
    });

    it('a bank only loaded here (for the API) merges the other node’s writes when it is next used, not on every notification', async () => {
      cloud = await testCloud();
      const [a, b] = nodes(cloud);
      const replica = a.get('bank-1');
      const written: string[] = [];
      replica.storage.onChange((id) => written.push(id));
      announce(b, 'bank-1', 'p1');
      announce(b, 'bank-1', 'p2');
      expect(a.refresh('bank-1', 'parcel:p1')).toBe(false);
      expect(a.refresh('bank-1', 'parcel:p2')).toBe(false);
      expect(written).toEqual([]); // nothing read yet
      expect(a.get('bank-1').ledger.doc('p1')?.announcement).toBeDefined();
      expect(a.get('bank-1').ledger.doc('p2')?.announcement).toBeDefined();
      expect(written.sort()).toEqual(['parcel:p1', 'parcel:p2']);
      // Changing a merged document works (its older version is outdated, not the current one).
      a.get('bank-1').ledger.revoke('p1', 'test');
    });

    it('current(): the document a request acts on is read from the database, even before the notification of another node’s write', async () => {
      cloud = await testCloud();
      const [a, b] = nodes(cloud);
      a.pin('bank-1');
      announce(b, 'bank-1', 'p1'); // no refresh(): the notification is still on its way
      expect(a.get('bank-1').ledger.doc('p1')).toBeUndefined();
      expect(String(a.current('bank-1', ['parcel:p1']).ledger.doc('p1')?.announcement?.trackingNumber)).toBe('t-p1');
      // Only the documents asked for: another node's write to a second parcel, announced, is
      // merged by the next get(), not by a request about p1.
      announce(b, 'bank-2', 'q1');
      announce(b, 'bank-2', 'q2');
      a.get('bank-2');
      announce(b, 'bank-2', 'q3');
      a.refresh('bank-2', 'parcel:q3');
      expect(a.current('bank-2', ['parcel:q1']).ledger.doc('q3')).toBeUndefined();
      expect(a.get('bank-2').ledger.doc('q3')?.announcement).toBeDefined();
      // One node alone reads nothing more than get().
      const alone = new BankReplicas({ db: cloud.store.db, clock: cloud.clock, random: new SeededRandom(3) });
      alone.get('bank-1');
      announce(b, 'bank-1', 'p2');
      expect(alone.current('bank-1', ['parcel:p2']).ledger.doc('p2')).toBeUndefined();
    });
  });
});
