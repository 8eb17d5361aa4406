import { describe, expect, it } from 'vitest';
import { isSmsCapable, lastFour, maskEmail, maskPhone, normaliseEmail, normalisePhone } from '../../../cloud/notify/contacts.js';
import { BadRequest } from '../../../shared/errors.js';

const errorOf = (fn: () => unknown): BadRequest => {
  try {
    fn();
  } catch (e) {
    if (e instanceof BadRequest) return e;
    throw e;
  }
  throw new Error('did not throw');
};

describe('contacts', () => {
  it('normalises phone numbers to E.164, national numbers in the default country', () => {
    expect(normalisePhone('0151 12345678')).toBe('+4915112345678');
    expect(normalisePhone(' +49 (151) 123-45678 ')).toBe('+4915112345678');
    expect(normalisePhone('0049 151 12345678')).toBe('+4915112345678');
    expect(normalisePhone('0660 1234567', 'AT')).toBe('+436601234567');
    expect(normalisePhone('+1 202 555 0143')).toBe('+12025550143');
  });

  it('refuses what is not a phone number with invalid_phone naming recipient.phone', () => {
    for (const bad of ['', '12', 'abc', '+49 151', '+999 12345678', '1'.repeat(60), 42 as unknown as string]) {
      const e = errorOf(() => normalisePhone(bad));
      expect(e.code).toBe('invalid_phone');
      expect(e.status).toBe(400);
      expect(e.message).toContain('recipient.phone');
      expect(e.details).toEqual({ field: 'recipient.phone' });
    }
  });

  it('tells landlines from numbers that take SMS', () => {
    expect(isSmsCapable(normalisePhone('0151 12345678'))).toBe(true);
    expect(isSmsCapable(normalisePhone('030 1234567'))).toBe(false);
    expect(isSmsCapable(normalisePhone('+1 202 555 0143'))).toBe(true);
  });

  it('normalises e-mail: trims and lower-cases the domain only', () => {
    expect(normaliseEmail('  Anna.Schmidt@Example.COM ')).toBe('Anna.Schmidt@example.com');
    for (const bad of ['', 'anna', 'anna@', '@example.com', 'anna@@example.com', 'an na@example.com', `${'a'.repeat(250)}@x.de`]) {
      const e = errorOf(() => normaliseEmail(bad));
      expect(e.code).toBe('invalid_email');
      expect(e.message).toContain('recipient.email');
      expect(e.details).toEqual({ field: 'recipient.email' });
    }
  });

  it('masks contacts for people other than the recipient', () => {
    expect(maskPhone('+4915112345678')).toBe('+49 ••• ••• 5678');
    expect(maskPhone('+12025550143')).toBe('+1 ••• ••• 0143');
    expect(maskPhone('garbage 98765')).toBe('••• 8765');
    expect(maskEmail('anna@example.com')).toBe('a•••@example.com');
    expect(maskEmail('no-at-sign')).toBe('•••');
    expect(lastFour('+49 151 1234 5678')).toBe('5678');
    expect(lastFour('+12')).toBe('12');
  });
});
