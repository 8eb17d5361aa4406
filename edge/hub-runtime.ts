import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { LockerBank } from '../devices/locker-bank.js';
import { Argon2CodeHasher, DEFAULT_ARGON2, type Argon2Params } from '../shared/codes/hasher.js';
import { systemClock, type Clock, type Random } from '../shared/ports.js';
import { createEdgeApp } from './app.js';
import { createHubServices, type Connectivity, type HubServices } from './hub-services.js';
import { quickCheckOnDisk } from '../adapters/sqlite/sqlite-integrity.js';
import { openHubStore, type HubStore } from './store/hub-store.js';
import type { StoreCorrupted } from './store/store-health.js';
import type { ThrottlePolicy } from './services/throttle.js';

/** A CSPRNG behind the Random port. */
export const cryptoRandom: Random = { bytes: (n) => new Uint8Array(randomBytes(n)) };

export interface HubRuntimeOptions {
  bankId: string;
  /** The hub's SQLite file. */
  dataFile: string;
  bank: LockerBank;
  /** This bank's pepper (≥ 16 bytes), from hub config; never stored in the ledger. */
  pepper: Uint8Array;
  /** argon2id parameters for new codes. Default m=19 MiB, t=2, p=1. */
  argon2?: Argon2Params;
  /** HTTP port; 0 picks a free one. Default 0. */
  port?: number;
  host?: string;
  clock?: Clock;
  random?: Random;
  cloudSealKey?: string;
  codeTtlMs?: number;
  throttlePolicy?: ThrottlePolicy;
  /** Link state from the sync client, when there is one. */
  connectivity?: () => Connectivity;
  /** How often the expiry sweep (and the abandoned-deposit sweep) runs. Default 60 s. */
  sweepEveryMs?: number;
  /** A deposit not confirmed this long after its door opened is settled by the hub (`DepositService.sweepAbandoned`). Default 10 min. */
  abandonedDepositAfterMs?: number;
  /** How often the file on disk is checked for damage (`PRAGMA quick_check`, fresh connection). Default 10 min; 0: never. */
  integrityCheckEveryMs?: number;
  /** The store was found damaged while running (the hub answers 503 `store_corrupted` from then on). */
  onStoreCorrupted?: (err: StoreCorrupted) => void;
  log?: (msg: string) => void;
}

export interface HubRuntime {
  url: string;
  port: number;
  store: HubStore;
  services: HubServices;
  /** Check the file on disk now; returns what is damaged (and marks the store corrupted), or undefined. */
  checkStore(): string | undefined;
  close(): Promise<void>;
}

/**
 * Start one bank's hub: open the store, start the board (locks driven locked FIRST, inside
 * `bank.start()`), wire the services, serve HTTP. Expiry sweeps run on a timer; scanner
 * reads become pickups.
 *
 * Throws `StoreCorrupted` (edge/store/store-health.ts) when the store file is damaged, before
 * the board is touched: the caller rebuilds it from the cloud (`rebuildHubStore`) or stays out
 * of service. Damage found later makes every API call answer 503 `store_corrupted`.
 */
export async function startHub(opts: HubRuntimeOptions): Promise<HubRuntime> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? cryptoRandom;
  const log = opts.log ?? (() => {});
  const store = openHubStore({ file: opts.dataFile, bankId: opts.bankId, clock, random, codeTtlMs: opts.codeTtlMs });
  store.health.onCorrupted((err) => {
    log(`store damaged, refusing pickups and deposits: ${err.reason}`);
    opts.onStoreCorrupted?.(err);
  });
  await opts.bank.start();
  const services = createHubServices({
    bankId: opts.bankId,
    store,
    bank: opts.bank,
    hasher: new Argon2CodeHasher(opts.pepper, opts.argon2 ?? DEFAULT_ARGON2),
    clock,
    random,
    cloudSealKey: opts.cloudSealKey,
    connectivity: opts.connectivity,
    throttlePolicy: opts.throttlePolicy,
  });
  const offScan = opts.bank.on('scan', (text) => {
    services.pickup.pickupWithQr(text).then(
      (r) => log(`scanner pickup opened compartment ${r.compartment}`),
      (err: Error & { code?: string }) => log(`scanner pickup refused: ${err.code ?? err.name}`),
    );
  });
  const sweep = setInterval(() => {
    try {
      for (const parcelId of store.ledger.expire()) services.events.emit({ type: 'expired', actor: 'hub', parcelId, detail: 'return to sender' });
    } catch (err) {
      if (!store.health.observe(err)) log(`expiry sweep failed: ${(err as Error).message}`);
    }
    services.deposit.sweepAbandoned(clock.now(), opts.abandonedDepositAfterMs ?? 10 * 60_000).then(
      (done) => {
        for (const [depositId, what] of done) if (what !== 'door_open') log(`deposit ${depositId} not confirmed by its courier: ${what}`);
      },
      (err: Error) => {
        if (!store.health.observe(err)) log(`abandoned-deposit sweep failed: ${err.message}`);
      },
    );
  }, opts.sweepEveryMs ?? 60_000);
  sweep.unref();
  const checkStore = (): string | undefined => {
    if (store.health.corrupted) return store.health.corrupted.reason;
    let damage: string | undefined;
    try {
      damage = quickCheckOnDisk(opts.dataFile);
    } catch (err) {
      damage = `the store file cannot be read: ${(err as Error).message}`;
    }
    if (damage) store.health.markCorrupted(`SQLite quick_check: ${damage}`);
    return damage;
  };
  const integrityEvery = opts.integrityCheckEveryMs ?? 600_000;
  const integrity = integrityEvery > 0 ? setInterval(checkStore, integrityEvery) : undefined;
  integrity?.unref();

  const app = createEdgeApp(services, { log: (err) => log(`request failed: ${(err as Error).stack ?? err}`) });
  const server = serve({ fetch: app.fetch, port: opts.port ?? 0, hostname: opts.host ?? '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    store,
    services,
    checkStore,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      if (integrity) clearInterval(integrity);
      offScan();
      const closing = new Promise<void>((r) => server.close(() => r()));
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closing;
      await opts.bank.stop();
      store.close();
    },
  };
}
