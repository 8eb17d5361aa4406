/**
 * DESIGN.md rule 7: the strings of ledger documents are written as `A.ImmutableString` (one
 * op each) instead of collaborative text (one op per character). Documents written before
 * hold text, on hubs' and the cloud's disks: they must read exactly as before, and both
 * forms must keep merging.
 *
 * `fixtures/legacy-text-docs.json` was recorded by the code before rule 7 (commit 61c2333)
 * running `scenario()` below: the saved documents (text strings) and what the readers
 * (views, indexes, bank state, audit) answered from them.
 */
import * as A from '@automerge/automerge';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { PickupCode } from '../../../shared/codes/format.js';
import type { CodeHasher } from '../../../shared/codes/hasher.js';
import { AuditLog } from '../../../shared/ledger/audit-log.js';
import { BankConfigAuthor } from '../../../shared/ledger/bank-config.js';
import { BankState } from '../../../shared/ledger/bank-state.js';
import { DocSet } from '../../../shared/ledger/doc-set.js';
import type { ParcelDoc } from '../../../shared/ledger/parcel-doc.js';
import { ParcelLedger, parcelDocId } from '../../../shared/ledger/parcel-ledger.js';
import { str } from '../../../shared/ledger/str.js';
import { validateCode } from '../../../shared/ledger/validate.js';
import { ManualClock, SeededRandom } from '../../../shared/ports.js';
import { MemoryDocStorage } from '../../../shared/storage/doc-storage.js';

