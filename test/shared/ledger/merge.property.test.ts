/**
 * Merge rules of the code ledger, as a property: three replicas (a hub, the cloud, a
 * technician laptop — any three writers) apply random operations to the same parcels and
 * merge in random orders and topologies. Whatever happened, after the merges:
 *   (a) a final full exchange makes every replica identical (heads and content),
 *   (b) a revoked code whose use was not recorded is never active (never validates),
 *   (c) a used code is never active again,
 *   (d) no parcel has two active codes,
 *   (e) a picked-up parcel has no active code.
 * The last test runs the same property against a toy model that stores a last-writer-wins
 * `state` field, and shows the property catches it resurrecting a revoked code.
 */
import * as A from '@automerge/automerge';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PickupCode } from '../../../shared/codes/format.js';
import type { CodeHasher } from '../../../shared/codes/hasher.js';
import { codeState, codesNewestFirst, currentCompartment, liveCode, parcelStatus, usedAt } from '../../../shared/ledger/parcel-doc.js';
import { parcelDocId, toView } from '../../../shared/ledger/parcel-ledger.js';
import { validateCode } from '../../../shared/ledger/validate.js';
import { str } from '../../../shared/ledger/str.js';
import { ManualClock } from '../../../shared/ports.js';
import { HOUR, mergeInto, testLedger, type TestLedger } from '../fixtures.js';

const PARCELS = ['p0', 'p1', 'p2'];
/** Few selectors, so concurrent issuance on different replicas collides on purpose. */
const SELECTORS = ['101', '202', '303'];
const REPLICAS = 3;
const T0 = Date.UTC(2026, 0, 1);

// ---- operations ----------------------------------------------------------------------

type Op =
  | { t: 'issue'; r: number; p: number; sel: number }
  | { t: 'revoke'; r: number; p: number }
  | { t: 'revokeCode'; r: number; p: number; k: number }
  | { t: 'use'; r: number; p: number }
  | { t: 'openFailed'; r: number; p: number; k: number }
  | { t: 'expire'; r: number; ms: number }
  | { t: 'relocate'; r: number; p: number; to: number }
  | { t: 'returned'; r: number; p: number }
  | { t: 'merge'; to: number; from: number }
  | { t: 'chain'; order: number[] }
  | { t: 'mesh' };

function opArb(withIssue: boolean): fc.Arbitrary<Op> {
  const r = fc.nat({ max: REPLICAS - 1 });
  const p = fc.nat({ max: PARCELS.length - 1 });
  const k = fc.nat({ max: 7 });
  const local: fc.Arbitrary<Op>[] = [
    fc.record({ t: fc.constant('revoke' as const), r, p }),
    fc.record({ t: fc.constant('revokeCode' as const), r, p, k }),
    fc.record({ t: fc.constant('use' as const), r, p }),
    fc.record({ t: fc.constant('openFailed' as const), r, p, k }),
    fc.record({ t: fc.constant('expire' as const), r, ms: fc.constantFrom(60_000, HOUR, 24 * HOUR, 80 * HOUR) }),
    fc.record({ t: fc.constant('relocate' as const), r, p, to: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ t: fc.constant('returned' as const), r, p }),
  ];
  if (withIssue) local.push(fc.record({ t: fc.constant('issue' as const), r, p, sel: fc.nat({ max: SELECTORS.length - 1 }) }));
  const merges: fc.Arbitrary<Op>[] = [
    fc
      .tuple(r, r)
      .filter(([a, b]) => a !== b)
      .map(([to, from]) => ({ t: 'merge' as const, to, from })),
    fc.shuffledSubarray([0, 1, 2], { minLength: 2, maxLength: 3 }).map((order) => ({ t: 'chain' as const, order })),
    fc.constant({ t: 'mesh' as const }),
  ];
  return fc.oneof({ arbitrary: fc.oneof(...local), weight: 3 }, { arbitrary: fc.oneof(...merges), weight: 2 });
}

// ---- the system under test, behind a small interface so a wrong model can be swapped in

