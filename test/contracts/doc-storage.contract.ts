/**
 * The contract of the DocStorage port (shared/storage/doc-storage.ts), run against every
 * adapter: each adapter's test file calls `docStorageContract(name, open)`.
 */
import * as A from '@automerge/automerge';
import { afterEach, describe, expect, it } from 'vitest';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { ParcelLedger, parcelDocId, toView } from '../../shared/ledger/parcel-ledger.js';
import type { ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { ManualClock, SeededRandom } from '../../shared/ports.js';
import type { DocStorage } from '../../shared/storage/doc-storage.js';

/** A store under test, and how to reach its backing store again. */
export interface OpenedStorage {
  storage: DocStorage;
  /** Close `storage` and open the same backing store again (a restart). */
  reopen(): DocStorage;
  /** Close and delete whatever `open()` created (temp files). Optional. */
  destroy?(): void;
}

const bytes = (...b: number[]) => new Uint8Array(b);
const list = (chunks: Uint8Array[] | undefined) => chunks?.map((c) => [...c]);

export function docStorageContract(name: string, open: () => OpenedStorage): void {
  describe(`DocStorage contract: ${name}`, () => {
    const opened: OpenedStorage[] = [];
    const fresh = (): OpenedStorage => {
      const o = open();
      opened.push(o);
      return o;
    };
    afterEach(() => {
      for (const o of opened.splice(0)) o.destroy?.();
    });

    it('starts empty', () => {
      const { storage } = fresh();
      expect(storage.loadAll().size).toBe(0);
      expect(storage.load('x')).toBeUndefined();
    });

    it('append keeps chunks in append order, per document', () => {
      const { storage } = fresh();
      storage.append('a', bytes(1));
      storage.append('b', bytes(9));
      storage.append('a', bytes(2, 2));
      storage.append('a', bytes(3, 3, 3));
      expect(list(storage.load('a'))).toEqual([[1], [2, 2], [3, 3, 3]]);
      expect(list(storage.load('b'))).toEqual([[9]]);
      const all = storage.loadAll();
      expect([...all.keys()].sort()).toEqual(['a', 'b']);
      expect(list(all.get('a'))).toEqual([[1], [2, 2], [3, 3, 3]]);
    });

    it('keeps order past 10 chunks (no lexical sorting of sequence numbers)', () => {
      const { storage } = fresh();
      for (let i = 0; i < 25; i++) storage.append('a', bytes(i));
      expect(list(storage.load('a'))).toEqual(Array.from({ length: 25 }, (_, i) => [i]));
      expect(list(storage.loadAll().get('a'))).toEqual(Array.from({ length: 25 }, (_, i) => [i]));
    });

    it('stores bytes faithfully: every byte value, large chunks, copies not views', () => {
      const { storage } = fresh();
      const every = Uint8Array.from({ length: 256 }, (_, i) => i);
      const big = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
      storage.append('a', every);
      storage.append('a', big);
      every[0] = 99; // the caller's buffer changes after the call
      const [x, y] = storage.load('a')!;
      expect(x![0]).toBe(0);
      expect([...x!]).toEqual(Array.from({ length: 256 }, (_, i) => i));
      expect(y!.length).toBe(1 << 20);
      expect(Buffer.from(y!).equals(Buffer.from(big))).toBe(true);
      x![1] = 42; // and the returned one
      expect(storage.load('a')![0]![1]).toBe(1);
    });

    it('replace swaps every chunk for one snapshot, and creates a missing document', () => {
      const { storage } = fresh();
      storage.append('a', bytes(1));
      storage.append('a', bytes(2));
      storage.replace('a', bytes(7, 7));
      expect(list(storage.load('a'))).toEqual([[7, 7]]);
      storage.append('a', bytes(8));
      expect(list(storage.load('a'))).toEqual([[7, 7], [8]]);
      storage.replace('new', bytes(5));
      expect(list(storage.load('new'))).toEqual([[5]]);
    });

    it('remove forgets a document; removing a missing one is harmless', () => {
      const { storage } = fresh();
      storage.append('a', bytes(1));
      storage.append('b', bytes(2));
      storage.remove('a');
      storage.remove('never-there');
      expect(storage.load('a')).toBeUndefined();
      expect([...storage.loadAll().keys()]).toEqual(['b']);
      storage.append('a', bytes(3)); // a removed id can be written again from scratch
      expect(list(storage.load('a'))).toEqual([[3]]);
    });

    it('transaction commits every write together and returns fn’s value', () => {
      const { storage } = fresh();
      storage.append('keep', bytes(0));
      const out = storage.transaction(() => {
        storage.append('a', bytes(1));
        storage.append('a', bytes(2));
        storage.replace('b', bytes(3));
        storage.remove('keep');
        expect(list(storage.load('a'))).toEqual([[1], [2]]); // reads see the transaction's writes
        expect(storage.load('keep')).toBeUndefined();
        return 'done';
      });
      expect(out).toBe('done');
      expect(list(storage.load('a'))).toEqual([[1], [2]]);
      expect(list(storage.load('b'))).toEqual([[3]]);
      expect(storage.load('keep')).toBeUndefined();
    });

    it('transaction writes nothing when fn throws, and rethrows', () => {
      const { storage } = fresh();
      storage.append('a', bytes(1));
      storage.append('c', bytes(5));
      const before = storage.sizeBytes();
      expect(() =>
        storage.transaction(() => {
          storage.append('a', bytes(2));
          storage.replace('b', bytes(3));
          storage.remove('c');
          throw new Error('boom');
        }),
      ).toThrow('boom');
      expect(list(storage.load('a'))).toEqual([[1]]);
      expect(storage.load('b')).toBeUndefined();
      expect(list(storage.load('c'))).toEqual([[5]]);
      expect([...storage.loadAll().keys()].sort()).toEqual(['a', 'c']);
      expect(storage.sizeBytes()).toBeLessThanOrEqual(before + 64 * 1024);
      // and the store still works afterwards
      storage.append('a', bytes(4));
      expect(list(storage.load('a'))).toEqual([[1], [4]]);
    });

    it('nested transactions join the outer one: committed together, rolled back together', () => {
      const { storage } = fresh();
      const v = storage.transaction(() => {
        storage.append('a', bytes(1));
        return storage.transaction(() => {
          storage.append('a', bytes(2));
          return 7;
        });
      });
      expect(v).toBe(7);
      expect(list(storage.load('a'))).toEqual([[1], [2]]);

      expect(() =>
        storage.transaction(() => {
          storage.transaction(() => storage.append('a', bytes(3)));
          storage.transaction(() => storage.replace('b', bytes(4)));
          throw new Error('outer fails after the inner ones returned');
        }),
      ).toThrow(/outer fails/);
      expect(list(storage.load('a'))).toEqual([[1], [2]]);
      expect(storage.load('b')).toBeUndefined();
    });

    it('close and reopen keeps everything written', () => {
      const o = fresh();
      o.storage.append('a', bytes(1));
      o.storage.append('a', bytes(2));
      o.storage.replace('b', bytes(3));
      o.storage.append('c', bytes(4));
      o.storage.remove('c');
      o.storage.transaction(() => o.storage.append('d', bytes(5)));
      const s2 = o.reopen();
      expect(list(s2.load('a'))).toEqual([[1], [2]]);
      expect(list(s2.load('b'))).toEqual([[3]]);
      expect(s2.load('c')).toBeUndefined();
      expect(list(s2.load('d'))).toEqual([[5]]);
      s2.append('a', bytes(6)); // appends continue after the existing chunks
      const s3 = o.reopen();
      expect(list(s3.load('a'))).toEqual([[1], [2], [6]]);
    });

    it('a DocSet and a ParcelLedger over it reload to identical documents after reopen', () => {
      const o = fresh();
      const clock = new ManualClock();
      const random = new SeededRandom(11);
      const ledger = new ParcelLedger({ bankId: 'bank-1', docs: new DocSet(o.storage, 'a1a1a1a1'), clock, random });
      for (let i = 0; i < 12; i++) {
        const p = `p${i}`;
        const codeId = ledger.depositAndIssue(p, { depositId: `d${i}`, compartment: i + 1, courierId: 'c', size: 'S' }, { selector: String(100 + i), hash: `h${i}`, issuer: 'hub' });
        clock.advance(60_000);
        if (i % 3 === 0) ledger.markUsed(p, codeId, 'att', i + 1);
        if (i % 3 === 1) ledger.issueCode(p, { selector: String(500 + i), hash: `r${i}`, issuer: 'cloud' });
        if (i % 4 === 0) ledger.relocate(p, 50 + i, 'tech', 'jam');
      }
      // enough changes on one document to pass the compaction threshold
      for (let k = 0; k < 20; k++) ledger.addException('p1', `note ${k}`);

      const before = new Map([...ledger.all()].map((d) => [parcelDocId(d.parcelId), d]));
      const s2 = o.reopen();
      const reloaded = new ParcelLedger({ bankId: 'bank-1', docs: new DocSet(s2, 'b2b2b2b2'), clock, random });
      const after = new Map([...reloaded.all()].map((d) => [parcelDocId(d.parcelId), d]));
      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      for (const [id, d] of before) {
        const r = after.get(id)! as A.Doc<ParcelDoc>;
        expect(A.getHeads(r).sort()).toEqual(A.getHeads(d).sort());
        expect(A.toJS(r)).toEqual(A.toJS(d));
        expect(toView(r, clock.now())).toEqual(toView(d, clock.now()));
      }
      expect(reloaded.candidates('101').map((c) => c.code.codeId)).toEqual(ledger.candidates('101').map((c) => c.code.codeId));
      expect(new Map(reloaded.occupancy())).toEqual(new Map(ledger.occupancy()));
    });

    it('sizeBytes grows as data is written', () => {
      const { storage } = fresh();
      const empty = storage.sizeBytes();
      expect(empty).toBeGreaterThanOrEqual(0);
      for (let i = 0; i < 50; i++) storage.append(`doc-${i}`, new Uint8Array(10_000).fill(i));
      const full = storage.sizeBytes();
      expect(full).toBeGreaterThan(empty);
      expect(full).toBeGreaterThanOrEqual(500_000);
    });
  });
}
