/**
 * The contract of the SyncStateStore port (shared/sync/sync-state-store.ts), run against every
 * adapter: memory and SQLite in test/sync/stores.test.ts, PostgreSQL in
 * test/adapters/postgres/pg-stores.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { adoptPeerEpoch, storeEpoch, type SyncStateStore } from '../../shared/sync/sync-state-store.js';

export function syncStateContract(name: string, open: () => { store: SyncStateStore; reopen?: () => SyncStateStore }): void {
  describe(`SyncStateStore contract: ${name}`, () => {
    it('stores bytes per (peer, document), lists and clears one peer', () => {
      const { store } = open();
      expect(store.get('p', 'd')).toBeUndefined();
      store.set('p', 'd', new Uint8Array([1, 2]));
      store.set('p', 'd', new Uint8Array([3]));
      store.set('p', 'e', new Uint8Array([4]));
      store.set('q', 'd', new Uint8Array([5]));
      expect([...store.get('p', 'd')!]).toEqual([3]);
      expect([...store.all('p').keys()].sort()).toEqual(['d', 'e']);
      store.clear('p');
      expect(store.all('p').size).toBe(0);
      expect([...store.get('q', 'd')!]).toEqual([5]);
    });

    it('keeps an epoch per store and drops a peer’s states when its epoch changes', () => {
      const { store, reopen } = open();
      const e1 = storeEpoch(store, () => 'aaaaaaaaaaaaaaaa');
      expect(storeEpoch(store, () => 'bbbbbbbbbbbbbbbb')).toBe(e1);
      expect(adoptPeerEpoch(store, 'hub', '1111111111111111')).toBe(false);
      store.set('hub', 'parcel:x', new Uint8Array([1]));
      expect(adoptPeerEpoch(store, 'hub', '1111111111111111')).toBe(false);
      expect(store.get('hub', 'parcel:x')).toBeDefined();
      expect(adoptPeerEpoch(store, 'hub', '2222222222222222')).toBe(true);
      expect(store.get('hub', 'parcel:x')).toBeUndefined();
      if (reopen) {
        const again = reopen();
        expect(storeEpoch(again, () => 'cccccccccccccccc')).toBe(e1);
      }
    });
  });
}
