import { Hono } from 'hono';
import { errorBody } from '../../shared/http/errors-middleware.js';
import type { HubRuntime } from '../hub-runtime.js';
import { corruptionOf, StoreCorrupted } from './store-health.js';
import type { RebuildReport } from './store-rebuild.js';

/**
 * What a hub whose store is damaged serves until it is rebuilt: `GET /health` 503 with
 * `store: 'corrupted'` and the reason, every other request 503 `store_corrupted` — never a
 * pickup answered from a store that may be wrong. The kiosk shows the locker as unreachable.
 */
export function createStoreCorruptedApp(bankId: string, damage: StoreCorrupted): Hono {
  const app = new Hono();
  // No keep-alive: the hub itself takes this port over once the store is rebuilt, and a client
  // must not be left holding a pooled connection to this server.
  app.use('*', async (c, next) => {
    await next();
    c.header('connection', 'close');
  });
  app.get('/health', (c) => c.json({ bankId, online: false, lastSyncAt: null, store: 'corrupted', storeDamage: damage.reason }, 503));
  app.all('*', (c) => c.json(errorBody(damage.code, damage.message), 503));
  return app;
}

export interface RecoveryOptions {
  /** Start the hub on its store (`startHub`); throws `StoreCorrupted` when the store is damaged. */
  start(): Promise<HubRuntime>;
  /** Rebuild the store from the cloud (`rebuildHubStore`); absent when no cloud is configured. */
  rebuild?: () => Promise<RebuildReport>;
  /** Serve the out-of-service answers while the store is damaged (on the hub's port); returns how to stop. */
  serveDamaged(damage: StoreCorrupted): Promise<() => Promise<void>>;
  /** Wait between attempts to rebuild (cloud unreachable). Default 30 s. */
  retryMs?: number;
  log?: (msg: string) => void;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Start the hub; if its store is damaged, serve 503 `store_corrupted` and rebuild the store
 * from the cloud (retrying while the cloud is unreachable), then start on the rebuilt store.
 * Without a cloud it stays out of service, retrying the start (an operator may restore the
 * file from a backup). Resolves with the running hub and the rebuild's report, if any.
 */
export async function startHubWithRecovery(opts: RecoveryOptions): Promise<{ hub: HubRuntime; report?: RebuildReport }> {
  const log = opts.log ?? (() => {});
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let stopDamaged: (() => Promise<void>) | undefined;
  let report: RebuildReport | undefined;
  try {
    for (;;) {
      try {
        const hub = await opts.start();
        return { hub, report };
      } catch (err) {
        const damage = corruptionOf(err);
        if (!damage) throw err;
        log(`the store is damaged (${damage.reason})`);
        stopDamaged ??= await opts.serveDamaged(damage);
        if (!opts.rebuild) {
          log('no cloud is configured to rebuild it from: restore the file from a backup (or remove it to start empty); retrying');
          await sleep(opts.retryMs ?? 30_000);
          continue;
        }
        for (;;) {
          try {
            report = await opts.rebuild();
            break;
          } catch (e) {
            log(`store rebuild failed (${(e as Error).message}); retrying`);
            await sleep(opts.retryMs ?? 30_000);
          }
        }
        await stopDamaged();
        stopDamaged = undefined;
      }
    }
  } finally {
    await stopDamaged?.();
  }
}
