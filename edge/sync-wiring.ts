import { SqliteSyncStateStore } from '../adapters/sqlite/sync-state-store.js';
import type { Clock } from '../shared/ports.js';
import type { Connectivity } from './hub-services.js';
import type { HubStore } from './store/hub-store.js';
import type { BackoffOptions } from './sync/backoff.js';
import { cloudOutbox, SyncClient } from './sync/sync-client.js';

/** Finished parcels and old audit days stay on the hub this long after the cloud has them. */
export const HUB_RETENTION_MS = 24 * 3600_000;

export interface HubSync {
  client: SyncClient;
  connectivity(): Connectivity;
  syncNow(): void;
  stop(): Promise<void>;
}

/**
 * Connect a hub's store to the cloud: the sync client (pushes every local change, receives
 * the cloud's), and the pruning that keeps the hub's store bounded — a finished parcel is
 * dropped only once the cloud is known to hold its current heads.
 */
export function attachSync(opts: {
  cloudUrl: string;
  bankId: string;
  secret: string;
  store: HubStore;
  clock: Clock;
  log?: (msg: string) => void;
  pruneEveryMs?: number;
  /** Reconnect backoff of the sync client. Default 500 ms doubling to 30 s (tests pass shorter). */
  backoff?: BackoffOptions;
  /** Each handshake's `serverTime` and round trip (wire `CloudCorrectedClock.observe` here). */
  onServerTime?: (serverTime: number, rttMs: number) => void;
}): HubSync {
  const { store } = opts;
  const states = new SqliteSyncStateStore(store.db);
  // What the cloud lacks, kept encoded while it is out of reach: a reconnection sends at once.
  const outbox = cloudOutbox({ bankId: opts.bankId, docs: store.docs, feed: store.feed, states });
  const client = new SyncClient({
    url: opts.cloudUrl,
    bankId: opts.bankId,
    secret: opts.secret,
    docs: store.docs,
    states,
    ledger: store.ledger,
    feed: store.feed,
    outbox,
    clock: opts.clock,
    log: opts.log,
    backoff: opts.backoff,
    onServerTime: opts.onServerTime,
  });
  client.start();
  const prune = setInterval(() => {
    const acked = (docId: string) => client.acknowledged(docId);
    const dropped = store.ledger.prune(HUB_RETENTION_MS, acked) + store.audit.prune(HUB_RETENTION_MS, acked);
    if (dropped > 0) {
      store.storage.vacuum();
      opts.log?.(`pruned ${dropped} finished documents the cloud holds`);
    }
  }, opts.pruneEveryMs ?? 3600_000);
  prune.unref();
  return {
    client,
    connectivity: () => {
      const s = client.status();
      return { online: s.connected, lastSyncAt: s.lastSyncAt, lastContactAt: s.lastContactAt };
    },
    syncNow: () => void client.syncNow().catch(() => false),
    async stop() {
      clearInterval(prune);
      await client.stop();
      outbox.close();
    },
  };
}
