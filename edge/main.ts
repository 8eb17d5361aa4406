import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { createSimulatedBank } from '../devices/sim/simulated-bank.js';
import { configDocId } from '../shared/ledger/bank-config.js';
import { systemClock } from '../shared/ports.js';
import { createHubMqtt, type HubMqtt } from './mqtt/hub-mqtt.js';
import { RemoteOpenService } from './remote/remote-open-service.js';
import { loadHubConfig, readProvision } from './config.js';
import { simulatePeople } from './demo-people.js';
import { cryptoRandom, startHub } from './hub-runtime.js';
import type { Connectivity } from './hub-services.js';
import { attachSync } from './sync-wiring.js';
import { exitWithSupervisor } from '../adapters/process/supervisor.js';
import { reserveAutomergeHeap } from '../shared/sync/automerge-heap.js';

const log = (bankId: string) => (msg: string) => process.stdout.write(`[${bankId}] ${msg}\n`);

/**
 * `cubby edge --bank bank-1`: one bank's hub on a simulated board. Reads its pepper, device
 * secret and the cloud's public keys from the cloud's provisioning file (`data/provision/`),
 * so it starts — and serves pickups — with the cloud down.
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
  mkdirSync(join(config.dataDir, config.bankId), { recursive: true });
  const sim = await createSimulatedBank({ model: config.model, board: { autoCloseMs: config.autoCloseMs } });
  let link: () => Connectivity = () => ({ online: false, lastSyncAt: null, lastContactAt: null });
  const hub = await startHub({
    bankId: config.bankId,
    dataFile: join(config.dataDir, config.bankId, 'hub.sqlite'),
    bank: sim.bank,
    pepper: Buffer.from(provision.pepper, 'base64'),
    port: config.port,
    host: config.host,
    clock: systemClock,
    random: cryptoRandom,
    cloudSealKey: provision.cloudSealPublicKey,
    connectivity: () => link(),
    log: say,
  });
  const { store, services } = hub;
  if (!store.docs.has(configDocId(config.bankId)) && configDoc) {
    // The cloud-authored config (courier and technician hashes), same history as the cloud's.
    store.docs.put(configDocId(config.bankId), A.load(configDoc));
  }
  const offPeople = simulatePeople(sim.board, services);

  const cloudUrl = config.cloudUrl ?? provision.cloudUrl;
  const sync = cloudUrl ? attachSync({ cloudUrl, bankId: config.bankId, secret: provision.deviceSecret, store, clock: systemClock, log: say }) : undefined;
  if (sync) link = () => sync.connectivity();

  const remote = new RemoteOpenService({
    db: store.db,
    clock: systemClock,
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
      clock: systemClock,
      onSyncNudge: () => sync?.syncNow(),
      onCommand: (cmd) => remote.handle(cmd.signed),
    });
    mqtt.start();
    services.events.on((e) => {
      void mqtt!.publishEvent({ type: e.type, at: e.at, compartment: e.compartment, parcelId: e.parcelId, detail: e.detail }).catch(() => false);
    });
  }

  say(`hub of ${config.bankId} (${config.model}) on ${hub.url}  cloud: ${cloudUrl ?? 'none (standalone)'}  mqtt: ${mqttUrl ?? 'none'}`);
  const stop = async (): Promise<void> => {
    offPeople();
    // The cloud may be stopping at the same moment: never wait on it for long.
    const bounded = (p: Promise<unknown> | undefined) => Promise.race([p?.catch(() => {}), new Promise((r) => setTimeout(r, 1500).unref())]);
    await Promise.all([bounded(mqtt?.stop()), bounded(sync?.stop())]);
    await hub.close();
    await sim.close();
  };
  const onSignal = (): void => {
    void stop().then(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  exitWithSupervisor(onSignal);
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('edge/main.ts') || entry.endsWith('edge/main.js')) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
