import { Hono } from 'hono';
import { z } from 'zod';
import { parcelIdSchema, sizeSchema } from '../../shared/ids.js';
import { jsonBody } from '../../shared/http/errors-middleware.js';
import { BadRequest } from '../../shared/errors.js';
import type { HubServices } from '../hub-services.js';

const pickupBody = z
  .object({
    code: z.string().max(64).optional(),
    qr: z.string().max(200).optional(),
  })
  .strict()
  .refine((b) => (b.code === undefined) !== (b.qr === undefined), { message: 'send exactly one of "code" or "qr"' });

const depositBody = z
  .object({
    courierId: z.string().min(1).max(64),
    secret: z.string().min(1).max(256),
    parcelId: parcelIdSchema,
    size: sizeSchema,
  })
  .strict();

const depositIdSchema = z.string().regex(/^[a-f0-9]{16}$/);

/** Touchscreen and courier endpoints of API.md's edge table, plus `/health`. */
export function publicRoutes(s: HubServices): Hono {
  const app = new Hono();
  const { clock, bankId } = s.deps;

  app.get('/health', (c) => {
    const link = s.connectivity();
    const damage = s.deps.store.health.corrupted;
    return c.json(
      {
        bankId,
        online: link.online,
        lastSyncAt: link.lastSyncAt,
        compartments: s.allocator.summary(),
        board: s.deps.bank.health().connected ? 'connected' : 'lost',
        // 'corrupted': the hub refuses pickups and deposits (503 store_corrupted) until its store is rebuilt.
        store: damage ? 'corrupted' : 'ok',
        ...(damage ? { storeDamage: damage.reason } : {}),
      },
      damage ? 503 : 200,
    );
  });

  app.post('/api/pickup', async (c) => {
    const body = await jsonBody(c, pickupBody);
    const result = body.qr !== undefined ? await s.pickup.pickupWithQr(body.qr) : await s.pickup.pickupWithCode(body.code);
    return c.json(result);
  });

  app.post('/api/courier/deposit', async (c) => {
    const body = await jsonBody(c, depositBody);
    return c.json(await s.deposit.open(body, clock.now()));
  });

  app.post('/api/courier/deposit/:depositId/confirm', async (c) => {
    const id = depositIdSchema.safeParse(c.req.param('depositId'));
    if (!id.success) throw new BadRequest('A deposit id is 16 hex characters.', 'invalid_input');
    return c.json(await s.deposit.confirm(id.data));
  });

  return app;
}
