import '../shared/v8-flags.js'; // first: see the module
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { z } from 'zod';
import { systemClock, type Clock, type Random } from '../shared/ports.js';
import { reserveAutomergeHeap } from '../shared/sync/automerge-heap.js';
import { createCloudApp } from './app.js';
import { BankAdmin } from './bank-admin.js';
import { BankReplicas } from './bank-replicas.js';
import { DEMO, DEMO_BANKS, seedDemo } from './demo-seed.js';
import { loadOrCreateKeys, type CloudKeys } from './keys.js';
import type { BankCommandSender, BankPresence, CloudNotifier } from './ports.js';
import { writeProvisioning } from './provision.js';
import { DOC_CHANNEL, openCloudStore, type CloudStore } from './store/cloud-store.js';
import { SyncServer } from './sync/sync-server.js';
import { Cluster, parseNodeList } from './cluster/cluster.js';
import { PgSyncDb } from '../adapters/postgres/pg-sync-db.js';
import { attachMqtt, mqttSettingsFromEnv } from './mqtt/attach-mqtt.js';
import { exitWithSupervisor } from '../adapters/process/supervisor.js';
import { loadNotifyConfig } from './notify/outbox/notify-config.js';
import { attachNotifications } from './notify/outbox/notify-system.js';

/** The cloud's configuration, from the environment, validated once. */
export const cloudConfigSchema = z.object({
  /** HTTP port (API and `/v1/sync`). `CUBBY_CLOUD_PORT`, default 8000; 0 picks a free one. */
  port: z.coerce.number().int().min(0).max(65535).default(8000),
  /** Listen address. `CUBBY_CLOUD_HOST`, default 127.0.0.1. */
  host: z.string().min(1).default('127.0.0.1'),
  /** Database, keys and provisioning files. `CUBBY_DATA_DIR`, default `./data`. */
  dataDir: z.string().min(1).default('./data'),
  /** `CUBBY_DEMO=1` seeds the demo credentials of API.md. Default off. */
  demo: z.enum(['0', '1', 'true', 'false']).default('0').transform((v) => v === '1' || v === 'true'),
  /** MQTT URL written into provisioning files. `CUBBY_MQTT_URL`, optional. */
  mqttUrl: z.string().optional(),
  /** Automerge heap reserved at start, MiB (see reserveAutomergeHeap). `CUBBY_AUTOMERGE_HEAP_MB`, default 128. */
  automergeHeapMiB: z.coerce.number().int().min(0).max(4096).default(128),
  /** Bank replicas kept in memory when idle. `CUBBY_CLOUD_BANK_CACHE`, default 64. */
  bankCache: z.coerce.number().int().min(1).default(64),
  /** `CUBBY_DATABASE_URL=postgres://…`: PostgreSQL instead of `<dataDir>/cloud.sqlite` (required for several nodes). */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
    .optional(),
  /** This node's name. `CUBBY_NODE_ID`, default `local`. */
  nodeId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 letters, digits, _ or -')
    .default('local'),
  /** Every cloud node, `CUBBY_CLOUD_NODES=n1=http://h1:8000,n2=http://h2:8000` (the same list on each). Empty: one node. */
  nodes: z
    .string()
    .default('')
    .transform((s, ctx) => {
      try {
        return parseNodeList(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  /** A node not heard from for this long is taken as dead and its banks move, ms. `CUBBY_CLUSTER_DEAD_AFTER_MS`, default 4000. */
  deadAfterMs: z.coerce.number().int().min(500).default(4000),
  /**
   * Several nodes: pass a request about a bank on to the node serving it (cloud/cluster/
   * forward-to-owner.ts). `CUBBY_CLUSTER_FORWARD=0` serves every request where it arrives
   * (cheaper while every node can keep every bank in memory; see README "Running at scale").
   */
  forward: z.enum(['0', '1', 'true', 'false']).default('1').transform((v) => v === '1' || v === 'true'),
});
export type CloudConfig = z.infer<typeof cloudConfigSchema>;
/** What `startCloud` takes: the cluster settings may be left out (one node). */
export type CloudConfigInput = Omit<CloudConfig, 'nodeId' | 'nodes' | 'deadAfterMs' | 'forward'> & Partial<Pick<CloudConfig, 'nodeId' | 'nodes' | 'deadAfterMs' | 'forward'>>;

export function loadCloudConfig(env: NodeJS.ProcessEnv = process.env): CloudConfig {
  const r = cloudConfigSchema.superRefine((c, ctx) => {
    if (c.nodes.length > 1 && !c.databaseUrl) ctx.addIssue({ code: 'custom', path: ['databaseUrl'], message: 'several cloud nodes (CUBBY_CLOUD_NODES) share one PostgreSQL: set CUBBY_DATABASE_URL' });
    if (c.nodes.length > 1 && !c.nodes.some((n) => n.id === c.nodeId)) ctx.addIssue({ code: 'custom', path: ['nodeId'], message: `CUBBY_NODE_ID must name one of CUBBY_CLOUD_NODES (${c.nodes.map((n) => n.id).join(', ')})` });
  }).safeParse({
    port: env.CUBBY_CLOUD_PORT || undefined,
    host: env.CUBBY_CLOUD_HOST || undefined,
    dataDir: env.CUBBY_DATA_DIR || undefined,
    demo: env.CUBBY_DEMO || undefined,
    mqttUrl: env.CUBBY_MQTT_URL || undefined,
    automergeHeapMiB: env.CUBBY_AUTOMERGE_HEAP_MB || undefined,
    bankCache: env.CUBBY_CLOUD_BANK_CACHE || undefined,
    databaseUrl: env.CUBBY_DATABASE_URL || undefined,
    nodeId: env.CUBBY_NODE_ID || undefined,
    nodes: env.CUBBY_CLOUD_NODES || undefined,
    deadAfterMs: env.CUBBY_CLUSTER_DEAD_AFTER_MS || undefined,
    forward: env.CUBBY_CLUSTER_FORWARD || undefined,
  });
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`Cloud configuration: ${i.path.join('.')}: ${i.message}`);
  }
  return r.data;
}

/** The cloud's parts, handed to `CloudExtensions.attach` before the app is built. */
export interface CloudParts {
  config: CloudConfig;
  store: CloudStore;
  replicas: BankReplicas;
  keys: CloudKeys;
  clock: Clock;
  random: Random;
  log: (msg: string) => void;
}

/** What another part contributes (cloud/mqtt: the command transport; cloud/notify: the outbox and demo routes). */
export interface CloudAttachment {
  commands?: BankCommandSender;
  notifier?: CloudNotifier;
  /** Extra routes mounted on the cloud app. */
  routes?: Hono[];
  /** Called once the cloud listens, with its URL and the sync server's presence. */
  started?(cloud: { url: string; presence: BankPresence }): void | Promise<void>;
  /** Called when the cloud stops, before the database closes. */
  close?(): Promise<void>;
  /** The MQTT URL hubs should use (written into provisioning files). */
  mqttUrl?: string;
}

/** Several attachments as one: later ones add routes; the first `commands`/`notifier`/`mqttUrl` given wins. */
export function combineAttachments(...attachers: Array<(parts: CloudParts) => CloudAttachment | Promise<CloudAttachment>>): (parts: CloudParts) => Promise<CloudAttachment> {
  return async (parts) => {
    const all: CloudAttachment[] = [];
    for (const a of attachers) all.push(await a(parts));
    return {
      commands: all.find((a) => a.commands)?.commands,
      notifier: all.find((a) => a.notifier)?.notifier,
      mqttUrl: all.find((a) => a.mqttUrl)?.mqttUrl,
      routes: all.flatMap((a) => a.routes ?? []),
      async started(cloud) {
        for (const a of all) await a.started?.(cloud);
      },
      async close() {
        for (const a of [...all].reverse()) await a.close?.();
      },
    };
  };
}

/** What other parts plug into the cloud. */
export interface CloudExtensions {
  /** Default: the system clock. */
  clock?: Clock;
  /** Default: crypto randomness. */
  random?: Random;
  /** Build the attachments from the cloud's parts (e.g. start the embedded MQTT broker). */
  attach?: (parts: CloudParts) => CloudAttachment | Promise<CloudAttachment>;
  log?: (msg: string) => void;
}

export interface RunningCloud {
  /** `http://host:port` of the API; hubs sync at `<url>/v1/sync`. */
  url: string;
  port: number;
  server: Server;
  store: CloudStore;
  replicas: BankReplicas;
  sync: SyncServer;
  keys: CloudKeys;
  /** Set when several nodes are configured. */
  cluster?: Cluster;
  close(): Promise<void>;
}

const cryptoRandom: Random = { bytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)) };

