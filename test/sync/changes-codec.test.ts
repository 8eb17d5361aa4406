import * as A from '@automerge/automerge';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packChanges, TAG_CHANGES, unpackChanges } from '../../shared/sync/changes-codec.js';

type Doc = { m: Record<string, number> };

/** Replicas that change, merge and change again: histories with forks and merges. */
const stepArb = fc.record({ who: fc.nat({ max: 2 }), merge: fc.nat({ max: 2 }), key: fc.nat({ max: 4 }), v: fc.integer() });

describe('changes codec', () => {
  it('rebuilds byte for byte what saveSince gave, for histories with forks and merges', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 25 }), fc.nat({ max: 24 }), (steps, cut) => {
        const base = A.from<Doc>({ m: {} }, { actor: '00' });
        const docs = ['aa', 'bb', 'cc'].map((actor) => A.clone(base, { actor }));
        let since: A.Heads = A.getHeads(base);
        steps.forEach((s, i) => {
          if (s.merge !== s.who) docs[s.who] = A.merge(docs[s.who]!, docs[s.merge]!);
          docs[s.who] = A.change(docs[s.who]!, (d) => void (d.m[`k${s.key}`] = s.v));
          if (i === Math.min(cut, steps.length - 1) && s.who === 0) since = A.getHeads(docs[0]!);
        });
        const doc = docs[0]!;
        const chunks = A.saveSince(doc, since);
        if (chunks.length === 0) return;
        const packed = packChanges(chunks, since);
        expect(packed[0]).toBe(TAG_CHANGES);
        const back = unpackChanges(packed, [...since, ...A.getHeads(docs[1]!)]);
        expect('chunk' in back && Buffer.from(back.chunk).equals(Buffer.from(chunks))).toBe(true);
        // And it loads to the same document on a replica that holds `since`.
        const there = A.loadIncremental(A.clone(A.view(doc, since), { actor: 'dd' }), (back as { chunk: Uint8Array }).chunk);
        expect(A.getHeads(there).sort()).toEqual(A.getHeads(doc).sort());
      }),
      { numRuns: 200 },
    );
  });
});
