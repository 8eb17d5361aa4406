import { describe, expect, it } from 'vitest';
import { BadRequest } from '../../../shared/errors.js';
import { SELECTOR_SPACE, generateCode, parseCode, parseQrPayload, qrPayload } from '../../../shared/codes/format.js';
import { validateCode } from '../../../shared/ledger/validate.js';
import { SeededRandom } from '../../../shared/ports.js';
import { CountingHasher, testLedger } from '../fixtures.js';

/** Pearson's chi-square statistic of observed counts against a uniform expectation. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const e = total / counts.length;
  return counts.reduce((s, o) => s + (o - e) ** 2 / e, 0);
}

describe('parseCode', () => {
  it.each([
    ['123-456789'],
    ['123456789'],
    ['123 456 789'],
    ['  123 - 456 789  '],
    ['123.456.789'],
    ['1-2-3-4-5-6-7-8-9'],
    ['123\t456789\n'],
  ])('normalises %j to 123-456789', (input) => {
    expect(parseCode(input)).toEqual({ selector: '123', verifier: '456789', display: '123-456789' });
  });

  it('keeps leading zeros', () => {
    expect(parseCode('000-000001')).toEqual({ selector: '000', verifier: '000001', display: '000-000001' });
  });

  it.each([
    [''],
    ['12345678'],
    ['1234567890'],
    ['abc-defghi'],
    ['123-45678a'],
    ['123_456789'],
    ['123/456789'],
    ['+123456789'],
    ['１２３-４５６７８９'], // full-width digits are not ASCII digits
    ['١٢٣٤٥٦٧٨٩'], // Arabic-Indic digits
    [' '.repeat(60) + '123456789'], // longer than 64 characters before normalising
    ['123-456789'.repeat(7)],
  ])('rejects %j as malformed_code', (input) => {
    let err: unknown;
    try {
      parseCode(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadRequest);
    expect((err as BadRequest).code).toBe('malformed_code');
    expect((err as BadRequest).status).toBe(400);
  });

  it.each([[123456789], [null], [undefined], [{ toString: () => '123456789' }], [['123456789']]])('rejects non-string %j', (input) => {
    expect(() => parseCode(input)).toThrow(BadRequest);
  });

  it('rejects malformed input before any hashing', async () => {
    const t = testLedger();
    const hasher = new CountingHasher();
    // The keypad path: parse, then validate. A malformed input must never reach argon2.
    const pickup = async (input: unknown) => validateCode(t.ledger, hasher, parseCode(input));
    for (const bad of ['', '12-34', 'x'.repeat(9), '1234567890', 42, null, '９'.repeat(9)]) {
      await expect(pickup(bad)).rejects.toThrow(BadRequest);
    }
    expect(hasher.hashes + hasher.verifies + hasher.dummies).toBe(0);
    // ...while a well-formed code does cost one argon2 evaluation (a dummy one here).
    await expect(pickup('123-456789')).resolves.toEqual({ kind: 'invalid' });
    expect(hasher.argon2Calls).toBe(1);
  });
});

describe('generateCode', () => {
  it('makes a 3-digit selector and a 6-digit verifier', () => {
    const random = new SeededRandom(3);
    for (let i = 0; i < 200; i++) {
      const c = generateCode(random, () => false);
      expect(c.selector).toMatch(/^[0-9]{3}$/);
      expect(c.verifier).toMatch(/^[0-9]{6}$/);
      expect(c.display).toBe(`${c.selector}-${c.verifier}`);
      expect(parseCode(c.display)).toEqual(c);
    }
  });

  it('is deterministic for a given random source (the RNG is the only input)', () => {
    const a = Array.from({ length: 5 }, ((r) => () => generateCode(r, () => false).display)(new SeededRandom(9)));
    const b = Array.from({ length: 5 }, ((r) => () => generateCode(r, () => false).display)(new SeededRandom(9)));
    expect(a).toEqual(b);
  });

  it('only picks a free selector', () => {
    const random = new SeededRandom(4);
    const taken = (s: string) => s !== '042' && s !== '999';
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(generateCode(random, taken).selector);
    expect([...seen].sort()).toEqual(['042', '999']);
  });

  it('picks free selectors uniformly', () => {
    const random = new SeededRandom(5);
    const free = ['001', '017', '250', '333', '500', '640', '777', '808', '901', '998'];
    const counts = new Map(free.map((s) => [s, 0]));
    for (let i = 0; i < 10_000; i++) {
      const s = generateCode(random, (sel) => !counts.has(sel)).selector;
      counts.set(s, counts.get(s)! + 1);
    }
    // 9 degrees of freedom: P(chi2 > 27.88) = 0.001.
    expect(chiSquare([...counts.values()])).toBeLessThan(27.88);
  });

  it('draws selectors and verifier digits uniformly over the whole space', () => {
    const random = new SeededRandom(6);
    const selectors = new Array<number>(SELECTOR_SPACE).fill(0);
    const digits = Array.from({ length: 6 }, () => new Array<number>(10).fill(0));
    for (let i = 0; i < 50_000; i++) {
      const c = generateCode(random, () => false);
      selectors[Number(c.selector)]!++;
      [...c.verifier].forEach((d, pos) => digits[pos]![Number(d)]!++);
    }
    // 999 degrees of freedom: P(chi2 > 1143) ~ 0.001.
    expect(chiSquare(selectors)).toBeLessThan(1143);
    // 9 degrees of freedom per verifier position.
    for (const pos of digits) expect(chiSquare(pos)).toBeLessThan(27.88);
  });

  it('throws when every selector is taken', () => {
    expect(() => generateCode(new SeededRandom(1), () => true)).toThrow(/no free selector/);
  });
});

describe('QR payload', () => {
  it('round-trips the bank id and the code', () => {
    const random = new SeededRandom(8);
    for (const bankId of ['bank-1', 'B', 'hub_07.north', 'x'.repeat(64)]) {
      const c = generateCode(random, () => false);
      const text = qrPayload(bankId, c);
      expect(text).toBe(`cubby:${bankId}:${c.display}`);
      expect(parseQrPayload(text)).toEqual({ bankId, code: c });
    }
  });

  it('accepts a payload whose code part is in any accepted spelling', () => {
    expect(parseQrPayload('cubby:bank-1:123 456 789').code.display).toBe('123-456789');
  });

  it.each([
    ['123-456789'],
    ['cubby:bank-1'],
    ['cubby::123-456789'],
    ['cubby:bank 1:123-456789'],
    ['other:bank-1:123-456789'],
    ['cubby:bank-1:12-3456789x'],
    ['cubby:' + 'x'.repeat(65) + ':123-456789'],
    ['cubby:bank-1:' + ' '.repeat(200) + '123456789'],
    [42],
    [null],
  ])('rejects %j', (text) => {
    expect(() => parseQrPayload(text)).toThrow(BadRequest);
  });
});
