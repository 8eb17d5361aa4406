import { Hono } from 'hono';
import { jsonBody } from '../../shared/http/errors-middleware.js';
import { parcelIdSchema } from '../../shared/ids.js';
import { NotFound } from '../../shared/errors.js';
import type { MiddlewareHandler } from 'hono';
import type { AuthEnv } from '../http/auth.js';
import { requireRole } from '../http/auth.js';
import { announceSchema, reasonSchema } from '../schemas.js';
import type { ParcelService } from '../services/parcel-service.js';

const parcelParam = (raw: string): string => {
  const r = parcelIdSchema.safeParse(raw);
  if (!r.success) throw new NotFound(`No parcel ${raw.slice(0, 64)} is known to you.`, 'parcel_not_found');
  return r.data;
};

/** `/v1/parcels…` (API.md "Cloud"). */
export function parcelRoutes(parcels: ParcelService, auth: MiddlewareHandler<AuthEnv>): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.post('/v1/parcels', auth, async (c) => {
    const who = requireRole(c, 'carrier');
    const body = await jsonBody(c, announceSchema);
    const { created, view } = parcels.announce(who, body);
    return c.json(view, created ? 201 : 200);
  });
  app.get('/v1/parcels/:parcelId', auth, (c) => {
    const who = requireRole(c, 'carrier', 'support');
    return c.json(parcels.get(who, parcelParam(c.req.param('parcelId'))));
  });
  app.post('/v1/parcels/:parcelId/revoke', auth, async (c) => {
    const who = requireRole(c, 'support');
    const parcelId = parcelParam(c.req.param('parcelId'));
    const { reason } = await jsonBody(c, reasonSchema);
    return c.json(parcels.revoke(who, parcelId, reason));
  });
  return app;
}
