import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { hubAuthorizer } from '../../cloud/sync/hub-authorizer.js';
import { istr } from '../../shared/ledger/str.js';

const announced = () =>
  A.from<any>(
    {
      schema: 1,
      parcelId: 'P-1',
      bankId: 'bank-1',
      announcement: { carrier: istr('demo-carrier'), trackingNumber: istr('TRK-1'), size: istr('M'), at: 1000 },
      moves: {},
      codes: {},
      exceptions: {},
    },
    { actor: 'c0c0c0c0' },
  );

/** `after`: a hub's version of the document, rebuilt from bytes as the cloud's receive does (new objects everywhere). */
function check(before: A.Doc<any> | undefined, edit: (d: any) => void) {
  const base = before ?? A.from<any>({ schema: 1, parcelId: 'P-1', bankId: 'bank-1', moves: {}, codes: {}, exceptions: {} }, { actor: 'c0c0c0c0' });
  const hub = A.change(A.clone(base, { actor: 'b0b0b0b0' }), edit);
  const after = A.load<any>(A.save(hub));
  return hubAuthorizer('bank-1', { bankOf: () => 'bank-1' })('parcel:P-1', before, after);
}

describe('hubAuthorizer: the carrier announcement is the cloud’s', () => {
  it('accepts a hub version that leaves the announcement as it was, field for field', () => {
    expect(check(announced(), (d) => (d.deposit = { compartment: 3, at: 5 }))).toBeUndefined();
  });

  it('refuses a field rewritten, added, or removed, and an announcement the hub wrote itself', () => {
    expect(check(announced(), (d) => (d.announcement.trackingNumber = istr('FORGED')))?.code).toBe('forbidden_document');
    expect(check(announced(), (d) => (d.announcement.reservedCompartment = 7))?.code).toBe('forbidden_document');
    expect(check(announced(), (d) => delete d.announcement.size)?.code).toBe('forbidden_document');
    expect(check(announced(), (d) => (d.announcement.at = 1001))?.code).toBe('forbidden_document');
    expect(check(undefined, (d) => (d.announcement = { carrier: istr('x'), trackingNumber: istr('y'), size: istr('S'), at: 1 }))?.code).toBe('forbidden_document');
  });

  it('reads a string stored as text (documents older than immutable strings) as the same string', () => {
    const old = A.from<any>(
      { schema: 1, parcelId: 'P-1', bankId: 'bank-1', announcement: { carrier: 'demo-carrier', trackingNumber: 'TRK-1', size: 'M', at: 1000 }, moves: {}, codes: {}, exceptions: {} },
      { actor: 'c0c0c0c0' },
    );
    expect(check(old, (d) => (d.deposit = { compartment: 3, at: 5 }))).toBeUndefined();
    expect(check(old, (d) => (d.announcement.carrier = istr('demo-carrier')))).toBeUndefined();
    expect(check(old, (d) => (d.announcement.carrier = istr('other')))?.code).toBe('forbidden_document');
  });
});