/** What the invariants look at: every code a replica knows, with its facts and derived state. */
interface CodeFacts {
  parcelId: string;
  codeId: string;
  revoked: boolean;
  /** A door-open attempt recorded and not refuted by the door sensor. */
  used: boolean;
  state: string;
}

interface Replica {
  apply(op: Exclude<Op, { t: 'merge' | 'chain' | 'mesh' }>): void;
  mergeFrom(other: Replica): void;
  codes(): CodeFacts[];
  /** Parcels whose status is picked up. */
  pickedUp(): Set<string>;
  /** Everything that must be identical after a full exchange. */
  fingerprint(): string;
}

/** Replicas over the real ledger: each its own DocSet, actor, MemoryDocStorage, clock and RNG. */
class LedgerReplica implements Replica {
  private attempts = 0;
  constructor(
    readonly name: string,
    readonly t: TestLedger,
    /** Plaintexts of every code issued by any replica (what recipients were sent). */
    readonly sent: Map<string, PickupCode>,
  ) {}

  static group(): LedgerReplica[] {
    const sent = new Map<string, PickupCode>();
    const rs = ['a', 'b', 'c'].map(
      (n, i) => new LedgerReplica(n, testLedger({ seed: 100 + i, actor: n.repeat(16), clock: new ManualClock(T0) }), sent),
    );
    // Parcels are deposited on the hub (replica a) and reach everyone before the chaos starts.
    const hub = rs[0]!;
    PARCELS.forEach((p, i) => {
      const code = hub.newCode(i % SELECTORS.length);
      const codeId = hub.t.ledger.depositAndIssue(p, { depositId: `d-${p}`, compartment: i + 1, courierId: 'c1', size: 'M' }, { selector: code.selector, hash: plainHash(code), issuer: 'hub' });
      sent.set(codeId, code);
    });
    for (const r of rs.slice(1)) r.mergeFrom(hub);
    return rs;
  }

  private newCode(sel: number): PickupCode {
    const selector = SELECTORS[sel]!;
    const verifier = String(this.t.random.bytes(3).reduce((a, b) => a * 256 + b, 0) % 1_000_000).padStart(6, '0');
    return { selector, verifier, display: `${selector}-${verifier}` };
  }

  apply(op: Exclude<Op, { t: 'merge' | 'chain' | 'mesh' }>): void {
    const { ledger, clock } = this.t;
    clock.advance(1000); // time passes between operations
    const parcelId = 'p' in op ? PARCELS[op.p]! : '';
    const doc = parcelId ? ledger.doc(parcelId)! : undefined;
    switch (op.t) {
      case 'issue': {
        // The issuer checks its own view; it may not have seen a concurrent pickup yet.
        const status = parcelStatus(doc!, clock.now());
        if (status === 'picked_up' || status === 'returned') return;
        const code = this.newCode(op.sel);
        this.sent.set(ledger.issueCode(parcelId, { selector: code.selector, hash: plainHash(code), issuer: 'cloud' }), code);
        return;
      }
      case 'revoke':
        ledger.revoke(parcelId, 'support');
        return;
      case 'revokeCode': {
        const codes = codesNewestFirst(doc!);
        ledger.revoke(parcelId, 'support', str(codes[op.k % codes.length]!.codeId));
        return;
      }
      case 'use': {
        // A pickup: the hub only records an attempt for a code that is live in its own view.
        const live = liveCode(doc!, clock.now());
        if (live) ledger.markUsed(parcelId, str(live.codeId), `${this.name}-att-${this.attempts++}`, currentCompartment(doc!)!);
        return;
      }
      case 'openFailed': {
        const open = codesNewestFirst(doc!).flatMap((c) =>
          Object.keys(c.uses)
            .filter((a) => !c.openFailures[a])
            .map((a) => [str(c.codeId), a] as const),
        );
        const pick = open[op.k % Math.max(1, open.length)];
        if (pick) ledger.markOpenFailed(parcelId, pick[0], pick[1], 'sensor did not confirm');
        return;
      }
      case 'expire':
        clock.advance(op.ms);
        ledger.expire();
        return;
      case 'relocate':
        ledger.relocate(parcelId, op.to, this.name, 'door fault');
        return;
      case 'returned':
        if (parcelStatus(doc!, clock.now()) === 'expired') ledger.markReturned(parcelId);
        return;
    }
  }

