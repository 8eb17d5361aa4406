import { BadRequest } from '../../../shared/errors.js';
import { normaliseEmail, normalisePhone, type E164, type EmailAddress } from '../contacts.js';

/** What a person is told when a phone number is refused. */
export const PHONE_HINT = 'give the phone number in international form, like +4915112345678';
/** What a person is told when an e-mail address is refused. */
export const EMAIL_HINT = 'give an e-mail address like name@example.com';

/**
 * A phone number as typed by a carrier's system or support, to E.164: international form
 * only (`+49 151 1234 5678`, `0049…`) — the cloud serves many countries and never guesses
 * one — checked against the numbering plan (libphonenumber, full metadata). Throws
 * `BadRequest` `invalid_input` naming `field`.
 */
export function parsePhone(input: string, field: string): E164 {
  const trimmed = input.trim();
  if (/^(\+|00)[1-9]/.test(trimmed)) {
    try {
      return normalisePhone(trimmed);
    } catch {
      // fall through to the error naming the caller's field
    }
  }
  throw new BadRequest(`Field "${field}": ${PHONE_HINT}.`, 'invalid_input', { field });
}

/** Trimmed, domain lower-cased, syntax-checked; throws `BadRequest` `invalid_input` naming `field`. */
export function parseEmail(input: string, field: string): EmailAddress {
  try {
    return normaliseEmail(input);
  } catch {
    throw new BadRequest(`Field "${field}": ${EMAIL_HINT}.`, 'invalid_input', { field });
  }
}

/** The same checks as a boolean-free transform for zod schemas: `undefined` when refused. */
export function tryPhone(input: string): E164 | undefined {
  try {
    return parsePhone(input, 'phone');
  } catch {
    return undefined;
  }
}

export function tryEmail(input: string): EmailAddress | undefined {
  try {
    return normaliseEmail(input);
  } catch {
    return undefined;
  }
}
