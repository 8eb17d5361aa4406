import { z } from 'zod';
import { bankIdSchema, parcelIdSchema, sizeSchema } from '../shared/ids.js';
import { EMAIL_HINT, PHONE_HINT, tryEmail, tryPhone } from './notify/outbox/contact-input.js';

/**
 * Contacts are validated and normalised at entry (cloud/notify/outbox/contact-input.ts):
 * a phone number in international form, checked against the numbering plan, stored as E.164
 * (`+49 151 1234 5678` -> `+4915112345678`); an e-mail address trimmed, domain lower-cased.
 */
export const phoneSchema = z
  .string()
  .max(40)
  .transform((s, ctx) => tryPhone(s) ?? (ctx.addIssue({ code: 'custom', message: PHONE_HINT }), z.NEVER));
export const emailSchema = z
  .string()
  .max(254)
  .transform((s, ctx) => tryEmail(s) ?? (ctx.addIssue({ code: 'custom', message: EMAIL_HINT }), z.NEVER));
export const channelSchema = z.enum(['sms', 'email', 'push']);

export const recipientSchema = z
  .object({
    name: z.string().trim().min(1, 'give the recipient’s name').max(200),
    phone: phoneSchema.optional(),
    email: emailSchema.optional(),
    preferences: z.array(channelSchema).min(1).max(3).optional(),
  })
  .superRefine((r, ctx) => {
    if (!r.phone && !r.email) ctx.addIssue({ code: 'custom', path: ['phone'], message: 'give a phone number or an e-mail address' });
    if (r.preferences?.includes('sms') && !r.phone) ctx.addIssue({ code: 'custom', path: ['preferences'], message: '"sms" needs a phone number' });
    if (r.preferences?.includes('email') && !r.email) ctx.addIssue({ code: 'custom', path: ['preferences'], message: '"email" needs an e-mail address' });
  });

/** `POST /v1/parcels` (API.md). */
export const announceSchema = z.object({
  parcelId: parcelIdSchema,
  bankId: bankIdSchema,
  carrier: z.string().trim().min(1).max(100),
  trackingNumber: z.string().trim().min(1).max(100),
  size: sizeSchema,
  recipient: recipientSchema,
});
export type AnnounceBody = z.infer<typeof announceSchema>;

/** `{ reason }` of revoke and remote open. */
export const reasonSchema = z.object({ reason: z.string().trim().min(1, 'say why').max(500) });

export const compartmentParamSchema = z.coerce.number().int().min(1).max(999);
