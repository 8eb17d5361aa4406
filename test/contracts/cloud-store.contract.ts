/**
 * The contract of the cloud's store (cloud/store/cloud-store.ts and the outbox tables of
 * cloud/notify/outbox/outbox-store.ts): parcels and contacts, devices and API tokens, keys,
 * the bank directory, documents, and the outbox — run against the SQLite file
 * (test/cloud/cloud-store.test.ts) and PostgreSQL (test/adapters/postgres/pg-stores.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BankDocStorage } from '../../adapters/sqlite/bank-doc-storage.js';
import { NotifyRecords } from '../../cloud/notify/outbox/notify-records.js';
import { OutboxStore, type OutboxRow } from '../../cloud/notify/outbox/outbox-store.js';
import { openCloudStore, type CloudStore } from '../../cloud/store/cloud-store.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { ManualClock, SeededRandom } from '../../shared/ports.js';

export interface OpenedCloudStore {
  store: CloudStore;
  /** Close `store` and open the same database again (a restart). */
  reopen(): CloudStore;
  /** Open the same database as another cloud node named `node`. */
  another(node: string): CloudStore;
  destroy(): void | Promise<void>;
}

/**
 * The cloud store at `location` (a SQLite file or a postgres:// URL) as the contract opens it:
 * reopened, and opened again as other nodes. `cleanup` runs after every store is closed.
 */
export function openedAt(location: string, cleanup: () => void = () => {}): OpenedCloudStore {
  const opts = { hashParams: TEST_ARGON2 };
  let store = openCloudStore(location, opts);
  const others: CloudStore[] = [];
  return {
    store,
    reopen() {
      store.close();
      return (store = openCloudStore(location, opts));
    },
    another(node) {
      const s = openCloudStore(location, { ...opts, node });
      others.push(s);
      return s;
    },
    destroy() {
      for (const s of [store, ...others]) s.close();
      cleanup();
    },
  };
}

let n = 0;
export function outboxRow(over: Partial<OutboxRow> = {}): OutboxRow {
  const id = over.id ?? `row-${++n}`;
  return {
    id,
    kind: 'code',
    parcelId: 'p1',
    bankId: 'bank-1',
    codeId: 'c1',
    channel: 'sms',
    destination: '+4915112345678',
    destinationMasked: '+49151•••••678',
    sealed: 'sealed-bytes',
    status: 'pending',
    attempts: 0,
    maxAttempts: 5,
    nextAttemptAt: 1000,
    notBefore: 0,
    chain: 'prefs',
    providerId: null,
    lastError: null,
    createdAt: 1000,
    updatedAt: 1000,
    claimedAt: null,
    sentAt: null,
    deliveredAt: null,
    failoverAt: null,
    compartment: 3,
    expiresAt: 99_000,
    ...over,
  };
}

