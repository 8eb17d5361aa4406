import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { Conflict, NotFound } from '../../../shared/errors.js';
import { DocSet } from '../../../shared/ledger/doc-set.js';
import type { ParcelDoc } from '../../../shared/ledger/parcel-doc.js';
import { DEFAULT_CODE_TTL_MS, ParcelLedger, parcelDocId } from '../../../shared/ledger/parcel-ledger.js';
import { str } from '../../../shared/ledger/str.js';
import { MemoryDocStorage } from '../../../shared/storage/doc-storage.js';
import { BANK, HOUR, depositWithCode, testLedger } from '../fixtures.js';

const DEP = { depositId: 'd1', compartment: 4, courierId: 'courier-1', size: 'M' as const };

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('ParcelLedger operations', () => {
  it('announce: creates the parcel, set-once', () => {
    const t = testLedger();
    t.ledger.announce('p1', { carrier: 'dhl', trackingNumber: 'T1', size: 'S', reservedCompartment: undefined });
    t.clock.advance(1000);
    t.ledger.announce('p1', { carrier: 'ups', trackingNumber: 'T2', size: 'L', reservedCompartment: 3 });
    const v = t.ledger.view('p1')!;
    expect(v.status).toBe('announced');
    expect(v.announcement).toEqual({ carrier: 'dhl', trackingNumber: 'T1', size: 'S', at: t.clock.now() - 1000 });
    expect(v.compartment).toBeUndefined();
  });

  it('deposit: records the compartment once; a second deposit is a Conflict', () => {
    const t = testLedger();
    t.ledger.announce('p1', { carrier: 'dhl', trackingNumber: 'T1', size: 'M', reservedCompartment: 4 });
    t.ledger.deposit('p1', DEP);
    expect(t.ledger.view('p1')).toMatchObject({ status: 'deposited', compartment: 4, deposit: { ...DEP, at: t.clock.now() } });
    const err = errorOf(() => t.ledger.deposit('p1', { ...DEP, compartment: 5 }));
    expect(err).toBeInstanceOf(Conflict);
    expect((err as Conflict).code).toBe('already_deposited');
    expect(t.ledger.view('p1')!.compartment).toBe(4);
  });

  it('issueCode: a rotation in the same millisecond, or after a code stamped by a clock ahead of ours, still leaves the new code live', () => {
    const t = testLedger();
    const first = depositWithCode(t, 'p1', 4, '111');
    const second = t.ledger.issueCode('p1', { selector: '222', hash: 'h2', issuer: 'cloud' });
    expect(t.ledger.view('p1')!.codes.map((v) => [v.codeId, v.state])).toEqual([
      [second, 'active'],
      [first, 'revoked'],
    ]);
    // An older code stamped two hours in our future (a hub whose clock runs ahead).
    t.ledger.receive(parcelDocId('p1'), A.change(A.clone(t.ledger.doc('p1')!), (d) => {
      d.codes[second]!.issuedAt = t.clock.now() + 2 * HOUR;
    }));
    const third = t.ledger.issueCode('p1', { selector: '333', hash: 'h3', issuer: 'cloud' });
    expect(t.ledger.view('p1')!.codes[0]).toMatchObject({ codeId: third, state: 'active' });
  });

  it('issueCode: refuses a parcel that is not deposited', () => {
    const t = testLedger();
    expect((errorOf(() => t.ledger.issueCode('nope', { selector: '1', hash: 'h', issuer: 'hub' })) as Conflict).code).toBe('not_deposited');
    t.ledger.announce('p1', { carrier: 'dhl', trackingNumber: 'T1', size: 'M' });
    expect((errorOf(() => t.ledger.issueCode('p1', { selector: '1', hash: 'h', issuer: 'cloud' })) as Conflict).code).toBe('not_deposited');
  });

  it('issueCode: the new code is active, stored as immutable strings, and rotates the old one out', () => {
    const t = testLedger();
    const first = depositWithCode(t, 'p1', 4, '111');
    t.clock.advance(HOUR);
    const second = t.ledger.issueCode('p1', { selector: '222', hash: '$argon2id$fake', issuer: 'cloud', sealed: 'sealed-bytes' });
    expect(second).toMatch(/^[0-9a-f]{16}$/);
    expect(second).not.toBe(first);
    const doc = t.ledger.doc('p1')!;
    const c = doc.codes[second]!;
    // Every string of the code as one op (DESIGN.md rule 7), not as text.
    for (const v of [c.codeId, c.selector, c.hash, c.issuer, c.sealed]) expect(v).toBeInstanceOf(A.ImmutableString);
    expect(str(c.codeId)).toBe(second);
    expect(str(c.selector)).toBe('222');
    expect(str(c.issuer)).toBe('cloud');
    expect(c.hash.toString()).toBe('$argon2id$fake');
    expect(c.sealed?.toString()).toBe('sealed-bytes');
    expect(c.expiresAt).toBe(t.clock.now() + DEFAULT_CODE_TTL_MS);
    expect(doc.codes[first]).toMatchObject({ revokedAt: t.clock.now(), revokeReason: new A.ImmutableString('rotated') });
    expect(t.ledger.view('p1')!.codes.map((v) => [v.codeId, v.state])).toEqual([
      [second, 'active'],
      [first, 'revoked'],
    ]);
  });

  it('issueCode: honours an explicit expiry and the ledger TTL', () => {
    const t = testLedger({ codeTtlMs: 10 * HOUR });
    const id = depositWithCode(t, 'p1', 4);
    expect(t.ledger.doc('p1')!.codes[id]!.expiresAt).toBe(t.clock.now() + 10 * HOUR);
    const id2 = t.ledger.issueCode('p1', { selector: '9', hash: 'h', issuer: 'hub', expiresAt: t.clock.now() + 5 });
    expect(t.ledger.doc('p1')!.codes[id2]!.expiresAt).toBe(t.clock.now() + 5);
  });

  it('depositAndIssue: one Automerge change, durable before it returns', () => {
    const t = testLedger();
    const codeId = depositWithCode(t, 'p1', 4);
    const doc = t.ledger.doc('p1')!;
    // genesis + one change holding both facts
    expect(A.getHistory(doc).map((h) => h.change.message)).toEqual(['genesis parcel:p1', 'deposit+issue']);
    expect(doc.deposit?.compartment).toBe(4);
    expect(doc.codes[codeId]).toBeDefined();
    // Durable: a fresh DocSet over the same storage sees it.
    const again = new DocSet(new MemoryDocStorage(t.storage.backing), 'abcdef01');
    expect(A.getHeads(again.get<ParcelDoc>(parcelDocId('p1'))!)).toEqual(A.getHeads(doc));
  });

  it('depositAndIssue: a failed deposit writes nothing', () => {
    const t = testLedger();
    depositWithCode(t, 'p1', 4);
    const heads = A.getHeads(t.ledger.doc('p1')!);
    expect(() => depositWithCode(t, 'p1', 5)).toThrow(Conflict);
    expect(A.getHeads(t.ledger.doc('p1')!)).toEqual(heads);
    expect(Object.keys(t.ledger.doc('p1')!.codes)).toHaveLength(1);
  });

  it('markUsed: consumes the code, idempotent per attempt id', () => {
    const t = testLedger();
    const id = depositWithCode(t, 'p1', 4);
    t.ledger.markUsed('p1', id, 'att-1', 4);
    const at = t.clock.now();
    t.clock.advance(5000);
    t.ledger.markUsed('p1', id, 'att-1', 4);
    expect(t.ledger.doc('p1')!.codes[id]!.uses).toEqual({ 'att-1': { at, compartment: 4 } });
    expect(t.ledger.view('p1')!).toMatchObject({ status: 'picked_up', codes: [{ state: 'used', usedAt: at }] });
  });

  it('markUsed / markOpenFailed: unknown code or parcel is NotFound', () => {
    const t = testLedger();
    depositWithCode(t, 'p1', 4);
    expect(() => t.ledger.markUsed('p1', 'nope', 'a', 4)).toThrow(NotFound);
    expect(() => t.ledger.markOpenFailed('p1', 'nope', 'a', 'x')).toThrow(NotFound);
    expect((errorOf(() => t.ledger.markUsed('p2', 'nope', 'a', 4)) as NotFound).code).toBe('parcel_not_found');
  });

  it('markOpenFailed: the door did not open, the code is not consumed', () => {
    const t = testLedger();
    const id = depositWithCode(t, 'p1', 4);
    t.ledger.markUsed('p1', id, 'att-1', 4);
    t.ledger.markOpenFailed('p1', id, 'att-1', 'sensor did not confirm');
    expect(t.ledger.view('p1')).toMatchObject({ status: 'deposited', codes: [{ state: 'active', openFailures: 1 }] });
    expect(t.ledger.selectorTaken('123')).toBe(true);
    // A second attempt that works consumes it.
    t.ledger.markUsed('p1', id, 'att-2', 4);
    expect(t.ledger.view('p1')!.codes[0]!.state).toBe('used');
  });

  it('revoke: the live code by default, or a given code; idempotent', () => {
    const t = testLedger();
    const id = depositWithCode(t, 'p1', 4);
    t.clock.advance(1000);
    expect(t.ledger.revoke('p1', 'contact changed')).toBe(id);
    expect(t.ledger.doc('p1')!.codes[id]).toMatchObject({ revokedAt: t.clock.now(), revokeReason: new A.ImmutableString('contact changed') });
    t.clock.advance(1000);
    expect(t.ledger.revoke('p1', 'again')).toBeUndefined(); // no live code left
    expect(t.ledger.revoke('p1', 'again', id)).toBeUndefined(); // already revoked: set-once
    expect(str(t.ledger.doc('p1')!.codes[id]!.revokeReason)).toBe('contact changed');
    expect(t.ledger.revoke('p1', 'x', 'unknown-code')).toBeUndefined();
    expect(() => t.ledger.revoke('p2', 'x')).toThrow(NotFound);
  });

  it('revoke: a given non-live code can be revoked explicitly', () => {
    const t = testLedger();
    const a = depositWithCode(t, 'p1', 4);
    t.ledger.markUsed('p1', a, 'att', 4);
    expect(t.ledger.revoke('p1', 'fraud', a)).toBe(a);
    expect(t.ledger.view('p1')!.codes[0]).toMatchObject({ state: 'used', usedAfterRevoke: true });
  });

  it('expire: the sweep marks due codes once and returns the parcels now due for return', () => {
    const t = testLedger();
    depositWithCode(t, 'p1', 1, '001');
    t.clock.advance(HOUR);
    depositWithCode(t, 'p2', 2, '002');
    const used = depositWithCode(t, 'p3', 3, '003');
    t.ledger.markUsed('p3', used, 'a', 3);
    expect(t.ledger.expire()).toEqual([]);

    t.clock.advance(DEFAULT_CODE_TTL_MS - HOUR); // p1 due, p2 one hour short
    expect(t.ledger.expire()).toEqual(['p1']);
    expect(t.ledger.doc('p1')!.codes[Object.keys(t.ledger.doc('p1')!.codes)[0]!]!.expiredAt).toBe(t.clock.now());
    expect(t.ledger.expire()).toEqual([]); // already recorded: not returned twice

    t.clock.advance(HOUR);
    expect(t.ledger.expire()).toEqual(['p2']);
    expect(t.ledger.view('p1')!.status).toBe('expired');
    expect(t.ledger.view('p3')!.status).toBe('picked_up');
    expect(Object.values(t.ledger.doc('p3')!.codes)[0]!.expiredAt).toBeUndefined();
  });

  it('expire: superseded codes get their expiredAt too, and the parcel is due once', () => {
    const t = testLedger();
    depositWithCode(t, 'p1', 1);
    t.ledger.issueCode('p1', { selector: '777', hash: 'h', issuer: 'cloud' });
    t.clock.advance(DEFAULT_CODE_TTL_MS);
    expect(t.ledger.expire()).toEqual(['p1']);
  });

  it('expire: a parcel whose code was revoked and never replaced is due for return once its pickup window is over', () => {
    const t = testLedger();
    const revoked = depositWithCode(t, 'p1', 1, '001');
    const replaced = depositWithCode(t, 'p2', 2, '002');
    t.ledger.revoke('p1', 'support: wrong recipient', revoked);
    t.ledger.revoke('p2', 'support: phone changed', replaced);
    t.clock.advance(HOUR);
    t.ledger.issueCode('p2', { selector: '777', hash: 'h', issuer: 'cloud' }); // a new code: collectable again
    expect(t.ledger.view('p1')!.status).toBe('deposited'); // support may still issue a new code
    expect(t.ledger.expire()).toEqual([]);

    t.clock.advance(DEFAULT_CODE_TTL_MS - HOUR);
    expect(t.ledger.view('p1')!.status).toBe('expired');
    expect(t.ledger.expire()).toEqual(['p1']);
    expect(t.ledger.expire()).toEqual([]); // recorded: not due twice
    // The code still reads as revoked (what the person at the locker is told), with the time it lapsed.
    expect(t.ledger.view('p1')!.codes[0]).toMatchObject({ state: 'revoked' });
    expect(t.ledger.doc('p1')!.codes[revoked]!.expiredAt).toBe(t.clock.now());
    expect(t.ledger.view('p2')!.status).toBe('deposited');
    t.clock.advance(HOUR);
    expect(t.ledger.expire()).toEqual(['p2']); // its new code's window ends an hour later
  });

  it('relocate: the parcel and its code move to the new compartment', () => {
    const t = testLedger();
    depositWithCode(t, 'p1', 4);
    t.clock.advance(1000);
    t.ledger.relocate('p1', 9, 'tech-1', 'door 4 jammed');
    expect(t.ledger.view('p1')!.compartment).toBe(9);
    expect([...t.ledger.occupancy()]).toEqual([[9, 'p1']]);
    expect(Object.values(t.ledger.doc('p1')!.moves)).toEqual([{ to: 9, at: t.clock.now(), by: new A.ImmutableString('tech-1'), reason: new A.ImmutableString('door 4 jammed') }]);
    t.clock.advance(1000);
    t.ledger.relocate('p1', 2, 'hub', 'rebalance');
    expect(t.ledger.view('p1')!.compartment).toBe(2);
    expect(t.ledger.view('p1')!.codes[0]!.state).toBe('active');
    t.ledger.announce('p2', { carrier: 'dhl', trackingNumber: 'T', size: 'S' });
    expect((errorOf(() => t.ledger.relocate('p2', 3, 'x', 'y')) as Conflict).code).toBe('not_deposited');
  });

  it('addException: recorded facts, in time order in the view', () => {
    const t = testLedger();
    t.ledger.addException('p1', 'damaged'); // an exception may come before any announcement
    t.clock.advance(1000);
    t.ledger.addException('p1', 'refused');
    expect(t.ledger.view('p1')!.exceptions.map((e) => e.reason)).toEqual(['damaged', 'refused']);
  });

  it('view: same-instant exceptions are listed in the same order on every replica and after a reload', () => {
    const t = testLedger();
    for (let k = 0; k < 12; k++) t.ledger.addException('p1', `note ${k}`); // all at the same instant
    const other = testLedger({ seed: 9, clock: t.clock });
    other.ledger.receive(parcelDocId('p1'), A.clone(t.ledger.doc('p1')!));
    const reloaded = testLedger({ seed: 10, clock: t.clock, storage: new MemoryDocStorage(t.storage.backing) });
    expect(other.ledger.view('p1')).toEqual(t.ledger.view('p1'));
    expect(reloaded.ledger.view('p1')!.exceptions).toEqual(t.ledger.view('p1')!.exceptions);
  });

  it('markReturned: the parcel is finished, its code gone, set-once', () => {
    const t = testLedger();
    depositWithCode(t, 'p1', 4);
    t.clock.advance(DEFAULT_CODE_TTL_MS);
    t.ledger.expire();
    t.ledger.markReturned('p1');
    const at = t.clock.now();
    t.clock.advance(1000);
    t.ledger.markReturned('p1');
    expect(t.ledger.view('p1')).toMatchObject({ status: 'returned', returnedAt: at });
    expect(t.ledger.occupancy().size).toBe(0);
  });

  it('occupancy: compartments of parcels that are not finished', () => {
    const t = testLedger();
    depositWithCode(t, 'p1', 1, '001');
    const c2 = depositWithCode(t, 'p2', 2, '002');
    depositWithCode(t, 'p3', 3, '003');
    t.ledger.announce('p4', { carrier: 'dhl', trackingNumber: 'T', size: 'S', reservedCompartment: 5 });
    t.ledger.markUsed('p2', c2, 'a', 2);
    expect(new Map(t.ledger.occupancy())).toEqual(new Map([[1, 'p1'], [3, 'p3']]));
  });

  it('selectorTaken: only live codes hold a selector', () => {
    const t = testLedger();
    const a = depositWithCode(t, 'p1', 1, '001');
    depositWithCode(t, 'p2', 2, '002');
    expect(t.ledger.selectorTaken('001')).toBe(true);
    expect(t.ledger.selectorTaken('003')).toBe(false);
    t.ledger.markUsed('p1', a, 'x', 1);
    expect(t.ledger.selectorTaken('001')).toBe(false);
    t.ledger.revoke('p2', 'r');
    expect(t.ledger.selectorTaken('002')).toBe(false);
  });

  it('candidates: live codes first, then the newest dead ones, at most max', () => {
    const t = testLedger();
    const old = depositWithCode(t, 'p1', 1, '555');
    t.ledger.markUsed('p1', old, 'a', 1);
    t.clock.advance(1000);
    const dead2 = depositWithCode(t, 'p2', 2, '555');
    t.ledger.revoke('p2', 'r');
    t.clock.advance(1000);
    const dead3 = depositWithCode(t, 'p3', 3, '555');
    t.ledger.revoke('p3', 'r');
    t.clock.advance(1000);
    const live = depositWithCode(t, 'p0', 9, '555'); // newest; but active would win even if older
    depositWithCode(t, 'p9', 8, '556');
    expect(t.ledger.candidates('555', 10).map((c) => [str(c.code.codeId), c.state])).toEqual([
      [live, 'active'],
      [dead3, 'revoked'],
      [dead2, 'revoked'],
      [old, 'used'],
    ]);
    expect(t.ledger.candidates('555').map((c) => str(c.code.codeId))).toEqual([live, dead3]);
    expect(t.ledger.candidates('000')).toEqual([]);
  });

  it('candidates: an active code is preferred over a newer dead one', () => {
    const t = testLedger();
    const live = depositWithCode(t, 'p1', 1, '555');
    t.clock.advance(1000);
    depositWithCode(t, 'p2', 2, '555');
    t.ledger.revoke('p2', 'r');
    expect(t.ledger.candidates('555', 1).map((c) => str(c.code.codeId))).toEqual([live]);
  });

  it('receive: stores a peer version and indexes its selectors', () => {
    const hub = testLedger({ seed: 1 });
    const cloud = testLedger({ seed: 2, clock: hub.clock });
    const id = depositWithCode(hub, 'p1', 4, '321');
    cloud.ledger.receive(parcelDocId('p1'), A.clone(hub.ledger.doc('p1')!));
    expect(cloud.ledger.candidates('321').map((c) => str(c.code.codeId))).toEqual([id]);
    expect(cloud.ledger.view('p1')).toEqual(hub.ledger.view('p1'));
    // The received version is stored: it survives a reload.
    const reloaded = testLedger({ seed: 3, storage: new MemoryDocStorage(cloud.storage.backing), clock: hub.clock });
    expect(reloaded.ledger.candidates('321').map((c) => str(c.code.codeId))).toEqual([id]);
  });

  it('all(): only this bank’s parcel documents', () => {
    const mine = testLedger({ bankId: BANK });
    const other = testLedger({ bankId: 'bank-2', seed: 2 });
    depositWithCode(mine, 'p1', 1, '001');
    depositWithCode(other, 'x1', 1, '002');
    mine.ledger.receive(parcelDocId('x1'), A.clone(other.ledger.doc('x1')!));
    mine.docs.create('config:bank-1', { compartments: 12 });
    expect([...mine.ledger.all()].map((d) => d.parcelId)).toEqual(['p1']);
    expect(mine.ledger.candidates('002')).toEqual([]);
    expect(mine.ledger.occupancy().size).toBe(1);
  });

  it('prune: drops only finished, acknowledged parcels older than the retention', () => {
    const t = testLedger();
    const used = depositWithCode(t, 'used', 1, '001');
    const usedUnacked = depositWithCode(t, 'used-unacked', 2, '002');
    depositWithCode(t, 'live', 3, '003');
    depositWithCode(t, 'expired', 4, '004');
    depositWithCode(t, 'returned', 5, '005');
    const usedLate = depositWithCode(t, 'used-late', 6, '006');
    t.ledger.markUsed('used', used, 'a', 1);
    t.ledger.markUsed('used-unacked', usedUnacked, 'a', 2);
    t.clock.advance(DEFAULT_CODE_TTL_MS);
    expect(t.ledger.expire().sort()).toEqual(['expired', 'live', 'returned', 'used-late']);
    t.ledger.markReturned('returned');
    t.ledger.markUsed('used-late', usedLate, 'a', 6); // used just now (late pickup before the courier came)

    const acked = (docId: string) => docId !== parcelDocId('used-unacked');
    expect(t.ledger.prune(24 * HOUR, acked)).toBe(1); // 'used' finished 72 h ago; 'returned' just now
    expect(t.ledger.doc('used')).toBeUndefined();
    expect(t.storage.load(parcelDocId('used'))).toBeUndefined();
    expect(t.ledger.candidates('001')).toEqual([]);

    t.clock.advance(24 * HOUR);
    expect(t.ledger.prune(24 * HOUR, acked)).toBe(2); // 'returned' and 'used-late'
    expect([...t.ledger.all()].map((d) => d.parcelId).sort()).toEqual(['expired', 'live', 'used-unacked']);
    expect(t.ledger.prune(24 * HOUR, () => true)).toBe(1); // acknowledged at last
    expect([...t.ledger.all()].map((d) => d.parcelId).sort()).toEqual(['expired', 'live']);
  });

  it('a reloaded ledger rebuilds its selector index from storage', () => {
    const t = testLedger();
    const id = depositWithCode(t, 'p1', 1, '042');
    const again = new ParcelLedger({
      bankId: BANK,
      docs: new DocSet(new MemoryDocStorage(t.storage.backing), 'feedface'),
      clock: t.clock,
      random: t.random,
    });
    expect(again.candidates('042').map((c) => str(c.code.codeId))).toEqual([id]);
    expect(again.selectorTaken('042')).toBe(true);
    expect(again.view('p1')).toEqual(t.ledger.view('p1'));
  });

  it('every operation takes its time from the injected clock', () => {
    const t = testLedger();
    t.clock.set(Date.UTC(2030, 5, 1));
    const id = depositWithCode(t, 'p1', 4);
    const v = t.ledger.view('p1')!;
    expect(v.deposit!.at).toBe(Date.UTC(2030, 5, 1));
    expect(v.codes[0]).toMatchObject({ codeId: id, issuedAt: Date.UTC(2030, 5, 1) });
  });
});
