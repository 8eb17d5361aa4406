import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { z } from 'zod';

/**
 * Commands the cloud sends to a hub (remote open, sync nudge with authority) are signed
 * with the cloud's Ed25519 key; hubs hold the public key in config. A command carries a
 * nonce (stored durably by the hub before it acts, so a replay is refused even after a
 * restart) and a short expiry.
 */
export const commandBodySchema = z.object({
  type: z.enum(['open']),
  bankId: z.string().min(1).max(64),
  compartment: z.number().int().min(1).max(999),
  reason: z.string().min(1).max(500),
  requestedBy: z.string().min(1).max(100),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  issuedAt: z.number().int(),
  expiresAt: z.number().int(),
});
export type CommandBody = z.infer<typeof commandBodySchema>;

export const signedCommandSchema = z.object({
  body: z.string().max(4096),
  sig: z.string().max(200),
});
export type SignedCommand = z.infer<typeof signedCommandSchema>;

export interface SigningKeyPair {
  /** SPKI DER, base64url. */
  publicKey: string;
  /** PKCS#8 DER, base64url. */
  privateKey: string;
}

export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64url'),
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url'),
  };
}

export function signCommand(body: CommandBody, privateKey: string): SignedCommand {
  const json = JSON.stringify(body);
  const key = createPrivateKey({ key: Buffer.from(privateKey, 'base64url'), format: 'der', type: 'pkcs8' });
  return { body: json, sig: sign(null, Buffer.from(json), key).toString('base64url') };
}

/**
 * Verify a signed command's signature and shape; returns the body or a reason.
 * Expiry and nonce checks are the hub's (they need its clock and its durable store).
 */
export function verifyCommand(cmd: unknown, publicKey: string): { ok: true; body: CommandBody } | { ok: false; reason: string } {
  const parsed = signedCommandSchema.safeParse(cmd);
  if (!parsed.success) return { ok: false, reason: 'unsigned_or_malformed' };
  const key = createPublicKey({ key: Buffer.from(publicKey, 'base64url'), format: 'der', type: 'spki' });
  let good = false;
  try {
    good = verify(null, Buffer.from(parsed.data.body), key, Buffer.from(parsed.data.sig, 'base64url'));
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: 'bad_signature' };
  let json: unknown;
  try {
    json = JSON.parse(parsed.data.body);
  } catch {
    return { ok: false, reason: 'unsigned_or_malformed' };
  }
  const body = commandBodySchema.safeParse(json);
  return body.success ? { ok: true, body: body.data } : { ok: false, reason: 'unsigned_or_malformed' };
}
