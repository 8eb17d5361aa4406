/**
 * The text protocol between the board's firmware and the hub for the QR scanner, carried in
 * Firmata STRING_DATA sysex messages (0x71). The scanner is a serial device on the board;
 * the firmware (StandardFirmata plus a small scanner bridge) forwards what it reads:
 *
 * - board to hub `QR:<text>`: the scanner read `<text>` (printable ASCII: Cubby's QR codes
 *   hold the pickup code and the bank id; firmata-io decodes strings byte-wise, so non-ASCII
 *   text would not survive).
 * - board to hub `SCANNER:ok` / `SCANNER:missing`: scanner presence, sent when it changes
 *   and in answer to a query.
 * - hub to board `SCANNER?`: ask for the presence. A board that never answers (plain
 *   StandardFirmata) has no scanner as far as the hub is concerned.
 *
 * Any other string (firmware debug output) is ignored by the hub.
 */

export const SCAN_PREFIX = 'QR:';
export const SCANNER_STATUS_PREFIX = 'SCANNER:';
export const SCANNER_QUERY = 'SCANNER?';

/** A string from the board, classified. */
export type BoardString = { kind: 'scan'; text: string } | { kind: 'scanner'; present: boolean } | { kind: 'other'; text: string };

/** Classify a STRING_DATA text received from the board. */
export function parseBoardString(raw: string): BoardString {
  if (raw.startsWith(SCAN_PREFIX)) return { kind: 'scan', text: raw.slice(SCAN_PREFIX.length) };
  if (raw === `${SCANNER_STATUS_PREFIX}ok`) return { kind: 'scanner', present: true };
  if (raw === `${SCANNER_STATUS_PREFIX}missing`) return { kind: 'scanner', present: false };
  return { kind: 'other', text: raw };
}

/** True for text a scan may carry: printable ASCII, 1..256 characters. */
export function isScannableText(text: string): boolean {
  return /^[\x20-\x7e]{1,256}$/.test(text);
}

/** The string the board sends for a scan. */
export function formatScan(text: string): string {
  if (!isScannableText(text)) throw new RangeError('Scanned text must be 1..256 printable ASCII characters');
  return `${SCAN_PREFIX}${text}`;
}

/** The string the board sends for scanner presence. */
export function formatScannerStatus(present: boolean): string {
  return `${SCANNER_STATUS_PREFIX}${present ? 'ok' : 'missing'}`;
}
