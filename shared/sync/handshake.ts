import { z } from 'zod';
import { bankIdSchema } from '../ids.js';
import { randomId, type Random } from '../ports.js';
import type { SyncErrorCode } from './sync-errors.js';

/**
 * The text frames of a sync session. The hub connects out to the cloud's `/v1/sync` and
 * speaks first:
 *
 * 1. hub -> cloud `hello { bankId, secret, clientNonce, epoch }` (the device credential; the
 *    connection must be TLS outside a test bench);
 * 2. cloud -> hub `welcome { serverNonce, serverTime, epoch }` once the credential verified;
 * 3. both derive `sessionKey = HMAC-SHA256(secret, "cubby-sync-v1|" + clientNonce + "|" + serverNonce)`
 *    and exchange binary frames (see wire.ts), each with a MAC under that key.
 *
 * `error { code, message }` may be sent by either side at any time, just before it closes.
 * `epoch` identifies each side's sync-state store (see `storeEpoch`).
 */
const nonce = z.string().regex(/^[0-9a-f]{32,128}$/, 'a nonce is 32-128 hex digits');
const epoch = z.string().regex(/^[0-9a-f]{16,64}$/, 'an epoch is 16-64 hex digits');

export const helloSchema = z.object({
  type: z.literal('hello'),
  /** Protocol version. */
  v: z.literal(1),
  bankId: bankIdSchema,
  secret: z.string().min(1).max(256),
  clientNonce: nonce,
  epoch,
});
export type Hello = z.infer<typeof helloSchema>;

export const welcomeSchema = z.object({
  type: z.literal('welcome'),
  v: z.literal(1),
  serverNonce: nonce,
  /** The cloud's clock (ms since epoch), so a hub can report its drift. */
  serverTime: z.number().int(),
  epoch,
});
export type Welcome = z.infer<typeof welcomeSchema>;

export const errorSchema = z.object({
  type: z.literal('error'),
  code: z.string().max(64),
  message: z.string().max(500),
  /** With `moved`: the base URL of the cloud node that serves the bank. */
  location: z
    .string()
    .max(500)
    .regex(/^https?:\/\/[^\s]+$/, 'an http(s) URL')
    .optional(),
});
export type SyncErrorMessage = { type: 'error'; code: SyncErrorCode; message: string; location?: string };

/** A fresh 128-bit nonce from the injected randomness. */
export const newNonce = (random: Random): string => randomId(random, 16);

/** Parse a text frame as JSON of `schema`, or undefined. Never throws. */
export function parseControl<T>(schema: z.ZodType<T>, text: string): T | undefined {
  if (text.length > 4096) return undefined;
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
