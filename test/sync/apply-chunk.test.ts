import * as A from '@automerge/automerge';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyChunk } from '../../shared/sync/apply-chunk.js';

/** Key order is not content: Automerge's own `load` and its patches order new keys differently. */
function canonical(v: unknown): unknown {
  if (v instanceof A.ImmutableString) return { imm: v.val };
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v;
}

type Doc = { m: Record<string, unknown>; list: unknown[]; text: string; n: number };
type Op = { kind: 'put' | 'nested' | 'push' | 'del' | 'text' | 'imm' | 'listDel'; k: number; v: number };

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('put', 'nested', 'push', 'del', 'text', 'imm', 'listDel'),
  k: fc.nat({ max: 5 }),
  v: fc.integer({ min: -1000, max: 1000 }),
});

function apply(doc: A.Doc<Doc>, ops: Op[]): A.Doc<Doc> {
  return ops.reduce(
    (d, op) =>
      A.change(d, (x) => {
        const key = `k${op.k}`;
        if (op.kind === 'put') x.m[key] = op.v;
        else if (op.kind === 'nested') x.m[key] = { at: op.v, inner: { list: [op.v, op.k] } };
        else if (op.kind === 'push') x.list.push(op.v);
        else if (op.kind === 'del') delete x.m[key];
        else if (op.kind === 'text') A.splice(x, ['text'], Math.min(op.k, x.text.length), 0, `t${op.v}`);
        else if (op.kind === 'imm') x.m[key] = new A.ImmutableString(`s${op.v}`);
        else if (x.list.length) x.list.splice(op.k % x.list.length, 1);
        x.n += 1;
      }),
    doc,
  );
}

describe('applyChunk', () => {
  it('gives what loadIncremental gives, and a document that keeps changing like it', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 12 }), fc.array(opArb, { maxLength: 30 }), fc.array(opArb, { maxLength: 12 }), fc.array(opArb, { maxLength: 8 }), (shared, theirs, ours, after) => {
        const base = apply(A.from<Doc>({ m: {}, list: [], text: '', n: 0 }, { actor: 'aa' }), shared);
        const peer = apply(A.clone(base, { actor: 'bb' }), theirs);
        const mine = apply(A.clone(base, { actor: 'cc' }), ours);
        const chunk = A.saveSince(peer, A.getHeads(base));
        const viaAutomerge = A.loadIncremental(A.clone(mine, { actor: 'dd' }), chunk);
        const ourCopy = A.clone(mine, { actor: 'dd' });
        const viaChunk = applyChunk(ourCopy, chunk);
        expect(canonical(viaChunk)).toEqual(canonical(viaAutomerge));
        expect(A.getHeads(viaChunk).sort()).toEqual(A.getHeads(viaAutomerge).sort());
        // The old version is a read-only view of what it was.
        expect(canonical(ourCopy)).toEqual(canonical(mine));
        expect(() => A.change(ourCopy, (d) => void (d.n = 0))).toThrow();
        // Later changes (patches on the new object) land exactly as on Automerge's own result.
        const a = apply(viaAutomerge, after);
        const b = apply(viaChunk, after);
        expect(canonical(b)).toEqual(canonical(a));
        expect(canonical(A.load(A.save(b)))).toEqual(canonical(b));
        // And a further chunk on top.
        const more = A.saveSince(apply(peer, after.slice(0, 3)), A.getHeads(peer));
        expect(canonical(applyChunk(b, more))).toEqual(canonical(A.loadIncremental(a, more)));
      }),
      { numRuns: 150 },
    );
  });

  it('rebuilds a small document that receives most of its content, and patches one that receives little', () => {
    const base = A.from<Doc>({ m: {}, list: [], text: '', n: 0 }, { actor: 'aa' });
    const big = apply(A.clone(base, { actor: 'bb' }), Array.from({ length: 20 }, (_, i) => ({ kind: 'nested', k: i % 6, v: i }) as Op));
    const rebuilt = applyChunk(A.clone(base, { actor: 'cc' }), A.saveSince(big, A.getHeads(base)));
    expect(canonical(rebuilt)).toEqual(canonical(big));
    // An untouched subtree keeps its identity only when patched.
    const small = apply(A.clone(big, { actor: 'dd' }), [{ kind: 'put', k: 0, v: 1 }]);
    const target = A.clone(big, { actor: 'ee' });
    const patched = applyChunk(target, A.saveSince(small, A.getHeads(big)));
    expect(patched.list).toBe(target.list);
    expect(canonical(patched)).toEqual(canonical(small));
  });
});
