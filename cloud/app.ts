import { Hono } from 'hono';
import { installErrorHandling } from '../shared/http/errors-middleware.js';
import type { Clock, Random } from '../shared/ports.js';
import type { BankReplicas } from './bank-replicas.js';
import { forwardToOwner, type OwnerLookup } from './cluster/forward-to-owner.js';
import { bearerAuth, type AuthEnv } from './http/auth.js';
import type { CloudKeys } from './keys.js';
import type { BankCommandSender, BankPresence, CloudNotifier } from './ports.js';
import { bankRoutes } from './routes/bank-routes.js';
import { parcelRoutes } from './routes/parcel-routes.js';
import { BankService } from './services/bank-service.js';
import { ParcelService } from './services/parcel-service.js';
import type { CloudStore } from './store/cloud-store.js';

/** Largest request body the cloud API accepts (413 beyond). */
export const CLOUD_MAX_BODY_BYTES = 64 * 1024;

/** What the cloud app is built from; `main.ts` passes the real ones, tests their own. */
export interface CloudDeps {
  /** The cloud database (credentials, registry, contacts, banks, key store, documents). */
  store: CloudStore;
  /** The banks' document replicas (shared with the sync server). */
  replicas: BankReplicas;
  clock: Clock;
  random: Random;
  /** The cloud's signing key pair signs remote opens. */
  keys: CloudKeys;
  /** Who is connected (the sync server). Default: every bank offline, times from the database. */
  presence?: BankPresence;
  /** Remote-open transport. Absent: remote open answers 503 `bank_unreachable`. */
  commands?: BankCommandSender;
  /** Notification outbox hooks. Absent: nothing is notified. */
  notifier?: CloudNotifier;
  /** More routes mounted on the app (e.g. demo-only inspection endpoints of other parts). */
  routes?: Hono[];
  /** Body size limit in bytes. Default 64 KiB. */
  maxBodyBytes?: number;
  /** Where unexpected errors go (never request bodies). */
  log?: (err: unknown) => void;
  /**
   * Several cloud nodes: requests about a bank are passed on to the node serving it
   * (cluster/forward-to-owner.ts). Absent: one node serves everything.
   */
  cluster?: OwnerLookup;
  /** Where the cluster forwarder reports an owner that did not answer. */
  clusterLog?: (msg: string) => void;
  /** How long the forwarder waits for the owner's answer. Default 5 s. */
  clusterTimeoutMs?: number;
}

/**
 * The cloud's HTTP API (API.md "Cloud"): carriers announce and follow parcels, support
 * follows every parcel and bank, revokes codes and opens doors remotely. Every route needs
 * a bearer token; every error has API.md's shape.
 */
export function createCloudApp(deps: CloudDeps): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  installErrorHandling(app, { maxBodyBytes: deps.maxBodyBytes ?? CLOUD_MAX_BODY_BYTES, log: deps.log });
  if (deps.cluster) app.use('*', forwardToOwner({ cluster: deps.cluster, bankOfParcel: (id) => deps.store.parcels.bankOf(id), log: deps.clusterLog, timeoutMs: deps.clusterTimeoutMs }));
  // Per route, so an unknown path is a 404 even without a token.
  const auth = bearerAuth(deps.store.credentials);
  app.route('/', parcelRoutes(new ParcelService(deps), auth));
  app.route('/', bankRoutes(new BankService(deps), auth));
  for (const r of deps.routes ?? []) app.route('/', r);
  return app;
}
