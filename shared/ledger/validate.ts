import type { PickupCode } from '../codes/format.js';
import type { CodeHasher } from '../codes/hasher.js';
import { currentCompartment } from './parcel-doc.js';
import type { ParcelLedger } from './parcel-ledger.js';
import { str } from './str.js';

export type ValidationResult =
  | { kind: 'valid'; parcelId: string; codeId: string; compartment: number }
  | { kind: 'gone'; state: 'used' | 'revoked' | 'expired'; parcelId: string; codeId: string }
  | { kind: 'invalid' };

/**
 * Validate a pickup code: selector lookup, then at most two argon2 verifies (one in the
 * normal case), whatever the number of live codes. A selector with no candidate costs one
 * verify against a dummy hash, so timing does not reveal which selectors are live.
 */
export async function validateCode(ledger: ParcelLedger, hasher: CodeHasher, code: PickupCode): Promise<ValidationResult> {
  const candidates = ledger.candidates(code.selector, 2);
  if (candidates.length === 0) {
    await hasher.verifyDummy(code);
    return { kind: 'invalid' };
  }
  for (const c of candidates) {
    if (!(await hasher.verify(str(c.code.hash), code))) continue;
    const codeId = str(c.code.codeId);
    // Re-read the state after the await: a sync may have revoked the code meanwhile.
    const fresh = ledger.candidates(code.selector, 8).find((x) => str(x.code.codeId) === codeId);
    const state = fresh?.state ?? c.state;
    if (state === 'active') {
      const compartment = currentCompartment(ledger.doc(c.parcelId)!);
      if (compartment === undefined) return { kind: 'invalid' };
      return { kind: 'valid', parcelId: c.parcelId, codeId, compartment };
    }
    return { kind: 'gone', state: state === 'superseded' ? 'revoked' : state, parcelId: c.parcelId, codeId };
  }
  return { kind: 'invalid' };
}
