import { parseCode, qrPayload } from '../../../shared/codes/format.js';
import type { OutboxRow } from './outbox-store.js';

/** What a recipient reads: subject (e-mail, push title) and body. The body of a code message holds the code: never log it. */
export interface MessageText {
  subject: string;
  body: string;
}

/** `2026-01-08 08:00 UTC`: one unambiguous form for every recipient. */
export function formatValidUntil(t: number): string {
  return `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * The pickup message for `row` with the opened `code` (`SSS-VVVVVV`):
 * "Your parcel P-1 is ready at bank-1, compartment 5: code 123-456789 (valid until 2026-01-08
 * 08:00 UTC). QR: cubby:bank-1:123-456789". Everything but the code comes from the row, so a
 * retried send produces the same bytes (providers dedupe on the idempotency key and refuse a
 * different body under the same key).
 */
export function codeMessage(row: OutboxRow, code: string): MessageText {
  const parsed = parseCode(code);
  const where = row.compartment !== null ? `${row.bankId}, compartment ${row.compartment}` : row.bankId;
  const until = row.expiresAt !== null ? ` (valid until ${formatValidUntil(row.expiresAt)})` : '';
  return {
    subject: `Your pickup code for parcel ${row.parcelId}`,
    body: `Your parcel ${row.parcelId} is ready at ${where}: code ${parsed.display}${until}. QR: ${qrPayload(row.bankId, parsed)}`,
  };
}

/** The notice to the OLD contact after a contact change. Holds no code. */
export function contactChangedAlert(row: OutboxRow): MessageText {
  return {
    subject: `Contact details changed for parcel ${row.parcelId}`,
    body: `The contact details for your parcel ${row.parcelId} were changed and a new pickup code will go to the new contact. If this was not you, call Cubby support now.`,
  };
}
