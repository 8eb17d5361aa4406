import { BadRequest } from '../errors.js';
import { randomInt, type Random } from '../ports.js';

/**
 * Pickup code format: 9 digits shown as `SSS-VVVVVV`.
 * - `SSS` is the selector: stored in clear, unique among a bank's live codes, used to find
 *   the one hash to verify.
 * - `VVVVVV` is the verifier: only ever stored inside the argon2id hash of the whole code.
 */
export interface PickupCode {
  selector: string;
  verifier: string;
  /** The canonical display form `SSS-VVVVVV`. */
  display: string;
}

export const SELECTOR_SPACE = 1000;
const VERIFIER_SPACE = 1_000_000;
const MAX_INPUT = 64;

/**
 * Normalise user input (keypad, QR payload, pasted SMS text): spaces, dashes and dots are
 * removed. Anything that is not then exactly 9 ASCII digits is rejected *before* any hashing,
 * so malformed input costs nothing.
 */
export function parseCode(input: unknown): PickupCode {
  if (typeof input !== 'string' || input.length > MAX_INPUT) {
    throw new BadRequest('A pickup code is 9 digits, like 123-456789.', 'malformed_code');
  }
  const digits = input.replace(/[\s\-.]/g, '');
  if (!/^[0-9]{9}$/.test(digits)) {
    throw new BadRequest('A pickup code is 9 digits, like 123-456789.', 'malformed_code');
  }
  return toCode(digits.slice(0, 3), digits.slice(3));
}

function toCode(selector: string, verifier: string): PickupCode {
  return { selector, verifier, display: `${selector}-${verifier}` };
}

/**
 * Generate a fresh code with a CSPRNG. `selectorTaken` tells which selectors are already
 * used by live codes of the bank; a free one is chosen uniformly among the free ones.
 * Throws when every selector is taken (a bank has far fewer than 1,000 compartments).
 */
export function generateCode(random: Random, selectorTaken: (selector: string) => boolean): PickupCode {
  const free: string[] = [];
  for (let s = 0; s < SELECTOR_SPACE; s++) {
    const sel = String(s).padStart(3, '0');
    if (!selectorTaken(sel)) free.push(sel);
  }
  if (free.length === 0) throw new Error('no free selector: every selector of this bank is live');
  const selector = free[randomInt(random, free.length)]!;
  const verifier = String(randomInt(random, VERIFIER_SPACE)).padStart(6, '0');
  return toCode(selector, verifier);
}

/** The QR payload for a code: the same code plus the bank id. */
export function qrPayload(bankId: string, code: PickupCode): string {
  return `cubby:${bankId}:${code.display}`;
}

/** Parse a QR payload back into the bank id and the code. */
export function parseQrPayload(text: unknown): { bankId: string; code: PickupCode } {
  if (typeof text !== 'string' || text.length > 200) throw new BadRequest('Unreadable QR code.', 'malformed_code');
  const m = /^cubby:([A-Za-z0-9_.-]{1,64}):(.+)$/.exec(text);
  if (!m) throw new BadRequest('This QR code is not a Cubby pickup code.', 'malformed_code');
  return { bankId: m[1]!, code: parseCode(m[2]) };
}
