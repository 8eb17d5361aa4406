import '../shared/v8-flags.js'; // first: see the module
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import * as A from '@automerge/automerge';
import { createSimulatedBank } from '../devices/sim/simulated-bank.js';
import { configDocId } from '../shared/ledger/bank-config.js';
import { systemClock } from '../shared/ports.js';
import { createHubMqtt, type HubMqtt } from './mqtt/hub-mqtt.js';
import { RemoteOpenService } from './remote/remote-open-service.js';
import { loadHubConfig, readProvision, type HubConfig, type Provision } from './config.js';
import { simulatePeople } from './demo-people.js';
import { cryptoRandom, startHub } from './hub-runtime.js';
import type { Connectivity } from './hub-services.js';
import { createStoreCorruptedApp, startHubWithRecovery } from './store/hub-recovery.js';
import type { StoreCorrupted } from './store/store-health.js';
import { rebuildHubStore } from './store/store-rebuild.js';
import { CloudCorrectedClock } from './sync/cloud-clock.js';
import { attachSync } from './sync-wiring.js';
import { exitWithSupervisor } from '../adapters/process/supervisor.js';
import { reserveAutomergeHeap } from '../shared/sync/automerge-heap.js';

const log = (bankId: string) => (msg: string) => process.stdout.write(`[${bankId}] ${msg}\n`);

/** One run of the hub on its store, until it stops or finds its store damaged. */
interface HubRun {
  /** Resolves when the store is found damaged while running. */
  damaged: Promise<StoreCorrupted>;
  stop(): Promise<void>;
}

/**
 * `cubby edge --bank bank-1`: one bank's hub on a simulated board. Reads its pepper, device
 * secret and the cloud's public keys from the cloud's provisioning file (`data/provision/`),
 * so it starts — and serves pickups — with the cloud down.
 *
 * A damaged store (edge/store/): the hub answers 503 `store_corrupted` and rebuilds the store
 * from the cloud's copy (retrying while the cloud is unreachable), then starts on it; damage
 * found while running stops the hub and does the same.
 *
 * Time: the ledger runs on the hub's clock corrected to the cloud's (edge/sync/cloud-clock.ts).
 */
