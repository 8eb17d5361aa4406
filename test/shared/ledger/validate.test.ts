import { describe, expect, it } from 'vitest';
import { generateCode, type PickupCode } from '../../../shared/codes/format.js';
import { Argon2CodeHasher, TEST_ARGON2, type CodeHasher } from '../../../shared/codes/hasher.js';
import { DEFAULT_CODE_TTL_MS } from '../../../shared/ledger/parcel-ledger.js';
import { validateCode } from '../../../shared/ledger/validate.js';
import { CountingHasher, HOUR, PEPPER, mergeInto, testLedger, type TestLedger } from '../fixtures.js';

const argon = new Argon2CodeHasher(PEPPER, TEST_ARGON2);

/** Deposit `parcelId` in `compartment` with a real (cheap-parameter) argon2id hash of a fresh code. */
async function deposit(t: TestLedger, parcelId: string, compartment: number, forced?: PickupCode): Promise<{ code: PickupCode; codeId: string }> {
  const code = forced ?? generateCode(t.random, (s) => t.ledger.selectorTaken(s));
  const hash = await argon.hash(code);
  const codeId = t.ledger.depositAndIssue(
    parcelId,
    { depositId: `d-${parcelId}`, compartment, courierId: 'c1', size: 'M' },
    { selector: code.selector, hash, issuer: 'hub' },
  );
  return { code, codeId };
}

function wrong(code: PickupCode): PickupCode {
  const v = String((Number(code.verifier) + 1) % 1_000_000).padStart(6, '0');
  return { selector: code.selector, verifier: v, display: `${code.selector}-${v}` };
}

