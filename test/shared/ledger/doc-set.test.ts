import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { DocSet, concat, sameHeads } from '../../../shared/ledger/doc-set.js';
import { SeededRandom } from '../../../shared/ports.js';
import { MemoryDocStorage } from '../../../shared/storage/doc-storage.js';

interface Counter {
  n: number;
  tags: Record<string, boolean>;
}

const ACTOR_A = 'aaaaaaaaaaaaaaaa';
const ACTOR_B = 'bbbbbbbbbbbbbbbb';

describe('DocSet', () => {
  it('create: a deterministic genesis, so concurrent creators share the root maps', () => {
    const a = new DocSet(new MemoryDocStorage(), ACTOR_A);
    const b = new DocSet(new MemoryDocStorage(), ACTOR_B);
    const ga = a.create<Counter>('c', { n: 0, tags: {} });
    const gb = b.create<Counter>('c', { n: 0, tags: {} });
    expect(A.getHeads(ga)).toEqual(A.getHeads(gb));
    a.change<Counter>('c', 'tag a', (d) => {
      d.tags.a = true;
    });
    b.change<Counter>('c', 'tag b', (d) => {
      d.tags.b = true;
    });
    const merged = A.merge(A.clone(a.get<Counter>('c')!, { actor: ACTOR_A }), b.get<Counter>('c')!);
    // With two independent A.from() the two `tags` maps would conflict and one would vanish.
    expect(merged.tags).toEqual({ a: true, b: true });
  });

  it('create: returns the existing document untouched', () => {
    const s = new DocSet(new MemoryDocStorage(), ACTOR_A);
    s.create<Counter>('c', { n: 0, tags: {} });
    s.change<Counter>('c', 'inc', (d) => {
      d.n = 5;
    });
    expect(s.create<Counter>('c', { n: 0, tags: {} }).n).toBe(5);
  });

  it('change: local changes carry this replica’s actor and are durable when change() returns', () => {
    const storage = new MemoryDocStorage();
    const s = new DocSet(storage, ACTOR_A);
    s.create<Counter>('c', { n: 0, tags: {} });
    const doc = s.change<Counter>('c', 'inc', (d) => {
      d.n = 1;
    }, Date.UTC(2026, 0, 1, 12));
    expect(A.getActorId(doc)).toBe(ACTOR_A);
    const last = A.getHistory(doc).at(-1)!.change;
    expect(last.actor).toBe(ACTOR_A);
    expect(last.time).toBe(Date.UTC(2026, 0, 1, 12) / 1000);
    expect(storage.load('c')).toHaveLength(1); // a small document is rewritten as one snapshot
    const reloaded = new DocSet(new MemoryDocStorage(storage.backing), ACTOR_B);
    expect(reloaded.get<Counter>('c')).toEqual({ n: 1, tags: {} });
    expect(sameHeads(A.getHeads(reloaded.get('c')!), A.getHeads(doc))).toBe(true);
  });

  it('change: unknown document throws', () => {
    const s = new DocSet(new MemoryDocStorage(), ACTOR_A);
    expect(() => s.change('nope', 'x', () => {})).toThrow(/no document/);
  });

  it('a large document grows by incremental chunks and is compacted after 16, loading to the same document', () => {
    const storage = new MemoryDocStorage();
    const s = new DocSet(storage, ACTOR_A);
    // ~20 KB of incompressible content: past the size below which every change is a full snapshot.
    const blob = Buffer.from(new SeededRandom(1).bytes(15_000)).toString('base64');
    s.create<Counter & { blob: A.ImmutableString }>('c', { n: 0, tags: {}, blob: new A.ImmutableString(blob) });
    expect(storage.sizeBytes()).toBeGreaterThan(8 * 1024);
    const lengths: number[] = [];
    for (let i = 1; i <= 40; i++) {
      s.change<Counter>('c', 'inc', (d) => {
        d.n = i;
      });
      lengths.push(storage.load('c')!.length);
    }
    expect(Math.max(...lengths)).toBe(16);
    expect(lengths).toContain(1);
    const reloaded = new DocSet(new MemoryDocStorage(storage.backing), ACTOR_B);
    expect(reloaded.get<Counter>('c')!.n).toBe(40);
    expect(A.getHeads(reloaded.get('c')!)).toEqual(A.getHeads(s.get('c')!));
  });

  it('a small document is always one snapshot, whatever its history', () => {
    const storage = new MemoryDocStorage();
    const s = new DocSet(storage, ACTOR_A);
    s.create<Counter>('c', { n: 0, tags: {} });
    for (let i = 1; i <= 20; i++) {
      s.change<Counter>('c', 'inc', (d) => {
        d.n = i;
      });
      expect(storage.load('c')).toHaveLength(1);
    }
    expect(new DocSet(new MemoryDocStorage(storage.backing), ACTOR_B).get<Counter>('c')!.n).toBe(20);
  });

  it('put: an unchanged version writes nothing', () => {
    const storage = new MemoryDocStorage();
    const s = new DocSet(storage, ACTOR_A);
    const doc = s.create<Counter>('c', { n: 0, tags: {} });
    const before = storage.sizeBytes();
    s.put('c', A.clone(doc));
    expect(storage.sizeBytes()).toBe(before);
  });

  it('put: the changes a peer sent are appended as they are (repeats included), and compacted by the next local change', () => {
    const storage = new MemoryDocStorage();
    const a = new DocSet(new MemoryDocStorage(), ACTOR_A);
    const b = new DocSet(storage, ACTOR_B);
    a.create<Counter>('c', { n: 0, tags: {} });
    a.change<Counter>('c', 'a1', (d) => void (d.tags.a1 = true));
    // First sight: the peer's whole history, stored as it came.
    const all = A.saveSince(a.get('c')!, []);
    b.put('c', A.load(all, { actor: ACTOR_B }), { received: all });
    expect(storage.load('c')).toEqual([all]);
    a.change<Counter>('c', 'a2', (d) => void (d.tags.a2 = true));
    // Again from scratch (the genesis and a1 are repeated): appended, and it loads.
    const again = A.saveSince(a.get('c')!, []);
    const merged = A.loadIncremental(b.get<Counter>('c')!, again);
    b.put('c', merged, { received: again, heads: A.getHeads(merged) });
    expect(storage.load('c')).toHaveLength(2);
    expect(new DocSet(new MemoryDocStorage(storage.backing), ACTOR_B).get('c')).toEqual(merged);
    // The same version object again (a hook storing what was just stored): nothing written.
    const size = storage.sizeBytes();
    b.put('c', merged);
    expect(storage.sizeBytes()).toBe(size);
    // A local change of the small document: one snapshot again.
    const local = b.change<Counter>('c', 'b', (d) => void (d.n = 1));
    expect(storage.load('c')).toHaveLength(1);
    expect(new DocSet(new MemoryDocStorage(storage.backing), ACTOR_B).get('c')).toEqual(local);
  });

  it('put: merged versions are stored incrementally and keep this replica’s actor', () => {
    const a = new DocSet(new MemoryDocStorage(), ACTOR_A);
    const b = new DocSet(new MemoryDocStorage(), ACTOR_B);
    a.create<Counter>('c', { n: 0, tags: {} });
    b.put('c', a.get<Counter>('c')!); // first sight of the document: stored as a snapshot
    expect(A.getActorId(b.get('c')!)).toBe(ACTOR_B);
    a.change<Counter>('c', 'a', (d) => {
      d.tags.a = true;
    });
    // A merge on a clone made without an actor gets a random one; the DocSet must not adopt it.
    b.put('c', A.merge(A.clone(b.get<Counter>('c')!), a.get<Counter>('c')!));
    const after = b.change<Counter>('c', 'b', (d) => {
      d.tags.b = true;
    });
    expect(A.getHistory(after).at(-1)!.change.actor).toBe(ACTOR_B);
    expect(after.tags).toEqual({ a: true, b: true });
    const reloaded = new DocSet(new MemoryDocStorage((b.storage as MemoryDocStorage).backing), ACTOR_B);
    expect(reloaded.get('c')).toEqual(after);
  });

  it('remove: forgets the document in memory and in storage', () => {
    const storage = new MemoryDocStorage();
    const s = new DocSet(storage, ACTOR_A);
    s.create('c', { n: 0 });
    s.remove('c');
    expect(s.has('c')).toBe(false);
    expect(s.size).toBe(0);
    expect(storage.load('c')).toBeUndefined();
  });

  it('remove: a version obtained before can still be read', () => {
    const s = new DocSet(new MemoryDocStorage(), ACTOR_A);
    s.create<Counter>('c', { n: 0, tags: {} });
    const held = s.change<Counter>('c', 'inc', (d) => {
      d.n = 3;
    });
    s.remove('c');
    expect(held.n).toBe(3);
  });

  it('remove inside a transaction that rolls back: the document comes back writable', () => {
    const storage = new MemoryDocStorage();
    const s = new DocSet(storage, ACTOR_A);
    s.create<Counter>('c', { n: 0, tags: {} });
    expect(() =>
      s.transaction(() => {
        s.transaction(() => s.remove('c'));
        throw new Error('rollback');
      }),
    ).toThrow('rollback');
    expect(s.has('c')).toBe(true);
    s.change<Counter>('c', 'inc', (d) => {
      d.n = 1;
    });
    expect(new DocSet(new MemoryDocStorage(storage.backing), ACTOR_B).get<Counter>('c')!.n).toBe(1);
    // and removed for good when the transaction commits
    s.transaction(() => s.remove('c'));
    expect(s.has('c')).toBe(false);
    expect(storage.load('c')).toBeUndefined();
  });

  it('transaction: commits together, or rolls storage and memory back on a throw', () => {
    const storage = new MemoryDocStorage();
    const s = new DocSet(storage, ACTOR_A);
    s.create<Counter>('c', { n: 0, tags: {} });
    s.transaction(() => {
      s.change<Counter>('c', 'one', (d) => {
        d.n = 1;
      });
      s.create('d', { x: 1 });
    });
    expect([...s.ids()].sort()).toEqual(['c', 'd']);
    const heads = A.getHeads(s.get('c')!);
    const bytes = storage.sizeBytes();

    expect(() =>
      s.transaction(() => {
        s.change<Counter>('c', 'two', (d) => {
          d.n = 2;
        });
        s.create('e', { x: 1 });
        s.remove('d');
        throw new Error('crash between the writes');
      }),
    ).toThrow(/crash/);
    expect(s.get<Counter>('c')!.n).toBe(1);
    expect(A.getHeads(s.get('c')!)).toEqual(heads);
    expect([...s.ids()].sort()).toEqual(['c', 'd']);
    expect(storage.sizeBytes()).toBe(bytes);
    // and the next change appends after the right heads
    s.change<Counter>('c', 'three', (d) => {
      d.n = 3;
    });
    expect(new DocSet(new MemoryDocStorage(storage.backing), ACTOR_B).get<Counter>('c')!.n).toBe(3);
  });

  it('refresh: merges what another writer of the storage added; with nothing new the document stays writable', () => {
    const storage = new MemoryDocStorage();
    const a = new DocSet(storage, ACTOR_A);
    a.create<Counter>('c', { n: 0, tags: {} });
    const b = new DocSet(storage, ACTOR_B);
    b.change<Counter>('c', 'tag b', (d) => {
      d.tags.b = true;
    });
    expect(a.refresh<Counter>('c')?.tags).toEqual({ b: true });
    // The same chunks again (a second notification of one write): nothing new...
    expect(a.refresh<Counter>('c')).toBeUndefined();
    // ...and the document can still be changed (loadIncremental outdated the old version).
    a.change<Counter>('c', 'tag a', (d) => {
      d.tags.a = true;
    });
    expect(a.get<Counter>('c')!.tags).toEqual({ a: true, b: true });
    expect(a.refresh<Counter>('c')).toBeUndefined();
  });

  it('concat joins chunks in order', () => {
    expect([...concat([new Uint8Array([1]), new Uint8Array([2, 3]), new Uint8Array([])])]).toEqual([1, 2, 3]);
  });
});