export async function main(args: string[]): Promise<void> {
  const config = loadHubConfig(args);
  // Grow Automerge's wasm heap once, not 64 KiB at a time (each grow costs a full GC).
  reserveAutomergeHeap(64);
  const say = log(config.bankId);
  const { provision, configDoc } = readProvision(config.dataDir, config.bankId);
  if (!provision) {
    throw new Error(`No provisioning for ${config.bankId} in ${config.dataDir}/provision/: start the cloud once (npm start does) to create it.`);
  }
  const dir = join(config.dataDir, config.bankId);
  mkdirSync(dir, { recursive: true });
  const clock = new CloudCorrectedClock(systemClock, {
    file: join(dir, 'clock-offset.json'),
    onAdjust: (offset, previous) => say(`clock: ${offset - previous > 0 ? '+' : ''}${offset - previous} ms to match the cloud (offset now ${offset} ms)`),
  });

  let stopping = false;
  let current: HubRun | undefined;
  const stop = async (): Promise<void> => {
    stopping = true;
    await current?.stop();
  };
  const onSignal = (): void => {
    void stop().then(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  exitWithSupervisor(onSignal);

  while (!stopping) {
    current = await runHub(config, provision, configDoc, clock, say);
    const damage = await current.damaged;
    say(`the store was found damaged while running (${damage.reason}); restarting to rebuild it`);
    await current.stop();
  }
}

async function runHub(config: HubConfig, provision: Provision, configDoc: Uint8Array | undefined, clock: CloudCorrectedClock, say: (m: string) => void): Promise<HubRun> {
  const dataFile = join(config.dataDir, config.bankId, 'hub.sqlite');
  const cloudUrl = config.cloudUrl ?? provision.cloudUrl;
  const sim = await createSimulatedBank({ model: config.model, board: { autoCloseMs: config.autoCloseMs } });
  let link: () => Connectivity = () => ({ online: false, lastSyncAt: null, lastContactAt: null });
  let reportDamage: (e: StoreCorrupted) => void = () => {};
  const damaged = new Promise<StoreCorrupted>((resolve) => (reportDamage = resolve));

  const { hub, report } = await startHubWithRecovery({
    start: () =>
      startHub({
        bankId: config.bankId,
        dataFile,
        bank: sim.bank,
        pepper: Buffer.from(provision.pepper, 'base64'),
        port: config.port,
        host: config.host,
        clock,
        random: cryptoRandom,
        cloudSealKey: provision.cloudSealPublicKey,
        connectivity: () => link(),
        onStoreCorrupted: (e) => reportDamage(e),
        log: say,
      }),
    rebuild: cloudUrl
      ? () => rebuildHubStore({ file: dataFile, bankId: config.bankId, cloudUrl, secret: provision.deviceSecret, configDoc, clock, random: cryptoRandom, log: say })
      : undefined,
    serveDamaged: async (damage) => {
      const server = serve({ fetch: createStoreCorruptedApp(config.bankId, damage).fetch, port: config.port, hostname: config.host }) as Server;
      await new Promise<void>((resolve, reject) => {
        server.once('listening', () => resolve());
        server.once('error', reject);
      });
      say(`out of service: the store is damaged; /health says so and every request answers 503 store_corrupted`);
      return () =>
        new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
    },
    log: say,
  });
  if (report) {
    say(
      `store rebuilt from the cloud: ${report.fromCloud} documents; ${report.onlyInDamagedStore.length} fact(s) only the damaged store held were merged back` +
        ` (${report.onlyInDamagedStore.map((f) => `${f.fact}${f.parcelId ? ` ${f.parcelId}` : ''}`).join(', ') || 'none'});` +
        ` lost: ${report.lost.join(', ') || 'nothing'}; unconfirmed deposits to check: ${report.pendingDeposits.map((p) => `compartment ${p.compartment}`).join(', ') || 'none'}; damaged file at ${report.movedTo}`,
    );
  }
  const { store, services } = hub;
  if (!store.docs.has(configDocId(config.bankId)) && configDoc) {
    // The cloud-authored config (courier and technician hashes), same history as the cloud's.
    store.docs.put(configDocId(config.bankId), A.load(configDoc));
  }
  const offPeople = simulatePeople(sim.board, services);

  const sync = cloudUrl
    ? attachSync({ cloudUrl, bankId: config.bankId, secret: provision.deviceSecret, store, clock, log: say, onServerTime: (t, rtt) => clock.observe(t, rtt) })
    : undefined;
  if (sync) link = () => sync.connectivity();

  const remote = new RemoteOpenService({
    db: store.db,
    // Cloud time: the command's issuedAt/expiresAt are the cloud's.
    clock,
    cloudPublicKey: provision.cloudSigningPublicKey,
    bankId: config.bankId,
    openDoor: async (compartment) => {
      const r = await sim.bank.openDoor(compartment);
      return r.opened ? { opened: true } : { opened: false, reason: r.reason };
    },
    audit: (e) => services.events.emit({ type: e.type, actor: e.actor, compartment: e.compartment, detail: e.detail }),
  });
  const mqttUrl = config.mqttUrl ?? provision.mqttUrl;
  let mqtt: HubMqtt | undefined;
  if (mqttUrl) {
    mqtt = createHubMqtt({
      url: mqttUrl,
      bankId: config.bankId,
      secret: provision.deviceSecret,
      clock,
      onSyncNudge: () => sync?.syncNow(),
      onCommand: (cmd) => remote.handle(cmd.signed),
    });
    mqtt.start();
    services.events.on((e) => {
      void mqtt!.publishEvent({ type: e.type, at: e.at, compartment: e.compartment, parcelId: e.parcelId, detail: e.detail }).catch(() => false);
    });
  }

  say(`hub of ${config.bankId} (${config.model}) on ${hub.url}  cloud: ${cloudUrl ?? 'none (standalone)'}  mqtt: ${mqttUrl ?? 'none'}`);
  return {
    damaged,
    async stop() {
      offPeople();
      // The cloud may be stopping at the same moment: never wait on it for long.
      const bounded = (p: Promise<unknown> | undefined) => Promise.race([p?.catch(() => {}), new Promise((r) => setTimeout(r, 1500).unref())]);
      await Promise.all([bounded(mqtt?.stop()), bounded(sync?.stop())]);
      await hub.close();
      await sim.close();
    },
  };
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('edge/main.ts') || entry.endsWith('edge/main.js')) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