describe('validateCode', () => {
  it('valid: the live code opens its compartment with one verify', async () => {
    const t = testLedger();
    const { code, codeId } = await deposit(t, 'p1', 7);
    await deposit(t, 'p2', 8);
    const h = new CountingHasher(argon);
    expect(await validateCode(t.ledger, h, code)).toEqual({ kind: 'valid', parcelId: 'p1', codeId, compartment: 7 });
    expect([h.verifies, h.dummies]).toEqual([1, 0]);
  });

  it('valid after relocation: the code follows the parcel', async () => {
    const t = testLedger();
    const { code } = await deposit(t, 'p1', 7);
    t.ledger.relocate('p1', 12, 'tech', 'door 7 jammed');
    expect(await validateCode(t.ledger, argon, code)).toMatchObject({ kind: 'valid', compartment: 12 });
  });

  it('valid again after a failed open (the code was not consumed)', async () => {
    const t = testLedger();
    const { code, codeId } = await deposit(t, 'p1', 7);
    t.ledger.markUsed('p1', codeId, 'att-1', 7);
    expect(await validateCode(t.ledger, argon, code)).toMatchObject({ kind: 'gone', state: 'used' });
    t.ledger.markOpenFailed('p1', codeId, 'att-1', 'jammed');
    expect(await validateCode(t.ledger, argon, code)).toMatchObject({ kind: 'valid', codeId });
  });

  it('invalid: a wrong verifier for a live selector costs one verify', async () => {
    const t = testLedger();
    const { code } = await deposit(t, 'p1', 7);
    const h = new CountingHasher(argon);
    expect(await validateCode(t.ledger, h, wrong(code))).toEqual({ kind: 'invalid' });
    expect([h.verifies, h.dummies]).toEqual([1, 0]);
  });

  it('invalid: an unknown selector costs one dummy verify (same time as a hit)', async () => {
    const t = testLedger();
    const { code } = await deposit(t, 'p1', 7);
    const other = code.selector === '000' ? '001' : '000';
    const h = new CountingHasher(argon);
    expect(await validateCode(t.ledger, h, { selector: other, verifier: code.verifier, display: '' })).toEqual({ kind: 'invalid' });
    expect([h.verifies, h.dummies]).toEqual([0, 1]);
  });

  it('gone: used', async () => {
    const t = testLedger();
    const { code, codeId } = await deposit(t, 'p1', 7);
    t.ledger.markUsed('p1', codeId, 'a', 7);
    expect(await validateCode(t.ledger, argon, code)).toEqual({ kind: 'gone', state: 'used', parcelId: 'p1', codeId });
  });

  it('gone: revoked, and superseded is reported as revoked', async () => {
    const t = testLedger();
    const first = await deposit(t, 'p1', 7);
    t.clock.advance(1000);
    // Rotation: a new code for the same parcel revokes the first one.
    const second = generateCode(t.random, (s) => t.ledger.selectorTaken(s));
    const secondId = t.ledger.issueCode('p1', { selector: second.selector, hash: await argon.hash(second), issuer: 'cloud' });
    expect(await validateCode(t.ledger, argon, first.code)).toEqual({ kind: 'gone', state: 'revoked', parcelId: 'p1', codeId: first.codeId });
    expect(await validateCode(t.ledger, argon, second)).toMatchObject({ kind: 'valid', codeId: secondId });

    // A superseded (never explicitly revoked) code: two replicas issue concurrently, the older loses.
    const hub = testLedger({ seed: 5 });
    const cloud = testLedger({ seed: 6, clock: hub.clock });
    await deposit(hub, 'p1', 7);
    mergeInto(cloud, hub);
    hub.clock.advance(1);
    const x = generateCode(hub.random, () => false);
    const xId = hub.ledger.issueCode('p1', { selector: x.selector, hash: await argon.hash(x), issuer: 'hub' });
    hub.clock.advance(1);
    const y = generateCode(cloud.random, () => false);
    const yId = cloud.ledger.issueCode('p1', { selector: y.selector, hash: await argon.hash(y), issuer: 'cloud' });
    mergeInto(hub, cloud);
    expect(hub.ledger.view('p1')!.codes.map((c) => [c.codeId, c.state])).toEqual([
      [yId, 'active'],
      [xId, 'superseded'],
      [expect.any(String), 'revoked'],
    ]);
    expect(await validateCode(hub.ledger, argon, x)).toEqual({ kind: 'gone', state: 'revoked', parcelId: 'p1', codeId: xId });
    expect(await validateCode(hub.ledger, argon, y)).toMatchObject({ kind: 'valid', codeId: yId });
  });

  it('gone: expired by time, by the sweep, and after return', async () => {
    const t = testLedger();
    const { code, codeId } = await deposit(t, 'p1', 7);
    t.clock.advance(DEFAULT_CODE_TTL_MS - 1);
    expect(await validateCode(t.ledger, argon, code)).toMatchObject({ kind: 'valid' });
    t.clock.advance(1);
    expect(await validateCode(t.ledger, argon, code)).toEqual({ kind: 'gone', state: 'expired', parcelId: 'p1', codeId });
    t.ledger.expire();
    t.ledger.markReturned('p1');
    expect(await validateCode(t.ledger, argon, code)).toEqual({ kind: 'gone', state: 'expired', parcelId: 'p1', codeId });
  });

  it('a revocation that lands while argon2 runs is honoured (state re-read after the await)', async () => {
    const t = testLedger();
    const { code, codeId } = await deposit(t, 'p1', 7);
    const racing: CodeHasher = {
      hash: (c) => argon.hash(c),
      verifyDummy: (c) => argon.verifyDummy(c),
      async verify(hash, c) {
        const ok = await argon.verify(hash, c);
        t.ledger.revoke('p1', 'support rotated it meanwhile'); // a sync arrives mid-verify
        return ok;
      },
    };
    expect(await validateCode(t.ledger, racing, code)).toEqual({ kind: 'gone', state: 'revoked', parcelId: 'p1', codeId });
  });

  it('never more than 2 verifies, however many codes share the selector', async () => {
    const t = testLedger();
    // Many dead codes and two live ones (concurrent issuance on two replicas) on one selector.
    const shared = { selector: '314', verifier: '000000', display: '314-000000' };
    for (let i = 0; i < 6; i++) {
      const { codeId } = await deposit(t, `old${i}`, i + 1, { ...shared, verifier: String(i).padStart(6, '0') });
      t.ledger.markUsed(`old${i}`, codeId, 'a', i + 1);
      t.clock.advance(1000);
    }
    await deposit(t, 'liveA', 20, { ...shared, verifier: '111111' });
    await deposit(t, 'liveB', 21, { ...shared, verifier: '222222' });
    expect(t.ledger.candidates('314', 100)).toHaveLength(8);

    const h = new CountingHasher(argon);
    expect(await validateCode(t.ledger, h, { ...shared, verifier: '999999' })).toEqual({ kind: 'invalid' });
    expect(h.argon2Calls).toBe(2);
    h.verifies = 0;
    expect(await validateCode(t.ledger, h, { ...shared, verifier: '111111' })).toMatchObject({ kind: 'valid', parcelId: 'liveA' });
    expect(h.argon2Calls).toBeLessThanOrEqual(2);
    h.verifies = 0;
    expect(await validateCode(t.ledger, h, { ...shared, verifier: '222222' })).toMatchObject({ kind: 'valid', parcelId: 'liveB' });
    expect(h.argon2Calls).toBeLessThanOrEqual(2);
    // An old, dead code behind two live ones is not even looked at: invalid after 2 verifies.
    h.verifies = 0;
    expect(await validateCode(t.ledger, h, { ...shared, verifier: '000000' })).toEqual({ kind: 'invalid' });
    expect(h.argon2Calls).toBe(2);
  });

  it('the number of verifies does not depend on the number of live codes', async () => {
    const t = testLedger();
    const cheap = new Argon2CodeHasher(PEPPER, TEST_ARGON2);
    const codes: PickupCode[] = [];
    for (let i = 0; i < 300; i++) {
      const code = generateCode(t.random, (s) => t.ledger.selectorTaken(s));
      codes.push(code);
      t.ledger.depositAndIssue(`p${i}`, { depositId: `d${i}`, compartment: i + 1, courierId: 'c', size: 'S' }, { selector: code.selector, hash: await cheap.hash(code), issuer: 'hub' });
    }
    const h = new CountingHasher(cheap);
    for (const c of codes.slice(0, 20)) expect((await validateCode(t.ledger, h, c)).kind).toBe('valid');
    expect(h.argon2Calls).toBe(20);
  });

  it('uses the injected clock only: a code is valid until its expiry instant', async () => {
    const t = testLedger({ codeTtlMs: 2 * HOUR });
    const { code } = await deposit(t, 'p1', 3);
    t.clock.advance(2 * HOUR - 1);
    expect((await validateCode(t.ledger, argon, code)).kind).toBe('valid');
    t.clock.advance(1);
    expect((await validateCode(t.ledger, argon, code)).kind).toBe('gone');
  });
});