interface Fixture {
  codes: { c1: string; c2: string; c3: string };
  observed: ReturnType<typeof observe>;
  docs: Record<string, string>;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/legacy-text-docs.json', import.meta.url), 'utf8')) as Fixture;
/** The clock at the end of `scenario()`. */
const END = Date.UTC(2026, 0, 1) + 3000;
const SELECTORS = ['123', '456', '789', '321'];

interface Replica {
  docs: DocSet;
  clock: ManualClock;
  ledger: ParcelLedger;
  state: BankState;
  audit: AuditLog;
  config: BankConfigAuthor;
}

function replica(storage = new MemoryDocStorage(), clock = new ManualClock(), seed = 7): Replica {
  const random = new SeededRandom(seed);
  const docs = new DocSet(storage, 'aaaaaaaaaaaaaaaa');
  return {
    docs,
    clock,
    ledger: new ParcelLedger({ bankId: 'bank-1', docs, clock, random }),
    state: new BankState('bank-1', docs, clock, random),
    audit: new AuditLog('bank-1', docs, clock, random),
    config: new BankConfigAuthor(docs),
  };
}

/** The operations that wrote the fixture (same seed, same clock, same order). */
function scenario(r: Replica): { c1: string; c2: string; c3: string } {
  const { ledger, clock, state, audit, config } = r;
  ledger.announce('P-1', { carrier: 'dhl', trackingNumber: 'JD0001', size: 'M', reservedCompartment: 3 });
  clock.advance(1000);
  const c1 = ledger.depositAndIssue('P-1', { depositId: 'dep-1', compartment: 3, courierId: 'courier-1', size: 'M' }, { selector: '123', hash: 'plain:123', issuer: 'hub', sealed: 'sealed-1' });
  clock.advance(1000);
  ledger.relocate('P-1', 5, 'tech:t1', 'door sticks');
  ledger.addException('P-1', 'damaged box');
  clock.advance(1000);
  ledger.markOpenFailed('P-1', c1, 'att-0', 'door_not_opened');
  const c2 = ledger.issueCode('P-1', { selector: '456', hash: 'plain:456', issuer: 'cloud' });
  ledger.depositAndIssue('P-2', { depositId: 'dep-2', compartment: 7, courierId: 'courier-2', size: 'S' }, { selector: '789', hash: 'plain:789', issuer: 'hub' });
  ledger.revoke('P-2', 'support: recipient asked');
  const c3 = ledger.issueCode('P-2', { selector: '321', hash: 'plain:321', issuer: 'cloud' });
  ledger.markUsed('P-2', c3, 'att-1', 7);
  state.recordFault(2, 'door_not_closed');
  state.setService(4, false, 'tech:t1', 'broken hinge');
  state.clearFaults(2, 'tech:t1');
  state.recordFault(6, 'sensor_stuck');
  audit.append({ type: 'deposit', actor: 'courier:courier-1', compartment: 3, parcelId: 'P-1' });
  audit.append({ type: 'service_out', actor: 'tech:t1', compartment: 4, detail: 'broken hinge' });
  config.ensure('bank-1', { '1': { size: 'S' }, '2': { size: 'M' } });
  config.setCourier('bank-1', 'courier-1', 'Courier One', '$argon2id$courier');
  config.setTechnician('bank-1', 't1', 'Tech One', 'technician', '$argon2id$tech');
  return { c1, c2, c3 };
}

/** What the readers answer, as JSON (what the APIs send). */
function observe(r: Replica) {
  const { ledger, docs, state, audit } = r;
  return JSON.parse(
    JSON.stringify({
      views: { 'P-1': ledger.view('P-1'), 'P-2': ledger.view('P-2') },
      occupancy: [...ledger.occupancy()],
      selectorTaken: Object.fromEntries(SELECTORS.map((s) => [s, ledger.selectorTaken(s)])),
      candidates: Object.fromEntries(
        SELECTORS.map((s) => [
          s,
          ledger.candidates(s, 8).map((c) => ({
            parcelId: c.parcelId,
            codeId: str(c.code.codeId),
            selector: str(c.code.selector),
            state: c.state,
            hash: str(c.code.hash),
            sealed: str(c.code.sealed),
          })),
        ]),
      ),
      conditions: Object.fromEntries([2, 4, 6].map((n) => [n, state.condition(n)])),
      faulty: state.faulty(),
      audit: audit.since(0),
      json: Object.fromEntries([...docs.ids()].sort().map((id) => [id, docs.get(id)])),
    }),
  ) as Record<string, unknown>;
}

function legacyReplica(): Replica {
  const backing = new Map(Object.entries(fixture.docs).map(([id, b64]) => [id, [new Uint8Array(Buffer.from(b64, 'base64'))]]));
  const clock = new ManualClock();
  clock.advance(END - clock.now());
  return replica(new MemoryDocStorage(backing), clock, 99);
}

/** Every op of every change of `doc`. */
const opCount = (doc: A.Doc<unknown>): number => A.getAllChanges(doc).reduce((n, c) => n + A.decodeChange(c).ops.length, 0);

const plainHasher: CodeHasher = {
  hash: async (c) => `plain:${c.selector}`,
  verify: async (h, c) => h === `plain:${c.selector}`,
  verifyDummy: async () => false,
};
const pickup = (selector: string): PickupCode => ({ selector, verifier: '000000', display: `${selector}-000000` });

describe('ledger documents written with text (before DESIGN.md rule 7)', () => {
  it('the fixture does hold text: the legacy read path is what is tested', () => {
    const r = legacyReplica();
    const p1 = r.ledger.doc('P-1')!;
    const code = p1.codes[fixture.codes.c1]!;
    for (const v of [code.codeId, code.selector, code.issuer, p1.announcement!.carrier, p1.deposit!.courierId]) expect(typeof v).toBe('string');
  });

  it('read exactly as before: views, selector index, candidates, bank state, audit, document JSON', () => {
    expect(observe(legacyReplica())).toEqual(fixture.observed);
  });

  it('validate a code, find a deposit, keep the config idempotent', async () => {
    const r = legacyReplica();
    expect(await validateCode(r.ledger, plainHasher, pickup('456'))).toEqual({ kind: 'valid', parcelId: 'P-1', codeId: fixture.codes.c2, compartment: 5 });
    expect(await validateCode(r.ledger, plainHasher, pickup('321'))).toEqual({ kind: 'gone', state: 'used', parcelId: 'P-2', codeId: fixture.codes.c3 });
    const heads = A.getHeads(r.docs.get('config:bank-1')!);
    r.config.ensure('bank-1', { '1': { size: 'S' }, '2': { size: 'M' } }); // sizes read as text: nothing missing
    expect(A.getHeads(r.docs.get('config:bank-1')!)).toEqual(heads);
  });

  it('take new facts as ImmutableString next to the old text, and read both', () => {
    const r = legacyReplica();
    const id = r.ledger.revoke('P-1', 'contact changed');
    expect(id).toBe(fixture.codes.c2);
    const c4 = r.ledger.issueCode('P-1', { selector: '654', hash: 'plain:654', issuer: 'cloud' });
    const doc = r.ledger.doc('P-1')!;
    expect(doc.codes[c4]!.selector).toBeInstanceOf(A.ImmutableString);
    expect(typeof doc.codes[fixture.codes.c1]!.selector).toBe('string');
    expect(r.ledger.view('P-1')!.codes.map((c) => [c.codeId, c.selector, c.state])).toEqual([
      [c4, '654', 'active'],
      [fixture.codes.c2, '456', 'revoked'],
      [fixture.codes.c1, '123', 'revoked'],
    ]);
    expect(r.ledger.selectorTaken('654')).toBe(true);
    expect(r.ledger.selectorTaken('456')).toBe(false);
  });
});

describe('ledger documents written now', () => {
  it('hold every string value as ImmutableString, with the content and the readings of the text version', () => {
    const r = replica();
    expect(scenario(r)).toEqual(fixture.codes);
    expect(observe(r)).toEqual(fixture.observed);
    const strings: unknown[] = [];
    const walk = (v: unknown, key: string): void => {
      if (typeof v === 'string') strings.push(`${key}=${v}`);
      else if (v && typeof v === 'object' && !A.isImmutableString(v)) for (const [k, x] of Object.entries(v)) walk(x, k);
    };
    for (const id of r.docs.ids()) walk(r.docs.get(id), id);
    // Only what the genesis writes is text (see ParcelDoc.parcelId).
    expect(strings.sort()).toEqual([...Array<string>(5).fill('bankId=bank-1'), 'day=2026-01-01', 'parcelId=P-1', 'parcelId=P-2']);
  });

  it('take far fewer Automerge ops than the text version', () => {
    const legacy = legacyReplica();
    const r = replica();
    scenario(r);
    for (const id of Object.keys(fixture.docs)) {
      const before = opCount(legacy.docs.get(id)!);
      const now = opCount(r.docs.get(id)!);
      expect(now, id).toBeLessThan(before);
    }
    const parcels = (x: Replica) => opCount(x.docs.get(parcelDocId('P-1'))!) + opCount(x.docs.get(parcelDocId('P-2'))!);
    expect(parcels(r)).toBeLessThan(parcels(legacy) * 0.5);
  });

  it('keep the genesis byte-identical to the text version, for every kind of document', () => {
    // A replica before rule 7 and one after that create the same document must write the same
    // first change, or their two actor-00000000 seq-1 changes could never be merged.
    const legacy = legacyReplica();
    const r = replica();
    scenario(r);
    for (const id of Object.keys(fixture.docs)) {
      expect(A.getHistory(r.docs.get(id)!)[0]!.change.hash, id).toBe(A.getHistory(legacy.docs.get(id)!)[0]!.change.hash);
    }
  });

  it('merge with a text version of the same parcel created concurrently by an older replica', () => {
    const legacy = legacyReplica(); // the older cloud: P-1 announced, deposited, ...
    const hubDocs = new DocSet(new MemoryDocStorage(), 'bbbbbbbbbbbbbbbb');
    const hubLedger = new ParcelLedger({ bankId: 'bank-1', docs: hubDocs, clock: new ManualClock(), random: new SeededRandom(5) });
    // The new hub, offline, creates P-1 on its own genesis and records an exception.
    hubLedger.addException('P-1', 'address problem');
    const merged = A.merge(A.clone(legacy.ledger.doc('P-1')!), hubLedger.doc('P-1')!);
    legacy.ledger.receive(parcelDocId('P-1'), merged as A.Doc<ParcelDoc>);
    const v = legacy.ledger.view('P-1')!;
    expect(v.exceptions.map((e) => e.reason).sort()).toEqual(['address problem', 'damaged box']);
    expect(v.announcement?.carrier).toBe('dhl');
    expect(v.codes[0]).toMatchObject({ codeId: fixture.codes.c2, state: 'active' });
  });
});
