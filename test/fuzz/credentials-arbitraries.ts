/**
 * Header values a client can send (any byte a `Headers` object accepts), and forged
 * `authorization` headers derived from real ones: tampered signatures, re-written claims under
 * the old signature, `alg: none`, truncations, wrong schemes, garbage.
 */
import fc from 'fast-check';
import { objectWith } from './json-text.js';

/** A header value `Headers` accepts: tab, printable ASCII and obs-text (0x80-0xFF); no CR, LF or NUL. */
export const headerValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 60 }).map(headerSafe),
  fc.string({ unit: 'binary', maxLength: 40 }).map(headerSafe),
  fc.integer({ min: 100, max: 8_000 }).map((n) => 'A'.repeat(n)),
);

/** Drop the characters `Headers` would reject. */
export function headerSafe(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && (c === 9 || (c >= 0x20 && c !== 0x7f && c <= 0xff))) out += ch;
  }
  return out;
}

const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

/** Claims to write into a token's payload in place of the real ones (kept under the real signature). */
const forgedClaims: fc.Arbitrary<Record<string, unknown>> = fc.constantFrom<Record<string, unknown>>(
  { role: 'technician' },
  { role: 'admin' },
  { sub: 'tech-1' },
  { sub: 'constructor' },
  { exp: 9e15 },
  { exp: '9999999999999' },
  { exp: null },
  { sub: null, role: null },
  { alg: 'none' },
  objectWith([['__proto__', { role: 'technician' }]]),
);

/**
 * Forgeries of `authorization` values like `Bearer <payload>.<signature>` (or plain bearer
 * secrets), plus headers that are not credentials at all. With no real value to start from,
 * only the generic ones.
 */
export function forgedAuthorization(valid: readonly string[]): fc.Arbitrary<string | undefined> {
  const generic = fc.oneof(
    fc.constant(undefined),
    fc.constantFrom('', 'Bearer', 'Bearer ', 'Bearer .', 'Bearer a.b', 'Bearer ..', 'Basic dGVjaC0xOnRlY2gtMS1zZWNyZXQ=', 'Bearer null', 'Bearer undefined', 'Token x', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZWNoLTEiLCJyb2xlIjoidGVjaG5pY2lhbiIsImV4cCI6OTk5OTk5OTk5OTk5OX0.'),
    headerValue,
    headerValue.map((v) => `Bearer ${v}`),
    fc.tuple(fc.base64String({ maxLength: 80 }), fc.base64String({ maxLength: 60 })).map(([a, b]) => `Bearer ${a.replace(/=+$/, '')}.${b.replace(/=+$/, '')}`),
  );
  if (valid.length === 0) return generic;
  const tampered = fc.tuple(fc.constantFrom(...valid), fc.nat({ max: 11 }), fc.nat(), forgedClaims).map(([header, how, pos, claims]) => tamper(header, how, pos, claims));
  return fc.oneof({ weight: 1, arbitrary: generic }, { weight: 2, arbitrary: tampered });
}

function tamper(header: string, how: number, pos: number, claims: Record<string, unknown>): string {
  const [scheme = 'Bearer', ...rest] = header.split(' ');
  const token = rest.join(' ');
  const [payload = '', signature = ''] = token.split('.');
  const flip = (s: string): string => {
    if (s.length === 0) return 'A';
    const i = pos % s.length;
    return s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  };
  switch (how) {
    case 0:
      return `${scheme} ${payload}.${flip(signature)}`;
    case 1: {
      let decoded: Record<string, unknown> = {};
      try {
        decoded = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
      } catch {
        // not a JSON payload: forge from nothing
      }
      return `${scheme} ${b64url(JSON.stringify({ ...decoded, ...claims }))}.${signature}`;
    }
    case 2:
      return `${scheme} ${payload}`;
    case 3:
      return `${scheme} ${payload}.`;
    case 4:
      return `${scheme} ${b64url('{"alg":"none","typ":"JWT"}')}.${payload}.`;
    case 5:
      return `${scheme} ${token}.${token}`;
    case 6:
      return `${scheme} ${token.slice(0, pos % Math.max(1, token.length))}`;
    case 7:
      return `${scheme.toLowerCase()} ${token}`;
    case 8:
      return `${scheme}  ${token}`; // two spaces
    case 9:
      return `${scheme} ${token} ${token}`;
    case 10:
      return `${scheme} ${flip(payload)}.${signature}`;
    default:
      return `${scheme} ${token.toUpperCase()}`;
  }
}