/** Open the store, create keys once, seed the demo if asked, listen, and attach sync. */
export async function startCloud(given: CloudConfigInput, ext: CloudExtensions = {}): Promise<RunningCloud> {
  // Callers that build a config by hand (tests) get the one-node defaults for what they leave out.
  const config: CloudConfig = { ...given, nodes: given.nodes ?? [], nodeId: given.nodeId ?? 'local', deadAfterMs: given.deadAfterMs ?? 4000, forward: given.forward ?? true };
  const clock = ext.clock ?? systemClock;
  const random = ext.random ?? cryptoRandom;
  const log = ext.log ?? (() => {});
  reserveAutomergeHeap(config.automergeHeapMiB);
  mkdirSync(config.dataDir, { recursive: true });
  const keys = loadOrCreateKeys(join(config.dataDir, 'keys.json'));
  const store = openCloudStore(config.databaseUrl ?? join(config.dataDir, 'cloud.sqlite'), { node: config.nodeId });
  const replicas = new BankReplicas({ db: store.db, clock, random, capacity: config.bankCache, shared: config.nodes.length > 1, syncStates: store.syncStates });
  // Several nodes on one PostgreSQL: a document another node wrote is merged into our copy of
  // its bank (if loaded), and pushed from there to the hub if we serve it.
  const unlisten =
    store.db instanceof PgSyncDb
      ? store.db.onNotification((channel, payload) => {
          if (channel !== DOC_CHANNEL) return;
          try {
            const n = JSON.parse(payload) as { bank: string; doc: string; by: string };
            if (n.by !== `cubby:${config.nodeId}`) replicas.refresh(n.bank, n.doc);
          } catch (err) {
            log(`cluster: could not refresh from ${payload.slice(0, 120)}: ${(err as Error).message}`);
          }
        })
      : () => {};
  const cluster = config.nodes.length > 1 ? new Cluster({ self: config.nodeId, nodes: config.nodes, db: store.db, deadAfterMs: config.deadAfterMs, heartbeatMs: Math.max(100, Math.floor(config.deadAfterMs / 4)), log }).start() : undefined;
  const admin = new BankAdmin({ store, replicas, clock, random });
  if (config.demo) await seedDemo({ store, replicas, admin, now: clock.now() });
  const attached = (await ext.attach?.({ config, store, replicas, keys, clock, random, log })) ?? {};
  const { commands, notifier } = attached;

  const sync = new SyncServer({ store, replicas, clock, random, notifier, log, cluster });
  const app = createCloudApp({
    store,
    replicas,
    clock,
    random,
    keys,
    presence: sync.presence,
    commands,
    notifier,
    routes: attached.routes,
    log: (err) => log(`error: ${String(err)}`),
    cluster: config.forward ? cluster : undefined,
    clusterLog: log,
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  sync.attach(server);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host}:${port}`;
  await attached.started?.({ url, presence: sync.presence });
  if (config.demo) {
    for (const bank of DEMO_BANKS) {
      const cloudUrl = cluster ? config.nodes.map((n) => n.url).join(',') : url;
      writeProvisioning(config.dataDir, { store, replicas, keys, random }, { bankId: bank.bankId, deviceSecret: bank.deviceSecret, cloudUrl, mqttUrl: attached.mqttUrl ?? config.mqttUrl });
    }
  }
  return {
    url,
    port,
    server,
    store,
    replicas,
    sync,
    keys,
    cluster,
    async close() {
      cluster?.stop();
      unlisten();
      await sync.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await attached.close?.();
      store.close();
    },
  };
}

/** `cubby cloud`: run the cloud until SIGINT/SIGTERM. */
export async function main(_args: string[]): Promise<void> {
  const config = loadCloudConfig();
  const say = (msg: string) => process.stdout.write(`[cloud] ${msg}\n`);
  const notify = loadNotifyConfig(process.env);
  const cloud = await startCloud(config, {
    log: say,
    attach: combineAttachments(
      (parts) => attachMqtt(parts, mqttSettingsFromEnv()),
      (parts) => attachNotifications(parts, notify),
    ),
  });
  say(`API on ${cloud.url}, hub sync on ${cloud.url.replace('http', 'ws')}/v1/sync, data in ${config.dataDir}`);
  if (config.demo) {
    say(`demo: carrier token ${DEMO.carrierToken}, support token ${DEMO.supportToken}; banks ${DEMO_BANKS.map((b) => b.bankId).join(', ')}; provisioning in ${join(config.dataDir, 'provision')}`);
  }
  const stop = (): void => {
    void cloud.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  exitWithSupervisor(stop);
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('cloud/main.ts') || entry.endsWith('cloud/main.js')) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