  mergeFrom(other: Replica): void {
    mergeInto(this.t, (other as LedgerReplica).t);
  }

  codes(): CodeFacts[] {
    const now = this.t.clock.now();
    return [...this.t.ledger.all()].flatMap((d) =>
      Object.values(d.codes).map((c) => ({
        parcelId: d.parcelId,
        codeId: str(c.codeId),
        revoked: c.revokedAt !== undefined,
        used: usedAt(c) !== undefined,
        state: codeState(d, c, now),
      })),
    );
  }

  pickedUp(): Set<string> {
    const now = this.t.clock.now();
    return new Set([...this.t.ledger.all()].filter((d) => parcelStatus(d, now) === 'picked_up').map((d) => d.parcelId));
  }

  fingerprint(): string {
    const ids = [...this.t.docs.ids()].sort();
    // Derived views at one common instant, so replicas whose clocks differ still compare.
    const at = T0 + 1000 * HOUR;
    return canonical(
      ids.map((id) => {
        const d = this.t.docs.get<import('../../../shared/ledger/parcel-doc.js').ParcelDoc>(id)!;
        return [id, [...A.getHeads(d)].sort(), A.toJS(d), toView(d, at)];
      }),
    );
  }
}

/** JSON with object keys sorted: an Automerge map's key order depends on how the document was built. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

/** Hashes are the plaintext itself: this test is about merge rules, not argon2. */
const plainHash = (c: PickupCode) => `plain:${c.display}`;
const plainHasher: CodeHasher = {
  hash: async (c) => plainHash(c),
  verify: async (h, c) => h === plainHash(c),
  verifyDummy: async () => false,
};

// ---- the property ----------------------------------------------------------------------

/** Throws (labelled with the invariant) when a replica's state breaks one. */
function checkInvariants(rs: Replica[], where: string, only?: number[]): void {
  rs.forEach((r, i) => {
    if (only && !only.includes(i)) return;
    const codes = r.codes();
    for (const c of codes) {
      if (c.revoked && !c.used && c.state === 'active') throw new Error(`(b) revoked code ${c.codeId} active on replica ${i} ${where}`);
      if (c.used && c.state !== 'used') throw new Error(`(c) used code ${c.codeId} is ${c.state} on replica ${i} ${where}`);
    }
    const active = new Map<string, number>();
    for (const c of codes) if (c.state === 'active') active.set(c.parcelId, (active.get(c.parcelId) ?? 0) + 1);
    for (const [p, n] of active) if (n > 1) throw new Error(`(d) parcel ${p} has ${n} active codes on replica ${i} ${where}`);
    for (const p of r.pickedUp()) if (active.has(p)) throw new Error(`(e) picked-up parcel ${p} has an active code on replica ${i} ${where}`);
  });
}

function fullExchange(rs: Replica[]): void {
  // Everyone into the first, then the first back into everyone.
  for (const r of rs.slice(1)) rs[0]!.mergeFrom(r);
  for (const r of rs.slice(1)) r.mergeFrom(rs[0]!);
}

function run(rs: Replica[], ops: Op[]): void {
  ops.forEach((op, step) => {
    const where = `after step ${step} ${JSON.stringify(op)}`;
    let touched: number[] | undefined;
    switch (op.t) {
      case 'merge':
        rs[op.to]!.mergeFrom(rs[op.from]!);
        touched = [op.to];
        break;
      case 'chain':
        for (let i = 1; i < op.order.length; i++) rs[op.order[i]!]!.mergeFrom(rs[op.order[i - 1]!]!);
        touched = op.order.slice(1);
        break;
      case 'mesh':
        for (const to of rs) for (const from of rs) if (to !== from) to.mergeFrom(from);
        break;
      default:
        rs[op.r]!.apply(op);
        touched = [op.r];
    }
    // Only a replica that changed can newly break an invariant (time only moves on a replica's own ops).
    checkInvariants(rs, where, touched);
  });
  fullExchange(rs);
  checkInvariants(rs, 'after the final exchange');
  const prints = rs.map((r) => r.fingerprint());
  for (let i = 1; i < prints.length; i++) if (prints[i] !== prints[0]) throw new Error(`(a) replica ${i} differs from replica 0 after the final exchange`);
}

