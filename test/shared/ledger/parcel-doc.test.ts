import { describe, expect, it } from 'vitest';
import {
  codeState,
  codeView,
  codesNewestFirst,
  currentCompartment,
  isFinished,
  liveCode,
  parcelStatus,
  usedAt,
  type CodeRecord,
  type ParcelDoc,
} from '../../../shared/ledger/parcel-doc.js';
import { istr, str, type Str } from '../../../shared/ledger/str.js';
import { HOUR } from '../fixtures.js';

const T0 = Date.UTC(2026, 0, 1);

/**
 * Every test runs on both forms of a stored string: `ImmutableString` (written since
 * DESIGN.md rule 7) and text, which Automerge reads as a plain string (older documents).
 */
const FORMS: [string, <T extends string>(v: T) => Str<T>][] = [
  ['ImmutableString', istr],
  ['text (older documents)', <T extends string>(v: T) => v as unknown as Str<T>],
];

describe.each(FORMS)('strings stored as %s', (_form, s) => {
  function rec(codeId: string, issuedAt: number, extra: Partial<CodeRecord> = {}): CodeRecord {
    return {
      codeId: s(codeId),
      selector: s('123'),
      hash: s(`h-${codeId}`),
      issuedAt,
      expiresAt: issuedAt + 72 * HOUR,
      issuer: s('hub'),
      uses: {},
      openFailures: {},
      ...extra,
    };
  }

  function parcel(codes: CodeRecord[], extra: Partial<ParcelDoc> = {}): ParcelDoc {
    return {
      schema: 1,
      parcelId: 'p1',
      bankId: 'bank-1',
      deposit: { depositId: s('d1'), compartment: 4, courierId: s('c1'), size: s('M'), at: T0 },
      moves: {},
      codes: Object.fromEntries(codes.map((c) => [str(c.codeId), c])),
      exceptions: {},
      ...extra,
    };
  }

  describe('codeState', () => {
    it('a fresh code is active until its expiry, then expired (with the injected time)', () => {
      const c = rec('a', T0);
      const d = parcel([c]);
      expect(codeState(d, c, T0)).toBe('active');
      expect(codeState(d, c, T0 + 72 * HOUR - 1)).toBe('active');
      expect(codeState(d, c, T0 + 72 * HOUR)).toBe('expired');
    });

    it('expiredAt written by the sweep expires the code even for a replica whose clock is behind', () => {
      const c = rec('a', T0, { expiredAt: T0 + 72 * HOUR });
      expect(codeState(parcel([c]), c, T0 + HOUR)).toBe('expired');
    });

    it('used: one door-open attempt the sensor did not refute', () => {
      const c = rec('a', T0, { uses: { x: { at: T0 + HOUR, compartment: 4 } } });
      expect(usedAt(c)).toBe(T0 + HOUR);
      expect(codeState(parcel([c]), c, T0 + 2 * HOUR)).toBe('used');
    });

    it('an open failure refutes its own attempt only: the code is not consumed', () => {
      const failed = rec('a', T0, {
        uses: { x: { at: T0 + HOUR, compartment: 4 } },
        openFailures: { x: { at: T0 + HOUR, reason: s('jammed') } },
      });
      expect(usedAt(failed)).toBeUndefined();
      expect(codeState(parcel([failed]), failed, T0 + 2 * HOUR)).toBe('active');

      // A failure for another attempt id does not refute this one.
      const other = rec('a', T0, {
        uses: { x: { at: T0 + HOUR, compartment: 4 } },
        openFailures: { y: { at: T0 + HOUR, reason: s('jammed') } },
      });
      expect(codeState(parcel([other]), other, T0 + 2 * HOUR)).toBe('used');
    });

    it('usedAt is the earliest unrefuted attempt', () => {
      const c = rec('a', T0, {
        uses: { x: { at: T0 + 1000, compartment: 4 }, y: { at: T0 + 3000, compartment: 4 }, z: { at: T0 + 2000, compartment: 4 } },
        openFailures: { x: { at: T0 + 1001, reason: s('jammed') } },
      });
      expect(usedAt(c)).toBe(T0 + 2000);
    });

    it('revoked beats expired and active', () => {
      const c = rec('a', T0, { revokedAt: T0 + HOUR });
      const d = parcel([c]);
      expect(codeState(d, c, T0 + 2 * HOUR)).toBe('revoked');
      expect(codeState(d, c, T0 + 100 * HOUR)).toBe('revoked');
    });

    it('used beats revoked: concurrent revoke and use keep both facts and flag usedAfterRevoke', () => {
      const c = rec('a', T0, { revokedAt: T0 + HOUR, uses: { x: { at: T0 + HOUR + 5, compartment: 4 } } });
      const d = parcel([c]);
      expect(codeState(d, c, T0 + 2 * HOUR)).toBe('used');
      const v = codeView(d, c, T0 + 2 * HOUR);
      expect(v).toMatchObject({ state: 'used', usedAt: T0 + HOUR + 5, revokedAt: T0 + HOUR, usedAfterRevoke: true });
    });

    it('used beats expired (the door opened: physical fact)', () => {
      const c = rec('a', T0, { expiredAt: T0 + 72 * HOUR, uses: { x: { at: T0 + 71 * HOUR, compartment: 4 } } });
      expect(codeState(parcel([c]), c, T0 + 80 * HOUR)).toBe('used');
    });

    it('only the newest code of a parcel can be active: an older unrevoked one is superseded', () => {
      const old = rec('a', T0);
      const neu = rec('b', T0 + 1);
      const d = parcel([old, neu]);
      expect(codeState(d, old, T0 + 2)).toBe('superseded');
      expect(codeState(d, neu, T0 + 2)).toBe('active');
      // ...but expired wins over superseded.
      expect(codeState(d, old, T0 + 72 * HOUR)).toBe('expired');
    });

    it('same issuedAt: the order is broken by code id, identically everywhere', () => {
      const a = rec('aaaa', T0);
      const b = rec('bbbb', T0);
      expect(codesNewestFirst(parcel([a, b])).map((c) => str(c.codeId))).toEqual(['bbbb', 'aaaa']);
      expect(codesNewestFirst(parcel([b, a])).map((c) => str(c.codeId))).toEqual(['bbbb', 'aaaa']);
      expect(codeState(parcel([a, b]), a, T0)).toBe('superseded');
      expect(codeState(parcel([a, b]), b, T0)).toBe('active');
    });

    it('a returned parcel has no active code', () => {
      const c = rec('a', T0);
      expect(codeState(parcel([c], { returnedAt: T0 + HOUR }), c, T0 + 2 * HOUR)).toBe('expired');
    });

    it('a parcel picked up with one code has no other active code (concurrent rotate and pickup)', () => {
      // Replica A rotated (revoked `old`, issued `neu`) while replica B opened the door with `old`.
      const old = rec('a', T0, { revokedAt: T0 + HOUR, uses: { x: { at: T0 + HOUR + 1, compartment: 4 } } });
      const neu = rec('b', T0 + HOUR);
      const d = parcel([old, neu]);
      expect(parcelStatus(d, T0 + 2 * HOUR)).toBe('picked_up');
      expect(codeState(d, old, T0 + 2 * HOUR)).toBe('used');
      expect(codeState(d, neu, T0 + 2 * HOUR)).not.toBe('active');
      expect(liveCode(d, T0 + 2 * HOUR)).toBeUndefined();
    });
  });

  describe('codeView', () => {
    it('exposes derived facts and counts open failures', () => {
      const c = rec('a', T0, {
        uses: { x: { at: T0 + 10, compartment: 4 }, y: { at: T0 + 20, compartment: 4 } },
        openFailures: { x: { at: T0 + 11, reason: s('jammed') } },
      });
      expect(codeView(parcel([c]), c, T0 + 30)).toEqual({
        codeId: 'a',
        selector: '123',
        state: 'used',
        issuedAt: T0,
        expiresAt: T0 + 72 * HOUR,
        issuer: 'hub',
        usedAt: T0 + 20,
        revokedAt: undefined,
        usedAfterRevoke: false,
        openFailures: 1,
      });
    });
  });

  describe('currentCompartment', () => {
    it('is undefined before the deposit', () => {
      expect(currentCompartment(parcel([], { deposit: undefined }))).toBeUndefined();
    });
    it('is the deposit compartment without moves', () => {
      expect(currentCompartment(parcel([]))).toBe(4);
    });
    it('is the latest move, ties broken by move id', () => {
      const moves = {
        m1: { to: 7, at: T0 + 10, by: s('tech'), reason: s('jammed') },
        m3: { to: 9, at: T0 + 30, by: s('tech'), reason: s('x') },
        m2: { to: 8, at: T0 + 20, by: s('tech'), reason: s('y') },
      };
      expect(currentCompartment(parcel([], { moves }))).toBe(9);
      const tie = { b: { to: 2, at: T0 + 10, by: s('t'), reason: s('') }, a: { to: 1, at: T0 + 10, by: s('t'), reason: s('') } };
      expect(currentCompartment(parcel([], { moves: tie }))).toBe(2);
    });
  });

  describe('parcelStatus, liveCode, isFinished', () => {
    const now = T0 + HOUR;
    it('announced: no deposit yet', () => {
      const d = parcel([], { deposit: undefined });
      expect(parcelStatus(d, now)).toBe('announced');
      expect(isFinished(d, now)).toBe(false);
    });
    it('deposited: a live code', () => {
      const c = rec('a', T0);
      const d = parcel([c]);
      expect(parcelStatus(d, now)).toBe('deposited');
      expect(str(liveCode(d, now)?.codeId)).toBe('a');
      expect(isFinished(d, now)).toBe(false);
    });
    it('deposited: revoked code awaiting a new one is still deposited', () => {
      const d = parcel([rec('a', T0, { revokedAt: T0 + 1 })]);
      expect(parcelStatus(d, now)).toBe('deposited');
      expect(liveCode(d, now)).toBeUndefined();
    });
    it('picked_up: any code used', () => {
      const d = parcel([rec('a', T0, { uses: { x: { at: T0 + 5, compartment: 4 } } })]);
      expect(parcelStatus(d, now)).toBe('picked_up');
      expect(liveCode(d, now)).toBeUndefined();
      expect(isFinished(d, now)).toBe(true);
    });
    it('expired: the newest code expired; not finished until returned', () => {
      const d = parcel([rec('a', T0)]);
      const later = T0 + 73 * HOUR;
      expect(parcelStatus(d, later)).toBe('expired');
      expect(liveCode(d, later)).toBeUndefined();
      expect(isFinished(d, later)).toBe(false);
    });
    it('returned: wins over everything else', () => {
      const d = parcel([rec('a', T0)], { returnedAt: T0 + 80 * HOUR });
      expect(parcelStatus(d, T0 + 81 * HOUR)).toBe('returned');
      expect(isFinished(d, T0 + 81 * HOUR)).toBe(true);
    });
  });
});
