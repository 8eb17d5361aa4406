import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { jsonBody } from '../../shared/http/errors-middleware.js';
import { HELP_PAGE } from './help-page.js';
import { selfServiceSchema, type SelfService } from './self-service.js';

/** The caller's address (rate limiting); `local` when there is no socket (`app.request()` in tests). */
function clientOf(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'local';
  } catch {
    return 'local';
  }
}

/**
 * The recipient's self-service, no token: `GET /help` (the page) and
 * `POST /v1/self-service/diagnosis { parcelId, phoneLast4 }` -> `{ parcelId, status, cause, message }`;
 * 404 `no_match` when the pair does not match, 429 `throttled`.
 */
export function selfServiceRoutes(service: SelfService): Hono {
  const app = new Hono();
  app.get('/help', (c) => {
    c.header('x-content-type-options', 'nosniff');
    c.header('cache-control', 'no-store');
    return c.html(HELP_PAGE);
  });
  app.post('/v1/self-service/diagnosis', async (c) => {
    const { parcelId, phoneLast4 } = await jsonBody(c, selfServiceSchema);
    c.header('cache-control', 'no-store');
    return c.json(service.answer(clientOf(c), parcelId, phoneLast4));
  });
  return app;
}
