/**
 * Three cloud nodes on one PostgreSQL and one Mosquitto, 50 hubs, one node SIGKILLed mid-run
 * (issue "cloud beyond one machine"):
 * - every hub is given all three node URLs and ends up on the node that owns its bank
 *   (rendezvous hash over the live nodes; a wrong node answers `moved`);
 * - carriers announce through any node, hubs deposit and issue codes sealed to the cloud, the
 *   owner's outbox sends each code by SMS through one shared gateway;
 * - one node is killed with SIGKILL while parcels are in flight: its banks move to the two
 *   survivors, nothing acknowledged is lost (every 201 announcement reaches its hub, every
 *   deposit the hub saw acknowledged is in PostgreSQL), and every code reaches its recipient
 *   exactly once (rows the dead node had claimed are re-sent by a survivor after the lease,
 *   with the same idempotency key, which the gateway de-duplicates).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BankAdmin } from '../../cloud/bank-admin.js';
import { BankReplicas } from '../../cloud/bank-replicas.js';
import { ownerOf } from '../../cloud/cluster/cluster.js';
import { layoutOf } from '../../cloud/demo-seed.js';
import { generateCloudKeys } from '../../cloud/keys.js';
import { startSmsGatewaySim, type SmsGatewaySim } from '../../cloud/notify/sim/sms-gateway-sim.js';
import { openCloudStore } from '../../cloud/store/cloud-store.js';
import { SyncClient } from '../../edge/sync/sync-client.js';
import { generateCode } from '../../shared/codes/format.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { seal } from '../../shared/crypto/sealed-box.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { randomId, SeededRandom, systemClock } from '../../shared/ports.js';
import { ObservedDocStorage } from '../../shared/sync/change-feed.js';
import { MemoryDocStorage } from '../../shared/storage/doc-storage.js';
import { MemorySyncStateStore } from '../../shared/sync/sync-state-store.js';
import { freePort } from '../support/free-port.js';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto.js';
import { freshDatabase } from '../support/postgres-server.js';

const BANKS = 50;
const NODES = ['n1', 'n2', 'n3'];
const CARRIER = 'cluster-carrier-token-0123456789';
const SUPPORT = 'cluster-support-token-0123456789';
const MQTT_CLOUD = { username: 'cubby-cloud', secret: 'cluster-cloud-mqtt-secret' };
const FAKE_HASH = '$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const secretOf = (bankId: string) => `${bankId}-device-secret`;
const random = new SeededRandom(8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Node {
  id: string;
  url: string;
  proc: ChildProcess;
  log: string[];
}

class Hub {
  readonly storage = new ObservedDocStorage(new MemoryDocStorage());
  readonly docs = new DocSet(this.storage, randomId(random, 16));
  readonly ledger: ParcelLedger;
  readonly client: SyncClient;
  readonly moved: string[] = [];
  readonly refusals: string[] = [];
  connectedTo: string | undefined;

  constructor(
    readonly bankId: string,
    urls: string,
  ) {
    this.ledger = new ParcelLedger({ bankId, docs: this.docs, clock: systemClock, random });
    this.client = new SyncClient({
      url: urls,
      bankId,
      secret: secretOf(bankId),
      docs: this.docs,
      states: new MemorySyncStateStore(),
      ledger: this.ledger,
      feed: this.storage,
      random,
      backoff: { initialMs: 100, maxMs: 1000 },
      connectTimeoutMs: 5000,
    });
    this.client.on((e) => {
      if (e.type === 'connected') this.connectedTo = this.client.target;
      if (e.type === 'disconnected') this.connectedTo = undefined;
      if (e.type === 'refused') (e.code === 'moved' ? this.moved : this.refusals).push(e.code);
    });
  }

  async until(pred: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`${this.bankId}: timed out waiting for ${what}`);
      await sleep(20);
    }
  }
}

let pgUrl: string;
let dataDir: string;
let mosquitto: RunningMosquitto;
let sms: SmsGatewaySim;
const nodes: Node[] = [];
const hubs: Hub[] = [];
let nodeSpec = '';
let sealPublicKey = '';

async function startNode(id: string, port: number): Promise<Node> {
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'cluster-node-child.ts')], {
    env: {
      ...process.env,
      CUBBY_DATABASE_URL: pgUrl,
      CUBBY_NODE_ID: id,
      CUBBY_CLOUD_NODES: nodeSpec,
      CUBBY_CLUSTER_DEAD_AFTER_MS: '1500',
      CUBBY_CLOUD_PORT: String(port),
      CUBBY_DATA_DIR: dataDir,
      CUBBY_MQTT_URL: mosquitto.url,
      CUBBY_MQTT_CLOUD_USER: MQTT_CLOUD.username,
      CUBBY_MQTT_CLOUD_SECRET: MQTT_CLOUD.secret,
      CUBBY_SMS_GATEWAY_URL: sms.url,
      CUBBY_SMS_WEBHOOK_SECRET: 'cluster-sms-webhook-secret-0123',
      CUBBY_AUTOMERGE_HEAP_MB: '16',
      CUBBY_TEST_RECLAIM_MS: '3000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const node: Node = { id, url, proc, log: [] };
  createInterface({ input: proc.stderr! }).on('line', (l) => node.log.push(l));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${id} did not start:\n${node.log.join('\n')}`)), 60_000);
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l.startsWith('READY ')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`node ${id} exited (${code}):\n${node.log.join('\n')}`)));
  });
  return node;
}

async function api(url: string, path: string, token: string, body?: unknown): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
}

beforeAll(async () => {
  pgUrl = await freshDatabase('cluster');
  dataDir = mkdtempSync(join(tmpdir(), 'cubby-cluster-'));
  // The nodes share the cloud's key pairs (in production: a KMS); written once, before they start.
  const keys = generateCloudKeys();
  sealPublicKey = keys.seal.publicKey;
  writeFileSync(join(dataDir, 'keys.json'), JSON.stringify(keys), { mode: 0o600 });

  const bankIds = Array.from({ length: BANKS }, (_, i) => `bank-${i + 1}`);
  const store = openCloudStore(pgUrl, { hashParams: TEST_ARGON2 });
  const replicas = new BankReplicas({ db: store.db, clock: systemClock, random });
  const admin = new BankAdmin({ store, replicas, clock: systemClock, random, hashParams: TEST_ARGON2 });
  for (const b of bankIds) await admin.registerBank(b, secretOf(b), layoutOf(8, 8, 8));
  await store.credentials.addToken(CARRIER, { role: 'carrier', subject: 'acme' }, systemClock.now());
  await store.credentials.addToken(SUPPORT, { role: 'support', subject: 'sam' }, systemClock.now());
  store.close();

  mosquitto = await startMosquitto(MQTT_CLOUD, Object.fromEntries(bankIds.map((b) => [b, secretOf(b)])));
  sms = await startSmsGatewaySim({ webhookSecret: 'cluster-sms-webhook-secret-0123', deliveryDelayMs: 5, maxInbox: 10_000 });
  const ports = await Promise.all(NODES.map(() => freePort()));
  nodeSpec = NODES.map((id, i) => `${id}=http://127.0.0.1:${ports[i]}`).join(',');
  nodes.push(...(await Promise.all(NODES.map((id, i) => startNode(id, ports[i]!)))));
  const urls = nodes.map((n) => n.url).join(',');
  for (const b of bankIds) hubs.push(new Hub(b, urls));
}, 120_000);

afterAll(async () => {
  await Promise.all(hubs.map((h) => h.client.stop()));
  await Promise.all(
    nodes.map(
      (n) =>
        new Promise<void>((resolve) => {
          if (n.proc.exitCode !== null || n.proc.signalCode !== null) return resolve();
          n.proc.once('exit', () => resolve());
          n.proc.kill('SIGTERM');
          setTimeout(() => (n.proc.kill('SIGKILL'), resolve()), 5000);
        }),
    ),
  );
  await sms?.close();
  await mosquitto?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('three cloud nodes, 50 hubs, one node killed', () => {
  it('shards banks, moves a dead node’s banks to the others, loses nothing and sends every code once', async () => {
    const urlOf = new Map(nodes.map((n) => [n.id, n.url]));
    // ---- every hub reaches the node that owns its bank --------------------------------------
    for (const h of hubs) h.client.start();
    for (const h of hubs) await h.until(() => h.client.status().connected && h.client.status().lastSyncAt !== null, 60_000, 'first sync');
    const ownerAtStart = new Map(hubs.map((h) => [h.bankId, ownerOf(h.bankId, NODES)]));
    for (const h of hubs) expect(h.connectedTo, h.bankId).toBe(urlOf.get(ownerAtStart.get(h.bankId)!));
    const perNode = NODES.map((id) => hubs.filter((h) => ownerAtStart.get(h.bankId) === id).length);
    expect(perNode.every((n) => n >= 5), `banks per node ${perNode}`).toBe(true);
    expect(hubs.reduce((n, h) => n + h.moved.length, 0)).toBeGreaterThan(0); // some hubs first tried a node that is not theirs

    // ---- parcels through any node ------------------------------------------------------------
    interface Parcel {
      id: string;
      hub: Hub;
      phone: string;
      code?: string;
      acknowledged?: boolean;
    }
    const parcels: Parcel[] = [];
    const failures: string[] = [];
    let seq = 0;
    let retries = 0;
    const flow = async (hub: Hub, via: () => string): Promise<void> => {
      const n = ++seq;
      const p: Parcel = { id: `C${n}`, hub, phone: `+49151${String(10_000_000 + n)}` };
      try {
        let res: Response | undefined;
        // A carrier whose node died mid-request retries on another: announcing the same parcel
        // again is idempotent (200 with the parcel when the first attempt had committed).
        for (let attempt = 0; attempt < 5; attempt++) {
          res = await api(via(), '/v1/parcels', CARRIER, { parcelId: p.id, bankId: hub.bankId, carrier: 'acme', trackingNumber: `T${n}`, size: 'S', recipient: { name: 'R', phone: p.phone, preferences: ['sms'] } }).catch(() => undefined);
          if (res?.status === 201 || (attempt > 0 && res?.status === 200)) break;
          if (res && res.status < 500) throw new Error(`announce answered ${res.status}: ${await res.text()}`);
          retries++;
          await sleep(300);
        }
        if (res?.status !== 201 && res?.status !== 200) throw new Error(`announce answered ${res?.status}`);
        parcels.push(p);
        await hub.until(() => hub.ledger.doc(p.id)?.announcement !== undefined, 30_000, `announcement of ${p.id}`);
        const code = generateCode(random, () => false);
        p.code = code.display;
        const sealed = seal(code.display, sealPublicKey);
        hub.ledger.depositAndIssue(p.id, { depositId: `d${n}`, compartment: 1 + (n % 24), courierId: 'courier-1', size: 'S' }, { selector: code.selector, hash: FAKE_HASH, issuer: 'hub', sealed });
        await hub.until(() => hub.client.acknowledged(`parcel:${p.id}`), 30_000, `acknowledgement of ${p.id}`);
        p.acknowledged = true;
      } catch (err) {
        failures.push((err as Error).message);
      }
    };
    const alive = () => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
    const anyNode = () => alive()[Math.floor(Math.random() * alive().length)]!.url;

    const before: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      before.push(flow(hubs[i % BANKS]!, anyNode));
      await sleep(15);
    }
    // ---- kill the node with the most banks while parcels are in flight -----------------------
    const victim = nodes[perNode.indexOf(Math.max(...perNode))]!;
    const during: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      if (i === 10) victim.proc.kill('SIGKILL');
      during.push(flow(hubs[(i * 7) % BANKS]!, anyNode));
      await sleep(15);
    }
    await Promise.all([...before, ...during]);
    expect(victim.proc.signalCode).toBe('SIGKILL');
    expect(failures).toEqual([]);

    // ---- its banks moved to the survivors ----------------------------------------------------
    const survivors = NODES.filter((id) => id !== victim.id);
    for (const h of hubs) await h.until(() => h.client.status().connected, 30_000, 'reconnection');
    for (const h of hubs) expect(h.connectedTo, h.bankId).toBe(urlOf.get(ownerOf(h.bankId, survivors)));
    const movedBanks = hubs.filter((h) => ownerAtStart.get(h.bankId) === victim.id);
    expect(movedBanks.length).toBe(Math.max(...perNode));
    expect(hubs.flatMap((h) => h.refusals)).toEqual([]);

    // ---- support revokes through a node that does not serve the bank: the hub has it at once -
    const target = parcels.find((p) => p.acknowledged && ownerOf(p.hub.bankId, survivors) !== survivors[0])!;
    const t0 = performance.now();
    const revoked = await api(urlOf.get(survivors[0]!)!, `/v1/parcels/${target.id}/revoke`, SUPPORT, { reason: 'recipient asked' });
    expect(revoked.status).toBe(200);
    await target.hub.until(() => Object.values(target.hub.ledger.doc(target.id)?.codes ?? {}).some((c) => c.revokedAt !== undefined), 5000, 'the revocation');
    const revokeMs = performance.now() - t0;
    parcels.splice(parcels.indexOf(target), 1); // its code may or may not have gone out before the revocation

    // ---- nothing lost: every parcel deposited in PostgreSQL, readable from every survivor -----
    const survivorUrls = survivors.map((id) => urlOf.get(id)!);
    for (const p of parcels) {
      expect(p.acknowledged, p.id).toBe(true);
      const r = await api(survivorUrls[Number(p.id.slice(1)) % 2]!, `/v1/parcels/${p.id}`, SUPPORT);
      expect(r.status, p.id).toBe(200);
      expect(((await r.json()) as { status: string }).status, p.id).toBe('deposited');
    }

    // ---- every code reached its recipient, once ----------------------------------------------
    const deadline = Date.now() + 60_000;
    const delivered = () => parcels.filter((p) => sms.inbox(p.phone).length > 0).length;
    while (delivered() < parcels.length && Date.now() < deadline) await sleep(100);
    const missing = parcels.filter((p) => sms.inbox(p.phone).length !== 1);
    if (missing.length) {
      // What the outbox knows of them, for the failure message.
      const db = openCloudStore(pgUrl, { hashParams: TEST_ARGON2, node: 'inspector' });
      try {
        for (const p of missing.slice(0, 5)) {
          const rows = db.db.prepare('SELECT id, status, attempts, claimed_by, last_error FROM notify_outbox WHERE parcel_id = ?').all(p.id);
          const events = db.db.prepare('SELECT e.at, e.event, e.detail FROM notify_outbox_events e JOIN notify_outbox o ON o.id = e.row_id WHERE o.parcel_id = ? ORDER BY e.seq').all(p.id);
          process.stderr.write(`undelivered ${p.id} (${p.hub.bankId}, owner at start ${ownerAtStart.get(p.hub.bankId)}): rows ${JSON.stringify(rows)} events ${JSON.stringify(events)}\n`);
        }
      } finally {
        db.close();
      }
    }
    for (const p of parcels) {
      const inbox = sms.inbox(p.phone);
      expect(inbox.length, `messages to ${p.phone} (${p.id})`).toBe(1);
      expect(inbox[0]!.body, p.id).toContain(p.code!);
    }
    const stats = sms.stats();
    process.stderr.write(
      `cluster: ${parcels.length} parcels, banks per node at start ${JSON.stringify(Object.fromEntries(NODES.map((id, i) => [id, perNode[i]])))}, killed ${victim.id} (${movedBanks.length} banks moved), ` +
        `moved redirects ${hubs.reduce((n, h) => n + h.moved.length, 0)}, carrier retries ${retries}, revoke via another node reached the hub in ${Math.round(revokeMs)} ms, SMS ${JSON.stringify(stats)}\n`,
    );
    expect(stats.accepted).toBeGreaterThanOrEqual(parcels.length);
    expect(revokeMs).toBeLessThan(5000);
  }, 240_000);
});
