import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { z } from 'zod';
import { BadRequest } from '../../shared/errors.js';
import type { Brand } from '../../shared/ids.js';

/**
 * Recipient contact details, validated once where they enter the system (carrier API,
 * contact change) so the outbox only ever holds numbers and addresses a provider can take,
 * and masked wherever a person other than the recipient sees them (support view, audit, alerts).
 */

/** A phone number in E.164 (`+4915112345678`), made only by {@link normalisePhone}. */
export type E164 = Brand<string, 'E164'>;
/** A trimmed e-mail address with a lower-case domain, made only by {@link normaliseEmail}. */
export type EmailAddress = Brand<string, 'EmailAddress'>;

/**
 * Parse a phone number as typed (national `0151 1234 5678` in `defaultCountry`, or
 * international `+49 …` / `0049 …`) into E.164. Uses full metadata, so numbers that are the
 * right length but not allocated are refused. Throws `BadRequest` `invalid_phone` naming
 * `recipient.phone`.
 */
export function normalisePhone(input: string, defaultCountry: CountryCode = 'DE'): E164 {
  const cleaned = typeof input === 'string' ? input.trim().replace(/^00(?=[1-9])/, '+') : '';
  const parsed = cleaned.length <= 40 ? parsePhoneNumberFromString(cleaned, defaultCountry) : undefined;
  if (!parsed || !parsed.isValid()) {
    throw new BadRequest(
      'recipient.phone is not a valid phone number: use international format like +49 151 12345678.',
      'invalid_phone',
      { field: 'recipient.phone' },
    );
  }
  return parsed.number as E164;
}

/**
 * Whether an E.164 number can take SMS as far as the numbering plan tells (mobile, or a plan
 * that does not distinguish, like the US). `false` for known landlines and service numbers.
 */
export function isSmsCapable(phone: E164): boolean {
  const type = parsePhoneNumberFromString(phone)?.getType();
  return type === undefined || type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE';
}

const emailSchema = z.email();

/**
 * Trim, check the syntax (zod's e-mail rule) and lower-case the domain; the local part keeps
 * its case (RFC 5321 lets servers treat it as case-sensitive). Throws `BadRequest`
 * `invalid_email` naming `recipient.email`.
 */
export function normaliseEmail(input: string): EmailAddress {
  const trimmed = typeof input === 'string' ? input.trim() : '';
  const at = trimmed.lastIndexOf('@');
  const candidate = at > 0 ? `${trimmed.slice(0, at)}@${trimmed.slice(at + 1).toLowerCase()}` : trimmed;
  if (candidate.length > 254 || !emailSchema.safeParse(candidate).success) {
    throw new BadRequest('recipient.email is not a valid e-mail address, like anna@example.com.', 'invalid_email', {
      field: 'recipient.email',
    });
  }
  return candidate as EmailAddress;
}

const DOT = '•';

/**
 * Show a phone number without revealing it: country code and last four digits,
 * `+4915112345678` -> `+49 ••• ••• 5678`. Input that does not parse keeps only its last four.
 */
export function maskPhone(phone: string): string {
  const parsed = parsePhoneNumberFromString(phone);
  const tail = lastFour(phone);
  if (!parsed) return `${DOT.repeat(3)} ${tail}`;
  return `+${parsed.countryCallingCode} ${DOT.repeat(3)} ${DOT.repeat(3)} ${tail}`;
}

/** `anna@example.com` -> `a•••@example.com` (first character of the local part, full domain). */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return DOT.repeat(3);
  return `${email.slice(0, 1)}${DOT.repeat(3)}${email.slice(at)}`;
}

/** The last four digits of a phone number (fewer if it has fewer), e.g. to confirm it by voice. */
export function lastFour(phone: string): string {
  return phone.replace(/\D/g, '').slice(-4);
}