/** Enough to find the toy's bug within a few hundred runs; a few seconds on a 2-core machine. */
const NUM_RUNS = 120;

describe('ledger merge rules (property)', () => {
  it('random operations and merges on 3 replicas keep (a)–(e)', () => {
    fc.assert(
      fc.property(fc.array(opArb(true), { minLength: 1, maxLength: 40 }), (ops) => {
        run(LedgerReplica.group(), ops);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('after the final exchange a revoked, unused code never validates, and only an active code does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(true), { minLength: 1, maxLength: 40 }), async (ops) => {
        const rs = LedgerReplica.group();
        run(rs, ops);
        for (const r of rs) {
          const facts = new Map(r.codes().map((c) => [c.codeId, c]));
          for (const [codeId, plaintext] of r.sent) {
            const result = await validateCode(r.t.ledger, plainHasher, plaintext);
            const f = facts.get(codeId)!;
            if (result.kind === 'valid') {
              expect(result.codeId).toBe(codeId);
              expect(f.state).toBe('active');
              expect(result.compartment).toBe(currentCompartment(r.t.ledger.doc(f.parcelId)!));
            }
            if (f.revoked && !f.used) expect(result.kind).not.toBe('valid');
            if (f.used) expect(result).not.toMatchObject({ kind: 'valid' });
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('the classic scenarios, written out', () => {
    // Revoke on the cloud concurrent with a pickup at the hub: both facts survive, used wins.
    const rs = LedgerReplica.group();
    run(rs, [
      { t: 'revoke', r: 1, p: 0 },
      { t: 'use', r: 0, p: 0 },
      { t: 'merge', to: 1, from: 0 },
    ]);
    const view = rs[1]!.t.ledger.view('p0')!;
    expect(view.status).toBe('picked_up');
    expect(view.codes[0]).toMatchObject({ state: 'used', usedAfterRevoke: true });

    // A stale replica that never saw the revocation cannot resurrect it by merging.
    const rs2 = LedgerReplica.group();
    run(rs2, [
      { t: 'revoke', r: 1, p: 1 },
      { t: 'relocate', r: 2, p: 1, to: 5 }, // the stale replica writes something unrelated
      { t: 'merge', to: 1, from: 2 },
      { t: 'merge', to: 2, from: 1 },
    ]);
    for (const r of rs2) expect(r.t.ledger.view('p1')!.codes[0]!.state).toBe('revoked');
    expect(rs2[0]!.t.ledger.doc('p1')).toEqual(rs2[1]!.t.ledger.doc('p1'));
    expect(parcelDocId('p1')).toBe('parcel:p1');
  });
});

// ---- the property has teeth: a wrong merge rule fails it ------------------------------

interface ToyCode {
  /** The bug: a mutable, last-writer-wins state field. */
  state: 'active' | 'used' | 'revoked' | 'expired';
  revokedAt?: number;
  uses: Record<string, number>;
  failures: Record<string, number>;
}
interface ToyDoc {
  codes: Record<string, ToyCode>;
}

/**
 * One parcel document per parcel, one code each, and the state kept in a field that
 * operations assign: revoke sets 'revoked', a pickup 'used', and a failed door open puts
 * it back to 'active' — exactly what a naive implementation would write.
 */
class ToyLwwReplica implements Replica {
  private attempts = 0;
  private now = T0;
  constructor(
    readonly name: string,
    readonly docs: Map<string, A.Doc<ToyDoc>>,
  ) {}

  static group(): ToyLwwReplica[] {
    const genesis = new Map(
      PARCELS.map((p) => {
        let d = A.init<ToyDoc>({ actor: '00000000' });
        d = A.change(d, { time: 0 }, (x) => {
          x.codes = { [`${p}-c`]: { state: 'active', uses: {}, failures: {} } };
        });
        return [p, d] as const;
      }),
    );
    return ['a', 'b', 'c'].map((n) => new ToyLwwReplica(n, new Map([...genesis].map(([k, d]) => [k, A.clone(d, { actor: n.repeat(16) })]))));
  }

  private change(p: string, fn: (c: ToyCode) => void): void {
    const d = this.docs.get(p)!;
    this.docs.set(
      p,
      A.change(d, (x) => fn(x.codes[`${p}-c`]!)),
    );
  }

  apply(op: Exclude<Op, { t: 'merge' | 'chain' | 'mesh' }>): void {
    this.now += 1000;
    const p = 'p' in op ? PARCELS[op.p]! : '';
    switch (op.t) {
      case 'revoke':
      case 'revokeCode':
        this.change(p, (c) => {
          if (c.state !== 'active') return;
          c.state = 'revoked';
          c.revokedAt = this.now;
        });
        return;
      case 'use':
        this.change(p, (c) => {
          if (c.state !== 'active') return;
          c.uses[`${this.name}-${this.attempts++}`] = this.now;
          c.state = 'used';
        });
        return;
      case 'openFailed':
        this.change(p, (c) => {
          const open = Object.keys(c.uses).filter((a) => c.failures[a] === undefined);
          const pick = open[op.k % Math.max(1, open.length)];
          if (!pick) return;
          c.failures[pick] = this.now;
          c.state = 'active'; // "the door did not open: the code works again"
        });
        return;
      case 'expire':
        this.now += op.ms;
        return;
      default:
        return; // issue, relocate, returned: not modelled by the toy
    }
  }

  mergeFrom(other: Replica): void {
    for (const [p, remote] of (other as ToyLwwReplica).docs) {
      if (A.hasHeads(this.docs.get(p)!, A.getHeads(remote))) continue;
      this.docs.set(p, A.merge(A.clone(this.docs.get(p)!, { actor: this.name.repeat(16) }), remote));
    }
  }

  codes(): CodeFacts[] {
    return [...this.docs].flatMap(([p, d]) =>
      Object.entries(d.codes).map(([codeId, c]) => ({
        parcelId: p,
        codeId,
        revoked: c.revokedAt !== undefined,
        used: Object.keys(c.uses).some((a) => c.failures[a] === undefined),
        state: c.state,
      })),
    );
  }

  pickedUp(): Set<string> {
    return new Set(this.codes().filter((c) => c.used).map((c) => c.parcelId));
  }

  fingerprint(): string {
    return canonical([...this.docs].map(([p, d]) => [p, [...A.getHeads(d)].sort(), A.toJS(d)]));
  }
}

describe('the merge property has teeth', () => {
  it('a last-writer-wins state field resurrects a revoked code, and the property finds it', () => {
    let message = '';
    try {
      fc.assert(
        fc.property(fc.array(opArb(false), { minLength: 1, maxLength: 15 }), (ops) => {
          run(ToyLwwReplica.group(), ops);
        }),
        { numRuns: 1000, seed: 20260101 },
      );
    } catch (e) {
      // fast-check reports the counterexample in the message and the broken invariant as the cause.
    message = `${(e as Error).message}\n${String((e as Error).cause)}`;
    }
    expect(message).toMatch(/Property failed/);
    expect(message).toMatch(/\(b\) revoked code p\d-c active/);
  });

  it('the toy on the counterexample, step by step', () => {
    const [a, b] = ToyLwwReplica.group();
    b!.apply({ t: 'use', r: 1, p: 0 }); // hub: door open attempt
    a!.apply({ t: 'revoke', r: 0, p: 0 }); // cloud: support revokes (it has not seen the attempt)
    b!.apply({ t: 'openFailed', r: 1, p: 0, k: 0 }); // hub: the door did not open -> state = 'active'
    a!.mergeFrom(b!);
    const c = a!.codes()[0]!;
    expect(c).toMatchObject({ revoked: true, used: false, state: 'active' }); // resurrected
  });
});
