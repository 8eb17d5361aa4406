import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { NotFound } from '../../shared/errors.js';
import { jsonBody, optionalJsonBody } from '../../shared/http/errors-middleware.js';
import { parcelIdSchema } from '../../shared/ids.js';
import type { DiagnosisService } from '../diagnosis/diagnosis-service.js';
import { requireRole, type AuthEnv } from '../http/auth.js';
import type { ChannelHealth, ChannelName } from '../notify/channels/channel.js';
import { contactPatchSchema, type ContactChangeService } from '../notify/outbox/contact-change.js';
import { resendSchema, type ResendService } from '../notify/outbox/resend.js';

const parcelParam = (raw: string): string => {
  const r = parcelIdSchema.safeParse(raw);
  if (!r.success) throw new NotFound(`No parcel ${raw.slice(0, 64)} is known to you.`, 'parcel_not_found');
  return r.data;
};

/** What the notification routes call. */
export interface NotifyRouteDeps {
  resend: ResendService;
  contacts: ContactChangeService;
  diagnosis: DiagnosisService;
  /** Health of every configured channel, and the outbox's backlog. */
  health(): { channels: ChannelHealth[]; outbox: Record<string, { n: number; oldest: number }> };
  /** The SMS gateway's receipt webhook, once the SMS channel exists (503 before). */
  smsReceipts(): ((c: Context) => Promise<Response>) | undefined;
  /** The SMTP sink's mailbox (`CUBBY_DEMO=1` only). */
  devMail?: (c: Context) => Response;
}

/**
 * The notification API (API.md "Cloud"): `POST /v1/parcels/:id/resend`,
 * `PATCH /v1/recipients/:id`, `GET /v1/parcels/:id/diagnosis`, `GET /v1/health/channels`
 * (support), the SMS receipt webhook `POST /v1/hooks/sms` (HMAC-signed, no token) and, in
 * the demo, `GET /v1/dev/mail`.
 */
export function notifyRoutes(deps: NotifyRouteDeps, auth: MiddlewareHandler<AuthEnv>): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.post('/v1/hooks/sms', (c) => {
    const handler = deps.smsReceipts();
    if (!handler) throw new NotFound('No SMS gateway is configured here.', 'not_found');
    return handler(c);
  });
  if (deps.devMail) app.get('/v1/dev/mail', deps.devMail);
  app.get('/v1/health/channels', auth, (c) => {
    requireRole(c, 'support');
    return c.json(deps.health());
  });
  app.get('/v1/parcels/:parcelId/diagnosis', auth, (c) => {
    requireRole(c, 'support');
    return c.json(deps.diagnosis.diagnose(parcelParam(c.req.param('parcelId'))));
  });
  app.post('/v1/parcels/:parcelId/resend', auth, async (c) => {
    const who = requireRole(c, 'support');
    const parcelId = parcelParam(c.req.param('parcelId'));
    const { channel } = await optionalJsonBody(c, resendSchema);
    return c.json(await deps.resend.resend(`cloud:support:${who.subject}`, parcelId, channel as ChannelName | undefined), 202);
  });
  app.patch('/v1/recipients/:parcelId', auth, async (c) => {
    const who = requireRole(c, 'support');
    const parcelId = parcelParam(c.req.param('parcelId'));
    const patch = await jsonBody(c, contactPatchSchema);
    return c.json(deps.contacts.change(`cloud:support:${who.subject}`, parcelId, patch));
  });
  return app;
}