export function cloudStoreContract(name: string, open: () => OpenedCloudStore): void {
  describe(`cloud store contract: ${name}`, () => {
    const opened: OpenedCloudStore[] = [];
    const fresh = (): OpenedCloudStore => {
      const o = open();
      opened.push(o);
      return o;
    };
    afterEach(async () => {
      for (const o of opened.splice(0)) await o.destroy();
    });

    it('parcels and contacts: announce, claim, first seen, contact upsert; all survive a restart', () => {
      const o = fresh();
      const s = o.store;
      s.parcels.announce('p1', 'bank-1', 'acme', 1000);
      s.parcels.noteSeen('p2', 'bank-2', 2000);
      s.parcels.noteSeen('p1', 'bank-9', 3000); // known: unchanged
      expect(s.parcels.claim('p2', 'acme', 4000)).toBe(true);
      expect(s.parcels.claim('p2', 'other', 5000)).toBe(false);
      s.parcels.setContact('p1', { name: 'Ada', phone: '+4915112345678', preferences: ['sms', 'email'] }, 1000);
      s.parcels.setContact('p1', { name: 'Ada L.', email: 'ada@example.org', preferences: ['email'] }, 2000);
      const again = o.reopen();
      expect(again.parcels.get('p1')).toEqual({ parcelId: 'p1', bankId: 'bank-1', carrier: 'acme', announcedAt: 1000, firstSeenAt: 1000 });
      expect(again.parcels.get('p2')).toEqual({ parcelId: 'p2', bankId: 'bank-2', carrier: 'acme', announcedAt: 4000, firstSeenAt: 2000 });
      expect(again.parcels.bankOf('p1')).toBe('bank-1');
      expect(again.parcels.banksOf(['p1', 'nope', 'p2'])).toEqual(new Map([['p1', 'bank-1'], ['p2', 'bank-2']]));
      expect(again.parcels.banksOf([...Array.from({ length: 450 }, (_, i) => `x${i}`), 'p2'])).toEqual(new Map([['p2', 'bank-2']]));
      expect(again.parcels.get('nope')).toBeUndefined();
      expect(again.parcels.contact('p1')).toEqual({ name: 'Ada L.', email: 'ada@example.org', phone: undefined, preferences: ['email'] });
      expect(() => again.parcels.announce('p1', 'bank-1', 'acme', 1)).toThrow();
    });

    it('devices and API tokens are stored as argon2id hashes and verify after a restart', async () => {
      const o = fresh();
      await o.store.credentials.setDeviceSecret('bank-1', 'device-secret-1', 1000);
      await o.store.credentials.addToken('carrier-token-1', { role: 'carrier', subject: 'acme' }, 1000);
      await o.store.credentials.addToken('carrier-token-1', { role: 'support', subject: 'sam' }, 2000); // replaced
      const again = o.reopen();
      expect(again.credentials.hasDevice('bank-1')).toBe(true);
      expect(await again.credentials.verifyDevice('bank-1', 'device-secret-1')).toBe(true);
      expect(await again.credentials.verifyDevice('bank-1', 'wrong')).toBe(false);
      expect(await again.credentials.verifyDevice('bank-2', 'device-secret-1')).toBe(false);
      expect(await again.credentials.verifyToken('carrier-token-1')).toEqual({ role: 'support', subject: 'sam' });
      expect(await again.credentials.verifyToken('nope')).toBeUndefined();
      const raw = JSON.stringify(again.db.prepare('SELECT hash FROM devices').all()) + JSON.stringify(again.db.prepare('SELECT hash FROM api_tokens').all());
      expect(raw).toContain('$argon2id$');
      expect(raw).not.toContain('device-secret-1');
      expect(raw).not.toContain('carrier-token-1');
    });

    it('keys are written once and never overwritten; the bank directory keeps the latest contact', () => {
      const o = fresh();
      const random = new SeededRandom(1);
      const pepper = o.store.keys.pepper('bank-1', random);
      expect(o.store.keys.putOnce('pepper:bank-1', new Uint8Array(32))).toEqual(pepper);
      o.store.banks.add('bank-2', 12, 10);
      o.store.banks.add('bank-1', 24, 20);
      o.store.banks.recordContact('bank-1', 500);
      o.store.banks.recordSync('bank-1', 400); // older than the last contact: contact stays 500
      const again = o.reopen();
      expect(again.keys.pepper('bank-1', new SeededRandom(2))).toEqual(pepper);
      expect(again.banks.ids()).toEqual(['bank-1', 'bank-2']);
      expect(again.banks.get('bank-1')).toMatchObject({ bankId: 'bank-1', compartments: 24, lastSyncAt: 400, lastContactAt: 500 });
    });

    it('documents: a ledger written through the store loads back; a failed transaction leaves neither document nor registry row', () => {
      const o = fresh();
      const clock = new ManualClock(Date.UTC(2026, 0, 5));
      const ledger = (s: CloudStore) => new ParcelLedger({ bankId: 'bank-1', docs: new DocSet(new BankDocStorage(s.db, 'bank-1'), 'c0c0c0c0c0c0c0c0'), clock, random: new SeededRandom(3) });
      const l = ledger(o.store);
      l.announce('p1', { carrier: 'acme', trackingNumber: 'TRK1', size: 'S' });
      const docs = new DocSet(new BankDocStorage(o.store.db, 'bank-1'), 'c1c1c1c1c1c1c1c1');
      expect(() =>
        docs.transaction(() => {
          o.store.parcels.announce('p2', 'bank-1', 'acme', 1);
          new ParcelLedger({ bankId: 'bank-1', docs, clock, random: new SeededRandom(4) }).announce('p2', { carrier: 'acme', trackingNumber: 'TRK2', size: 'M' });
          throw new Error('crash mid-operation');
        }),
      ).toThrow('crash mid-operation');
      const reopened = o.reopen();
      const again = ledger(reopened);
      expect(again.view('p1')?.announcement?.trackingNumber).toBe('TRK1');
      expect(again.view('p2')).toBeUndefined();
      expect(reopened.parcels.get('p2')).toBeUndefined();
      expect(new BankDocStorage(reopened.db, 'bank-2').loadAll().size).toBe(0);
    });

    it('outbox: insert is idempotent by dedupe key; claim moves due rows to sending once; a restart re-queues only its own node’s claims', () => {
      const o = fresh();
      const a = new OutboxStore(o.store.db, 'node-a');
      expect(a.insert(outboxRow({ id: 'r1' }), 'k1').created).toBe(true);
      expect(a.insert(outboxRow({ id: 'r1-again' }), 'k1')).toMatchObject({ created: false, row: { id: 'r1' } });
      a.insert(outboxRow({ id: 'r2', nextAttemptAt: 5000 }), 'k2');
      a.insert(outboxRow({ id: 'r3', notBefore: 3000 }), 'k3');
      expect(a.nextDueAt()).toBe(1000);
      const claimed = a.claimDue(2000, 10);
      expect(claimed.map((r) => r.id)).toEqual(['r1']);
      expect(claimed[0]).toMatchObject({ status: 'sending', attempts: 1, claimedAt: 2000 });
      expect(a.claimDue(2000, 10)).toEqual([]);
      expect(a.nextDueAt()).toBe(3000);
      a.update('r1', { status: 'accepted', providerId: 'SM1', sentAt: 2100 }, 2100);
      a.event('r1', 2100, 'accepted', 'sms');
      expect(a.byProvider('sms', 'SM1')?.id).toBe('r1');
      expect(a.eventsForParcel('p1').map((e) => e.event)).toEqual(['queued', 'queued', 'queued', 'accepted']);
      expect(a.forParcel('p1').map((r) => r.id)).toEqual(['r1', 'r2', 'r3']);
      expect(a.counts()).toMatchObject({ accepted: { n: 1 }, pending: { n: 2 } });

      // node-b claims r3, then "dies"; node-a restarting must not touch node-b's claim.
      const b = new OutboxStore(o.store.db, 'node-b');
      expect(b.claimDue(3000, 10).map((r) => r.id)).toEqual(['r3']);
      expect(new OutboxStore(o.store.db, 'node-a').unclaimAll(3500)).toBe(0);
      expect(a.get('r3')?.status).toBe('sending');
      // …until node-b's claim is older than the lease.
      expect(a.reclaimExpired(3600, 2999)).toEqual([]);
      expect(a.reclaimExpired(3600, 3000)).toEqual([{ id: 'r3', claimedBy: 'node-b' }]);
      expect(a.get('r3')).toMatchObject({ status: 'pending', nextAttemptAt: 3600, attempts: 1 });
      // A node's own claims come back to it after its restart.
      expect(a.claimDue(6000, 10).map((r) => r.id).sort()).toEqual(['r2', 'r3']);
      expect(new OutboxStore(o.reopen().db, 'node-a').unclaimAll(7000)).toBe(2);
    });

    it('a deferred issuance is claimed by one node at a time; a dead node’s claim expires', () => {
      const o = fresh();
      const a = new NotifyRecords(o.store.db, 'node-a');
      const b = new NotifyRecords(o.store.db, 'node-b');
      a.defer({ parcelId: 'p1', bankId: 'bank-1', dueAt: 1000, reason: 'contact changed', actor: 'support', createdAt: 500 });
      expect(b.dueDeferred(1000).map((d) => d.parcelId)).toEqual(['p1']);
      expect(a.claimDeferred('p1', 1000)).toBe(true);
      expect(b.claimDeferred('p1', 1500)).toBe(false);
      expect(a.claimDeferred('p1', 1600)).toBe(true); // its own claim, again (a retry)
      expect(b.claimDeferred('p1', 1600 + 60_000)).toBe(true); // node-a went quiet for a lease
      b.completeDeferred('p1', 70_000, 'c9');
      expect(a.claimDeferred('p1', 200_000)).toBe(false);
      expect(a.deferred('p1')).toMatchObject({ doneAt: 70_000, codeId: 'c9' });
    });

    it('another node on the same database sees every committed row', async () => {
      const o = fresh();
      const other = o.another('node-2');
      try {
        o.store.parcels.announce('p9', 'bank-3', 'acme', 1);
        new BankDocStorage(o.store.db, 'bank-3').append('parcel:p9', new Uint8Array([1, 2, 3]));
        expect(other.parcels.bankOf('p9')).toBe('bank-3');
        expect(new BankDocStorage(other.db, 'bank-3').load('parcel:p9')).toEqual([new Uint8Array([1, 2, 3])]);
      } finally {
        other.close();
      }
    });
  });
}
