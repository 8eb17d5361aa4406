import { Hono } from 'hono';
import { installErrorHandling } from '../shared/http/errors-middleware.js';
import { kioskAssets } from './kiosk/kiosk-assets.js';
import { createHubServices, type HubDeps, type HubServices } from './hub-services.js';
import { publicRoutes } from './routes/public-routes.js';
import { techRoutes } from './routes/tech-routes.js';

/** Largest body any hub endpoint accepts. */
export const EDGE_MAX_BODY_BYTES = 16 * 1024;

/**
 * The hub's HTTP app: kiosk page, touchscreen and courier API, technician API.
 * Pass `HubDeps` (services are built) or ready `HubServices` (to share them with other parts).
 */
export function createEdgeApp(input: HubDeps | HubServices, opts: { log?: (err: unknown) => void } = {}): Hono {
  const s = 'pickup' in input ? input : createHubServices(input);
  const app = new Hono();
  const { health } = s.deps.store;
  // A damaged store answers 503 store_corrupted: from the request that finds the damage on,
  // every API call, before it reads anything (edge/store/store-health.ts).
  installErrorHandling(app, { maxBodyBytes: EDGE_MAX_BODY_BYTES, log: opts.log, mapError: (err) => health.observe(err) });
  app.use('/api/*', async (_c, next) => {
    health.assertSound();
    await next();
  });
  const assets = kioskAssets();
  const serve = (name: string) => (c: import('hono').Context) => {
    const a = assets.get(name);
    if (!a) return c.notFound();
    return c.body(a.body, 200, { 'content-type': a.type, 'cache-control': 'no-cache' });
  };
  app.get('/', serve('index.html'));
  app.get('/kiosk/:name', (c) => serve(c.req.param('name'))(c));
  app.route('/', publicRoutes(s));
  app.route('/', techRoutes(s));
  return app;
}
