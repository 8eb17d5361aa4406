import * as A from '@automerge/automerge';
import { Argon2CodeHasher, TEST_ARGON2, type CodeHasher } from '../../shared/codes/hasher.js';
import type { PickupCode } from '../../shared/codes/format.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import type { ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { ManualClock, SeededRandom, randomId, type Random } from '../../shared/ports.js';
import { MemoryDocStorage, type DocStorage } from '../../shared/storage/doc-storage.js';

/** A fixed 32-byte test pepper. */
export const PEPPER = new Uint8Array(32).fill(7);
export const BANK = 'bank-1';

/** Wraps a hasher and counts what it is asked to do. */
export class CountingHasher implements CodeHasher {
  hashes = 0;
  verifies = 0;
  dummies = 0;
  constructor(readonly inner: CodeHasher = new Argon2CodeHasher(PEPPER, TEST_ARGON2)) {}
  /** Every argon2 evaluation on the validation path (real verifies plus dummy ones). */
  get argon2Calls(): number {
    return this.verifies + this.dummies;
  }
  hash(code: PickupCode): Promise<string> {
    this.hashes++;
    return this.inner.hash(code);
  }
  verify(hash: string, code: PickupCode): Promise<boolean> {
    this.verifies++;
    return this.inner.verify(hash, code);
  }
  verifyDummy(code: PickupCode): Promise<false> {
    this.dummies++;
    return this.inner.verifyDummy(code);
  }
}

export function code(display: string): PickupCode {
  const [selector, verifier] = display.split('-') as [string, string];
  return { selector, verifier, display };
}

export interface TestLedger {
  ledger: ParcelLedger;
  docs: DocSet;
  storage: MemoryDocStorage;
  clock: ManualClock;
  random: Random;
  actor: string;
}

/** A ledger over an in-memory store with a manual clock and a seeded RNG. */
export function testLedger(
  opts: { seed?: number; clock?: ManualClock; storage?: DocStorage; actor?: string; bankId?: string; codeTtlMs?: number } = {},
): TestLedger {
  const random = new SeededRandom(opts.seed ?? 1);
  const clock = opts.clock ?? new ManualClock();
  const storage = (opts.storage ?? new MemoryDocStorage()) as MemoryDocStorage;
  const actor = opts.actor ?? randomId(random, 16);
  const docs = new DocSet(storage, actor);
  const ledger = new ParcelLedger({ bankId: opts.bankId ?? BANK, docs, clock, random, codeTtlMs: opts.codeTtlMs });
  return { ledger, docs, storage, clock, random, actor };
}

/** Deposit a parcel and issue a code with a plain (non-argon2) hash, for tests that never verify. */
export function depositWithCode(t: TestLedger, parcelId: string, compartment: number, selector = '123'): string {
  return t.ledger.depositAndIssue(
    parcelId,
    { depositId: `dep-${parcelId}`, compartment, courierId: 'courier-1', size: 'M' },
    { selector, hash: `plain:${selector}`, issuer: 'hub' },
  );
}

export const HOUR = 3600_000;

/**
 * Bring every document of `from` into `to` the way a sync would: `Automerge.merge` into a
 * clone of `to`'s version (or a copy of `from`'s when `to` has none), then `ledger.receive`.
 */
export function mergeInto(to: TestLedger, from: TestLedger): void {
  for (const id of [...from.docs.ids()]) {
    const remote = from.docs.get(id)!;
    const local = to.docs.get(id);
    if (local && A.hasHeads(local, A.getHeads(remote))) continue; // nothing new
    const merged = local ? A.merge(A.clone(local, { actor: to.actor }), remote) : A.clone(remote, { actor: to.actor });
    to.ledger.receive(id, merged as A.Doc<ParcelDoc>);
  }
}
