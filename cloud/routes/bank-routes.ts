import { Hono } from 'hono';
import { NotFound } from '../../shared/errors.js';
import { jsonBody } from '../../shared/http/errors-middleware.js';
import { bankIdSchema } from '../../shared/ids.js';
import type { MiddlewareHandler } from 'hono';
import type { AuthEnv } from '../http/auth.js';
import { requireRole } from '../http/auth.js';
import { compartmentParamSchema, reasonSchema } from '../schemas.js';
import type { BankService } from '../services/bank-service.js';

const bankParam = (raw: string): string => {
  const r = bankIdSchema.safeParse(raw);
  if (!r.success) throw new NotFound(`No bank ${raw.slice(0, 64)}.`, 'bank_not_found');
  return r.data;
};

/** `/v1/banks…` (API.md "Cloud"), support only. */
export function bankRoutes(banks: BankService, auth: MiddlewareHandler<AuthEnv>): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get('/v1/banks/:bankId', auth, (c) => {
    requireRole(c, 'support');
    return c.json(banks.status(bankParam(c.req.param('bankId'))));
  });
  app.post('/v1/banks/:bankId/compartments/:n/open', auth, async (c) => {
    const who = requireRole(c, 'support');
    const bankId = bankParam(c.req.param('bankId'));
    const n = compartmentParamSchema.safeParse(c.req.param('n'));
    if (!n.success) throw new NotFound(`Bank ${bankId} has no compartment ${c.req.param('n').slice(0, 8)}.`, 'compartment_not_found');
    const { reason } = await jsonBody(c, reasonSchema);
    return c.json(await banks.remoteOpen(who, bankId, n.data, reason), 202);
  });
  return app;
}
