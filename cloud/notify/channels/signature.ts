import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA256 request signing shared by the SMS receipt webhook and the push webhook.
 *
 * Scheme: `x-cubby-timestamp: <unix seconds>` and
 * `x-cubby-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
 * The timestamp is inside the MAC so a captured request cannot be replayed outside
 * the tolerance window. Verification is constant-time.
 */
export const SIGNATURE_HEADER = 'x-cubby-signature';
/** Header carrying the signing time in Unix seconds. */
export const TIMESTAMP_HEADER = 'x-cubby-timestamp';
/** Default accepted clock skew / replay window. */
export const DEFAULT_SIGNATURE_TOLERANCE_MS = 5 * 60_000;

/** `sha256=<hex>` for `rawBody` signed at `timestampSeconds`. */
export function computeSignature(secret: string, timestampSeconds: number, rawBody: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${rawBody}`, 'utf8').digest('hex');
  return `sha256=${mac}`;
}

/** The two headers to send with `rawBody`, signed at `nowMs`. */
export function signatureHeaders(secret: string, rawBody: string, nowMs: number): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  return { [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: computeSignature(secret, ts, rawBody) };
}

/** What {@link verifySignature} needs. */
export interface VerifyInput {
  secret: string;
  rawBody: string;
  /** Value of `x-cubby-signature` (may be missing). */
  signature: string | null | undefined;
  /** Value of `x-cubby-timestamp` (may be missing). */
  timestamp: string | null | undefined;
  /** Current time in ms (from the injected clock). */
  nowMs: number;
  /** Accepted |now - timestamp|. Default {@link DEFAULT_SIGNATURE_TOLERANCE_MS}. */
  toleranceMs?: number;
}

/** Why a signature was refused (safe to put in an error message). */
export type SignatureProblem = 'missing_signature' | 'stale_timestamp' | 'bad_signature';

/** `null` when the request is authentic, else the problem. */
export function verifySignature(input: VerifyInput): SignatureProblem | null {
  const { signature, timestamp } = input;
  if (!signature || !timestamp) return 'missing_signature';
  if (!/^\d{1,12}$/.test(timestamp)) return 'stale_timestamp';
  const ts = Number(timestamp);
  const tolerance = input.toleranceMs ?? DEFAULT_SIGNATURE_TOLERANCE_MS;
  if (Math.abs(input.nowMs - ts * 1000) > tolerance) return 'stale_timestamp';
  const expected = Buffer.from(computeSignature(input.secret, ts, input.rawBody), 'utf8');
  const given = Buffer.from(signature.trim(), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad_signature';
  return null;
}
