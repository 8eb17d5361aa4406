import { describe, expect, it } from 'vitest';
import { assertSafeToPublish, safeJson, UnsafeMessageError } from '../../edge/mqtt/event-guard.js';

const refused = (msg: unknown, opts = {}) => {
  try {
    safeJson(msg, opts);
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(UnsafeMessageError);
    return (e as UnsafeMessageError).rule;
  }
};

describe('event guard', () => {
  it('lets ordinary events through, timestamps and ids included', () => {
    const e = { type: 'pickup', at: 1767225600000, compartment: 12, parcelId: 'P-2026-000123', codeId: 'a1b2c3d4', durationMs: 1800 };
    expect(JSON.parse(safeJson(e))).toEqual(e);
    expect(refused({ type: 'door_opened', at: 1767225600000, detail: 'door 3 opened by tech-1' })).toBeUndefined();
    // Random hex ids and tracking numbers may hold nine digits in a row: they are words, not codes.
    expect(refused({ type: 'pickup', at: 1, eventId: 'a123456789bcdef0', parcelId: 'TRK123456789' })).toBeUndefined();
  });

  it('refuses code-like digits anywhere, in any notation', () => {
    expect(refused({ type: 'pickup', at: 1, detail: 'used 123-456789' })).toBe('code_like_digits');
    expect(refused({ type: 'pickup', at: 1, detail: 'used 123456789' })).toBe('code_like_digits');
    expect(refused({ type: 'pickup', at: 1, detail: 'used 123 456789' })).toBe('code_like_digits');
    expect(refused({ type: 'pickup', at: 1, list: [{ x: ['123456789'] }] })).toBe('code_like_digits');
    expect(refused({ type: 'pickup', at: 1, n: 123456789 })).toBe('code_like_digits');
    expect(refused({ type: 'pickup', at: 1, n: 123456789 }, { numbers: false })).toBeUndefined(); // telemetry sizes
  });

  it('refuses fields named code / secret / hash and variants, and argon2 hashes', () => {
    for (const k of ['code', 'Code', 'pickupCode', 'plain_code', 'secret', 'deviceSecret', 'hash', 'codeHash', 'hashes', 'password', 'pepper', 'pin']) {
      expect(refused({ type: 't', at: 1, nested: { [k]: 'x' } }), k).toBe('forbidden_field');
    }
    expect(refused({ type: 't', at: 1, note: '$argon2id$v=19$m=19456,t=2,p=1$abc$def' })).toBe('hash_value');
  });

  it('checks what goes on the wire (toJSON) and never quotes the value in the error', () => {
    const sneaky = { type: 't', at: 1, toJSON: () => ({ type: 't', at: 1, detail: '987-654321' }) };
    expect(refused(sneaky)).toBe('code_like_digits');
    try {
      assertSafeToPublish({ a: { b: '987654321' } });
    } catch (e) {
      expect((e as Error).message).toBe('refusing to publish: code_like_digits at a.b');
      expect((e as Error).message).not.toContain('987');
    }
  });
});
